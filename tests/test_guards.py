"""The deploy-time guards: they stop a deploy with the fix, and stand aside for deletes and rollbacks."""

import importlib
import json
import shutil
import sys
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from config.capacity import capacity_request
from config.secrets import human_secrets
from functions.guards import capacity, handler
from functions.guards.secrets import PLACEHOLDER
from tests.conftest import load
from tests.test_preflight import G_ON_DEMAND, STANDARD, SUPPORTED, FakeAccount

HF_TOKEN = "vllm-dev/huggingface-token"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/vllm-dev-cluster/abc"


@pytest.fixture
def aws(aws_credentials) -> Iterator[None]:
    with mock_aws():
        yield


class StackStatus:
    """A session whose CloudFormation answers one stack status (moto's stacks cannot roll back)."""

    def __init__(self, inner: object, status: str | None) -> None:
        self.inner = inner
        self.cloudformation = boto3.session.Session(region_name="us-east-1").client("cloudformation")
        self.stub = Stubber(self.cloudformation)
        if status:
            self.stub.add_response(
                "describe_stacks",
                {"Stacks": [{"StackName": "s", "StackStatus": status, "CreationTime": "2026-11-28T00:00:00Z"}]},
                {"StackName": STACK_ID},
            )
        self.stub.activate()

    def client(self, name: str):
        return self.cloudformation if name == "cloudformation" else self.inner.client(name)  # type: ignore[attr-defined]


def quota_event(request_type: str = "Create", old: dict | None = None, **changes: object) -> dict:
    properties = capacity_request(load("dev")).to_properties() | changes
    event = {"RequestType": request_type, "StackId": STACK_ID, "ResourceProperties": properties}
    if old is not None:
        event["OldResourceProperties"] = old
    return event


# --- quota guard ------------------------------------------------------------------------------


def test_quota_guard_fails_on_what_the_deploy_launches(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 0, STANDARD: 1152}, versions=SUPPORTED)
    with pytest.raises(handler.GuardFailed) as error:
        handler.on_quota_event(quota_event(), session=account)
    message = str(error.value)
    assert "GPU nodes (on-demand) vCPU quota" in message and "need 8 at deploy (1 x g5.2xlarge" in message
    assert "--desired-value 24" in message, "the increase asked for covers the ceiling"


def test_quota_guard_only_warns_when_max_size_is_beyond_the_quota(aws, capsys):
    account = FakeAccount(quotas={G_ON_DEMAND: 8, STANDARD: 1152}, versions=SUPPORTED)
    assert handler.on_quota_event(quota_event(), session=account)["PhysicalResourceId"] == "gpu-quota-guard"
    assert "warning: GPU nodes (on-demand) vCPU quota" in capsys.readouterr().out


def test_quota_guard_checks_an_update_that_changes_what_it_checks(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 0, STANDARD: 1152}, versions=SUPPORTED)
    old = capacity_request(load("dev")).to_properties() | {"gpu_desired_nodes": 0}
    session = StackStatus(account, "UPDATE_IN_PROGRESS")
    with pytest.raises(handler.GuardFailed):
        handler.on_quota_event(quota_event("Update", old=old), session=session)


def test_quota_guard_stands_aside_during_a_rollback_even_when_the_quota_fell():
    """UPDATE_ROLLBACK with a quota lowered since: failing here would wedge the stack in UPDATE_ROLLBACK_FAILED."""
    old = capacity_request(load("dev")).to_properties() | {"gpu_desired_nodes": 3}
    session = StackStatus(object(), "UPDATE_ROLLBACK_IN_PROGRESS")
    result = handler.on_quota_event(quota_event("Update", old=old), session=session)
    assert result["PhysicalResourceId"] == "gpu-quota-guard"
    session.stub.assert_no_pending_responses()


def test_quota_guard_passes_an_update_with_unchanged_properties_without_any_call():
    properties = capacity_request(load("dev")).to_properties()
    event = quota_event("Update", old={**properties, "ServiceToken": "old-token"})
    assert handler.on_quota_event(event, session=StackStatus(object(), None))


def test_quota_guard_delete_makes_no_aws_calls():
    event = {"RequestType": "Delete", "PhysicalResourceId": "gpu-quota-guard", "StackId": STACK_ID}
    event["ResourceProperties"] = capacity_request(load("dev")).to_properties()
    assert handler.on_quota_event(event, session=StackStatus(object(), None))["PhysicalResourceId"] == "gpu-quota-guard"


