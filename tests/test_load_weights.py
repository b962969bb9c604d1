"""make load-weights against moto's S3 and Secrets Manager and a local stand-in for the Hub."""

import io

import boto3
import pytest
import yaml
from moto import mock_aws
from rich.console import Console

from scripts import load_weights
from tests.hub_standin import hub
from tests.test_config import DEV, dev_with

REPO = "meta-llama/Meta-Llama-3-8B-Instruct"
REVISION = "0123456789abcdef0123456789abcdef01234567"
BUCKET = "acme-vllm-weights-test"
TOKEN = "hf_valid_test_token_000000000000000000"
FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    "tokenizer.json": b"{}" * 500,
    "model.safetensors.index.json": b'{"weight_map": {}}',
    "model-00001-of-00002.safetensors": bytes(range(256)) * 400,
    "model-00002-of-00002.safetensors": bytes(range(256)) * 300,
}
# In the repository, never copied: Meta's original checkpoint, another format, the README, and a consolidated
# file beside the shards (the streamer would load both).
NOT_SERVED = {
    "original/consolidated.00.pth": b"pth" * 100,
    "pytorch_model.bin": b"bin" * 100,
    "README.md": b"# model card",
    "consolidated.safetensors": b"dup" * 100,
}
PREFIX = f"{REPO}/{REVISION}/"


@pytest.fixture
def env_dir(tmp_path):
    model = {**DEV["models"][0], "weights": "s3-stream", "revision": REVISION, "gated": True}
    data = dev_with(models=[model], weights_bucket={"name": BUCKET}) | {"account": "123456789012"}
    (tmp_path / "stream.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="vllm-stream/huggingface-token", SecretString=TOKEN
        )
        yield s3


def run(env_dir, endpoint: str, *extra: str) -> tuple[int, str]:
    buffer = io.StringIO()
    code = load_weights.main(
        ["--env", "stream", "--model", "llama3-8b", "--config-dir", str(env_dir), *extra],
        console=Console(file=buffer, width=200),
        endpoint=endpoint,
    )
    return code, buffer.getvalue()


def stored(s3) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {
        item["Key"][len(PREFIX) :]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing
    }


def test_copies_the_files_vllm_serves_from_of_the_pinned_commit(env_dir, aws):
    with hub(REPO, REVISION, FILES | NOT_SERVED, token=TOKEN) as (url, requests):
        code, output = run(env_dir, url)
    assert code == 0, output
    assert stored(aws) == FILES
    assert f"s3://{BUCKET}/{PREFIX}: 5 files, 5 copied, 0 already there" in output
    assert not any(name in request for request in requests for name in NOT_SERVED if "resolve" in request)
    assert any(f"/revision/{REVISION}" in request for request in requests), "the pinned commit, not main"
    assert TOKEN not in output


def test_a_resumed_copy_skips_what_is_there_and_redoes_a_partial_file(env_dir, aws):
    aws.put_object(Bucket=BUCKET, Key=PREFIX + "config.json", Body=FILES["config.json"])
    aws.put_object(Bucket=BUCKET, Key=PREFIX + "model-00001-of-00002.safetensors", Body=b"truncated")
    with hub(REPO, REVISION, FILES, token=TOKEN) as (url, requests):
        code, output = run(env_dir, url)
    assert code == 0, output
    assert stored(aws) == FILES
    assert "5 files, 4 copied, 1 already there" in output
    assert not any("resolve" in request and "config.json" in request for request in requests)


def test_a_refused_token_stops_with_the_fix_and_writes_nothing(env_dir, aws):
    with hub(REPO, REVISION, FILES, token="hf_someone_else") as (url, _):
        code, output = run(env_dir, url)
    assert code == 2
    assert "the Hub refused the token" in output and "make secrets" in output
    assert TOKEN not in output and stored(aws) == {}


def test_an_unknown_commit_names_the_field(env_dir, aws):
    with hub(REPO, "f" * 40, FILES, token=TOKEN) as (url, _):
        code, output = run(env_dir, url)
    assert code == 2 and f"has no commit {REVISION}" in output and "revision" in output


def test_a_missing_bucket_says_which_stack_to_deploy(env_dir, aws):
    aws.delete_bucket(Bucket=BUCKET)
    with hub(REPO, REVISION, FILES, token=TOKEN) as (url, _):
        code, output = run(env_dir, url)
    assert code == 2 and "make secrets ENV=stream" in output and "vllm-stream-weights" in output


def test_no_aws_credentials_exit_2_before_anything(env_dir, no_aws_credentials):
    code, output = run(env_dir, "http://127.0.0.1:9")
    assert code == 2 and "no AWS credentials found" in output


def test_a_model_that_does_not_stream_is_refused(env_dir):
    data = yaml.safe_load((env_dir / "stream.yaml").read_text())
    data["models"][0] = DEV["models"][0]
    (env_dir / "stream.yaml").write_text(yaml.safe_dump(data))
    code, output = run(env_dir, "http://127.0.0.1:9")
    assert code == 2 and "set weights: s3-stream, revision" in output


def test_each_file_is_deleted_after_its_upload_so_the_disk_holds_one_at_a_time(env_dir, aws, tmp_path):
    from huggingface_hub import HfApi

    from config import load_environment

    config = load_environment("stream", config_dir=env_dir, environ={})
    model = config.models[0]
    workdir = tmp_path / "work"
    workdir.mkdir()
    on_disk: list[list[str]] = []
    upload = aws.upload_file

    def recording_upload(path, bucket, key, **kwargs):
        files = [p for p in workdir.rglob("*") if p.is_file() and ".cache" not in p.parts]
        on_disk.append(sorted(str(p.relative_to(workdir)) for p in files))
        return upload(path, bucket, key, **kwargs)

    aws.upload_file = recording_upload
    with hub(REPO, REVISION, FILES, token=TOKEN) as (url, _):
        report = load_weights.copy_model(
            api=HfApi(endpoint=url),
            s3=aws,
            bucket=BUCKET,
            model=model,
            token=TOKEN,
            workdir=workdir,
            console=Console(file=io.StringIO()),
        )
    assert len(report.copied) == len(FILES) == len(on_disk)
    assert all(len(files) == 1 for files in on_disk), on_disk


def test_a_token_still_at_its_placeholder_stops_before_the_hub_is_asked(env_dir, aws):
    from functions.guards.secrets import PLACEHOLDER

    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId="vllm-stream/huggingface-token", SecretString=PLACEHOLDER
    )
    with hub(REPO, REVISION, FILES, token=TOKEN) as (url, requests):
        code, output = run(env_dir, url)
    assert code == 2 and "holds no value yet" in output and "make secrets ENV=stream" in output
    assert requests == [] and stored(aws) == {}
