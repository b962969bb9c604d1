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
