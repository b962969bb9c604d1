"""Security-scan acknowledgments (cdk-nag and checkov), kept next to the resources they excuse."""

from aws_cdk import Acknowledgment, CfnElement, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge each cdk-nag finding id on `construct` (and below) with its reason."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
    )


def managed_policy(name: str) -> str:
    """The finding id cdk-nag's IAM4 rule gives an AWS managed policy attached to a role."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"


def wildcard_resource(resource: str) -> str:
    """The finding id cdk-nag's IAM5 rule gives a policy resource with a wildcard, as cdk-nag renders it."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def logical_id(construct: IConstruct) -> str:
    """A construct's CloudFormation logical id, as cdk-nag names a reference to it (`<LogicalId>`)."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    stack = Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource)))


def invoke_any_version(function: IConstruct) -> str:
    """The IAM5 finding id for a provider framework allowed to invoke every version of `function`."""
    return wildcard_resource(f"<{logical_id(function)}.Arn>:*")


def skip_scan(scope: IConstruct, findings: dict[str, str], *, resource_type: str) -> None:
    """Acknowledge checkov findings on every `resource_type` resource under `scope`, each with its reason.

    Written into the resource's template Metadata (checkov's `skip` list), by the component that creates
    the resource, so the reason sits next to what it excuses.
    """
    for child in scope.node.find_all():
        if isinstance(child, CfnResource) and child.cfn_resource_type == resource_type:
            existing = child.get_metadata("checkov") or {"skip": []}
            known = {entry["id"] for entry in existing["skip"]}
            skips = existing["skip"] + [
                {"id": finding, "comment": reason} for finding, reason in findings.items() if finding not in known
            ]
            child.add_metadata("checkov", {"skip": skips})


def skip_scan_on_stack_provider(scope: IConstruct, construct_id: str, findings: dict[str, str]) -> None:
    """Acknowledge a Lambda provider aws-cdk-lib creates once per stack (at its root) on behalf of `scope`.

    It may not exist: a feature flag or a construct decides whether aws-cdk-lib creates it.
    """
    provider = Stack.of(scope).node.try_find_child(construct_id)
    if provider:
        skip_scan(provider, findings, resource_type="AWS::Lambda::Function")


# Reasons shared by every function that only runs during a deploy, under CloudFormation.
DEPLOY_TIME_FUNCTION = {
    "CKV_AWS_115": "runs only while CloudFormation deploys this stack, a few invocations per deploy; reserving "
    "concurrency would take capacity from the account and protect nothing",
    "CKV_AWS_116": "invoked synchronously by CloudFormation (custom resource provider); a failure is reported "
    "to CloudFormation and fails the deploy, there is no asynchronous event to dead-letter",
}
OUTSIDE_VPC = {
    "CKV_AWS_117": "calls only AWS APIs over their regional endpoints and serves no traffic; in a VPC it would "
    "need NAT or endpoints for nothing, and a guard would depend on the network it runs before",
}
NO_SECRET_IN_ENVIRONMENT = {
    "CKV_AWS_173": "its environment holds only the ARNs and names the provider framework sets, no secret; Lambda "
    "encrypts it at rest with the service key",
}
LOGS_WITHOUT_SECRETS = {
    "CKV_AWS_158": "holds status and error messages with resource ids, never a secret value; CloudWatch Logs "
    "encrypts it at rest with the service key, and a CMK would add a key policy to every writer for no protection "
    "gained",
}


def acknowledge_cfn_utils_provider(scope: IConstruct) -> None:
    """aws-cdk-lib's CfnJson (access entries, IRSA conditions) evaluates tokens through this stack-level provider;
    whichever of our components makes aws-cdk-lib create it acknowledges it."""
    skip_scan_on_stack_provider(
        scope, "AWSCDKCfnUtilsProviderCustomResourceProvider", DEPLOY_TIME_FUNCTION | OUTSIDE_VPC
    )
