"""scripts/status.py: every state on the way to the first token, replayed from recorded API responses.

Each directory under tests/fixtures/status/ is one cluster state, shaped exactly like the Kubernetes
API's answers. The last tests serve such a state over HTTP, so the real kubernetes-client reader is
exercised too.
"""

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console

from scripts import status
from scripts.status import KubernetesCluster, RecordedCluster, Stage
from tests.conftest import ROOT, load
from tests.local_server import serving

FIXTURES = ROOT / "tests" / "fixtures" / "status"
NOW = datetime(2026, 11, 28, 16, 20, tzinfo=UTC)  # the recordings were taken at about this time
POD = "vllm-llama3-8b-6d9f7c5b8-q7x2m"
IMAGE = "docker.io/vllm/vllm-openai:v0.31.0"


@dataclass(frozen=True)
class Expected:
    stage: Stage
    reason: tuple[str, ...]
    stuck: bool = False


EXPECTED = {
    "no-gpu-node": Expected(
        Stage.PENDING,
        (
            "no GPU node yet (no node labelled workload=llm-inference)",
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
        ),
    ),
    "gpu-not-allocatable": Expected(
        Stage.PENDING,
        (
            "is Ready but has no allocatable nvidia.com/gpu: the NVIDIA device plugin has not registered",
            "0/3 nodes are available: 1 Insufficient nvidia.com/gpu",
        ),
    ),
    "image-pulling": Expected(Stage.PULLING, (f'Pulling image "{IMAGE}" (for 14m)',)),
    "image-pull-backoff": Expected(
        Stage.PULL_FAILED,
        (f"{IMAGE}: ErrImagePull: failed to pull and unpack image", "429 Too Many Requests", "mirror_images: true"),
        stuck=True,
    ),
    "downloading-weights": Expected(
        Stage.DOWNLOADING, ("model-00001-of-00004.safetensors:  37%|███▋      | 1.84G/4.98G",)
    ),
    "loading": Expected(Stage.LOADING, ("Loading safetensors checkpoint shards:  50% Completed | 2/4",)),
    "crash-loop": Expected(
        Stage.CRASH_LOOPING,
        (
            "5 restarts, last exit code 1 (Error)",
            "Hugging Face refused the token: store one with access to the model in vllm-dev/huggingface-token",
            "(make secrets ENV=dev)",
        ),
        stuck=True,
    ),
    "ready": Expected(Stage.READY, (f"{POD} serving on ip-10-40-1-145.ec2.internal",)),
}


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Unfolding:
    """A cluster that moves on to the next recorded state at every poll, then stays at the last."""

    def __init__(self, *scenarios: str) -> None:
        self.states = [RecordedCluster(FIXTURES / scenario) for scenario in scenarios]
        self.polls = 0

    @property
    def current(self) -> RecordedCluster:
        return self.states[min(self.polls, len(self.states)) - 1]

    def nodes(self, label_selector: str) -> dict[str, Any]:
        self.polls += 1  # every snapshot starts with the nodes
        return self.current.nodes(label_selector)

    def pods(self, namespace: str, label_selector: str) -> dict[str, Any]:
        return self.current.pods(namespace, label_selector)

    def events(self, namespace: str) -> dict[str, Any]:
        return self.current.events(namespace)

    def pod_log(self, namespace: str, name: str, tail_lines: int, *, previous: bool = False) -> str:
        return self.current.pod_log(namespace, name, tail_lines, previous=previous)

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.current.service(namespace, name)

    def ingress(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.current.ingress(namespace, name)


def run(*argv: str, reader: Any = None, time: FakeTime | None = None, env: str = "dev") -> tuple[int, str]:
    """main() with a wide console, the recordings' time, and a clock that only moves when it sleeps."""
    output = io.StringIO()
    console = Console(file=output, width=250, highlight=False, soft_wrap=True)
    time = time or FakeTime()
    code = status.main(
        ["--env", env, *argv], reader=reader, console=console, sleep=time.sleep, clock=time.clock, now=lambda: NOW
    )
    return code, output.getvalue()


def recorded(scenario: str) -> RecordedCluster:
    return RecordedCluster(FIXTURES / scenario)


def verdict_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("READY ", "WAIT  ", "STUCK "))]


