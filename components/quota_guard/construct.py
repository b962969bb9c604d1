"""The quota guard as a construct: a custom resource the GPU node group depends on."""

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.nag import acknowledge, invoke_any_version, managed_policy
from components.quota_guard.checks import CapacityRequest

HANDLER_DIR = Path(__file__).parent
READ_ONLY_ACTIONS = [
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstanceTypeOfferings",
    "servicequotas:GetServiceQuota",
    "servicequotas:GetAWSDefaultServiceQuota",
    "eks:DescribeClusterVersions",
    "eks:DescribeAddonVersions",
]


class QuotaGuard(Construct):
    """Fails the deployment within a minute, with the preflight message, when quotas or offerings fall short."""

    def __init__(self, scope: Construct, construct_id: str, *, request: CapacityRequest) -> None:
        super().__init__(scope, construct_id)
        handler = lambda_.Function(
            self,
            "Handler",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(
                str(HANDLER_DIR), exclude=["__pycache__", "construct.py", "request.py", "__init__.py"]
            ),
            timeout=Duration.seconds(50),
            description="Checks GPU quotas and instance offerings before the GPU node group is created",
            log_group=logs.LogGroup(
                self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        handler.add_to_role_policy(iam.PolicyStatement(actions=READ_ONLY_ACTIONS, resources=["*"]))
        provider = cr.Provider(self, "Provider", on_event_handler=handler)
        self.resource = CustomResource(
            self, "Check", service_token=provider.service_token, properties=request.to_properties()
        )
        lambda_policy = "AWS-managed basic execution policy: the function only writes its own logs"
        acknowledge(
            self,
            {
                managed_policy("service-role/AWSLambdaBasicExecutionRole"): lambda_policy,
                invoke_any_version(handler): "the provider framework may invoke any version of its own handler",
                "AwsSolutions-IAM5[Resource::*]": "quota, instance-type, EKS version and add-on look-ups are read-only "
                "Describe/Get calls that support no resource-level permissions",
            },
        )