def test_guard_properties_survive_cloudformation_stringification():
    request = capacity_request(load("prod"))

    def stringify(value):
        if isinstance(value, dict):
            return {key: str(item) for key, item in value.items()}
        return [str(item) for item in value] if isinstance(value, list) else str(value)

    properties = {key: stringify(value) for key, value in request.to_properties().items()}
    assert capacity.CapacityRequest.from_properties(properties) == request


# --- secrets guard ----------------------------------------------------------------------------


def secrets_event(request_type: str = "Create") -> dict:
    specs = [spec.to_properties() for spec in human_secrets(load("dev"))]
    return {
        "RequestType": request_type,
        "StackId": STACK_ID,
        "ResourceProperties": {"region": "us-east-1", "secrets": specs},
    }


def _session_with_secret(value: str | None, put: str | None = None) -> boto3.session.Session:
    session = boto3.session.Session(region_name="us-east-1")
    if value is not None:
        client = session.client("secretsmanager")
        client.create_secret(Name=HF_TOKEN, SecretString=value)
        if put is not None:
            client.put_secret_value(SecretId=HF_TOKEN, SecretString=put)
    return session


@pytest.mark.parametrize(
    ("created", "problem"),
    [(None, "does not exist yet"), (PLACEHOLDER, "holds no value yet"), ("not-a-token", "is not a Hugging Face")],
)
def test_secrets_guard_fails_naming_the_secret_and_the_command(aws, created, problem):
    with pytest.raises(handler.GuardFailed) as error:
        handler.on_secrets_event(secrets_event(), session=_session_with_secret(created))
    message = str(error.value)
    assert f"secret {HF_TOKEN}: {problem}" in message
    assert "run `make secrets ENV=dev`" in message


def test_secrets_guard_passes_once_a_value_was_put(aws):
    session = _session_with_secret(PLACEHOLDER, put="hf_" + "a" * 34)
    assert handler.on_secrets_event(secrets_event(), session=session)["PhysicalResourceId"] == "workload-secrets-guard"


def test_secrets_guard_fails_when_a_deploy_wrote_the_placeholder_back(aws):
    """A real token pushed to AWSPREVIOUS by a template that wrote the placeholder again still fails."""
    session = _session_with_secret("hf_" + "a" * 34, put=PLACEHOLDER)
    with pytest.raises(handler.GuardFailed, match="holds no value yet"):
        handler.on_secrets_event(secrets_event(), session=session)


def test_the_placeholder_never_changes():
    """CloudFormation writes SecretString again only when it changes: a new placeholder would overwrite every
    token already put in. Change it only with a plan for every deployed environment."""
    assert PLACEHOLDER == "unset: put the real value in with make secrets"


def test_secrets_guard_stands_aside_on_delete_and_rollback():
    assert handler.on_secrets_event(secrets_event("Delete"), session=StackStatus(object(), None))
    event = secrets_event("Update") | {"OldResourceProperties": {"region": "us-east-1", "secrets": []}}
    session = StackStatus(object(), "UPDATE_ROLLBACK_IN_PROGRESS")
    assert handler.on_secrets_event(event, session=session)
    session.stub.assert_no_pending_responses()


# --- wiring -----------------------------------------------------------------------------------


def _resources(synthesized, stack: str) -> dict:
    return synthesized.template(stack).to_json()["Resources"]


def _guard_id(resources: dict, handler_name: str) -> str:
    function = next(
        key for key, value in resources.items()
        if value["Type"] == "AWS::Lambda::Function" and value["Properties"].get("Handler") == handler_name
    )  # fmt: skip
    assert resources[function]["Properties"]["Timeout"] <= 60
    (guard,) = [
        key for key, value in resources.items()
        if value["Type"] == "AWS::CloudFormation::CustomResource" and key.startswith(function.split("Handler")[0])
    ]  # fmt: skip
    return guard


def test_quota_guard_is_wired_before_the_control_plane(dev):
    resources = _resources(dev, "cluster")
    guard_id = _guard_id(resources, "guards.handler.on_quota_event")
    cluster_id = next(key for key, value in resources.items() if value["Type"] == "AWS::EKS::Cluster")
    assert guard_id in resources[cluster_id]["DependsOn"], "checked before the control plane is started"
    properties = resources[guard_id]["Properties"]
    assert (properties["gpu_desired_nodes"], properties["gpu_max_nodes"]) == (1, 3)