@pytest.mark.parametrize("scenario", EXPECTED)
def test_each_recorded_state_has_its_stage_and_reason(scenario):
    expected = EXPECTED[scenario]
    snapshot = status.take_snapshot(recorded(scenario), load("dev"), NOW)
    [pod] = snapshot.models["llama3-8b"]
    [verdict] = status.judge(snapshot)
    assert (pod.name, pod.stage, verdict.stage) == (POD, expected.stage, expected.stage)
    assert verdict.ready is (scenario == "ready")
    assert verdict.stuck is expected.stuck
    for text in expected.reason:
        assert text in verdict.reason


@pytest.mark.parametrize("scenario", EXPECTED)
def test_without_wait_the_exit_code_says_whether_every_model_is_ready(scenario):
    expected = EXPECTED[scenario]
    code, output = run(reader=recorded(scenario))
    assert code == (0 if scenario == "ready" else 1)
    [row] = [line for line in output.splitlines() if POD in line and "│ llama3-8b" in line]
    assert f"│ {expected.stage} " in row
    [line] = verdict_lines(output)
    mark = "READY" if scenario == "ready" else "STUCK" if expected.stuck else "WAIT"
    assert line.split()[:2] == [mark, "llama3-8b:"]
    for text in expected.reason:
        assert text in line


@pytest.mark.parametrize("scenario", EXPECTED)
def test_wait_with_zero_timeout_polls_once_and_says_why(scenario):
    expected = EXPECTED[scenario]
    time = FakeTime()
    code, output = run("--wait", "--timeout", "0", "--interval", "0", reader=recorded(scenario), time=time)
    assert code == (0 if scenario == "ready" else 1)
    assert time.sleeps == []
    if scenario == "ready":
        assert "All 1 model(s) Ready." in output
        assert "Next: make smoke URL=http://localhost:8080/v1 ENV=dev" in output
    elif expected.stuck:
        assert "Stopped waiting: llama3-8b cannot become Ready without a fix." in output
    else:
        assert "Timed out after 0 s: 1 model(s) not Ready." in output
    [line] = verdict_lines(output)
    for text in expected.reason:
        assert text in line


@pytest.mark.parametrize("scenario", ["crash-loop", "image-pull-backoff"])
def test_a_stuck_pod_ends_the_wait_at_once(scenario):
    time = FakeTime()
    code, output = run("--wait", "--timeout", "1800", reader=recorded(scenario), time=time)
    assert code == 1
    assert time.sleeps == []
    assert "Stopped waiting" in output


def test_wait_follows_the_pod_until_it_is_ready():
    time = FakeTime()
    reader = Unfolding("no-gpu-node", "image-pulling", "downloading-weights", "loading", "ready")
    code, output = run("--wait", "--timeout", "1800", reader=reader, time=time)
    assert code == 0
    assert time.sleeps == [10, 10, 10, 10]
    progress = [line for line in output.splitlines() if line.startswith("16:20:00 ")]
    assert progress == [
        "16:20:00 llama3-8b: Pending",
        "16:20:00 llama3-8b: pulling image",
        "16:20:00 llama3-8b: downloading weights",
        "16:20:00 llama3-8b: loading",
    ]
    assert verdict_lines(output) == [f"READY llama3-8b: Ready: {POD} serving on ip-10-40-1-145.ec2.internal"]


