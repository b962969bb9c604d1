"""The Job `make bench-endpoint` runs: vLLM's own benchmark client against one model's Service.

It runs `vllm bench serve` from the pinned vLLM image (the same release as the server, so client and
server agree on the API; no second image to pin or mirror) on a system node: it requests no GPU and
does not tolerate the GPU taint. It reads the api key and the Hugging Face token (the client tokenizes
its prompts with the model's tokenizer) from the model servers' own secrets mount, and prints each
run's result as one JSON line that `scripts/bench_endpoint.py` reads back from the Job's log.
"""

import shlex
from typing import Any

import cdk8s

from charts.bench_runs import PERCENTILES, RESULT_MARKER, BenchRun, bench_runs, job_name
from charts.common import (
    NO_PRIVILEGES,
    PINNED_BY_TAG,
    RUNTIME_DEFAULT_SECCOMP,
    StandaloneChart,
    api_object,
    recommended_labels,
    scan_skips,
)
from charts.vllm import (
    NAMESPACE,
    SECRETS_MOUNT,
    SERVICE_ACCOUNT,
    SERVICE_PORT,
    deployment_name,
    secrets_mount,
)
from config.images import Image
from config.model import BenchmarkConfig, ModelConfig
from config.scheduling import GPU_NODE_LABELS
from config.secrets import API_KEY_FILE, HF_TOKEN_FILE

BENCH_APP = "vllm-benchmark"  # app.kubernetes.io/name of the Job's pod; the vLLM NetworkPolicy admits it
SCRATCH = "/bench"
RESULTS_DIR = f"{SCRATCH}/results"
CLIENT_CPU = "500m"
CLIENT_MEMORY = "2Gi"
READY_WAIT_SECONDS = 900  # a new GPU node's budgeted start (planning/cold_start.py) fits well inside
# Kept a day after the Job ends, so its log can be read again (`kubectl -n vllm logs job/vllm-bench-MODEL`).
KEEP_FINISHED_SECONDS = 86400
BENCH_SCAN_FINDINGS = PINNED_BY_TAG | {
    "CKV_K8S_23": "the vllm-openai image has no non-root user; the client runs with no capability, no escalation "
    "and the RuntimeDefault seccomp profile",
    "CKV_K8S_40": "same reason: the image has no non-root user to run as",
    "CKV_K8S_22": "not verified that vLLM's CLI and its libraries start on a read-only root file system",
    "CKV_K8S_11": "no CPU limit on purpose: CFS throttling of the client would show up as server latency",
}


def service_url(model: ModelConfig) -> str:
    return f"http://{deployment_name(model)}.{NAMESPACE}.svc:{SERVICE_PORT}"


def client_args(model: ModelConfig, run: BenchRun, *, base_url: str) -> list[str]:
    """`vllm bench serve` arguments of one run; every flag exists in vLLM 0.31.0 (vllm/benchmarks/serve.py and
    vllm/benchmarks/datasets/datasets.py). Random prompts of exact lengths: the shared prefix plus
    input - prefix random tokens, and exactly output_tokens back (the end-of-sequence token ignored)."""
    shape = run.shape
    return [
        "bench",
        "serve",
        "--backend",
        "openai",
        "--base-url",
        base_url,
        "--endpoint",
        "/v1/completions",
        "--model",
        model.model_id,  # the tokenizer the client counts and builds prompts with
        "--served-model-name",
        model.served_name,
        "--dataset-name",
        "random",
        "--random-input-len",
        str(shape.input_tokens - shape.shared_prefix_tokens),
        "--random-prefix-len",
        str(shape.shared_prefix_tokens),
        "--random-output-len",
        str(shape.output_tokens),
        "--random-range-ratio",
        "0",
        "--ignore-eos",
        "--max-concurrency",
        str(run.concurrency),
        "--num-prompts",
        str(run.requests),
        "--seed",
        "0",
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        ",".join(str(p) for p in PERCENTILES),
        "--metadata",
        f"shape={shape.name}",
        "--save-result",
        "--result-dir",
        RESULTS_DIR,
        "--result-filename",
        run.result_file,
        "--disable-tqdm",
        # Wait for the server (a replica that KEDA or Karpenter is still starting) instead of failing the run.
        "--ready-check-timeout-sec",
        str(READY_WAIT_SECONDS),
    ]


