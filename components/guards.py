"""Deploy-time guards: custom resources that fail a deploy within a minute, with the fix, before the slow part.

Their code is functions/guards (the Lambda asset), which the scripts import too.
"""

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Aws, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.nag import (
    DEPLOY_TIME_FUNCTION,
    LOGS_WITHOUT_SECRETS,
    NO_SECRET_IN_ENVIRONMENT,
    OUTSIDE_VPC,
    acknowledge,
    invoke_any_version,
    managed_policy,
    skip_scan,
    wildcard_resource,
)
from config.versions import LAMBDA_PYTHON_RUNTIME
from functions.guards.capacity import CapacityRequest
from functions.guards.secrets import SecretSpec

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
TIMEOUT = Duration.seconds(50)  # a guard answers within a minute, or it is no guard
QUOTA_READ_ACTIONS = [
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstanceTypeOfferings",
    "servicequotas:GetServiceQuota",
    "servicequotas:GetAWSDefaultServiceQuota",
    "eks:DescribeClusterVersions",
    "eks:DescribeAddonVersions",
    "eks:DescribeAddonConfiguration",
]


class _Guard(Construct):
    """A guard function under the provider framework, and the custom resource that calls it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        properties: dict[str, Any],
        statements: list[iam.PolicyStatement],
        wildcard_reason: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function = lambda_.Function(
            self,
            "Handler",
            runtime=lambda_.Runtime(LAMBDA_PYTHON_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            handler=handler,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=TIMEOUT,
            description=description,
            log_group=logs.LogGroup(
                self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        # Only its own stack: to tell a rollback (stand aside) from a deploy (check).
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[Aws.STACK_ID])
        )
        for statement in statements:
            function.add_to_role_policy(statement)
        provider = cr.Provider(self, "Provider", on_event_handler=function)
        self.resource = CustomResource(self, "Check", service_token=provider.service_token, properties=properties)
        findings = {
            managed_policy("service-role/AWSLambdaBasicExecutionRole"): "AWS-managed basic execution policy: the "
            "function only writes its own logs",
            invoke_any_version(function): "the provider framework may invoke any version of its own handler",
        }
        if wildcard_reason:
            findings[wildcard_resource("*")] = wildcard_reason
        acknowledge(self, findings)
        skip_scan(
            self,
            DEPLOY_TIME_FUNCTION | OUTSIDE_VPC | NO_SECRET_IN_ENVIRONMENT,
            resource_type="AWS::Lambda::Function",
        )
        skip_scan(self, LOGS_WITHOUT_SECRETS, resource_type="AWS::Logs::LogGroup")


class QuotaGuard(_Guard):
    """Fails the deploy when the account's quotas or AZ offerings cannot launch the node groups."""

    def __init__(self, scope: Construct, construct_id: str, *, request: CapacityRequest) -> None:
        super().__init__(
            scope,
            construct_id,
            handler="guards.handler.on_quota_event",
            description="Checks GPU quotas and instance offerings before the GPU node group is created",
            properties=request.to_properties(),
            statements=[iam.PolicyStatement(actions=QUOTA_READ_ACTIONS, resources=["*"])],
            wildcard_reason="quota, instance-type, EKS version and add-on look-ups are read-only Describe/Get "
            "calls that support no resource-level permissions",
        )


class SecretsGuard(_Guard):
    """Fails the deploy, naming the secret and the command, when a secret a workload mounts is unset.

    It reads the values of exactly these secrets, as the pods will, and never logs or reports them.
    """

    def __init__(self, scope: Construct, construct_id: str, *, secrets: list[SecretSpec]) -> None:
        stack = Stack.of(scope)
        arns = [
            stack.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{spec.name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for spec in secrets
        ]
        super().__init__(
            scope,
            construct_id,
            handler="guards.handler.on_secrets_event",
            description="Checks that every secret the model servers mount holds a real value, not its placeholder",
            properties={"region": stack.region, "secrets": [spec.to_properties() for spec in secrets]},
            statements=[iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=arns)],
        )
        acknowledge(
            self,
            {
                wildcard_resource(_nag_arn(spec.name)): "Secrets Manager appends six random "
                "characters to a secret's ARN; the name before them is exact"
                for spec in secrets
            },
        )


def _nag_arn(name: str) -> str:
    return f"arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:{name}-??????"
