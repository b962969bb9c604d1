"""Where the first token stands: GPU nodes, GPU agents, each model's pods, recent warnings, the endpoint.

    make status ENV=dev
    python -m scripts.status --env dev --wait --timeout 1800

Reads the cluster through your kubeconfig (its current context, or --context). Each vLLM pod is
placed at its stage on the way to serving: Pending, pulling image, downloading weights, loading,
compiling / capturing graphs, Ready; or stuck: image pull failed, crash looping.
Exit 0: every model has a Ready pod. 1: one has not; one reason per such model is printed (with
--wait: after --timeout, or as soon as a model is stuck). 2: a usage problem: unknown environment,
no kubeconfig, cluster unreachable or credentials refused.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import urllib3
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from charts import names
from config import ConfigError, EnvironmentConfig, load_environment
from config.model import EndpointAccess, ExposureMode, ModelConfig
from config.scheduling import GPU_NODE_LABELS, GPU_RESOURCE
from planning.cold_start import Budget, NodeState, WeightSource, configured_source, environment_budgets
from scripts.start_phases import MeasuredStart, measured_start

Json = dict[str, Any]

POLL_SECONDS = 10.0
TIMEOUT_SECONDS = 1800.0
REQUEST_TIMEOUT_SECONDS = 15
START_LOG_LINES = 5000  # a start's lines stay within reach for a while after it, behind the probes' lines
LOG_TAIL_LINES = 400  # enough to reach the last startup marker past vLLM's per-request and warning lines
CRASH_LOG_LINES = 10
WARNING_LIMIT = 10
LOCAL_PORT = 8080
WARNING_NAMESPACES = (names.VLLM_NAMESPACE, names.DCGM_EXPORTER_NAMESPACE, names.DEVICE_PLUGIN_NAMESPACE)
AGENTS = (
    ("device plugin", names.DEVICE_PLUGIN, names.DEVICE_PLUGIN_NAMESPACE),
    ("DCGM exporter", names.DCGM_EXPORTER, names.DCGM_EXPORTER_NAMESPACE),
)
CONTAINER = "vllm"  # the container name in charts/vllm.py


class Stage(StrEnum):
    """Where a vLLM pod is on its way to its first token."""

    NO_PODS = "no pods"
    TERMINATING = "terminating"
    PENDING = "Pending"
    CREATING = "creating container"
    PULLING = "pulling image"
    RESTARTING = "restarting after an exit"
    STARTING = "starting"
    DOWNLOADING = "downloading weights"
    LOADING = "loading"
    COMPILING = "compiling / capturing graphs"
    SERVING = "waiting for readiness probe"
    READY = "Ready"
    PULL_FAILED = "image pull failed"
    CRASH_LOOPING = "crash looping"
    FAILED = "failed"


PROGRESS = list(Stage)  # declaration order is how far a pod has got; the stuck stages come last
STUCK = {Stage.PULL_FAILED, Stage.CRASH_LOOPING, Stage.FAILED}
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_FAILURES = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

# vLLM prints no machine-readable progress, so a running but unready server is placed by the last of
# its recent log lines that matches one of these. Checked against the pinned release's package (vLLM
# 0.31.0, config/vllm.py, 2026-11-28): every vLLM phrase below occurs in its source ("Starting vLLM
# server on" replaced older releases' "Starting vLLM API server"); "Application startup complete" is
# uvicorn's, and "Fetching N files", "Downloading" and the ".safetensors: N%" bars are huggingface_hub's.
# Re-check whenever the pin moves: a reworded line silently leaves a pod at "starting". The newest
# line with a marker decides; within one line, the first row that matches.
LOG_MARKERS: tuple[tuple[re.Pattern[str], Stage], ...] = (
    (re.compile(r"Starting vLLM (API )?server|Application startup complete"), Stage.SERVING),
    (
        re.compile(
            r"torch\.compile|Dynamo bytecode transform|Compiling a graph|Available KV cache memory|GPU KV cache size"
            r"|Capturing CUDA graph|Graph capturing finished|init engine \(profile"
        ),
        Stage.COMPILING,
    ),
    (
        re.compile(
            r"Time spent downloading weights|Loading safetensors checkpoint shards"
            r"|Loading weights took|Model loading took"
        ),
        Stage.LOADING,
    ),
    (re.compile(r"Starting to load model|Fetching \d+ files|Downloading|\.safetensors:\s*\d+%"), Stage.DOWNLOADING),
)
# "(EngineCore_DP0 pid=231) INFO 11-28 16:11:07 [file.py:267] " from vLLM, "INFO:     " from uvicorn
VLLM_PREFIX = re.compile(
    r"^(?:\([\w-]+ pid=\d+\)\s*)?(?:DEBUG|INFO|WARNING|ERROR)(?::|\s+\d\d-\d\d [\d:.]+\s+\[[^\]]*\])\s*"
)
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
PULL_PREFIX = re.compile(r'^Back-off pulling image "[^"]*":\s*')
# Known causes of a stuck pod, found in its log or its waiting message, and what fixes them.
HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"GatedRepoError|401 Client Error|Cannot access gated repo|Invalid user token", re.IGNORECASE),
        "Hugging Face refused the token: store one with access to the model in {hf_secret} "
        "(make secrets ENV={env}), then run `kubectl -n vllm rollout restart deployment`",
    ),
    (
        re.compile(r"toomanyrequests|429 Too Many Requests"),
        "Docker Hub's pull rate limit: pull through this account's ECR (mirror_images: true in {source}), "
        "or wait and run `kubectl -n vllm rollout restart deployment`",
    ),
    (
        re.compile(
            r"CUDA out of memory|No available memory for the cache blocks|larger than the maximum number of tokens"
        ),
        "the model does not fit in GPU memory at this max_model_len: lower max_model_len or raise "
        "gpu_memory_utilization in {source}, or choose a larger instance (make plan ENV={env})",
    ),
)


class UsageError(Exception):
    """The cluster cannot be read as asked (no kubeconfig, unreachable, credentials refused): exit 2."""


class ClusterError(Exception):
    """The API answered, but with an error this script cannot work around: exit 1."""


class ClusterReader(Protocol):
    """What the status needs from the cluster, as the Kubernetes API returns it: raw JSON, so recordings replay it."""

    def nodes(self, label_selector: str) -> Json: ...

    def pods(self, namespace: str, label_selector: str) -> Json: ...

    def events(self, namespace: str) -> Json: ...

    def pod_log(self, namespace: str, name: str, tail_lines: int, *, previous: bool = False) -> str: ...

    def service(self, namespace: str, name: str) -> Json | None: ...

    def ingress(self, namespace: str, name: str) -> Json | None: ...


class KubernetesCluster:
    """The live cluster through the official client; responses stay undecoded so they match recordings.

    The client is imported here, not at the top: it takes longer to import than everything else
    together, and --help or a bad --env should not wait for it.
    """

    def __init__(self, *, kubeconfig: str | None = None, context: str | None = None) -> None:
        import kubernetes

        configuration = kubernetes.client.Configuration()
        configuration.retries = 1  # fail fast on an unreachable endpoint; --wait polls again anyway
        try:
            api_client = kubernetes.config.new_client_from_config(
                config_file=kubeconfig, context=context, persist_config=False, client_configuration=configuration
            )
            contexts, current = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        except (kubernetes.config.ConfigException, OSError, yaml.YAMLError) as error:
            raise UsageError(f"no usable kubeconfig ({error})") from None
        self.context: str = context or current["name"]
        self.contexts: set[str] = {entry["name"] for entry in contexts}
        self.server = configuration.host
        self._api_exception: type[Exception] = kubernetes.client.exceptions.ApiException
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._networking = kubernetes.client.NetworkingV1Api(api_client)

    def nodes(self, label_selector: str) -> Json:
        return self._json(self._core.list_node, label_selector=label_selector) or {"items": []}

    def pods(self, namespace: str, label_selector: str) -> Json:
        return self._json(self._core.list_namespaced_pod, namespace, label_selector=label_selector) or {"items": []}

    def events(self, namespace: str) -> Json:
        return self._json(self._core.list_namespaced_event, namespace) or {"items": []}

    def pod_log(self, namespace: str, name: str, tail_lines: int, *, previous: bool = False) -> str:
        data = self._get(
            self._core.read_namespaced_pod_log,
            name,
            namespace,
            container=CONTAINER,
            tail_lines=tail_lines,
            previous=previous,
            absent=(400, 404),  # the container has not started yet, or has no previous run
        )
        return (data or b"").decode("utf-8", errors="replace")

    def service(self, namespace: str, name: str) -> Json | None:
        return self._json(self._core.read_namespaced_service, name, namespace, absent=(404,))

    def ingress(self, namespace: str, name: str) -> Json | None:
        return self._json(self._networking.read_namespaced_ingress, name, namespace, absent=(404,))

    def _json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Json | None:
        data = self._get(call, *args, **kwargs)
        return json.loads(data) if data else None

    def _get(self, call: Callable[..., Any], *args: Any, absent: tuple[int, ...] = (), **kwargs: Any) -> bytes | None:
        try:
            response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
        except urllib3.exceptions.HTTPError as error:
            cause = getattr(error, "reason", None) or error
            raise UsageError(f"cannot reach the Kubernetes API at {self.server} ({cause})") from None
        except self._api_exception as error:
            code = getattr(error, "status", None)
            answer = f"{code} {getattr(error, 'reason', '')}".strip()
            if code in absent:
                return None
            if code == 401:
                raise UsageError(f"the Kubernetes API at {self.server} rejected the credentials ({answer})") from None
            if code == 403:
                raise UsageError(
                    f"the Kubernetes API at {self.server} does not let this identity read it ({answer})"
                ) from None
            raise ClusterError(f"the Kubernetes API at {self.server} answered {answer}") from None
        data: bytes = response.data
        return data


class RecordedCluster:
    """A cluster state recorded as files, for tests and for reading a state someone sent you.

    Layout: nodes.json, pods/<namespace>.json, events/<namespace>.json, logs/<pod>.log and
    logs/<pod>.previous.log, services/<namespace>/<name>.json, ingresses/<namespace>/<name>.json.
    Lists hold what the API would return unfiltered; the label selector is applied here.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def nodes(self, label_selector: str) -> Json:
        return self._list("nodes.json", "NodeList", label_selector)

    def pods(self, namespace: str, label_selector: str) -> Json:
        return self._list(f"pods/{namespace}.json", "PodList", label_selector)

    def events(self, namespace: str) -> Json:
        return self._list(f"events/{namespace}.json", "EventList", "")

    def pod_log(self, namespace: str, name: str, tail_lines: int, *, previous: bool = False) -> str:
        path = self.directory / "logs" / f"{name}{'.previous' if previous else ''}.log"
        if not path.is_file():
            return ""
        return "".join(path.read_text().splitlines(keepends=True)[-tail_lines:])

    def service(self, namespace: str, name: str) -> Json | None:
        return self._object(f"services/{namespace}/{name}.json")

    def ingress(self, namespace: str, name: str) -> Json | None:
        return self._object(f"ingresses/{namespace}/{name}.json")

    def _object(self, relative: str) -> Json | None:
        path = self.directory / relative
        return json.loads(path.read_text()) if path.is_file() else None

    def _list(self, relative: str, kind: str, label_selector: str) -> Json:
        listing = self._object(relative) or {"kind": kind, "apiVersion": "v1", "metadata": {}, "items": []}
        wanted = parse_selector(label_selector)
        items = [item for item in listing["items"] if matches(item, wanted)]
        return {**listing, "items": items}


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


