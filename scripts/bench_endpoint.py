"""Benchmark a deployed model with vLLM's own client, next to what the planner predicts for the same traffic.

    make bench-endpoint ENV=dev MODEL=llama3-8b
    python -m scripts.bench_endpoint --env dev --model llama3-8b [--context vllm-dev]
    python -m scripts.bench_endpoint --env dev --model llama3-8b --logs job.log   # report a saved log again
    python -m scripts.bench_endpoint --env dev --model llama3-8b --render         # print the Job, apply nothing

Applies the model's benchmark Job (charts/benchmark.py; the same YAML as dist/ENV/benchmark/MODEL.yaml),
replacing the previous run's Job, waits until it ends (its deadline, benchmark.deadline_minutes, bounds
it), reads each run's result from its log and prints, per traffic shape and concurrency: requests,
output tokens/s measured and predicted with their ratio, and TTFT and inter-token latency percentiles.
Exit 0: every run finished without a failed request. 1: the Job failed or timed out, a run is missing
or had failed requests. 2: a usage problem (unknown environment or model, no cluster access).
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from charts.bench_runs import PERCENTILES, RESULT_MARKER, BenchRun, bench_runs, fitting_shapes, job_name
from charts.names import VLLM_NAMESPACE as NAMESPACE
from config import ConfigError, EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.model import ModelConfig
from planning.sizing import Sizing, plan_environment
from planning.throughput import calibration, calibration_band

POLL_SECONDS = 15.0
REQUEST_TIMEOUT = (10, 60)  # connect, read: seconds
GRACE_SECONDS = 120  # past the Job's own deadline, for the pod to be scheduled and its image pulled


class UsageError(Exception):
    """Exit 2: the benchmark cannot be started as asked."""


class NoClusterAccess(UsageError):
    """Exit 2: the cluster cannot be reached or refuses this identity; the fix is the kubeconfig."""


@dataclass(frozen=True)
class RunResult:
    """One run's numbers, from the JSON `vllm bench serve --save-result` writes (vLLM 0.31.0 field names)."""

    shape: str
    concurrency: int
    completed: int
    failed: int
    output_tokens_per_second: float
    requests_per_second: float
    ttft_ms: dict[int, float]  # percentile -> milliseconds
    itl_ms: dict[int, float]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunResult":
        return cls(
            shape=str(data["shape"]),
            concurrency=int(data["max_concurrency"]),
            completed=int(data["completed"]),
            failed=int(data.get("failed", 0)),
            output_tokens_per_second=float(data["output_throughput"]),
            requests_per_second=float(data["request_throughput"]),
            ttft_ms={p: float(data[f"p{p}_ttft_ms"]) for p in PERCENTILES},
            itl_ms={p: float(data[f"p{p}_itl_ms"]) for p in PERCENTILES},
        )


def parse_results(log: str) -> list[RunResult]:
    """Every result line of a benchmark Job's log, in the order the runs finished."""
    return [
        RunResult.from_json(json.loads(line[len(RESULT_MARKER) :]))
        for line in log.splitlines()
        if line.startswith(RESULT_MARKER)
    ]


def predicted(sizing: Sizing, run: BenchRun) -> float:
    shape = run.shape
    return sizing.throughput_at(
        run.concurrency,
        input_tokens=shape.input_tokens,
        output_tokens=shape.output_tokens,
        shared_prefix_tokens=shape.shared_prefix_tokens,
    )


