"""Bad input gets one clear paragraph naming the file, the field and the fix, and a non-zero exit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config import ConfigError, available_environments, load_environment
from scripts.check import main as config_cli
from tests.conftest import ROOT

DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())


def write_env(tmp_path: Path, name: str, data: dict | str) -> Path:
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def dev_with(**changes: dict) -> dict:
    data = json.loads(json.dumps(DEV))
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    return data


def check(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = config_cli([name, "--config-dir", str(tmp_path)])
    return code, capsys.readouterr().err


def test_shipped_environments_are_valid():
    assert available_environments() == ["dev", "llama70b", "prod"]
    for name in available_environments():
        config = load_environment(name, environ={})
        assert config.name == name


BAD_CONFIGS = {
    "wrong type": (
        dev_with(gpu_node_group={"max_size": "three"}),
        ["gpu_node_group.max_size", "valid integer", "'three'"],
    ),
    "unknown key": (
        dev_with(gpu_node_group={"max_nodes": 3}),
        ["gpu_node_group.max_nodes", "unknown setting", "fix its spelling"],
    ),
    "min above max": (
        dev_with(gpu_node_group={"autoscaler": "none", "min_size": 5, "desired_size": 1, "max_size": 1}),
        ["gpu_node_group", "min_size <= desired_size <= max_size", "min_size=5", "max_size=1"],
    ),
    "min above max under an autoscaler": (
        dev_with(gpu_node_group={"autoscaler": "cluster-autoscaler", "min_size": 5, "max_size": 1}),
        ["gpu_node_group", "min_size (5) is above max_size (1)"],
    ),
    "a fixed node count under karpenter": (
        dev_with(gpu_node_group={"desired_size": 2}),
        ["gpu_node_group", "desired_size apply to autoscaler none only", "the pods decide", "remove them"],
    ),
    "a minimum node count under karpenter": (
        dev_with(gpu_node_group={"min_size": 1}),
        ["gpu_node_group", "min_size apply to autoscaler none only", "remove them"],
    ),
    "a fixed node count under cluster-autoscaler": (
        dev_with(gpu_node_group={"autoscaler": "cluster-autoscaler", "desired_size": 2}),
        ["gpu_node_group", "desired_size does not apply to autoscaler cluster-autoscaler", "remove it"],
    ),
    "an on-demand floor without spot": (
        dev_with(gpu_node_group={"on_demand_nodes": 1}),
        ["gpu_node_group", "on_demand_nodes", "capacity_type: spot"],
    ),
    "an on-demand floor above the ceiling": (
        dev_with(gpu_node_group={"capacity_type": "spot", "on_demand_nodes": 4, "max_size": 3}),
        ["gpu_node_group", "on_demand_nodes (4) cannot exceed max_size (3)"],
    ),
    "a tag Karpenter sets itself": (
        dev_with(tags={"karpenter.sh/nodepool": "mine"}),
        ["tags", "karpenter.sh/nodepool", "Karpenter and EKS set", "rename it"],
    ),
    "an expiry that is not a duration": (
        dev_with(gpu_node_group={"expire_after": "30d"}),
        ["gpu_node_group.expire_after", "Never"],
    ),
    "queue scaling with no Prometheus": (
        dev_with(observability={"mode": "none"}),
        ["models ['llama3-8b'] scale on their queue", "observability.mode is none", "in-cluster"],
    ),
    "queue scaling from an existing Prometheus with no URL": (
        dev_with(observability={"mode": "existing"}),
        ["observability.mode is existing", "observability.prometheus_url"],
    ),
    "scale to zero": (
        dev_with(models=[{**DEV["models"][0], "autoscaling": {"min_replicas": 0, "max_replicas": 2}}]),
        ["models.0.autoscaling", "min_replicas: 0", "not supported yet", "min_replicas: 1"],
    ),
    "fewest replicas above the most": (
        dev_with(models=[{**DEV["models"][0], "autoscaling": {"min_replicas": 3, "max_replicas": 2}}]),
        ["models.0.autoscaling", "min_replicas (3) is above max_replicas (2)"],
    ),
    "fixed replicas beside autoscaling": (
        dev_with(models=[{**DEV["models"][0], "replicas": 2}]),
        ["models.0", "replicas (2) is set but autoscaling decides", "remove replicas"],
    ),
    "streamed weights with no commit": (
        dev_with(models=[{**DEV["models"][0], "weights": "s3-stream"}], weights_bucket={"name": "acme-weights"}),
        ["models.0", "weights: s3-stream", "set revision to the commit hash"],
    ),
    "streamed weights with no bucket": (
        dev_with(models=[{**DEV["models"][0], "weights": "s3-stream", "revision": "a" * 40}]),
        ["models ['llama3-8b'] stream their weights from S3", "weights_bucket: {name:"],
    ),
    "a bucket name S3 refuses": (
        dev_with(weights_bucket={"name": "Acme_Weights"}),
        ["weights_bucket.name", "not a usable S3 bucket name", "acme-vllm-weights-dev"],
    ),
    "a dotted bucket name": (
        dev_with(weights_bucket={"name": "acme.vllm.weights"}),
        ["weights_bucket.name", "not a usable S3 bucket name"],
    ),
    "a bucket name S3 reserves for access points": (
        dev_with(weights_bucket={"name": "acme-weights-s3alias"}),
        ["weights_bucket.name", "not a usable S3 bucket name"],
    ),
    "a revision that is not a commit": (
        dev_with(models=[{**DEV["models"][0], "revision": "main"}]),
        ["models.0.revision", "[0-9a-f]{40}"],
    ),
    "an unknown autoscaler": (
        dev_with(gpu_node_group={"autoscaler": "auto-mode"}),
        ["gpu_node_group.autoscaler", "'none', 'karpenter' or 'cluster-autoscaler'"],
    ),
    "non-GPU instance type": (
        dev_with(gpu_node_group={"instance_types": ["m5.xlarge"]}),
        ["gpu_node_group.instance_types", "m5.xlarge", "no NVIDIA GPU", "g5"],
    ),
    "mixed GPU counts": (
        dev_with(gpu_node_group={"instance_types": ["g5.2xlarge", "g5.12xlarge"]}),
        ["gpu_node_group.instance_types", "same number of GPUs"],
    ),
    "too few zones": (
        dev_with(network={"availability_zones": ["us-east-1a"]}),
        ["network", "at least 2 distinct AZs"],
    ),
    "more NAT gateways than zones": (
        dev_with(network={"nat_gateways": 3}),
        ["network", "nat_gateways (3)", "availability_zones (2)"],
    ),
    "VPC too small for its subnets": (
        dev_with(network={"vpc_cidr": "10.0.0.0/20"}),
        ["network", "10.0.0.0/20", "larger block"],
    ),
    "zones of another region": (
        dev_with(network={"availability_zones": ["eu-west-1a", "eu-west-1b"]}),
        ["eu-west-1a", "region us-east-1"],
    ),
    "public endpoint with no CIDRs": (
        dev_with(cluster={"public_access_cidrs": []}),
        ["cluster", "public_access_cidrs is empty", "endpoint_access: private"],
    ),
    "malformed admin principal": (
        dev_with(cluster={"admin_principals": ["Admin"]}),
        ["cluster.admin_principals.0", "should match pattern"],
    ),
    "an STS session as admin principal": (
        dev_with(cluster={"admin_principals": ["arn:aws:sts::123456789012:assumed-role/Admin/me"]}),
        ["cluster.admin_principals.0", "should match pattern"],
    ),
    "the old admin_role_arn key": (
        dev_with(cluster={"admin_role_arn": "arn:aws:iam::123456789012:role/Admin"}),
        ["cluster", "admin_role_arn was replaced by admin_principals"],
    ),
    "missing required field": (
        {key: value for key, value in DEV.items() if key != "network"},
        ["network", "required but missing"],
    ),
    "not YAML": ("region: [us-east-1\n", ["not valid YAML", "line 2"]),
    "mirror without an account": (dev_with(mirror_images=True), ["mirror_images needs the account", "account:"]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_paragraph(tmp_path, capsys, case):
    data, expected = BAD_CONFIGS[case]
    code, err = check(write_env(tmp_path, "bad", data), "bad", capsys)
    assert code == 2
    assert err.startswith("error: ") and "bad.yaml" in err
    for fragment in expected:
        assert fragment in err
    assert err.strip().count("\n") == 0, "one paragraph"
    assert "Traceback" not in err


def test_missing_environment_lists_the_ones_that_exist(tmp_path, capsys):
    write_env(tmp_path, "dev", DEV)
    write_env(tmp_path, "prod", DEV)
    code, err = check(tmp_path, "nope", capsys)
    assert code == 2
    assert "no environment named 'nope'" in err
    assert "Environments available: dev, prod" in err
    assert "make synth ENV=dev" in err


def test_account_and_region_fall_back_to_cdk_environment_variables(tmp_path):
    data = dev_with()
    data.pop("account")
    data.pop("region")
    write_env(tmp_path, "env", data)
    config = load_environment(
        "env", config_dir=tmp_path, environ={"CDK_DEFAULT_ACCOUNT": "222222222222", "CDK_DEFAULT_REGION": "us-east-1"}
    )
    assert (config.account, config.region) == ("222222222222", "us-east-1")
    with pytest.raises(ConfigError, match="region: required but missing"):
        load_environment("env", config_dir=tmp_path, environ={})


def test_file_values_win_over_environment_variables():
    config = load_environment("dev", environ={"CDK_DEFAULT_REGION": "eu-west-1", "CDK_DEFAULT_ACCOUNT": "222222222222"})
    assert config.region == "us-east-1"
    assert config.account == "222222222222", "dev.yaml leaves account empty, so the credentials' account is used"


def test_existing_vpc_needs_its_cidr(tmp_path):
    data = dev_with(network={"existing_vpc_id": "vpc-0123456789abcdef0"})
    del data["network"]["vpc_cidr"]
    write_env(tmp_path, "env", data)
    with pytest.raises(ConfigError, match="set vpc_cidr to that VPC's CIDR"):
        load_environment("env", config_dir=tmp_path, environ={"CDK_DEFAULT_ACCOUNT": "111111111111"})


def test_existing_vpc_needs_an_account(tmp_path):
    write_env(tmp_path, "env", dev_with(network={"existing_vpc_id": "vpc-0123456789abcdef0"}))
    with pytest.raises(ConfigError, match="existing_vpc_id needs an explicit account"):
        load_environment("env", config_dir=tmp_path, environ={})


def _run_app(env_name: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": env_name}), "CDK_OUTDIR": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_app_refuses_an_unknown_environment_without_a_stack_trace():
    result = _run_app("nope")
    assert result.returncode == 2
    assert "no environment named 'nope'" in result.stderr
    assert "Traceback" not in result.stderr and "jsii" not in result.stderr


CERT = "arn:aws:acm:us-east-1:111111111111:certificate/0f0e0d0c-1111-2222-3333-444455556666"
BAD_EXPOSURE = {
    "alb without a certificate": (
        {"mode": "alb", "host": "llm.example.com"},
        ["exposure", "mode alb needs certificate_arn", "internal-nlb"],
    ),
    "alb without a host": ({"mode": "alb", "certificate_arn": CERT}, ["exposure", "and host"]),
    "public without alb": ({"mode": "internal-nlb", "public": True}, ["public applies to mode alb only"]),
    "no api key on a load balancer": (
        {"mode": "internal-nlb", "api_key": False},
        ["api_key: false with mode internal-nlb", "unauthenticated endpoint"],
    ),
    "public alb without api key": (
        {"mode": "alb", "certificate_arn": CERT, "host": "llm.example.com", "public": True, "api_key": False},
        ["api_key: false with mode alb"],
    ),
    "load balancer without its controller": (
        {"mode": "internal-nlb"},
        ["exposure.mode internal-nlb needs the AWS Load Balancer Controller", "load_balancer_controller: true"],
    ),
    "unknown mode": ({"mode": "nodeport"}, ["exposure.mode", "'cluster-ip', 'internal-nlb' or 'alb'"]),
    "malformed certificate": ({"mode": "alb", "certificate_arn": "my-cert", "host": "h"}, ["exposure.certificate_arn"]),
}


@pytest.mark.parametrize("case", BAD_EXPOSURE, ids=list(BAD_EXPOSURE))
def test_unsafe_exposure_is_refused(tmp_path, capsys, case):
    exposure_config, expected = BAD_EXPOSURE[case]
    code, err = check(write_env(tmp_path, "bad", dev_with(exposure=exposure_config)), "bad", capsys)
    assert code == 2
    for fragment in expected:
        assert fragment in err


BAD_MODELS = {
    "one ALB host for two models": (
        {
            "exposure": {"mode": "alb", "certificate_arn": CERT, "host": "llm.example.com"},
            "models": [{"name": "a", "model_id": "x/a"}, {"name": "b", "model_id": "x/b"}],
        },
        ["include {model}"],
    ),
    "unknown tool parser": (
        {"models": [{"name": "a", "model_id": "meta-llama/Llama-3.1-8B", "tool_call_parser": "llama"}]},
        ["tool_call_parser 'llama' is not one of vLLM's parsers"],
    ),
    "tool calling for an unknown family": (
        {"models": [{"name": "a", "model_id": "acme/whatever-7b", "tool_calling": True}]},
        ["no parser is known for 'acme/whatever-7b'"],
    ),
    "api key in extra_args": (
        {"models": [{"name": "a", "model_id": "x/a", "extra_args": ["--api-key=abc"]}]},
        ["'--api-key=abc' sets --api-key, which the app sets from its own field"],
    ),
    "duplicate model names": (
        {"models": [{"name": "a", "model_id": "x/a"}, {"name": "a", "model_id": "x/b"}]},
        ["model names must be unique"],
    ),
    "name that is no DNS label": ({"models": [{"name": "Llama_3", "model_id": "x/a"}]}, ["models.0.name"]),
}


@pytest.mark.parametrize("case", BAD_MODELS, ids=list(BAD_MODELS))
def test_bad_model_settings_are_refused(tmp_path, capsys, case):
    changes, expected = BAD_MODELS[case]
    code, err = check(write_env(tmp_path, "bad", dev_with(**changes)), "bad", capsys)
    assert code == 2
    for fragment in expected:
        assert fragment in err, err


def test_make_synth_precheck_refuses_a_model_that_does_not_fit(tmp_path, capsys):
    """The first step of make synth stops on fit problems too, before CDK starts, in one paragraph."""
    code, err = check(
        write_env(tmp_path, "env", dev_with(gpu_node_group={"instance_types": ["g5.xlarge"]})), "env", capsys
    )
    assert code == 2
    assert "requests 16 GiB of memory but g5.xlarge" in err and "Nothing was synthesized" in err
    assert err.strip().count("\n") == 0


def test_make_synth_precheck_passes_silently_and_leaves_warnings_to_synth(capsys):
    assert config_cli(["dev"]) == 0
    assert capsys.readouterr().err == ""


def test_the_aws_facts_are_what_botocore_itself_answers():
    """config/aws_facts.py reads botocore's data files directly; a botocore upgrade that changes their layout
    or meaning fails here, not in a user's synth. Both sides read botocore's own data: an AWS_DATA_PATH or
    ~/.aws/models override would reach only botocore's answer (the config reads the pinned data only)."""
    import botocore.session

    from config.aws_facts import ec2_instance_types, eks_regions

    session = botocore.session.get_session()
    partitions = ("aws", "aws-us-gov", "aws-cn")  # the ones EKS is offered in outside the isolated regions
    regions = {region for partition in partitions for region in session.get_available_regions("eks", partition)}
    assert eks_regions() == regions and {"us-east-1", "us-gov-west-1", "cn-north-1"} <= regions
    instance_types = session.get_service_model("ec2").shape_for("InstanceType").enum
    assert ec2_instance_types() == set(instance_types) and {"g5.xlarge", "p5.48xlarge"} <= ec2_instance_types()
