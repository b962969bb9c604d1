"""Preflight and the quota guard (issue #5): moto for EC2 and STS, botocore's Stubber for Service Quotas and EKS."""

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from components.quota_guard import checks, handler
from components.quota_guard.request import capacity_request
from config.versions import ADDON_VERSIONS
from scripts import preflight
from tests.conftest import ROOT, load

G_ON_DEMAND, STANDARD = "L-DB2E81BA", "L-1216C47A"


@pytest.fixture
def aws(aws_credentials) -> Iterator[None]:
    with mock_aws():
        yield


class FakeAccount:
    """Real (moto) EC2 and STS clients, and stubbed Service Quotas and EKS clients with canned answers."""

    def __init__(
        self,
        *,
        quotas: dict[str, float | None],
        versions: list[dict] | None = None,
        addons: dict[str, list[str]] | None = None,
    ) -> None:
        self.session = boto3.session.Session(region_name="us-east-1")
        self.quotas = self.session.client("service-quotas")
        self.eks = self.session.client("eks")
        self.quota_stub = Stubber(self.quotas)
        self.eks_stub = Stubber(self.eks)
        for code, value in quotas.items():
            params = {"ServiceCode": "ec2", "QuotaCode": code}
            if value is None:  # never applied: the check falls back to AWS's default
                self.quota_stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=params)
                self.quota_stub.add_response("get_aws_default_service_quota", {"Quota": {"Value": 0.0}}, params)
            else:
                self.quota_stub.add_response("get_service_quota", {"Quota": {"Value": value}}, params)
        if versions is not None:
            self.eks_stub.add_response(
                "describe_cluster_versions", {"clusterVersions": versions}, {"clusterVersions": ["1.36"]}
            )
        if versions:  # the add-on builds are only checked once the Kubernetes version is available
            offered = addons if addons is not None else {name: [version] for name, version in ADDON_VERSIONS.items()}
            for name in ADDON_VERSIONS:
                builds = [{"addonVersion": build} for build in offered.get(name, [])]
                self.eks_stub.add_response(
                    "describe_addon_versions",
                    {"addons": [{"addonName": name, "addonVersions": builds}]},
                    {"kubernetesVersion": "1.36", "addonName": name},
                )
        self.quota_stub.activate()
        self.eks_stub.activate()

    def client(self, name: str):
        return {"service-quotas": self.quotas, "eks": self.eks}.get(name) or self.session.client(name)


SUPPORTED = [{"clusterVersion": "1.36", "versionStatus": "STANDARD_SUPPORT"}]


def run(account: FakeAccount, *argv: str) -> tuple[int, str]:
    buffer = io.StringIO()
    code = preflight.main(list(argv), clients=account.client, console=Console(file=buffer, width=400, soft_wrap=True))
    return code, buffer.getvalue()


def test_all_good_exits_0_with_a_table(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "dev")
    assert code == 0, out
    assert "FAIL" not in out
    assert "needs 24 (3 x g5.2xlarge at 8 vCPUs)" in out
    assert "needs 6 (3 x m6i.large at 2 vCPUs)" in out
    assert "offered in us-east-1a, us-east-1b" in out
    assert "arn:aws:sts::123456789012" in out
    assert f"add-on vpc-cni {ADDON_VERSIONS['vpc-cni']}" in out
    account.quota_stub.assert_no_pending_responses()
    account.eks_stub.assert_no_pending_responses()


def test_gpu_quota_too_low_names_the_numbers_and_the_request(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 0, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "dev")
    assert code == 1
    assert "'Running On-Demand G and VT instances' (L-DB2E81BA) is 0 vCPUs" in out
    assert "--quota-code L-DB2E81BA --desired-value 24 --region us-east-1" in out


def test_quota_never_applied_falls_back_to_the_aws_default(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: None, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "dev")
    assert code == 1 and "is 0 vCPUs" in out


def test_request_increase_files_the_missing_quota(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 8, STANDARD: 1152}, versions=SUPPORTED)
    account.quota_stub.add_response(
        "request_service_quota_increase",
        {"RequestedQuota": {"Id": "req-1", "Status": "PENDING", "QuotaCode": G_ON_DEMAND}},
        {"ServiceCode": "ec2", "QuotaCode": G_ON_DEMAND, "DesiredValue": 24.0},
    )
    code, out = run(account, "--env", "dev", "--request-increase")
    assert code == 1
    assert "Filed a quota increase" in out and "to 24 vCPUs in us-east-1: request req-1, status PENDING" in out
    account.quota_stub.assert_no_pending_responses()


def write_env(tmp_path: Path, **gpu: object) -> Path:
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["network"]["availability_zones"] = gpu.pop("zones", data["network"]["availability_zones"])
    data["gpu_node_group"].update(gpu)
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_instance_type_not_offered_in_the_zones_fails(aws, tmp_path):
    config_dir = write_env(tmp_path, instance_types=["g6e.2xlarge"], zones=["us-east-1e", "us-east-1f"])
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "env", "--config-dir", str(config_dir))
    assert code == 1
    assert "g6e.2xlarge offered in the AZs" in out and "not offered in any of us-east-1e, us-east-1f" in out


def test_instance_type_missing_in_one_zone_warns(aws, tmp_path):
    config_dir = write_env(tmp_path, zones=["us-east-1d", "us-east-1e"])
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "env", "--config-dir", str(config_dir))
    assert code == 0
    assert "WARN" in out and "but not us-east-1e" in out


