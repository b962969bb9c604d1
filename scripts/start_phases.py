"""How long each phase of a model server's start took, read from the pod, its events and its log.

The measured side of the cold-start budget (planning/cold_start.py): `make status` prints both. The log
lines are the pinned vLLM release's (config/vllm.py), read in its wheel's source (vllm 0.31.0:
compilation/monitor.py, model_executor/model_loader/weight_utils.py, v1/worker/gpu_model_runner.py); older
wordings ("torch.compile takes", "GiB and") are read too. A phase with no line (a cached download, a start older than the log kept) is None, not 0.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Json = dict[str, Any]

PULLED = re.compile(r'Successfully pulled image "[^"]*" in ((?:[\d.]+(?:h|ms|m|s|µs|us|ns))+)')
ALREADY_PRESENT = re.compile(r"already present on machine")
DOWNLOAD = re.compile(r"Time spent downloading weights for .*?: ([\d.]+) seconds")
# 0.31.0 (vllm/v1/worker/gpu_model_runner.py): "Model loading took %s GiB memory and %.6f seconds"; older releases
# omit "memory".
MODEL_LOADING = re.compile(r"Model loading took [\d.]+ GiB (?:memory )?and ([\d.]+) seconds")
COMPILE = re.compile(r"torch\.compile (?:takes|took) ([\d.]+) s in total")
GRAPHS = re.compile(r"Graph capturing finished in ([\d.]+) secs")
GO_DURATION_PART = re.compile(r"([\d.]+)(h|ms|m|s|µs|us|ns)")
GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def go_duration_seconds(text: str) -> float:
    """Kubernetes prints durations as Go does: 3m20.417s, 850ms, 1h2m3s."""
    return sum(float(value) * GO_UNITS[unit] for value, unit in GO_DURATION_PART.findall(text))


@dataclass(frozen=True)
class MeasuredStart:
    waited_for_node: float | None  # created -> scheduled: a node launched (or freed) for it
    image_pull: float | None  # 0 when the image was already on the node
    weights_download: float | None  # 0 when the log shows loading but no download (cache, or streamed)
    weights_and_load: float | None  # vLLM's "Model loading took": download (or stream) and load into GPU
    torch_compile: float | None
    cuda_graphs: float | None
    to_ready: float | None  # created -> Ready: everything, including the first health check

    @property
    def new_node(self) -> bool:
        """A start that pulled the image found a node without it: budget it as a new node."""
        return bool(self.image_pull)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    begin, finish = _parse_time(start), _parse_time(end)
    return (finish - begin).total_seconds() if begin and finish else None


def _last(pattern: re.Pattern[str], lines: Sequence[str]) -> float | None:
    values = [float(match.group(1)) for line in lines if (match := pattern.search(line))]
    return values[-1] if values else None


def measured_start(pod: Json, events: Sequence[Json], log_lines: Sequence[str]) -> MeasuredStart:
    meta, status = pod["metadata"], pod.get("status", {})
    conditions = {c.get("type"): c for c in status.get("conditions", [])}
    created = meta.get("creationTimestamp")
    pull: float | None = None
    for event in events:
        message = event.get("message", "")
        if event.get("reason") == "Pulled":
            if match := PULLED.search(message):
                pull = go_duration_seconds(match.group(1))
            elif ALREADY_PRESENT.search(message):
                pull = 0.0
    loading = _last(MODEL_LOADING, log_lines)
    download = _last(DOWNLOAD, log_lines)
    if download is None and loading is not None:
        download = 0.0
    return MeasuredStart(
        waited_for_node=_seconds_between(created, conditions.get("PodScheduled", {}).get("lastTransitionTime")),
        image_pull=pull,
        weights_download=download,
        weights_and_load=loading,
        torch_compile=_last(COMPILE, log_lines),
        cuda_graphs=_last(GRAPHS, log_lines),
        to_ready=_seconds_between(created, _ready_since(conditions)),
    )


def _ready_since(conditions: dict[str, Json]) -> str | None:
    ready = conditions.get("Ready", {})
    return ready.get("lastTransitionTime") if ready.get("status") == "True" else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