def test_wait_times_out_after_timeout_seconds_with_one_reason_per_model():
    time = FakeTime()
    code, output = run("--wait", "--timeout", "25", reader=recorded("loading"), time=time)
    assert code == 1
    assert time.sleeps == [10, 10, 5]
    assert "Timed out after 25 s: 1 model(s) not Ready." in output
    assert verdict_lines(output) == [
        "WAIT  llama3-8b: loading: Loading safetensors checkpoint shards:  50% Completed | 2/4 [00:02<00:02,  1.14s/it]"
    ]


def test_a_crash_loop_shows_the_last_ten_log_lines_of_the_previous_run():
    code, output = run(reader=recorded("crash-loop"))
    assert code == 1
    lines = output.splitlines()
    start = lines.index(verdict_lines(output)[0]) + 1
    log = lines[start : start + 10]
    assert all(line.startswith("    | (APIServer pid=1)") for line in log)
    assert "OSError: You are trying to access a gated repo." in log[4]
    assert log[-1].endswith("You must have access to it and be authenticated to access it. Please log in.")
    assert f"Last log lines of {POD}:" in verdict_lines(output)[0]


ENGINE = "(EngineCore_DP0 pid=231) INFO 11-28 16:11:07"


@pytest.mark.parametrize(
    ("line", "stage"),
    [
        ("(APIServer pid=1) INFO 11-28 16:09:29 [api_server.py:1885] vLLM API server version 0.31.0", None),
        (f"{ENGINE} [gpu_model_runner.py:2602] Starting to load model meta-llama/...", Stage.DOWNLOADING),
        ("Fetching 4 files:  25%|██▌       | 1/4 [00:31<01:33, 31.2s/it]", Stage.DOWNLOADING),
        ("model-00002-of-00004.safetensors:  61%|██████    | 3.04G/5.00G [00:33<00:21]", Stage.DOWNLOADING),
        (f"{ENGINE} [weight_utils.py:413] Time spent downloading weights for m: 71.9 seconds", Stage.LOADING),
        (f"{ENGINE} [default_loader.py:267] Loading weights took 4.41 seconds", Stage.LOADING),
        (f"{ENGINE} [gpu_model_runner.py:2653] Model loading took 14.9889 GiB and 78.1 seconds", Stage.LOADING),
        (f"{ENGINE} [monitor.py:34] torch.compile takes 19.33 s in total", Stage.COMPILING),
        ("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE):  40%|████      | 27/67", Stage.COMPILING),
        (f"{ENGINE} [core.py:210] init engine (profile, create kv cache, warmup model) took 37 s", Stage.COMPILING),
        ("(APIServer pid=1) INFO:     Application startup complete.", Stage.SERVING),
        (
            "(APIServer pid=1) INFO 11-28 16:11:07 [entry.py:136] Starting vLLM server on http://0.0.0.0:8000",
            Stage.SERVING,
        ),
    ],
)
def test_log_markers_place_a_running_server(line, stage):
    found = status.log_stage([line])
    assert (found[0] if found else None) == stage
    if found:
        assert not found[1].startswith(("INFO", "(APIServer", "(EngineCore")), "vLLM's log prefix is dropped"