def test_spot_uses_the_spot_quota(aws, tmp_path):
    config_dir = write_env(tmp_path, capacity_type="spot")
    account = FakeAccount(quotas={"L-3819A6DF": 0, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "env", "--config-dir", str(config_dir))
    assert code == 1 and "All G and VT Spot Instance Requests" in out


def test_kubernetes_version_missing_in_the_region_fails(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=[])
    code, out = run(account, "--env", "dev")
    assert code == 1 and "Kubernetes 1.36 on EKS" in out and "not available in us-east-1" in out


def test_a_pinned_add_on_build_the_region_does_not_offer_fails(aws):
    offered = {name: [version] for name, version in ADDON_VERSIONS.items()}
    offered["coredns"] = ["v1.99.0-eksbuild.1"]
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED, addons=offered)
    code, out = run(account, "--env", "dev")
    assert code == 1
    assert f"add-on coredns {ADDON_VERSIONS['coredns']}" in out and "newest: v1.99.0-eksbuild.1" in out
    assert "pin ADDON_VERSIONS['coredns'] in config/versions.py" in out


def test_wrong_account_is_a_usage_error(aws, tmp_path):
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["account"] = "999999999999"
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(data))
    code, out = run(FakeAccount(quotas={}), "--env", "env", "--config-dir", str(tmp_path))
    assert code == 2 and "credentials are for account 123456789012" in out and "999999999999" in out


def test_unknown_environment_is_a_usage_error(aws):
    code, out = run(FakeAccount(quotas={}), "--env", "nope")
    assert code == 2 and "no environment named 'nope'" in out


def test_make_preflight_without_credentials_exits_2(tmp_path):
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environ |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "scripts.preflight", "--env", "dev"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# --- the quota guard's handler -----------------------------------------------------------------


def guard_event(request_type: str = "Create") -> dict:
    return {"RequestType": request_type, "ResourceProperties": capacity_request(load("dev")).to_properties()}


def test_guard_fails_the_deployment_with_the_preflight_message(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 0, STANDARD: 1152}, versions=SUPPORTED)
    with pytest.raises(handler.QuotaGuardFailed) as error:
        handler.on_event(guard_event(), session=account)
    message = str(error.value)
    assert "GPU nodes (on-demand) vCPU quota" in message and "needs 24 (3 x g5.2xlarge at 8 vCPUs)" in message
    assert "--desired-value 24" in message


def test_guard_passes_when_everything_fits(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED)
    assert handler.on_event(guard_event("Update"), session=account)["PhysicalResourceId"] == "gpu-quota-guard"


def test_guard_delete_makes_no_aws_calls():
    assert handler.on_event({"RequestType": "Delete", "PhysicalResourceId": "gpu-quota-guard"}, session=object())


def test_guard_properties_survive_cloudformation_stringification():
    request = capacity_request(load("prod"))

    def stringify(value):
        if isinstance(value, dict):
            return {key: str(item) for key, item in value.items()}
        return [str(item) for item in value] if isinstance(value, list) else str(value)

    properties = {key: stringify(value) for key, value in request.to_properties().items()}
    assert checks.CapacityRequest.from_properties(properties) == request


def test_guard_is_wired_before_the_gpu_node_group(dev):
    resources = dev.template("cluster").to_json()["Resources"]
    (guard_id,) = [key for key, value in resources.items() if value["Type"] == "AWS::CloudFormation::CustomResource"]
    gpu_id = next(
        key for key, value in resources.items()
        if value["Type"] == "AWS::EKS::Nodegroup" and value["Properties"]["AmiType"] == "AL2023_x86_64_NVIDIA"
    )  # fmt: skip
    cluster_id = next(key for key, value in resources.items() if value["Type"] == "AWS::EKS::Cluster")
    assert guard_id in resources[cluster_id]["DependsOn"], "checked before the control plane is started"
    assert any(dep.startswith("Addons") for dep in resources[gpu_id]["DependsOn"]), "GPU nodes come after the cluster"
    properties = resources[guard_id]["Properties"]
    assert properties["gpu_instance_types"] == ["g5.2xlarge"] and properties["gpu_max_nodes"] == 3
    handler_fn = next(
        v
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"].get("Handler") == "handler.on_event"
    )
    assert handler_fn["Properties"]["Timeout"] <= 60


def test_guard_can_be_turned_off(tmp_path):
    data = load("dev").model_dump(mode="json")
    data["gpu_node_group"]["quota_guard"] = False
    from config import EnvironmentConfig
    from tests.conftest import synthesize

    synthesized = synthesize(EnvironmentConfig.model_validate(data), tmp_path)
    assert not synthesized.template("cluster").find_resources("AWS::CloudFormation::CustomResource")


def test_guard_asset_imports_as_lambda_loads_it(dev, tmp_path):
    """Lambda imports handler.py as a top-level module from the asset: checks.py must be beside it."""
    import importlib.util
    import json
    import shutil

    assets = json.loads((dev.outdir / "vllm-dev-cluster.assets.json").read_text())["files"]
    asset_dirs = [dev.outdir / entry["source"]["path"] for entry in assets.values()]
    (asset,) = [path for path in asset_dirs if (path / "handler.py").is_file()]
    assert sorted(p.name for p in asset.iterdir() if p.suffix == ".py") == ["checks.py", "handler.py"]
    shutil.copytree(asset, tmp_path / "lambda")
    sys.path.insert(0, str(tmp_path / "lambda"))
    try:
        spec = importlib.util.spec_from_file_location("handler", tmp_path / "lambda" / "handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.checks.__file__.startswith(str(tmp_path / "lambda")), "the asset's own checks.py"
        assert module.on_event({"RequestType": "Delete", "PhysicalResourceId": "x"})["PhysicalResourceId"] == "x"
    finally:
        sys.path.remove(str(tmp_path / "lambda"))
        sys.modules.pop("checks", None)
