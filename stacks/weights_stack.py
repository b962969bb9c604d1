from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from components.weights_bucket import WeightsBucket
from config.model import WeightsBucketConfig


class WeightsStack(Stack):
    """The model-weights bucket, in its own stack: it outlives clusters, and deleting the others never touches it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: WeightsBucketConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.weights = WeightsBucket(self, "Weights", config=config)
        CfnOutput(self, "BucketName", value=self.weights.bucket.bucket_name, description="make load-weights fills it")
