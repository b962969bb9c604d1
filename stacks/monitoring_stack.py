from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from components.managed_prometheus import ManagedPrometheus
from config.model import AmpConfig


class MonitoringStack(Stack):
    """Amazon Managed Service for Prometheus for one environment (observability.mode: amp).

    Its own stack because the workspace is stateful: redeploying the workloads never touches the
    metrics history, and the stack goes with the environment's cluster, whose ARN the scraper names.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        alias: str,
        scrape_config: str,
        rules: dict[str, Any],
        settings: AmpConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.prometheus = ManagedPrometheus(
            self,
            "ManagedPrometheus",
            cluster=cluster,
            subnets=cluster.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets,
            alias=alias,
            scrape_config=scrape_config,
            rules=rules,
            settings=settings,
        )