def test_the_newest_marker_wins():
    lines = (FIXTURES / "ready" / "logs" / f"{POD}.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if "Capturing CUDA graphs" in line)
    stage, detail = status.log_stage(lines[: cut + 1]) or (None, "")
    assert stage is Stage.COMPILING
    assert detail.startswith("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 67/67")
    assert status.log_stage(lines) == (Stage.SERVING, "Application startup complete."), "request lines carry none"


def test_untrusted_text_is_printed_literally_never_as_markup(tmp_path):
    state = tmp_path / "state"
    shutil.copytree(FIXTURES / "crash-loop", state)
    log = state / "logs" / f"{POD}.previous.log"
    log.write_text(log.read_text() + "[bold]token[/bold] and [/x] stay as written \x1b[31mred\x1b[0m\n")
    events_path = state / "events" / "vllm.json"
    events = json.loads(events_path.read_text())
    events["items"][-1]["message"] = "Back-off [red]restarting[/red] failed container [/]"
    events_path.write_text(json.dumps(events))
    code, output = run(reader=RecordedCluster(state))
    assert code == 1
    assert "    | [bold]token[/bold] and [/x] stay as written red" in output.splitlines()
    assert "Back-off [red]restarting[/red] failed container [/]" in output
    assert "\x1b" not in output


def edited(tmp_path: Path, scenario: str, edit: Any) -> RecordedCluster:
    """A copy of a recorded state with its vLLM pod and events changed by `edit(pod, events)`."""
    shutil.copytree(FIXTURES / scenario, tmp_path / scenario)
    pods_path, events_path = tmp_path / scenario / "pods" / "vllm.json", tmp_path / scenario / "events" / "vllm.json"
    pods, events = json.loads(pods_path.read_text()), json.loads(events_path.read_text())
    edit(pods["items"][0], events["items"])
    pods_path.write_text(json.dumps(pods))
    events_path.write_text(json.dumps(events))
    return RecordedCluster(tmp_path / scenario)


def mount_failure(pod: dict[str, Any], events: list[dict[str, Any]]) -> None:
    failed = {**events[-1], "type": "Warning", "reason": "FailedMount", "lastTimestamp": "2026-11-28T16:19:00Z"}
    failed["message"] = 'MountVolume.SetUp failed for volume "secrets" : rpc error: code = Unknown'
    events[:] = [event for event in events if event["reason"] != "Pulling"] + [failed]


def exited(pod: dict[str, Any], events: list[dict[str, Any]]) -> None:
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}


def deleted(pod: dict[str, Any], events: list[dict[str, Any]]) -> None:
    pod["metadata"]["deletionTimestamp"] = "2026-11-28T16:19:30Z"


@pytest.mark.parametrize(
    ("scenario", "edit", "stage", "detail"),
    [
        ("image-pulling", mount_failure, Stage.CREATING, 'MountVolume.SetUp failed for volume "secrets"'),
        ("crash-loop", exited, Stage.RESTARTING, "5 restarts, last exit code 137 (OOMKilled)"),
        ("ready", deleted, Stage.TERMINATING, "being deleted"),
    ],
)
def test_other_pod_states_have_their_own_stage_and_are_not_stuck(tmp_path, scenario, edit, stage, detail):
    snapshot = status.take_snapshot(edited(tmp_path, scenario, edit), load("dev"), NOW)
    [pod] = snapshot.models["llama3-8b"]
    [verdict] = status.judge(snapshot)
    assert pod.stage is stage and detail in pod.detail
    assert not verdict.ready and not verdict.stuck, "--wait keeps waiting"


def test_one_ready_pod_makes_the_model_ready_while_a_new_pod_crashes(tmp_path):
    state = tmp_path / "rollout"
    shutil.copytree(FIXTURES / "ready", state)
    crashing = json.loads((FIXTURES / "crash-loop" / "pods" / "vllm.json").read_text())["items"][0]
    crashing["metadata"]["name"] = "vllm-llama3-8b-5f7b9d4c6-n3w9p"
    pods = json.loads((state / "pods" / "vllm.json").read_text())
    pods["items"].append(crashing)
    (state / "pods" / "vllm.json").write_text(json.dumps(pods))
    time = FakeTime()
    code, output = run("--wait", reader=RecordedCluster(state), time=time)
    assert (code, time.sleeps) == (0, [])
    assert verdict_lines(output) == [f"READY llama3-8b: Ready: {POD} serving on ip-10-40-1-145.ec2.internal"]
    assert "│ crash looping " in output, "the crashing pod is still shown"