def report(
    console: Console, config: EnvironmentConfig, model: ModelConfig, sizing: Sizing | None, results: list[RunResult]
) -> bool:
    """Print measured next to predicted; True when every planned run is there with no failed request."""
    by_run = {(result.shape, result.concurrency): result for result in results}
    table = Table(title=f"{model.name} on {sizing.instance.name if sizing else '?'}: vllm bench serve")
    for column in ("shape", "in flight", "requests ok/failed", "output tok/s", "predicted", "ratio"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    table.add_column("TTFT p50/p99 ms", justify="right")
    table.add_column("ITL p50/p99 ms", justify="right")
    complete = True
    low, high = calibration_band()
    for run in bench_runs(config.benchmark, model):
        label = run.shape.name
        expected = predicted(sizing, run) if sizing else None
        result = by_run.get((run.shape.name, run.concurrency))
        if result is None:
            complete = False
            table.add_row(label, str(run.concurrency), "not run", "-", _number(expected), "-", "-", "-")
            continue
        complete &= result.failed == 0
        ratio = f"{result.output_tokens_per_second / expected:.2f}" if expected else "-"
        table.add_row(
            label,
            str(run.concurrency),
            f"{result.completed}/{result.failed}",
            f"{result.output_tokens_per_second:.0f}",
            _number(expected),
            ratio,
            f"{result.ttft_ms[50]:.0f}/{result.ttft_ms[99]:.0f}",
            f"{result.itl_ms[50]:.1f}/{result.itl_ms[99]:.1f}",
        )
    console.print(table)
    for shape in config.benchmark.shapes:
        if shape not in fitting_shapes(config.benchmark, model):
            console.print(
                f"{shape.name}: not run, {shape.input_tokens} + {shape.output_tokens} tokens is more than "
                f"max_model_len {model.max_model_len}"
            )
            continue
        console.print(
            f"{shape.name}: {shape.input_tokens} prompt tokens ({shape.shared_prefix_tokens} of them shared by every "
            f"request), {shape.output_tokens} output tokens, {shape.requests_per_client} requests per concurrent client"
        )
    console.print(
        Text(
            "ratio = measured / predicted; predicted: the planner's serving model (planning/throughput.py: memory "
            "bandwidth, Tensor Core math, prefill, tensor-parallel all-reduces, engine overhead), fitted within "
            f"{low:.2f}x to {high:.2f}x of {len(calibration().runs)} published runs "
            "(planning/data/throughput_calibration.yaml), for one replica.",
            style="dim",
        )
    )
    return complete


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


class JobRunner(Protocol):
    """What the benchmark needs from the cluster."""

    def replace_job(self, manifest: dict[str, Any]) -> None: ...

    def job_state(self, namespace: str, name: str) -> str:
        """ "running", "succeeded" or "failed" (with the reason after a colon)."""
        ...

    def job_log(self, namespace: str, name: str) -> str: ...

    def pod_waiting(self, namespace: str, name: str) -> str | None:
        """Why the Job's pod is not running yet (unschedulable, pulling, a mount failing), or None."""
        ...


def waiting_reason(pod: dict[str, Any]) -> str | None:
    """From a pod as the API returns it: why it is not running yet, or None once it is (or has ended)."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"not scheduled: {condition.get('reason')}: {condition.get('message', '')}".strip()
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return f"{waiting.get('reason')}: {waiting.get('message', '')}".strip().rstrip(":")
    if status.get("phase") == "Pending":
        return "Pending"
    return None


class KubernetesJobs:
    """The live cluster through the official client (imported here: it is slow to import)."""

    def __init__(self, *, kubeconfig: str | None, context: str | None) -> None:
        import kubernetes

        try:
            api_client = kubernetes.config.new_client_from_config(
                config_file=kubeconfig, context=context, persist_config=False
            )
        except (kubernetes.config.ConfigException, OSError, yaml.YAMLError) as error:
            raise NoClusterAccess(f"no usable kubeconfig ({error})") from None
        self._api_exception: type[Exception] = kubernetes.client.exceptions.ApiException
        self._batch = kubernetes.client.BatchV1Api(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    def replace_job(self, manifest: dict[str, Any]) -> None:
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        self._call(self._batch.delete_namespaced_job, name, namespace, propagation_policy="Foreground", absent=True)
        for _ in range(60):  # a Job's spec is immutable: the old one must be gone before the new one is created
            if self._call(self._batch.read_namespaced_job, name, namespace, absent=True) is None:
                break
            time.sleep(2)
        else:
            raise UsageError(
                f"the previous Job {namespace}/{name} is still being deleted after 2 minutes; "
                f"check `kubectl -n {namespace} get job,pods -l job-name={name}` and run again"
            )
        self._call(self._batch.create_namespaced_job, namespace, manifest)

    def job_state(self, namespace: str, name: str) -> str:
        job = self._call(self._batch.read_namespaced_job_status, name, namespace, absent=True)
        if job is None:
            return "failed: it was deleted while it ran"
        for condition in job.status.conditions or []:
            if condition.status == "True" and condition.type == "Complete":
                return "succeeded"
            if condition.status == "True" and condition.type == "Failed":
                return f"failed: {condition.reason}: {condition.message}"
        return "running"

    def job_log(self, namespace: str, name: str) -> str:
        pods = self._call(self._core.list_namespaced_pod, namespace, label_selector=f"job-name={name}")
        if not pods.items:
            return ""
        log = self._call(self._core.read_namespaced_pod_log, pods.items[0].metadata.name, namespace, absent=True)
        return str(log or "")

    def pod_waiting(self, namespace: str, name: str) -> str | None:
        pods = self._call(self._core.list_namespaced_pod, namespace, label_selector=f"job-name={name}")
        if not pods.items:
            return "no pod yet"
        return waiting_reason(self._core.api_client.sanitize_for_serialization(pods.items[0]))

    def _call(self, call: Callable[..., Any], *args: Any, absent: bool = False, **kwargs: Any) -> Any:
        try:
            return call(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except self._api_exception as error:
            status = getattr(error, "status", None)
            if absent and status in (400, 404):  # gone, or its container has not started yet
                return None
            if status in (401, 403):
                raise NoClusterAccess(
                    f"the Kubernetes API refused this identity ({status} {getattr(error, 'reason', '')})"
                ) from None
            if not status:  # the client failed before any answer (TLS, for one)
                raise NoClusterAccess(f"cannot reach the Kubernetes API ({getattr(error, 'reason', error)})") from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise NoClusterAccess(f"cannot reach the Kubernetes API ({error})") from None


def run_job(
    runner: JobRunner,
    manifest: dict[str, Any],
    *,
    deadline_seconds: int,
    console: Console,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, str]:
    """Apply the Job and wait for it to end; (its final state, its log). Shows each run as its line appears."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    runner.replace_job(manifest)
    console.print(f"Job {namespace}/{name} applied; it stops itself after {deadline_seconds // 60} minutes.")
    give_up = clock() + deadline_seconds + GRACE_SECONDS
    shown = 0
    last_waiting: str | None = None
    while True:
        state = runner.job_state(namespace, name)
        waiting = runner.pod_waiting(namespace, name) if state == "running" else None
        if waiting and waiting != last_waiting:
            console.print(Text(f"pod: {waiting}", style="yellow"))
        last_waiting = waiting
        log = runner.job_log(namespace, name)
        progress = [line for line in log.splitlines() if line.startswith("run ")]
        for line in progress[shown:]:
            console.print(Text(line, style="dim"))
        shown = len(progress)
        if state != "running":
            return state, log
        if clock() > give_up:
            return f"failed: still running {GRACE_SECONDS} s past its deadline", log
        sleep(POLL_SECONDS)


def find_model(config: EnvironmentConfig, name: str | None) -> ModelConfig:
    names = [model.name for model in config.models]
    if name is None and len(names) == 1:
        return config.models[0]
    for model in config.models:
        if model.name == name:
            return model
    raise UsageError(
        f"{config.source_file} has no model named {name!r}: pass MODEL= one of {', '.join(names)} "
        f"(e.g. make bench-endpoint ENV={config.name} MODEL={names[0]})"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_endpoint", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env", required=True, help="environment (config/ENV.yaml)")
    parser.add_argument("--model", help="models[].name to benchmark (optional when there is one model)")
    parser.add_argument("--logs", type=Path, help="report a saved Job log instead of running the Job")
    parser.add_argument("--render", action="store_true", help="print the Job's YAML and stop")
    parser.add_argument("--context", help="kubeconfig context (default: the current context)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None,
    *,
    runner: JobRunner | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    args = parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        model = find_model(config, args.model)
        from charts.bundle import benchmark_chart  # here: rendering starts jsii, a usage error answers without it

        if args.render:
            console.print(benchmark_chart(config, model).to_yaml(), end="", markup=False, highlight=False)
            return 0
        if args.logs:
            state, log = "succeeded", args.logs.read_text()
        else:
            manifest = yaml.safe_load(benchmark_chart(config, model).to_yaml())
            runner = runner or KubernetesJobs(kubeconfig=args.kubeconfig, context=args.context)
            state, log = run_job(
                runner, manifest, deadline_seconds=config.benchmark.deadline_minutes * 60, console=console, sleep=sleep
            )
    except (ConfigError, UsageError, OSError) as error:
        fix = ""
        if isinstance(error, NoClusterAccess):
            fix = f" Fix: run `make kubeconfig ENV={args.env}` first, or pass --context / --kubeconfig."
        console.print(Text.assemble(Text("error: ", style="red"), Text(f"{error}{fix}")))
        return 2
    sizing = next(plan.sizing for plan in plan_environment(config) if plan.model.name == model.name)
    complete = report(console, config, model, sizing, parse_results(log))
    if state != "succeeded":
        console.print(
            Text.assemble(
                Text("error: ", style="red"),
                Text(
                    f"the Job {NAMESPACE}/{job_name(model)} {state}. Its log: kubectl -n {NAMESPACE} logs "
                    f"job/{job_name(model)}"
                ),
            )
        )
        return 1
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
