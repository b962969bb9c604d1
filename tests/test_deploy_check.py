"""`make deploy`'s pre-check: every refusal before CDK starts, exit 2 and one paragraph; the deployer recorded once."""

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

from config.loader import ConfigError
from scripts import check
from tests.conftest import ROOT, load, without_aws_credentials

CALLER = "arn:aws:iam::123456789012:user/platform-engineer"
HF_TOKEN = "vllm-dev/huggingface-token"


@pytest.fixture
def aws(aws_credentials) -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def write_env(tmp_path: Path, name: str = "dev", **cluster: object) -> Path:
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["cluster"].update(cluster)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


class SignedIn:
    """moto for everything, but STS answers as a real IAM user would (moto's own ARN has the wrong shape)."""

    def __init__(self, session: boto3.session.Session, arn: str = CALLER) -> None:
        self.session = session
        self.sts = session.client("sts")
        stub = Stubber(self.sts)
        stub.add_response("get_caller_identity", {"Account": arn.split(":")[4], "Arn": arn, "UserId": "AIDA"})
        stub.activate()

    def client(self, name: str):
        return self.sts if name == "sts" else self.session.client(name)


def run(capsys, session, *argv: str) -> tuple[int, str]:
    code = check.main(list(argv), clients=SignedIn(session).client if session else None)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_no_admin_principal_at_all_is_refused_before_any_aws_call(capsys, tmp_path):
    config_dir = write_env(tmp_path, admin_principals=[], grant_deployer=False)
    code, out = run(capsys, None, "dev", "--deploy", "--config-dir", str(config_dir))
    assert code == 2
    assert "nobody could run kubectl" in out and "cluster.admin_principals" in out
    assert out.count("\n") == 1, "one paragraph"


def test_the_placeholder_account_is_refused(capsys, aws):
    code, out = run(capsys, aws, "prod", "--deploy", "--context-file", "/dev/null")
    assert code == 2
    assert "account is still the placeholder 123456789012" in out and "config/prod.yaml" in out


def test_credentials_for_another_account_are_refused(capsys, aws, tmp_path):
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text()) | {"account": "210987654321"}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    code, out = run(capsys, aws, "dev", "--deploy", "--config-dir", str(tmp_path))
    assert code == 2 and "account is 210987654321 but your credentials are for 123456789012" in out


