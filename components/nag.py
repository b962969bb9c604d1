"""cdk-nag acknowledgments, kept next to the resources they excuse."""

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge each cdk-nag finding id on `construct` (and below) with its reason."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
    )


def managed_policy(name: str) -> str:
    """The finding id cdk-nag's IAM4 rule gives an AWS managed policy attached to a role."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"


def invoke_any_version(function: IConstruct) -> str:
    """The IAM5 finding id for a provider framework allowed to invoke every version of `function`."""
    resource = function.node.default_child
    assert isinstance(resource, CfnElement)
    stack = Stack.of(resource)
    return f"AwsSolutions-IAM5[Resource::<{stack.resolve(stack.get_logical_id(resource))}.Arn>:*]"
