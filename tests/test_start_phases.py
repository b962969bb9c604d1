"""make status measures each phase of a start from the pod, its events and its vLLM log, next to the budget."""

import pytest

from scripts.start_phases import go_duration_seconds, measured_start
from tests.test_status import recorded, run

POD = "vllm-llama3-8b-6d9f7c5b8-q7x2m"


@pytest.mark.parametrize(
    ("text", "seconds"), [("3m20.417s", 200.417), ("850ms", 0.85), ("1h2m3s", 3723.0), ("12.5s", 12.5)]
)
def test_kubernetes_durations_are_read_as_go_prints_them(text, seconds):
    assert go_duration_seconds(text) == pytest.approx(seconds)


def _ready_start():
    cluster = recorded("ready")
    (pod,) = cluster.pods("vllm", "")["items"]
    events = [e for e in cluster.events("vllm")["items"] if e["involvedObject"]["name"] == POD]
    return measured_start(pod, events, cluster.pod_log("vllm", POD, 5000).splitlines())


def test_a_recorded_start_is_measured_phase_by_phase():
    start = _ready_start()
    assert start.waited_for_node == 346  # created 16:00:02, scheduled 16:05:48
    assert start.image_pull == pytest.approx(200.417)
    assert start.weights_download == pytest.approx(71.904318)
    assert start.weights_and_load == pytest.approx(78.112044)
    assert start.torch_compile == pytest.approx(19.33)
    assert start.cuda_graphs == 8
    assert start.to_ready == 1060  # created 16:00:02, Ready 16:17:42
    assert start.new_node


def test_a_restart_on_a_warm_node_reads_as_one():
    pod = {
        "metadata": {"creationTimestamp": "2026-11-28T16:00:00Z"},
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-28T16:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-28T16:01:10Z"},
            ]
        },
    }
    events = [{"reason": "Pulled", "message": 'Container image "x" already present on machine'}]
    lines = [
        "(EngineCore_DP0 pid=1) INFO 11-28 16:00:20 [gpu_model_runner.py:1] Model loading took 14.9 GiB and 9.5 seconds",
        "(EngineCore_DP0 pid=1) INFO 11-28 16:00:21 [gpu_model_runner.py:1] Model loading took 14.9 GiB memory and 9.6 "
        "seconds",
        "(EngineCore_DP0 pid=1) INFO 11-28 16:00:30 [monitor.py:1] torch.compile takes 9.1 s in total",
    ]
    start = measured_start(pod, events, lines)
    # Both wordings are read; the newest line (the pinned release's "GiB memory and") decides.
    assert (start.image_pull, start.weights_download, start.weights_and_load) == (0, 0, 9.6)
    assert start.torch_compile == 9.1 and start.cuda_graphs is None and start.to_ready == 70
    assert not start.new_node


def test_status_prints_the_measured_start_next_to_the_budget():
    code, output = run(reader=recorded("ready"))
    assert code == 0
    assert "Start of each pod, seconds: measured (budget)" in output
    row = next(line for line in output.splitlines() if POD in line and "new node" in line)
    assert "new node, huggingface" in row
    for cell in ("346 (80)", "200 (115)", "72", "78 (90)", "19 (67)", "8 (17)", "1060 (378)"):
        assert cell in row, cell


def test_a_pod_still_pending_has_no_start_yet():
    _, output = run(reader=recorded("no-gpu-node"))
    assert "Start of each pod" not in output


def test_status_budgets_the_configured_weight_source():
    from datetime import UTC, datetime

    from config.model import EnvironmentConfig
    from scripts import status
    from tests.conftest import load

    data = load("dev").model_dump(mode="json")
    data["models"][0].update(weights="s3-stream", revision="a" * 40)
    data["weights_bucket"] = {"name": "acme-weights"}
    snapshot = status.take_snapshot(
        recorded("ready"), EnvironmentConfig.model_validate(data), datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    )
    (pod,) = snapshot.models["llama3-8b"]
    assert pod.budget is not None
    assert (pod.budget.weight_source, pod.budget.node) == ("s3-stream", "new")