def test_gpu_nodes_and_agents_come_from_their_labels():
    none = status.take_snapshot(recorded("no-gpu-node"), load("dev"), NOW)
    assert none.nodes == [], "the two system nodes carry no workload=llm-inference label"
    assert none.agents == {"device plugin": [], "DCGM exporter": []}
    unregistered = status.take_snapshot(recorded("gpu-not-allocatable"), load("dev"), NOW)
    [node] = unregistered.nodes
    assert (node.name, node.ready, node.instance_type, node.gpus) == (
        "ip-10-40-1-145.ec2.internal",
        True,
        "g5.2xlarge",
        0,
    )
    assert [(a.name, a.phase, a.ready) for a in unregistered.agents["device plugin"]] == [
        ("nvidia-device-plugin-k8w2d", "Pending (ContainerCreating)", "0/1")
    ]
    ready = status.take_snapshot(recorded("ready"), load("dev"), NOW)
    assert ready.nodes[0].gpus == 1
    assert [(a.name, a.phase, a.ready) for pods in ready.agents.values() for a in pods] == [
        ("nvidia-device-plugin-k8w2d", "Running", "1/1"),
        ("dcgm-exporter-5xq9t", "Running", "1/1"),
    ], "coredns and kube-proxy in kube-system are not GPU agents"


def test_no_gpu_node_is_said_plainly_above_the_agents():
    _, output = run(reader=recorded("no-gpu-node"))
    assert "No GPU node yet (no node labelled workload=llm-inference)" in output
    assert output.count("no pods") == 2


def test_warnings_are_the_newest_first_from_the_three_namespaces():
    snapshot = status.take_snapshot(recorded("image-pull-backoff"), load("dev"), NOW)
    assert [(w.age, w.namespace, w.reason, w.message[:24], w.count) for w in snapshot.warnings] == [
        ("90s", "vllm", "Failed", "Error: ImagePullBackOff", 31),
        ("5m", "vllm", "Failed", 'Failed to pull image "do', 4),
        ("5m", "vllm", "Failed", "Error: ErrImagePull", 4),
        ("14m", "gpu-monitoring", "Unhealthy", "Readiness probe failed: ", 2),
        ("15m", "vllm", "FailedScheduling", "0/2 nodes are available:", 6),
    ]
    assert snapshot.warnings[0].object == f"Pod/{POD}"


def test_at_most_ten_warnings_are_shown():
    base = json.loads((FIXTURES / "crash-loop" / "events" / "vllm.json").read_text())["items"][-1]
    events = [{**base, "message": f"warning {i}", "lastTimestamp": f"2026-11-28T16:{i:02d}:00Z"} for i in range(15)]
    events.append({**base, "type": "Normal", "lastTimestamp": "2026-11-28T16:19:00Z"})
    shown = status.recent_warnings({"vllm": events}, NOW)
    assert [w.message for w in shown] == [f"warning {i}" for i in range(14, 4, -1)]


def test_no_pods_means_the_inference_stack_is_not_deployed(tmp_path):
    code, output = run(reader=RecordedCluster(tmp_path))
    assert code == 1
    [line] = verdict_lines(output)
    assert "no pods with labels app.kubernetes.io/name=vllm,app.kubernetes.io/instance=llama3-8b" in line
    assert "make deploy ENV=dev" in line


NLB = "k8s-vllm-vllmllam-3f9a1c2e4b-8d0e6f1a2b3c4d5e.elb.us-east-1.amazonaws.com"
ALB = "internal-k8s-vllm-vllm-5c7e9a1b3d-1234567890.us-east-1.elb.amazonaws.com"
HOSTS = ["llama3-8b.llm.internal.example.com", "qwen25-7b.llm.internal.example.com"]
PORT_FORWARD = "keep running: kubectl -n vllm port-forward svc/vllm-llama3-8b 8080:80"
NO_NLB_YET = "internal NLB not provisioned yet (Service vllm-llama3-8b-nlb has no hostname)"
NO_SERVICE = "Service vllm-llama3-8b-nlb not found: is the inference stack deployed?"
NO_INGRESS = "Ingress vllm not found: is the inference stack deployed?"