def test_secrets_guard_comes_before_the_model_servers_and_reads_only_what_it_checks(dev):
    resources = _resources(dev, "inference")
    guard_id = _guard_id(resources, "guards.handler.on_secrets_event")
    vllm_id = next(key for key in resources if key.startswith("vllm"))
    assert guard_id in resources[vllm_id]["DependsOn"]
    assert [spec["name"] for spec in resources[guard_id]["Properties"]["secrets"]] == [HF_TOKEN]
    policies = [value for value in resources.values() if value["Type"] == "AWS::IAM::Policy"]
    statements = [s for policy in policies for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    (guard_read,) = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    assert "secret:vllm-dev/huggingface-token-??????" in json.dumps(guard_read["Resource"])
    assert "api-key" not in json.dumps(guard_read["Resource"]), "the generated api key needs no check"


def test_secrets_stack_deploys_before_the_inference_stack(dev, prod):
    for synthesized in (dev, prod):
        assert synthesized.stacks.secrets in synthesized.stacks.inference.dependencies


def test_quota_guard_can_be_turned_off(tmp_path):
    from config import EnvironmentConfig
    from tests.conftest import synthesize

    data = load("dev").model_dump(mode="json")
    data["gpu_node_group"]["quota_guard"] = False
    synthesized = synthesize(EnvironmentConfig.model_validate(data), tmp_path)
    assert not synthesized.template("cluster").find_resources("AWS::CloudFormation::CustomResource")


def test_guard_asset_imports_as_lambda_loads_it(dev, tmp_path):
    """Lambda imports `guards.handler` from the asset root: the package must be whole and self-contained."""
    assets = json.loads((dev.outdir / "vllm-dev-cluster.assets.json").read_text())["files"]
    asset_dirs = [dev.outdir / entry["source"]["path"] for entry in assets.values()]
    (asset,) = [path for path in asset_dirs if (path / "guards" / "handler.py").is_file()]
    assert not list(asset.rglob("*.pyc")), "no bytecode from this machine in the asset"
    shutil.copytree(asset, tmp_path / "lambda")
    sys.path.insert(0, str(tmp_path / "lambda"))
    try:
        module = importlib.import_module("guards.handler")
        assert module.__file__.startswith(str(tmp_path / "lambda")), "the asset's own package"
        event = {"RequestType": "Delete", "PhysicalResourceId": "x", "ResourceProperties": {"region": "us-east-1"}}
        assert module.on_secrets_event(event, session=StackStatus(object(), None))["PhysicalResourceId"] == "x"
    finally:
        sys.path.remove(str(tmp_path / "lambda"))
        for name in [name for name in sys.modules if name == "guards" or name.startswith("guards.")]:
            sys.modules.pop(name)


@pytest.mark.parametrize(
    ("value", "problem"),
    [('{"username": "u"}', "is not the JSON ECR expects"), ("not json", "is not the JSON ECR expects"),
     ("[]", "is not the JSON ECR expects"), ('{"username": "u", "accessToken": "t"}', None)],
)  # fmt: skip
def test_docker_hub_credentials_must_be_the_json_ecr_reads(value, problem):
    from functions.guards.secrets import DOCKER_HUB, value_problem

    found = value_problem(DOCKER_HUB, value)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("values", "schema", "problems"),
    [({"x": "true"}, {"properties": {"x": {"type": "boolean"}}}, ["x should be boolean"]),
     ({"x": True}, {"properties": {"x": {"type": "integer"}}}, ["x should be integer"]),
     ({"x": "1"}, {"properties": {"x": {"type": "number"}}}, ["x should be number"]),
     ({"x": [{"y": 1}]}, {"properties": {"x": {"type": "array", "items": {"additionalProperties": False}}}},
      ["x[0].y is not a setting of this add-on"]),
     ({"x": 2, "z": 1}, {"properties": {"x": {"type": "integer"}}}, [])],
)  # fmt: skip
def test_add_on_settings_are_checked_for_their_type_and_name(values, schema, problems):
    assert capacity.schema_problems(values, schema) == problems
