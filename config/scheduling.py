"""Where GPU workloads may run: the one definition the node group and the charts share.

The GPU node group is created with exactly this taint and these labels, and every
chart that needs a GPU tolerates exactly this taint and selects exactly these labels.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule, PreferNoSchedule, NoExecute

    def toleration(self) -> dict[str, str]:
        """The pod toleration that matches this taint and nothing broader."""
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = Taint(key=GPU_RESOURCE, value="present", effect="NoSchedule")
GPU_NODE_LABELS: dict[str, str] = {"workload": "llm-inference"}


# What the GPU-node agents we render request: their charts request exactly this, and the fit check
# subtracts it from every GPU node's allocatable capacity before a model's pod is placed there.
GPU_NODE_AGENT_REQUESTS: dict[str, dict[str, str]] = {
    "nvidia-device-plugin": {"cpu": "50m", "memory": "64Mi"},
    "dcgm-exporter": {"cpu": "100m", "memory": "256Mi"},
}