@pytest.mark.parametrize(
    ("env", "scenario", "expected"),
    [
        ("dev", "ready", [("http://localhost:8080/v1", PORT_FORWARD)]),
        (
            "prod",
            "endpoints",
            [(f"http://{NLB}/v1", "internal NLB of Service vllm-llama3-8b-nlb, from inside the VPC")],
        ),
        ("prod", "endpoints-pending", [(None, NO_NLB_YET)]),
        ("prod", "ready", [(None, NO_SERVICE)]),
        ("alb", "endpoints", [(f"https://{host}/v1", f"ALB {ALB}: point DNS for {host} at it") for host in HOSTS]),
        ("alb", "endpoints-pending", [(f"https://{host}/v1", NO_INGRESS) for host in HOSTS]),
    ],
)
def test_endpoint_of_each_exposure_mode(env, scenario, expected):
    assert [(e.url, e.how) for e in status.endpoints(recorded(scenario), load(env))] == expected


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the cluster was read ({name}) although the environment is unknown")


def test_unknown_environment_exits_2_with_one_paragraph():
    code, output = run(reader=Untouchable(), env="nope")
    assert code == 2
    assert output.startswith("error: ") and "\n" not in output.strip()
    assert "there is no environment named 'nope'" in output
    assert "dev" in output and "prod" in output, "the environments that exist are named"


