"""components/guards.py on its own: the handler each guard runs, its deadline and its permissions."""

import json

from aws_cdk import Stack
from aws_cdk.assertions import Template

from components.guards import QuotaGuard, SecretsGuard
from config.capacity import capacity_request
from functions.guards.secrets import HF_TOKEN, SecretSpec
from tests.conftest import load


def _statements(template: Template) -> list[dict]:
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_secrets_guard_may_only_read_the_secrets_it_checks(stack: Stack):
    spec = SecretSpec("team/hf-token", HF_TOKEN, "a token", "make secrets ENV=bare")
    SecretsGuard(stack, "Guard", secrets=[spec])
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "guards.handler.on_secrets_event", "Timeout": 50}
    )
    template.has_resource_properties("AWS::CloudFormation::CustomResource", {"secrets": [spec.to_properties()]})
    statements = _statements(template)
    (read,) = [s for s in statements if "secretsmanager" in json.dumps(s["Action"])]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert json.dumps(read["Resource"]).count("secret:") == 1 and "secret:team/hf-token-??????" in json.dumps(
        read["Resource"]
    )
    (own_stack,) = [s for s in statements if s["Action"] == "cloudformation:DescribeStacks"]
    assert own_stack["Resource"] == {"Ref": "AWS::StackId"}, "only its own stack, to tell a rollback"


def test_quota_guard_carries_the_request_and_reads_only(stack: Stack):
    request = capacity_request(load("dev"))
    QuotaGuard(stack, "Guard", request=request)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"Handler": "guards.handler.on_quota_event"})
    (resource,) = template.find_resources("AWS::CloudFormation::CustomResource").values()
    assert resource["Properties"]["gpu_desired_nodes"] == request.gpu_desired_nodes
    actions = {
        a for s in _statements(template) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    guard_actions = {action for action in actions if not action.startswith("lambda:")}  # the provider invokes it
    assert guard_actions and all(a.split(":")[1].startswith(("Describe", "Get")) for a in guard_actions), actions
