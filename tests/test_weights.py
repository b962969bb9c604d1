"""Weights in the account: the bucket's safeguards, the pod's read access to exactly its model's copy, the
streamer's arguments (checked against the pinned vLLM release), and the budget that follows the choice."""

import json

import pytest

from charts.vllm import weights_uri
from components.weights_bucket import ACCESS_LOG_DAYS, INCOMPLETE_UPLOAD_DAYS
from config import EnvironmentConfig
from config.vllm import RUNAI_STREAMER_CONCURRENCY, serve_flags
from planning.cold_start import configured_source, environment_budgets
from tests.conftest import load, synthesize
from tests.manifests import documents, find

STREAMED = "qwen25-7b"  # the alb fixture's s3-stream model


@pytest.fixture(scope="module")
def alb(synth_env):
    return synth_env("alb")


def _buckets(alb) -> tuple[dict, dict]:
    resources = alb.template_json("weights")["Resources"]
    buckets = {logical_id: r for logical_id, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    ((weights_id, weights),) = [(i, r) for i, r in buckets.items() if r["Properties"].get("BucketName")]
    ((_, logs),) = [(i, r) for i, r in buckets.items() if i != weights_id]
    return weights, logs


def test_the_weights_bucket_is_private_encrypted_versioned_logged_and_kept(alb):
    weights, logs = _buckets(alb)
    properties = weights["Properties"]
    assert properties["BucketName"] == alb.config.weights_bucket.name
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "weights/"
    assert properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("WeightsAccessLogs")
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": alb.config.weights_bucket.noncurrent_version_days}
    assert (
        rule["AbortIncompleteMultipartUpload"]
        == {"DaysAfterInitiation": INCOMPLETE_UPLOAD_DAYS}
        == {"DaysAfterInitiation": 7}
    )
    assert weights["DeletionPolicy"] == weights["UpdateReplacePolicy"] == "Retain"
    assert logs["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == ACCESS_LOG_DAYS == 90
    assert logs["DeletionPolicy"] == "Retain"


def test_both_buckets_refuse_plain_http(alb):
    policies = [
        r["Properties"]
        for r in alb.template_json("weights")["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    ]
    assert len(policies) == 2
    for policy in policies:
        assert any(
            statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in policy["PolicyDocument"]["Statement"]
        )


def _s3_statements(synthesized) -> list[dict]:
    return [
        statement
        for r in synthesized.template_json("inference")["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if any(
            str(action).startswith("s3:")
            for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        )
    ]


def _arn(resource: dict) -> str:
    return "".join(part if isinstance(part, str) else "<partition>" for part in resource["Fn::Join"][1])


def test_the_model_servers_read_only_the_streamed_models_commit(alb):
    model = next(model for model in alb.config.models if model.name == STREAMED)
    bucket = f"arn:<partition>:s3:::{alb.config.weights_bucket.name}"
    listing, reading = _s3_statements(alb)
    assert listing["Action"] == "s3:ListBucket" and _arn(listing["Resource"]) == bucket
    prefix = model.weights_prefix
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [prefix.rstrip("/"), f"{prefix}*"]}}
    assert reading["Action"] == "s3:GetObject" and _arn(reading["Resource"]) == f"{bucket}/{prefix}*"
    assert prefix == f"Qwen/Qwen2.5-7B-Instruct/{model.revision}/"


def test_no_s3_access_where_nothing_streams(dev):
    assert _s3_statements(dev) == []
    assert dev.stacks.weights is None


def test_the_inference_stack_deploys_after_the_bucket(alb):
    manifest = json.loads((alb.outdir / "manifest.json").read_text())
    assert "vllm-alb-weights" in manifest["artifacts"]["vllm-alb-inference"]["dependencies"]


def test_the_streamed_model_loads_its_copy_with_the_run_ai_streamer(alb):
    docs = documents(alb.stacks.inference.charts["vllm"])
    (container,) = find(docs, "Deployment", f"vllm-{STREAMED}")["spec"]["template"]["spec"]["containers"]
    model = next(model for model in alb.config.models if model.name == STREAMED)
    args = container["args"]
    assert (
        args[0]
        == f"s3://{alb.config.weights_bucket.name}/{model.weights_prefix}"
        == weights_uri(model, alb.config.weights_bucket.name)
    )
    assert args[args.index("--load-format") + 1] == "runai_streamer"
    assert json.loads(args[args.index("--model-loader-extra-config") + 1])["concurrency"] == RUNAI_STREAMER_CONCURRENCY
    assert args[args.index("--served-model-name") + 1] == model.model_id, "clients keep asking for the Hub id"
    flags = serve_flags()
    assert {"--load-format", "--model-loader-extra-config"} <= set(flags["flags"])
    assert "runai_streamer" in flags["load_formats"]
    (hub,) = find(docs, "Deployment", "vllm-llama3-8b")["spec"]["template"]["spec"]["containers"]
    assert hub["args"][0] == "meta-llama/Meta-Llama-3-8B-Instruct" and "--load-format" not in hub["args"]


def test_the_budget_follows_the_configured_source(alb):
    sources = {model.name: configured_source(model) for model in alb.config.models}
    assert sources == {"llama3-8b": "huggingface", STREAMED: "s3-stream"}
    budgets = environment_budgets(alb.config)[STREAMED]
    assert budgets[("s3-stream", "warm")].total_seconds < budgets[("huggingface", "warm")].total_seconds


def adopted_bucket_environment() -> EnvironmentConfig:
    """The ALB fixture with its weights bucket kept from an earlier weights stack (RETAIN)."""
    config = load("alb")
    assert config.weights_bucket is not None
    return config.model_copy(update={"weights_bucket": config.weights_bucket.model_copy(update={"existing": True})})


def test_an_existing_bucket_is_read_not_created(tmp_path):
    """A bucket kept from an earlier weights stack (RETAIN) is adopted by name: no second stack tries to create it."""
    config = adopted_bucket_environment()
    synthesized = synthesize(config, tmp_path / "cdk.out")
    assert synthesized.stacks.weights is None
    assert not any(
        name.endswith("-weights")
        for name in json.loads((synthesized.outdir / "manifest.json").read_text())["artifacts"]
    )
    _, reading = _s3_statements(synthesized)
    assert _arn(reading["Resource"]).startswith(f"arn:<partition>:s3:::{config.weights_bucket.name}/")


def test_the_streamer_buffer_is_bounded_and_both_region_variables_are_set(alb):
    from config.vllm import RUNAI_STREAMER_MEMORY_LIMIT_BYTES

    docs = documents(alb.stacks.inference.charts["vllm"])
    (container,) = find(docs, "Deployment", f"vllm-{STREAMED}")["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    extra = json.loads(args[args.index("--model-loader-extra-config") + 1])
    assert extra["memory_limit"] == RUNAI_STREAMER_MEMORY_LIMIT_BYTES
    memory_limit_gib = int(container["resources"]["limits"]["memory"].removesuffix("Gi"))
    assert memory_limit_gib * 1024**3 / 2 > RUNAI_STREAMER_MEMORY_LIMIT_BYTES, "the buffer leaves vLLM most of it"
    names = {env["name"]: env["value"] for env in container["env"]}
    assert names["AWS_REGION"] == names["AWS_DEFAULT_REGION"] == alb.config.region