@contextlib.contextmanager
def fake_api_server(state: RecordedCluster, *, fail_with: int | None = None) -> Iterator[tuple[str, list[str]]]:
    """The paths and answers of the Kubernetes API for one recorded state, on 127.0.0.1, without auth."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def failure(self, code: int, message: str) -> None:
            reason = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 500: "InternalError"}[code]
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
            self.send(code, {**body, "reason": reason, "code": code})

        def do_GET(self) -> None:
            requests.append(self.path)
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            selector = query.get("labelSelector", "")
            if fail_with:
                return self.failure(fail_with, "recorded failure")
            match url.path.strip("/").split("/"):
                case ["api", "v1", "nodes"]:
                    return self.send(200, state.nodes(selector))
                case ["api", "v1", "namespaces", namespace, "pods"]:
                    return self.send(200, state.pods(namespace, selector))
                case ["api", "v1", "namespaces", namespace, "events"]:
                    return self.send(200, state.events(namespace))
                case ["api", "v1", "namespaces", namespace, "pods", name, "log"]:
                    previous = query.get("previous", "").lower() == "true"
                    text = state.pod_log(namespace, name, int(query["tailLines"]), previous=previous)
                    if not text:
                        return self.failure(400, f'container "vllm" in pod "{name}" is waiting to start')
                    return self.send(200, text, "text/plain")
                case ["api", "v1", "namespaces", namespace, "services", name]:
                    found = state.service(namespace, name)
                case ["apis", "networking.k8s.io", "v1", "namespaces", namespace, "ingresses", name]:
                    found = state.ingress(namespace, name)
                case _:
                    found = None
            if found is None:
                return self.failure(404, f"{url.path} not found")
            return self.send(200, found)

    with serving(Handler) as url:
        yield url, requests


def kubeconfig(directory: Path, server: str, *others: str) -> str:
    """A kubeconfig whose current context `fake` reaches `server` without auth; `others` are more contexts."""
    path = directory / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": "fake", "user": "nobody"}} for name in ("fake", *others)],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return str(path)


def test_the_real_client_reads_what_the_recording_replays(tmp_path):
    state = recorded("crash-loop")
    with fake_api_server(state) as (server, requests):
        code, output = run("--kubeconfig", kubeconfig(tmp_path, server))
    header, rest = output.split("\n", 1)
    assert header == f"Reading {server} (context fake)"
    assert (code, rest) == run(reader=state), "the real reader hands the logic the same JSON"
    assert "/api/v1/nodes?labelSelector=workload%3Dllm-inference" in requests
    assert any(
        path.startswith(f"/api/v1/namespaces/vllm/pods/{POD}/log?")
        and "container=vllm" in path
        and "previous=true" in path.lower()
        and "tailLines=30" in path
        for path in requests
    )
    assert {path.split("?")[0] for path in requests} >= {
        "/api/v1/namespaces/kube-system/pods",
        "/api/v1/namespaces/gpu-monitoring/pods",
        "/api/v1/namespaces/vllm/pods",
        "/api/v1/namespaces/kube-system/events",
        "/api/v1/namespaces/gpu-monitoring/events",
        "/api/v1/namespaces/vllm/events",
    }


def test_the_real_client_reads_load_balancers_and_treats_absent_objects_as_none(tmp_path):
    with fake_api_server(recorded("endpoints")) as (server, _):
        reader = KubernetesCluster(kubeconfig=kubeconfig(tmp_path, server))
        nlb = reader.service("vllm", "vllm-llama3-8b-nlb")
        alb = reader.ingress("vllm", "vllm")
        assert (status.load_balancer_host(nlb), status.load_balancer_host(alb)) == (NLB, ALB)
        assert reader.service("vllm", "vllm-other-nlb") is None
        assert reader.pod_log("vllm", POD, 10) == "", "a container that has not started has no log yet"
        assert reader.nodes("workload=llm-inference")["items"] == []


def test_a_current_context_other_than_the_environments_is_pointed_out(tmp_path):
    with fake_api_server(recorded("ready")) as (server, _):
        config = kubeconfig(tmp_path, server, "vllm-dev")
        code, output = run("--kubeconfig", config)
        _, chosen = run("--kubeconfig", config, "--context", "fake")
    assert code == 0
    assert output.splitlines()[1] == (
        "warning: reading the current context fake, but `make kubeconfig ENV=dev` made vllm-dev: "
        "pass --context vllm-dev if this is the wrong cluster"
    )
    assert "warning: reading" not in chosen, "a context chosen with --context is taken as meant"


def test_credentials_the_cluster_refuses_are_a_usage_error_with_the_fix(tmp_path):
    with fake_api_server(recorded("ready"), fail_with=401) as (server, _):
        code, output = run("--kubeconfig", kubeconfig(tmp_path, server))
    assert code == 2
    assert f"the Kubernetes API at {server} rejected the credentials (401 Unauthorized)" in output
    assert "Fix: run `make kubeconfig ENV=dev`" in output


def test_a_server_error_exits_1_and_names_it(tmp_path):
    with fake_api_server(recorded("ready"), fail_with=500) as (server, _):
        code, output = run("--kubeconfig", kubeconfig(tmp_path, server))
    assert code == 1
    assert output.splitlines()[-1] == f"error: the Kubernetes API at {server} answered 500 Internal Server Error"


def test_an_unreachable_cluster_is_a_usage_error_with_the_fix(tmp_path):
    with fake_api_server(recorded("ready")) as (server, _):
        pass  # the port is closed again: nothing listens there now
    code, output = run("--kubeconfig", kubeconfig(tmp_path, server))
    assert code == 2
    assert f"cannot reach the Kubernetes API at {server}" in output
    assert "Fix: run `make kubeconfig ENV=dev`" in output


def test_no_usable_kubeconfig_is_a_usage_error_with_the_fix(tmp_path):
    missing = run("--kubeconfig", str(tmp_path / "missing"))
    unknown_context = run("--kubeconfig", kubeconfig(tmp_path, "http://127.0.0.1:9"), "--context", "elsewhere")
    for code, output in (missing, unknown_context):
        assert code == 2
        assert output.startswith("error: cannot read the dev cluster: no usable kubeconfig (")
        assert "Fix: run `make kubeconfig ENV=dev`" in output
    assert "elsewhere" in unknown_context[1]