def parse_selector(selector: str) -> dict[str, str]:
    """Equality selectors only: the only kind this script sends."""
    pairs = [term.split("=", 1) for term in selector.split(",") if term]
    return {key.strip(): value.strip() for key, value in pairs}


def matches(item: Json, wanted: dict[str, str]) -> bool:
    labels = item.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool
    ready_reason: str
    instance_type: str
    gpus: int
    age: str


@dataclass(frozen=True)
class AgentPod:
    component: str
    name: str
    node: str
    phase: str
    ready: str
    restarts: int


@dataclass(frozen=True)
class ModelPod:
    name: str
    stage: Stage
    detail: str
    restarts: int
    age: str
    log: tuple[str, ...] = ()
    start: MeasuredStart | None = None  # once the server has run: what each phase of its start took
    budget: Budget | None = None  # what the plan expected for that start (planning/cold_start.py)


@dataclass(frozen=True)
class WarningEvent:
    age: str
    namespace: str
    reason: str
    object: str
    message: str
    count: int


@dataclass(frozen=True)
class Endpoint:
    model: str
    url: str | None
    how: str


@dataclass(frozen=True)
class Snapshot:
    env: str
    nodes: list[NodeStatus]
    agents: dict[str, list[AgentPod]]
    models: dict[str, list[ModelPod]]
    warnings: list[WarningEvent]
    endpoints: list[Endpoint]
    hints: dict[str, str]


