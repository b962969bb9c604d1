from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.vpc import EksVpc, PrivateEndpoints
from config.model import NetworkConfig


class NetworkStack(Stack):
    """The VPC and its endpoints; changes here are rare and slow, so they deploy on their own.

    Not created at all when the environment uses an existing VPC (the cluster stack looks it up).
    """

    @property
    def availability_zones(self) -> list[str]:
        """The zones named in the config: with an explicit account, CDK would otherwise ask AWS for them."""
        return self._zones

    def __init__(self, scope: Construct, construct_id: str, *, config: NetworkConfig, **kwargs: Any) -> None:
        self._zones = list(config.availability_zones)
        super().__init__(scope, construct_id, **kwargs)
        self.vpc = EksVpc(self, "Network", config=config).vpc
        PrivateEndpoints(self, "Endpoints", vpc=self.vpc)