def bench_script(
    model: ModelConfig, benchmark: BenchmarkConfig, *, base_url: str, api_key_file: str | None, vllm: str = "vllm"
) -> str:
    """The Job's shell script: each run, then its result as one line of the log. A failed run ends the Job."""
    report = (
        f'import json, sys; print("{RESULT_MARKER}" + json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")), '
        "flush=True)"
    )
    lines = [
        "set -eu",
        f"mkdir -p {RESULTS_DIR}",
        f'report() {{ python3 -c {shlex.quote(report)} "{RESULTS_DIR}/$1"; }}',
    ]
    if api_key_file:
        # The client sends OPENAI_API_KEY as the bearer token (vllm/benchmarks/lib/endpoint_request_func.py).
        lines.append(f'OPENAI_API_KEY="$(cat {shlex.quote(api_key_file)})"; export OPENAI_API_KEY')
    for run in bench_runs(benchmark, model):
        lines.append(f"echo {shlex.quote(f'run {run.shape.name} at concurrency {run.concurrency}')}")
        lines.append(shlex.join([vllm, *client_args(model, run, base_url=base_url)]))
        lines.append(f"report {run.result_file}")
    return "\n".join(lines) + "\n"


class BenchmarkChart(StandaloneChart):
    """One model's benchmark Job. Not applied by the stacks: `make bench-endpoint` applies it when asked."""

    def __init__(self, *, model: ModelConfig, benchmark: BenchmarkConfig, image: Image, secrets: dict[str, str]):
        super().__init__(f"benchmark-{model.name}")
        labels = recommended_labels(BENCH_APP, model.name, component="benchmark", version=image.tag)
        api_key_file = f"{SECRETS_MOUNT}/{API_KEY_FILE}" if API_KEY_FILE in secrets else None
        env = [{"name": "HF_HOME", "value": f"{SCRATCH}/huggingface"}]
        if model.gated:
            env.append({"name": "HF_TOKEN_PATH", "value": f"{SECRETS_MOUNT}/{HF_TOKEN_FILE}"})
        mounts: list[dict[str, Any]] = [{"name": "scratch", "mountPath": SCRATCH}]
        volumes: list[dict[str, Any]] = [{"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}}]
        if secrets:
            mount, volume = secrets_mount()
            mounts.append(mount)
            volumes.append(volume)
        self.job: cdk8s.ApiObject = api_object(
            self,
            "job",
            api_version="batch/v1",
            kind="Job",
            metadata={
                "name": job_name(model),
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": scan_skips(BENCH_SCAN_FINDINGS),
            },
            spec={
                "backoffLimit": 0,  # a retried benchmark would report a mix of two runs
                "activeDeadlineSeconds": benchmark.deadline_minutes * 60,
                "ttlSecondsAfterFinished": KEEP_FINISHED_SECONDS,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        # The model servers' account: its Pod Identity role reads the secrets mounted above.
                        "serviceAccountName": SERVICE_ACCOUNT,
                        "automountServiceAccountToken": False,
                        "securityContext": RUNTIME_DEFAULT_SECCOMP,
                        # Never a GPU node: no GPU toleration, and a rule that says so.
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {
                                            "matchExpressions": [
                                                {"key": key, "operator": "NotIn", "values": [value]}
                                                for key, value in GPU_NODE_LABELS.items()
                                            ]
                                        }
                                    ]
                                }
                            }
                        },
                        "containers": [
                            {
                                "name": "client",
                                "image": image.ref,
                                "command": ["/bin/sh", "-c"],
                                "args": [
                                    bench_script(
                                        model, benchmark, base_url=service_url(model), api_key_file=api_key_file
                                    )
                                ],
                                "env": env,
                                # Small enough for a system node (m6i.large: 1930m allocatable, before the
                                # add-ons' DaemonSets); no CPU limit, so it bursts into what is idle.
                                "resources": {
                                    "requests": {"cpu": CLIENT_CPU, "memory": CLIENT_MEMORY},
                                    "limits": {"memory": CLIENT_MEMORY},
                                },
                                "securityContext": NO_PRIVILEGES,
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
        )