def test_make_deploy_without_credentials_exits_2(tmp_path):
    environ = without_aws_credentials(tmp_path)
    result = subprocess.run(
        [sys.executable, "scripts/check.py", "dev", "--deploy", "--secrets"],
        cwd=ROOT, env=environ, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr and "Traceback" not in result.stderr


def test_the_deployer_is_recorded_once_and_the_first_one_keeps_the_entry(capsys, aws, tmp_path):
    context = tmp_path / "cdk.context.json"
    context.write_text(json.dumps({"other-key": 1}))
    code, out = run(capsys, aws, "dev", "--deploy", "--context-file", str(context))
    assert code == 0, out
    assert json.loads(context.read_text()) == {"other-key": 1, "vllm-on-eks:deployer:dev": CALLER}
    assert "commit it" in out
    assert check.record_deployer("dev", "arn:aws:iam::123456789012:user/second", context).startswith(
        f"cluster-admin stays with {CALLER}"
    )
    assert json.loads(context.read_text())["vllm-on-eks:deployer:dev"] == CALLER


def test_an_assumed_role_maps_to_its_role_with_the_path(aws):
    iam = aws.client("iam")
    path = "/aws-reserved/sso.amazonaws.com/"
    iam.create_role(RoleName="AWSReservedSSO_Admin_0123", Path=path, AssumeRolePolicyDocument="{}")
    arn = check.deployer_principal(
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/me@example.com", iam
    )
    assert arn == f"arn:aws:iam::123456789012:role{path}AWSReservedSSO_Admin_0123"
    assert check.deployer_principal(CALLER, iam) == CALLER


def test_a_federated_user_cannot_be_given_an_entry(aws):
    with pytest.raises(ConfigError, match=r"cluster\.admin_principals"):
        check.deployer_principal("arn:aws:sts::123456789012:federated-user/bob", aws.client("iam"))


def test_an_unset_secret_stops_the_deploy_with_the_command(capsys, aws, tmp_path):
    context = tmp_path / "cdk.context.json"
    code, out = run(capsys, aws, "dev", "--deploy", "--secrets", "--context-file", str(context))
    assert code == 2
    assert f"secret {HF_TOKEN} does not exist yet" in out
    assert "Fix: run `make secrets ENV=dev`, then `make deploy ENV=dev` again." in out
    aws.client("secretsmanager").create_secret(Name=HF_TOKEN, SecretString="hf_" + "z" * 34)
    code, out = run(capsys, aws, "dev", "--deploy", "--secrets", "--context-file", str(context))
    assert code == 0, out


def test_the_recorded_deployer_gets_an_access_entry(tmp_path):
    from tests.conftest import synthesize

    principal = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    synthesized = synthesize(load("dev"), tmp_path, deployer=principal)
    entries = synthesized.template("cluster").find_resources(
        "AWS::EKS::AccessEntry", {"Properties": {"PrincipalArn": principal}}
    )
    assert len(entries) == 1
    (policy,) = next(iter(entries.values()))["Properties"]["AccessPolicies"]
    assert "AmazonEKSClusterAdminPolicy" in json.dumps(policy["PolicyArn"])


def test_secret_stacks_include_the_shared_registry_only_when_mirroring():
    assert check.secret_stacks(load("dev")) == ["vllm-dev-secrets"]
    assert check.secret_stacks(load("prod")) == ["vllm-prod-secrets", "vllm-registry"]


def test_make_secrets_deploys_the_weights_bucket_unless_it_is_adopted():
    alb = load("alb")
    assert check.secret_stacks(alb) == ["vllm-alb-secrets", "vllm-registry", "vllm-alb-weights"]
    adopted = alb.model_copy(update={"weights_bucket": alb.weights_bucket.model_copy(update={"existing": True})})
    assert "vllm-alb-weights" not in check.secret_stacks(adopted)


STREAMED_COMMIT = "b" * 40


def write_streaming_env(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["models"][0].update(weights="s3-stream", revision=STREAMED_COMMIT)
    data["weights_bucket"] = {"name": "acme-vllm-weights-dev"}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_a_streamed_model_without_its_copy_stops_the_deploy_with_the_command(capsys, aws, tmp_path):
    config_dir = write_streaming_env(tmp_path)
    aws.client("secretsmanager").create_secret(Name=HF_TOKEN, SecretString="hf_" + "z" * 34)
    argv = ["dev", "--deploy", "--secrets", "--config-dir", str(config_dir), "--context-file", str(tmp_path / "c.json")]
    code, out = run(capsys, aws, *argv)
    assert code == 2 and "bucket acme-vllm-weights-dev (weights_bucket.name) does not exist" in out
    assert "make secrets ENV=dev" in out and "make load-weights ENV=dev MODEL=llama3-8b" in out
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="acme-vllm-weights-dev")
    prefix = f"meta-llama/Meta-Llama-3-8B-Instruct/{STREAMED_COMMIT}/"
    s3.put_object(Bucket="acme-vllm-weights-dev", Key=prefix + "config.json", Body=b"{}")
    code, out = run(capsys, aws, *argv)
    assert code == 2 and "models[0] (llama3-8b) streams" in out and "holds no copy of that commit" in out
    s3.put_object(Bucket="acme-vllm-weights-dev", Key=prefix + "model-00001-of-00004.safetensors", Body=b"x")
    code, out = run(capsys, aws, *argv)
    assert code == 0, out


def test_a_role_whose_path_cannot_be_read_is_refused_not_guessed(aws):
    """A path-less guess would fail the access entry after the control plane is up, and stay recorded."""
    iam = aws.client("iam")
    stub = Stubber(iam)
    stub.add_client_error("get_role", "AccessDenied", http_status_code=403)
    stub.activate()
    with pytest.raises(ConfigError, match=r"iam:GetRole"):
        check.deployer_principal("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123/me", iam)


def test_access_entry_ids_are_unique_per_arn_and_stable():
    from components.eks_cluster import access_entry_id

    arns = [
        "arn:aws:iam::111111111111:role/a/b",
        "arn:aws:iam::111111111111:role/a-b",
        "arn:aws:iam::222222222222:role/a/b",
    ]
    assert len({access_entry_id(arn) for arn in arns}) == 3
    assert access_entry_id(arns[0]) == access_entry_id(arns[0]) and access_entry_id(arns[0]).startswith("Admin-b-")
