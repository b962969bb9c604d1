"""Model weights in the account: a versioned, encrypted, private S3 bucket, with its access logged.

Kept when its stack is deleted: a copy of a 16-140 GB model takes a while to make again, and the bucket
outlives clusters. Server access logs go to a second bucket (a log bucket cannot usefully log itself).
"""

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.nag import acknowledge, skip_scan, wildcard_resource
from config.model import ModelConfig, WeightsBucketConfig

ACCESS_LOG_DAYS = 90
INCOMPLETE_UPLOAD_DAYS = 7  # a loader interrupted mid-upload leaves parts that are billed until aborted
S3_MANAGED_KEY = {
    "CKV_AWS_145": "SSE-S3 (AES-256, S3-managed keys): model weights are public or licensed artefacts, not "
    "customer data, and a customer key would add a key policy for every reader without narrowing who reads",
}


class WeightsBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: WeightsBucketConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption S3 server access logging writes to
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_DAYS))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(self.access_logs, {"AwsSolutions-S1": "this is the access-log bucket of the weights bucket"})
        skip_scan(
            self.access_logs,
            S3_MANAGED_KEY
            | {
                "CKV_AWS_18": "this is the access-log bucket of the weights bucket; logging it would log its logs",
                "CKV_AWS_21": f"access logs are written once and expire after {ACCESS_LOG_DAYS} days: nothing to "
                "version",
            },
            resource_type="AWS::S3::Bucket",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=config.name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="weights/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        skip_scan(self.bucket, S3_MANAGED_KEY, resource_type="AWS::S3::Bucket")


def grant_stream(role: iam.IRole, bucket_name: str, models: list[ModelConfig]) -> None:
    """Read the copies of these models' pinned commits and nothing else: list their prefixes, get their objects."""
    bucket_arn = f"arn:{Aws.PARTITION}:s3:::{bucket_name}"
    prefixes = sorted(model.weights_prefix for model in models)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            # The streamer lists the model's directory (with or without its trailing slash) to find its files.
            conditions={
                "StringLike": {
                    "s3:prefix": [form for prefix in prefixes for form in (prefix.rstrip("/"), f"{prefix}*")]
                }
            },
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{bucket_arn}/{prefix}*" for prefix in prefixes])
    )
    acknowledge(
        role,
        {
            wildcard_resource(f"arn:<AWS::Partition>:s3:::{bucket_name}/{prefix}*"): "every file of one "
            "model commit's copy (config, tokenizer, safetensors shards), whose names the model decides"
            for prefix in prefixes
        },
    )
