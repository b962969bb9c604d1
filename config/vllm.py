"""The pinned vLLM release and what it accepts: one place to change when vLLM is bumped.

`vllm_serve_flags.json` beside this file lists every flag, alias, negation and tool-call parser of
that release, read from `vllm serve`'s own argument parser built from the release package (see its
`source`); a bump regenerates it, and re-checks the log lines scripts/status.py reads.
"""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from config.images import Image

SERVE_FLAGS_FILE = Path(__file__).with_name("vllm_serve_flags.json")

# vLLM 0.31.0 (2026-10): the newest release with a published, widely used image. Since 0.20 the
# unsuffixed image is built on CUDA 13, which needs NVIDIA driver >= 580: the EKS AL2023 NVIDIA
# AMI ships the 580 branch. Never `latest`: a model-server upgrade is a tested change.
VLLM_IMAGE = Image("docker.io", "vllm/vllm-openai", "v0.31.0")

# The startup probe's allowance: 180 checks 10 s apart, 30 minutes before liveness may judge. Generous on
# purpose: a start killed for being slow restarts from scratch and loops forever, while a hung start is rare.
# 30 minutes is twice the slowest start the cold-start budget reckons (~550 s: a new node, gp3 at its included
# 125 MiB/s, weights from the Hub; planning/cold_start.py, which a test holds to this) and covers the guide's
# observed 10-15 minutes with room.
STARTUP_PROBE_PERIOD_SECONDS = 10
STARTUP_PROBE_FAILURES = 180

# vLLM flags the chart sets from typed fields; passing them again in extra_args would be ambiguous.
MANAGED_VLLM_FLAGS = {
    "--model",
    "--served-model-name",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--tensor-parallel-size",
    "--port",
    "--host",
    "--api-key",
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "--quantization",
    "--kv-cache-dtype",
    "--load-format",
    "--model-loader-extra-config",
}
# weights: s3-stream: the Run:ai streamer's parallel S3 reads. 32 loaded Llama-3-8B (15 GB) fastest in Run:ai's
# benchmark (4.88 s; 8.45 s at 16, 5.01 s at 64; github.com/run-ai/runai-model-streamer docs/src/benchmarks.md).
RUNAI_STREAMER_CONCURRENCY = 32
# The streamer's CPU staging buffer. Unset, it takes up to 40 GB (min(limit, the files' size)): a whole 8B
# model in the pod's memory on top of vLLM's own, past a 16 GiB limit. 4 GiB holds 32 reads of its 8 MiB
# object-storage chunks many times over (github.com/run-ai/runai-model-streamer docs/src/env-vars.md).
# `concurrency` and `memory_limit` (integers, bytes) are the only --model-loader-extra-config keys the pinned
# release's runai_streamer loader accepts (vllm 0.31.0 wheel, model_executor/model_loader/runai_streamer_loader.py).
RUNAI_STREAMER_MEMORY_LIMIT_BYTES = 4 * 1024**3
# The parser for each model family, matched against the lower-cased model id.
FAMILY_TOOL_PARSERS = {
    r"llama-?3": "llama3_json",
    r"llama-?4": "llama4_pythonic",
    r"mi[sx]tral": "mistral",
    r"qwen": "hermes",
}


@cache
def serve_flags() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SERVE_FLAGS_FILE.read_text())
    if data["vllm_version"] != VLLM_IMAGE.tag:
        raise RuntimeError(f"{SERVE_FLAGS_FILE.name} is for vLLM {data['vllm_version']}, the pin is {VLLM_IMAGE.tag}")
    return data


def tool_call_parsers() -> frozenset[str]:
    """The parsers built into the pinned release (`--tool-call-parser` choices without plugins)."""
    return frozenset(serve_flags()["tool_call_parsers"])


@cache
def _spellings() -> dict[str, str]:
    """Every way to write a flag (long, alias, negation) -> its canonical long name."""
    spellings = {}
    for flag, facts in serve_flags()["flags"].items():
        for spelling in (flag, *facts["aliases"], *([facts["negation"]] if facts.get("negation") else [])):
            spellings[spelling] = flag
    return spellings


NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def canonical_flag(arg: str) -> str | None:
    """The long name of the vLLM flag `arg` spells (`--a_b`, `--a-b=1`, an alias, `-O3`), or None if it spells none."""
    written = arg.split("=", 1)[0]
    if written.startswith("--"):
        written = written.split(".", 1)[0].replace("_", "-")  # --a_b and --json-config.key spellings
    elif written.startswith("-O"):
        written = "-O"  # -O3, -O=3
    else:
        written = written.split(".", 1)[0]  # -cc.mode
    return _spellings().get(written)


def extra_arg_value(args: list[str], flag: str) -> str | None:
    """The value `args` give `flag` (its long name), however it is spelled; None when they do not set it."""
    for index, arg in enumerate(args):
        if arg.startswith("-") and not NUMBER.fullmatch(arg) and canonical_flag(arg) == flag:
            if "=" in arg:
                return arg.split("=", 1)[1]
            return args[index + 1] if index + 1 < len(args) else None
    return None


def extra_args_problems(args: list[str]) -> list[str]:
    """Why `extra_args` cannot be passed as they are: unknown flags, and any spelling of a flag the app sets."""
    problems = []
    for arg in args:
        if not arg.startswith("-") or NUMBER.fullmatch(arg):
            continue  # a value
        if any(character.isspace() for character in arg):
            problems.append(f"'{arg[:60]}' holds a space: give each flag and each value its own list item")
            continue
        flag = canonical_flag(arg)
        if flag is None:
            problems.append(
                f"'{arg[:60]}' is not a flag of vLLM {VLLM_IMAGE.tag} (config/vllm_serve_flags.json); check the "
                "spelling, and spell flags out in full"
            )
        elif flag in MANAGED_VLLM_FLAGS or flag in ("--help", "--version"):
            problems.append(f"'{arg[:60]}' sets {flag}, which the app sets from its own field; set that field instead")
    return problems