@dataclass(frozen=True)
class ModelVerdict:
    model: str
    stage: Stage
    reason: str
    log: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.stage is Stage.READY

    @property
    def stuck(self) -> bool:
        return self.stage in STUCK


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    seconds = max(int((now - since).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 86400}d"


def clean(line: str) -> str:
    """A log line as text: no terminal escape sequences or control characters from the pod."""
    return CONTROL.sub("", line).rstrip()


def last_lines(text: str, count: int) -> tuple[str, ...]:
    lines = [clean(line) for line in text.splitlines()]
    return tuple(line for line in lines if line.strip())[-count:]


def log_stage(lines: Sequence[str]) -> tuple[Stage, str] | None:
    """The stage named by the newest log line that carries a marker, with that line as the detail."""
    for line in reversed(lines):
        for pattern, stage in LOG_MARKERS:
            if pattern.search(line):
                return stage, VLLM_PREFIX.sub("", line).strip()
    return None


def node_status(item: Json, now: datetime) -> NodeStatus:
    status = item.get("status", {})
    ready: Json = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
    labels = item["metadata"].get("labels", {})
    allocatable = status.get("allocatable", {}).get(GPU_RESOURCE, "0")
    return NodeStatus(
        name=item["metadata"]["name"],
        ready=ready.get("status") == "True",
        ready_reason=ready.get("message") or ready.get("reason") or "no Ready condition reported",
        instance_type=labels.get("node.kubernetes.io/instance-type")
        or labels.get("beta.kubernetes.io/instance-type", "?"),
        gpus=int(allocatable) if str(allocatable).isdigit() else 0,
        age=age(parse_time(item["metadata"].get("creationTimestamp")), now),
    )


def agent_pod(component: str, item: Json) -> AgentPod:
    status = item.get("status", {})
    containers = status.get("containerStatuses") or []
    waiting = next((c["state"]["waiting"].get("reason", "") for c in containers if "waiting" in c.get("state", {})), "")
    expected = len(item.get("spec", {}).get("containers", [])) or len(containers)
    return AgentPod(
        component=component,
        name=item["metadata"]["name"],
        node=item.get("spec", {}).get("nodeName", ""),
        phase=f"{status.get('phase', '?')}{f' ({waiting})' if waiting else ''}",
        ready=f"{sum(1 for c in containers if c.get('ready'))}/{expected}",
        restarts=sum(c.get("restartCount", 0) for c in containers),
    )


def event_time(event: Json) -> datetime:
    stamp = (
        event.get("lastTimestamp")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("eventTime")
        or event["metadata"].get("creationTimestamp")
    )
    return parse_time(stamp) or datetime.min.replace(tzinfo=UTC)


def pod_events(events: Iterable[Json], pod: str) -> list[Json]:
    """The pod's events, oldest first."""
    own = [
        e for e in events if e.get("involvedObject", {}).get("kind") == "Pod" and e["involvedObject"].get("name") == pod
    ]
    return sorted(own, key=event_time)


def pod_stage(
    reader: ClusterReader, item: Json, events: list[Json], now: datetime
) -> tuple[Stage, str, tuple[str, ...]]:
    """Where one vLLM pod is on its way to Ready, why, and the log lines that show it."""
    meta, status = item["metadata"], item.get("status", {})
    name = meta["name"]
    conditions = {c.get("type"): c for c in status.get("conditions", [])}
    if meta.get("deletionTimestamp"):
        return Stage.TERMINATING, "being deleted (rollout or scale-down)", ()
    if status.get("phase") in ("Failed", "Succeeded"):
        return Stage.FAILED, f"{status.get('reason', status['phase'])}: {status.get('message', '')}".strip(": "), ()
    scheduled = conditions.get("PodScheduled")
    if scheduled is None or scheduled.get("status") != "True":
        message = (scheduled or {}).get("message") or (scheduled or {}).get("reason") or "waiting for the scheduler"
        return Stage.PENDING, message, ()
    if conditions.get("Ready", {}).get("status") == "True":
        return Stage.READY, f"serving on {item.get('spec', {}).get('nodeName', '?')}", ()
    containers = status.get("containerStatuses") or []
    container = next((c for c in containers if c.get("name") == CONTAINER), containers[0] if containers else {})
    state = container.get("state", {})
    image = container.get("image") or next((c.get("image", "") for c in item["spec"]["containers"]), "")
    waiting = state.get("waiting")
    if waiting is not None or not containers:
        reason = (waiting or {}).get("reason", "ContainerCreating")
        message = (waiting or {}).get("message", "")
        if reason in PULL_FAILURES:
            return Stage.PULL_FAILED, f"{image}: {PULL_PREFIX.sub('', message) or reason}", ()
        if reason == "CrashLoopBackOff":
            log = last_lines(
                reader.pod_log(names.VLLM_NAMESPACE, name, CRASH_LOG_LINES * 3, previous=True), CRASH_LOG_LINES
            )
            return Stage.CRASH_LOOPING, crash_detail(container), log
        if reason in CONFIG_FAILURES:
            return Stage.FAILED, f"{reason}: {message}", ()
        pulls = [e for e in events if e.get("reason") in ("Pulling", "Pulled")]
        if pulls and pulls[-1]["reason"] == "Pulling":
            since = age(event_time(pulls[-1]), now)
            return Stage.PULLING, f"{pulls[-1].get('message') or image} (for {since})", ()
        trouble = [e for e in events if e.get("type") == "Warning" and e.get("reason") != "FailedScheduling"]
        return Stage.CREATING, trouble[-1].get("message", "") if trouble else f"{reason}: mounting volumes", ()
    if "terminated" in state:  # about to be restarted; CrashLoopBackOff follows if it keeps exiting
        log = last_lines(reader.pod_log(names.VLLM_NAMESPACE, name, CRASH_LOG_LINES * 3), CRASH_LOG_LINES)
        return Stage.RESTARTING, crash_detail(container), log
    stage, detail = log_stage(
        last_lines(reader.pod_log(names.VLLM_NAMESPACE, name, LOG_TAIL_LINES), LOG_TAIL_LINES)
    ) or (
        Stage.STARTING,
        "running; no startup marker in its log yet",
    )
    return stage, detail, ()


def crash_detail(container: Json) -> str:
    last = container.get("state", {}).get("terminated") or container.get("lastState", {}).get("terminated") or {}
    exit_code = f", last exit code {last['exitCode']}" if "exitCode" in last else ""
    why = f" ({last['reason']})" if last.get("reason") else ""
    return f"{container.get('restartCount', 0)} restarts{exit_code}{why}"


def model_pod(
    reader: ClusterReader,
    item: Json,
    events: list[Json],
    now: datetime,
    budgets: dict[tuple[WeightSource, NodeState], Budget] | None = None,
    source: WeightSource = "huggingface",
) -> ModelPod:
    name = item["metadata"]["name"]
    own_events = pod_events(events, name)
    stage, detail, log = pod_stage(reader, item, own_events, now)
    containers = item.get("status", {}).get("containerStatuses") or []
    start = budget = None
    if stage in (Stage.READY, Stage.SERVING, Stage.COMPILING, Stage.LOADING, Stage.DOWNLOADING, Stage.STARTING):
        lines = [clean(line) for line in reader.pod_log(names.VLLM_NAMESPACE, name, START_LOG_LINES).splitlines()]
        start = measured_start(item, own_events, lines)
        if budgets:
            budget = budgets.get((source, "new" if start.new_node else "warm"))
    return ModelPod(
        name=name,
        stage=stage,
        detail=detail,
        restarts=sum(c.get("restartCount", 0) for c in containers),
        age=age(parse_time(item["metadata"].get("creationTimestamp")), now),
        log=log,
        start=start,
        budget=budget,
    )


def recent_warnings(events: dict[str, list[Json]], now: datetime) -> list[WarningEvent]:
    warnings = [e for items in events.values() for e in items if e.get("type") == "Warning"]
    warnings.sort(key=event_time, reverse=True)
    return [
        WarningEvent(
            age=age(event_time(e), now),
            namespace=e["metadata"].get("namespace", ""),
            reason=e.get("reason", ""),
            object=f"{e.get('involvedObject', {}).get('kind', '?')}/{e.get('involvedObject', {}).get('name', '?')}",
            message=e.get("message", ""),
            count=e.get("count") or (e.get("series") or {}).get("count") or 1,
        )
        for e in warnings[:WARNING_LIMIT]
    ]


def load_balancer_host(obj: Json | None) -> str | None:
    ingress = ((obj or {}).get("status", {}).get("loadBalancer", {}).get("ingress")) or [{}]
    return ingress[0].get("hostname") or ingress[0].get("ip")


def endpoints(reader: ClusterReader, config: EnvironmentConfig) -> list[Endpoint]:
    """Where each model answers, in the environment's exposure mode; load balancers are read from their status."""
    mode = config.exposure.mode
    result = []
    ingress = reader.ingress(names.VLLM_NAMESPACE, "vllm") if mode is ExposureMode.ALB else None
    for index, model in enumerate(config.models):
        result.append(_endpoint(reader, config, model, mode, LOCAL_PORT + index, ingress))
    return result


def _endpoint(
    reader: ClusterReader,
    config: EnvironmentConfig,
    model: ModelConfig,
    mode: ExposureMode,
    port: int,
    ingress: Json | None,
) -> Endpoint:
    if mode is ExposureMode.CLUSTER_IP:
        command = f"kubectl -n {names.VLLM_NAMESPACE} port-forward svc/{names.deployment_name(model)} {port}:{names.VLLM_SERVICE_PORT}"
        return Endpoint(model.name, f"http://localhost:{port}/v1", f"keep running: {command}")
    if mode is ExposureMode.INTERNAL_NLB:
        service_name = f"{names.deployment_name(model)}-nlb"
        service = reader.service(names.VLLM_NAMESPACE, service_name)
        host = load_balancer_host(service)
        if service is None:
            return Endpoint(model.name, None, f"Service {service_name} not found: is the inference stack deployed?")
        if host is None:
            return Endpoint(
                model.name, None, f"internal NLB not provisioned yet (Service {service_name} has no hostname)"
            )
        scheme = "https" if config.exposure.certificate_arn else "http"
        return Endpoint(
            model.name, f"{scheme}://{host}/v1", f"internal NLB of Service {service_name}, from inside the VPC"
        )
    alb = load_balancer_host(ingress)
    url = f"https://{config.model_host(model)}/v1"
    if ingress is None:
        return Endpoint(model.name, url, "Ingress vllm not found: is the inference stack deployed?")
    if alb is None:
        return Endpoint(model.name, url, "ALB not provisioned yet (Ingress vllm has no hostname)")
    return Endpoint(model.name, url, f"ALB {alb}: point DNS for {config.model_host(model)} at it")


def hint_for(pod: ModelPod, config: EnvironmentConfig) -> str | None:
    text = "\n".join([pod.detail, *pod.log])
    for pattern, hint in HINTS:
        if pattern.search(text):
            return hint.format(hf_secret=config.hf_token_secret_name, source=config.source_file, env=config.name)
    return None


def take_snapshot(reader: ClusterReader, config: EnvironmentConfig, now: datetime) -> Snapshot:
    """Everything shown, read once: the logic below works on this and never on the cluster."""
    nodes = [node_status(item, now) for item in reader.nodes(label_selector(GPU_NODE_LABELS))["items"]]
    agents = {
        component: [
            agent_pod(component, item)
            for item in reader.pods(namespace, label_selector(names.selector_labels(name, name)))["items"]
        ]
        for component, name, namespace in AGENTS
    }
    events = {namespace: reader.events(namespace)["items"] for namespace in WARNING_NAMESPACES}
    models: dict[str, list[ModelPod]] = {}
    hints: dict[str, str] = {}
    budgets = environment_budgets(config)
    for model in config.models:
        items = reader.pods(names.VLLM_NAMESPACE, label_selector(names.model_selector(model.name)))["items"]
        pods = [
            model_pod(
                reader, item, events[names.VLLM_NAMESPACE], now, budgets.get(model.name), configured_source(model)
            )
            for item in items
        ]
        models[model.name] = sorted(pods, key=lambda pod: pod.name)
        troubled = [pod for pod in pods if pod.stage in STUCK or pod.stage is Stage.RESTARTING]
        hint = next((h for pod in troubled if (h := hint_for(pod, config))), None)
        if hint:
            hints[model.name] = hint
    return Snapshot(
        env=config.name,
        nodes=nodes,
        agents=agents,
        models=models,
        warnings=recent_warnings(events, now),
        endpoints=endpoints(reader, config),
        hints=hints,
    )


def gpu_problem(nodes: list[NodeStatus]) -> str | None:
    """Why no GPU can be scheduled yet, when the nodes already explain it."""
    wanted = label_selector(GPU_NODE_LABELS)
    if not nodes:
        return (
            f"no GPU node yet (no node labelled {wanted}): the GPU node is still starting (Karpenter launches "
            "one for a Pending model pod; a fixed node group, unless its desired size is 0)"
        )
    if not any(node.ready for node in nodes):
        return f"no GPU node is Ready yet: {'; '.join(f'{n.name}: {n.ready_reason}' for n in nodes)}"
    if not any(node.ready and node.gpus > 0 for node in nodes):
        ready = ", ".join(node.name for node in nodes if node.ready)
        return (
            f"GPU node {ready} is Ready but has no allocatable {GPU_RESOURCE}: the NVIDIA device plugin has not "
            f"registered the GPUs yet (see its pods in {names.DEVICE_PLUGIN_NAMESPACE})"
        )
    return None


def judge(snapshot: Snapshot) -> list[ModelVerdict]:
    """One verdict per model: Ready if any pod is; otherwise the pod that best explains why not."""
    verdicts = []
    for model, pods in snapshot.models.items():
        if not pods:
            selector = label_selector(names.model_selector(model))
            reason = (
                f"no pods with labels {selector} in namespace {names.VLLM_NAMESPACE}: is the inference stack deployed? "
                f"(make deploy ENV={snapshot.env})"
            )
            verdicts.append(ModelVerdict(model, Stage.NO_PODS, reason))
            continue
        ready = [pod for pod in pods if pod.stage is Stage.READY]
        stuck = [pod for pod in pods if pod.stage in STUCK]
        pod = (ready or stuck or [max(pods, key=lambda p: PROGRESS.index(p.stage))])[0]
        verdicts.append(ModelVerdict(model, pod.stage, _reason(pod, snapshot, model), pod.log))
    return verdicts


def _reason(pod: ModelPod, snapshot: Snapshot, model: str) -> str:
    if pod.stage is Stage.PENDING:
        problem = gpu_problem(snapshot.nodes)
        scheduler = f'the scheduler says: "{pod.detail}"'
        return f"Pending: {problem}; {scheduler}" if problem else f"Pending: {scheduler}"
    hint = f" Likely cause: {snapshot.hints[model]}." if model in snapshot.hints else ""
    if pod.stage is Stage.PULL_FAILED:
        return f"image pull failed: {pod.detail}.{hint}"
    if pod.stage in (Stage.CRASH_LOOPING, Stage.RESTARTING):
        log = f" Last log lines of {pod.name}:" if pod.log else f" {pod.name} left no log."
        return f"{pod.stage}: {pod.detail}.{hint}{log}"
    if pod.stage is Stage.READY:
        return f"Ready: {pod.name} {pod.detail}"
    return f"{pod.stage}: {pod.detail}"


def progress_line(verdicts: list[ModelVerdict]) -> str:
    return ", ".join(f"{v.model}: {v.stage}" for v in verdicts)


def watch(
    reader: ClusterReader,
    config: EnvironmentConfig,
    *,
    timeout: float,
    interval: float,
    console: Console,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    now: Callable[[], datetime],
) -> tuple[Snapshot, list[ModelVerdict], bool]:
    """Poll until every model is Ready, one is stuck, or the timeout passes; True last means timed out."""
    deadline = clock() + timeout
    shown = ""
    live: AbstractContextManager[Any] = console.status("reading the cluster") if console.is_terminal else nullcontext()
    with live as status:
        while True:
            snapshot = take_snapshot(reader, config, now())
            verdicts = judge(snapshot)
            if all(v.ready for v in verdicts) or any(v.stuck for v in verdicts):
                return snapshot, verdicts, False
            remaining = deadline - clock()
            if remaining <= 0:
                return snapshot, verdicts, True
            line = progress_line(verdicts)
            if status is not None:
                status.update(Text(f"{line}  ({remaining:.0f} s left)"))
            elif line != shown:
                console.print(Text(f"{now():%H:%M:%S} {line}"))
            shown = line
            sleep(min(interval, remaining))


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def render(console: Console, snapshot: Snapshot) -> None:
    """The snapshot as tables; text from the cluster always goes in as Text, never as markup."""
    console.print(Text(f"Environment {snapshot.env}", style="bold"))
    nodes = _table(
        f"GPU nodes ({label_selector(GPU_NODE_LABELS)})", "node", "Ready", "instance type", GPU_RESOURCE, "age"
    )
    for node in snapshot.nodes:
        gpus = Text(str(node.gpus)) if node.gpus else Text("0 (device plugin not registered)", style="red")
        ready = Text("True", style="green") if node.ready else Text(f"False: {node.ready_reason}", style="red")
        nodes.add_row(Text(node.name), ready, Text(node.instance_type), gpus, node.age)
    if snapshot.nodes:
        console.print(nodes)
    problem = gpu_problem(snapshot.nodes)
    if problem:
        console.print(Text(problem[0].upper() + problem[1:], style="yellow"))

    agents = _table("GPU agents (DaemonSets on GPU nodes)", "component", "pod", "node", "phase", "ready", "restarts")
    for component, agent_pods in snapshot.agents.items():
        if not agent_pods:
            agents.add_row(component, Text("no pods", style="yellow"), "", "", "", "")
        for agent in agent_pods:
            done, expected = agent.ready.split("/")
            style = "green" if done == expected else "yellow"
            agents.add_row(
                component,
                Text(agent.name),
                Text(agent.node),
                Text(agent.phase),
                Text(agent.ready, style),
                str(agent.restarts),
            )
    console.print(agents)

    models = _table(f"Models (namespace {names.VLLM_NAMESPACE})", "model", "pod", "stage", "restarts", "age", "detail")
    for model, pods in snapshot.models.items():
        if not pods:
            models.add_row(model, "", Text(str(Stage.NO_PODS), style="yellow"), "", "", "")
        for pod in pods:
            style = "green" if pod.stage is Stage.READY else "red" if pod.stage in STUCK else "yellow"
            models.add_row(
                model, Text(pod.name), Text(str(pod.stage), style), str(pod.restarts), pod.age, Text(pod.detail)
            )
    console.print(models)

    render_starts(console, snapshot)

    if snapshot.warnings:
        warnings = _table("Recent warnings (newest first)", "age", "namespace", "reason", "object", "message")
        for warning in snapshot.warnings:
            count = f" x{warning.count}" if warning.count > 1 else ""
            warnings.add_row(
                warning.age,
                Text(warning.namespace),
                Text(warning.reason + count),
                Text(warning.object),
                Text(warning.message),
            )
        console.print(warnings)
    else:
        console.print(Text(f"No recent warnings in {', '.join(WARNING_NAMESPACES)}."))

    calls = _table("Endpoints", "model", "OpenAI base URL", "how")
    for endpoint in snapshot.endpoints:
        url = Text(endpoint.url) if endpoint.url else Text("not provisioned yet", style="yellow")
        calls.add_row(endpoint.model, url, Text(endpoint.how))
    console.print(calls)


START_COLUMNS = (
    ("waited for a node", "waited_for_node", ("node launch",)),
    ("image pull", "image_pull", ("image pull",)),
    ("weights download", "weights_download", ()),
    ("weights + load", "weights_and_load", ("weights", "load into GPU")),
    ("torch.compile", "torch_compile", ("torch.compile",)),
    ("CUDA graphs", "cuda_graphs", ("CUDA graphs",)),
    ("to Ready", "to_ready", None),  # None: the budget's total
)


def render_starts(console: Console, snapshot: Snapshot) -> None:
    """Each started pod's phases as measured, over what the cold-start budget expected for that kind of start."""
    started = [pod for pods in snapshot.models.values() for pod in pods if pod.start]
    if not started:
        return
    table = _table("Start of each pod, seconds: measured (budget)", "pod", *(title for title, _, _ in START_COLUMNS))
    for pod in started:
        assert pod.start is not None
        phases = {phase.name: phase.seconds for phase in pod.budget.phases} if pod.budget else {}
        cells = []
        for _, field, budget_phases in START_COLUMNS:
            value = getattr(pod.start, field)
            measured = "-" if value is None else f"{value:.0f}"
            if pod.budget is None or budget_phases == ():
                cells.append(measured)
                continue
            expected = pod.budget.total_seconds if budget_phases is None else sum(phases[p] for p in budget_phases)
            cells.append(f"{measured} ({expected:.0f})")
        kind = f", {pod.budget.node} node, {pod.budget.weight_source}" if pod.budget else ""
        table.add_row(Text(pod.name + kind), *cells)
    console.print(table)
    console.print(
        Text(
            "Measured from the pod's events and its vLLM log; '-': no such line (a cached download, or a start "
            "older than the log kept). The budget is make plan's, for the same weight source and node.",
            style="dim",
        )
    )


def report(
    console: Console, snapshot: Snapshot, verdicts: list[ModelVerdict], *, waited: float | None, timed_out: bool
) -> None:
    """One line per model, and for a model that is not Ready the one reason why."""
    not_ready = [v for v in verdicts if not v.ready]
    if not not_ready:
        console.print(Text(f"All {len(verdicts)} model(s) Ready.", style="bold green"))
    elif timed_out:
        console.print(Text(f"Timed out after {waited:g} s: {len(not_ready)} model(s) not Ready.", style="bold red"))
    elif waited is not None:
        stuck = ", ".join(v.model for v in not_ready if v.stuck)
        console.print(Text(f"Stopped waiting: {stuck} cannot become Ready without a fix.", style="bold red"))
    else:
        console.print(Text(f"{len(not_ready)} of {len(verdicts)} model(s) not Ready.", style="bold red"))
    for verdict in verdicts:
        mark = (
            Text("READY ", style="green")
            if verdict.ready
            else Text("WAIT  " if not verdict.stuck else "STUCK ", style="red")
        )
        console.print(Text.assemble(mark, Text(f"{verdict.model}: {verdict.reason}")))
        for line in verdict.log:
            console.print(Text(f"    | {line}"))
    url = next((endpoint.url for endpoint in snapshot.endpoints if endpoint.url), None)
    if url and not not_ready:
        console.print(Text(f"Next: make smoke URL={url} ENV={snapshot.env}"))


def context_warning(cluster: KubernetesCluster, config: EnvironmentConfig) -> str | None:
    """The current context is likely another environment's when `make kubeconfig` made this one's elsewhere."""
    expected = config.stack_prefix
    if cluster.context == expected or expected not in cluster.contexts:
        return None
    return (
        f"warning: reading the current context {cluster.context}, but `make kubeconfig ENV={config.name}` made "
        f"{expected}: pass --context {expected} if this is the wrong cluster"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="status", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--env", required=True, help="environment to inspect (config/ENV.yaml)")
    parser.add_argument(
        "--wait", action="store_true", help="poll until every model is Ready, one is stuck, or --timeout"
    )
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds --wait waits (default 1800)")
    parser.add_argument("--interval", type=float, default=POLL_SECONDS, help="seconds between polls (default 10)")
    parser.add_argument("--context", help="kubeconfig context (default: the current context)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None,
    *,
    reader: ClusterReader | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    args = parse_args(argv)
    try:
        config = load_environment(args.env)
    except ConfigError as error:
        console.print(Text.assemble(Text("error: ", style="red"), Text(str(error))))
        return 2
    try:
        if reader is None:
            reader = KubernetesCluster(kubeconfig=args.kubeconfig, context=args.context)
            console.print(Text(f"Reading {reader.server} (context {reader.context})", style="dim"))
            warning = None if args.context else context_warning(reader, config)
            if warning:
                console.print(Text(warning, style="yellow"))
        snapshot, verdicts, timed_out = watch(
            reader,
            config,
            timeout=args.timeout if args.wait else 0,
            interval=args.interval,
            console=console,
            sleep=sleep,
            clock=clock,
            now=now,
        )
    except UsageError as error:
        fix = (
            f"Fix: run `make kubeconfig ENV={config.name}` to point kubectl at the {config.name} cluster, "
            "or pass --context / --kubeconfig."
        )
        if config.cluster.endpoint_access is EndpointAccess.PRIVATE:
            fix = (
                f"Fix: the {config.name} API endpoint is private: run `make kubeconfig ENV={config.name} TUNNEL=1` "
                f"and pass --kubeconfig ~/.kube/{config.stack_prefix}-tunnel.yaml (or run this inside the VPC)."
            )
        message = f"cannot read the {config.name} cluster: {error}. {fix}"
        console.print(Text.assemble(Text("error: ", style="red"), Text(message)))
        return 2
    except ClusterError as error:
        console.print(Text.assemble(Text("error: ", style="red"), Text(str(error))))
        return 1
    render(console, snapshot)
    report(console, snapshot, verdicts, waited=args.timeout if args.wait else None, timed_out=timed_out and args.wait)
    return 0 if all(v.ready for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
