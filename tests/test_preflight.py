"""Preflight and the quota guard (issue #5): moto for EC2 and STS, botocore's Stubber for Service Quotas and EKS."""

import io
import json
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

from config.addons import ADDON_CONFIGURATION, environment_addons
from config.versions import ADDON_VERSIONS
from functions.guards.secrets import PLACEHOLDER
from scripts import preflight
from tests.conftest import ROOT, load, without_aws_credentials

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
        secrets: dict[str, str] | None = None,
        schemas: dict[str, str] | None = None,
    ) -> None:
        self.session = boto3.session.Session(region_name="us-east-1")
        secrets_manager = self.session.client("secretsmanager")
        for name, value in (HF_TOKEN_SET if secrets is None else secrets).items():
            secrets_manager.create_secret(Name=name, SecretString=value)
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
            installed = environment_addons(load("dev"))  # every test environment is dev or a copy of it
            offered = addons if addons is not None else {name: [version] for name, version in installed.items()}
            for name, version in installed.items():
                builds = [{"addonVersion": build} for build in offered.get(name, [])]
                self.eks_stub.add_response(
                    "describe_addon_versions",
                    {"addons": [{"addonName": name, "addonVersions": builds}]},
                    {"kubernetesVersion": "1.36", "addonName": name},
                )
                if name in ADDON_CONFIGURATION and version in offered.get(name, []):
                    self.eks_stub.add_response(
                        "describe_addon_configuration",
                        {
                            "addonName": name,
                            "addonVersion": version,
                            "configurationSchema": (schemas or {}).get(name, "{}"),
                        },
                        {"addonName": name, "addonVersion": version},
                    )
        self.quota_stub.activate()
        self.eks_stub.activate()

    def client(self, name: str):
        return {"service-quotas": self.quotas, "eks": self.eks}.get(name) or self.session.client(name)


SUPPORTED = [{"clusterVersion": "1.36", "versionStatus": "STANDARD_SUPPORT"}]
HF_TOKEN_SET = {f"vllm-{env}/huggingface-token": "hf_" + "x" * 34 for env in ("dev", "env")}


def run(account: FakeAccount, *argv: str) -> tuple[int, str]:
    buffer = io.StringIO()
    code = preflight.main(list(argv), clients=account.client, console=Console(file=buffer, width=400, soft_wrap=True))
    return code, buffer.getvalue()


def test_all_good_exits_0_with_a_table(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "dev")
    assert code == 0, out
    assert "FAIL" not in out
    assert "need 8 at deploy (1 x g5.2xlarge at 8 vCPUs) and 24 at max_size 3" in out
    assert "need 4 at deploy (2 x m6i.large at 2 vCPUs) and 6 at max_size 3" in out
    assert "secret vllm-dev/huggingface-token" in out
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


def test_quota_below_max_size_only_warns_and_names_the_ceiling(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 8, STANDARD: 1152}, versions=SUPPORTED)
    code, out = run(account, "--env", "dev")
    assert code == 0, "the deploy launches one node, which the quota covers"
    assert "WARN" in out and "scaling past 1 nodes will fail" in out


def test_quota_uses_the_largest_allowed_instance_type(aws, tmp_path):
    """A node group that may launch g5.4xlarge (16 vCPUs) needs quota for it, not for the 8-vCPU g5.2xlarge."""
    account = FakeAccount(quotas={G_ON_DEMAND: 8, STANDARD: 1152}, versions=SUPPORTED)
    config_dir = write_env(tmp_path, instance_types=["g5.2xlarge", "g5.4xlarge"])
    code, out = run(account, "--env", "env", "--config-dir", str(config_dir))
    assert code == 1, out
    assert "need 16 at deploy (1 x g5.4xlarge at 16 vCPUs)" in out


def test_missing_or_placeholder_hf_token_fails_with_the_command(aws):
    for secrets in (
        {},
        {"vllm-dev/huggingface-token": PLACEHOLDER},
    ):
        account = FakeAccount(quotas={G_ON_DEMAND: 64, STANDARD: 1152}, versions=SUPPORTED, secrets=secrets)
        code, out = run(account, "--env", "dev")
        assert code == 1, out
        assert "FAIL secret vllm-dev/huggingface-token: run `make secrets ENV=dev`" in out
        assert "does not exist yet" in out if not secrets else "holds no value yet" in out


def test_an_add_on_setting_its_build_does_not_accept_fails_before_the_deploy(aws):
    strict = json.dumps(
        {"type": "object", "additionalProperties": False, "properties": {"tolerations": {"type": "array"}}}
    )
    account = FakeAccount(
        quotas={G_ON_DEMAND: 64, STANDARD: 1152},
        versions=SUPPORTED,
        schemas={"aws-secrets-store-csi-driver-provider": strict},
    )
    code, out = run(account, "--env", "dev")
    assert code == 1, out
    assert "FAIL add-on aws-secrets-store-csi-driver-provider configuration" in out
    assert "secrets-store-csi-driver is not a setting of this add-on" in out
    account.eks_stub.assert_no_pending_responses()


def test_an_aws_api_error_is_a_usage_error_not_a_failed_check(aws):
    account = FakeAccount(quotas={}, versions=None)
    account.quota_stub.add_client_error("get_service_quota", "AccessDeniedException", http_status_code=403)
    code, out = run(account, "--env", "dev")
    assert code == 2, out
    assert "an AWS call failed" in out and "Traceback" not in out


def test_request_increase_files_the_missing_quota(aws):
    account = FakeAccount(quotas={G_ON_DEMAND: 0, STANDARD: 1152}, versions=SUPPORTED)
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
    offered = {name: [version] for name, version in environment_addons(load("dev")).items()}
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
    environ = without_aws_credentials(tmp_path)
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
