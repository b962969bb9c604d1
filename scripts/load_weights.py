"""Copy one model's pinned commit from the Hugging Face Hub into the environment's weights bucket.

    make load-weights ENV=prod MODEL=llama3-8b
    python -m scripts.load_weights --env prod --model llama3-8b

Reads models[].revision and weights_bucket from the environment file and writes the files vLLM serves
from (configs, tokenizer, safetensors; not other checkpoint formats) of that commit to
s3://BUCKET/MODEL_ID/REVISION/, one file at a time (the disk needs room for the largest
shard, not the model), with a progress bar. Resumable: a file already in the bucket with the size the
Hub lists is skipped, so an interrupted copy picks up where it stopped. The Hugging Face token of a
gated model is read from the environment's secret (make secrets sets it) and never printed.
$HF_ENDPOINT points at another Hub (huggingface_hub honours it). Needs AWS credentials for the
environment's account. Exit 0: copied (or already there); 2: a usage, credentials, token or model problem.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from config import EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.model import ModelConfig
from functions.guards.secrets import HF_TOKEN, value_problem
from scripts.aws_access import USAGE_PROBLEMS, ClientFactory, UsageError, signed_in, usage_problem

# What vLLM's streamer pulls besides the weights: configs, tokenizers, chat templates, remote code.
SERVED_SUFFIXES = (".safetensors", ".json", ".model", ".txt", ".py", ".tiktoken", ".jinja")
SHARD_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class CopyReport:
    copied: list[str]
    skipped: list[str]  # already in the bucket with the right size: a resumed copy

    @property
    def files(self) -> int:
        return len(self.copied) + len(self.skipped)


def streamed_model(config: EnvironmentConfig, name: str) -> tuple[ModelConfig, str]:
    """The model and the bucket it is copied to, or why it cannot be."""
    model = next((model for model in config.models if model.name == name), None)
    if model is None:
        names = ", ".join(model.name for model in config.models)
        raise UsageError(f"{config.source_file} has no model named '{name}'; choose one of {names}")
    if not config.weights_bucket or not model.revision:
        raise UsageError(
            f"{config.source_file}: models[{config.models.index(model)}] ({name}) has no revision or the environment "
            "no weights_bucket; set weights: s3-stream, revision (the commit) and weights_bucket.name first"
        )
    return model, config.weights_bucket.name


def hub_token(clients: ClientFactory, config: EnvironmentConfig, model: ModelConfig) -> str | None:
    """The environment's Hugging Face token for a gated model; None for an open one."""
    if not model.gated:
        return None
    name = config.hf_token_secret_name
    secrets = clients("secretsmanager")
    try:
        token: str = secrets.get_secret_value(SecretId=name)["SecretString"]
    except secrets.exceptions.ResourceNotFoundException:
        raise UsageError(f"secret {name} does not exist yet; run make secrets ENV={config.name} first") from None
    if problem := value_problem(HF_TOKEN, token):
        raise UsageError(f"secret {name} {problem}; run make secrets ENV={config.name}")
    return token.strip()


def objects_in(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """What the bucket already holds under the prefix: key -> size."""
    sizes = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            sizes[item["Key"]] = item["Size"]
    return sizes


def hub_files(api: HfApi, model: ModelConfig, token: str | None) -> Iterator[tuple[str, int]]:
    """(file name, size) of every file of the pinned commit, as the Hub lists them."""
    try:
        info = api.model_info(model.model_id, revision=model.revision, files_metadata=True, token=token)
    except GatedRepoError:
        raise UsageError(
            f"the Hub refused the token for {model.model_id}: accept the model's licence on its page with the "
            "account the token belongs to, or put a valid token in with make secrets"
        ) from None
    except RevisionNotFoundError:
        raise UsageError(
            f"{model.model_id} has no commit {model.revision}: copy the full commit hash from the model page's "
            "Files tab (History) into revision"
        ) from None
    except RepositoryNotFoundError:
        raise UsageError(
            f"the Hub has no model {model.model_id} that this token may see: check model_id, and for a gated "
            "model that the token's account was granted access"
        ) from None
    names = {sibling.rfilename for sibling in info.siblings or []}
    for sibling in info.siblings or []:
        if serves(sibling.rfilename, names):
            yield sibling.rfilename, sibling.size or 0


def serves(name: str, names: set[str]) -> bool:
    """Whether vLLM reads this file when it streams the model: configs, tokenizer and safetensors weights.

    Left out: other checkpoint formats (Meta's `original/` .pth, .bin, .gguf, ...), which would double the
    copy, and a single consolidated.safetensors beside a sharded set, which the streamer would load twice.
    """
    if name.startswith("original/") or not name.endswith(SERVED_SUFFIXES):
        return False
    return not (name.startswith("consolidated") and name.endswith(".safetensors") and SHARD_INDEX in names)


def copy_model(
    *,
    api: HfApi,
    s3: Any,
    bucket: str,
    model: ModelConfig,
    token: str | None,
    workdir: Path,
    console: Console,
) -> CopyReport:
    prefix = model.weights_prefix
    present = objects_in(s3, bucket, prefix)
    copied, skipped = [], []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
    ) as progress:
        for name, size in hub_files(api, model, token):
            key = prefix + name
            if present.get(key) == size:
                skipped.append(name)
                continue
            task = progress.add_task(escape(name), total=size * 2)  # download, then upload
            try:
                local = Path(
                    hf_hub_download(
                        model.model_id,
                        name,
                        revision=model.revision,
                        token=token,
                        local_dir=workdir,
                        endpoint=api.endpoint,
                    )
                )
            except (GatedRepoError, EntryNotFoundError, HfHubHTTPError) as error:
                raise UsageError(f"downloading {name} of {model.model_id} failed: {error}") from None
            progress.update(task, completed=size)
            s3.upload_file(str(local), bucket, key, Callback=lambda sent, task=task: progress.advance(task, sent))
            local.unlink()
            copied.append(name)
    return CopyReport(copied=copied, skipped=skipped)


def main(
    argv: list[str] | None = None,
    *,
    clients: ClientFactory | None = None,
    console: Console | None = None,
    endpoint: str | None = None,
) -> int:
    console = console or Console(highlight=False)
    parser = argparse.ArgumentParser(
        prog="load_weights", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env", required=True, help="environment (config/ENV.yaml)")
    parser.add_argument("--model", required=True, help="models[].name to copy")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        model, bucket = streamed_model(config, args.model)
        session = boto3.session.Session(region_name=config.region)
        clients = clients or (lambda service: session.client(service))
        signed_in(clients, config)
        token = hub_token(clients, config, model)
        api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT"))
        s3 = clients("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except s3.exceptions.ClientError:
            raise UsageError(
                f"bucket {bucket} is not there (or not yours): run make secrets ENV={config.name} first, which deploys "
                f"the weights stack ({config.stack_prefix}-weights)"
            ) from None
        with tempfile.TemporaryDirectory(prefix="load-weights-") as workdir:
            report = copy_model(
                api=api, s3=s3, bucket=bucket, model=model, token=token, workdir=Path(workdir), console=console
            )
    except USAGE_PROBLEMS as error:
        console.print(f"[red]error:[/red] {escape(usage_problem(error))}", soft_wrap=True)
        return 2
    console.print(
        f"s3://{bucket}/{model.weights_prefix}: {report.files} files, {len(report.copied)} copied, "
        f"{len(report.skipped)} already there",
        soft_wrap=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
