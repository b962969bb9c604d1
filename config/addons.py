"""EKS add-on settings that differ from the defaults, and why: the cluster applies them, the guard checks
them against each pinned build's own configuration schema before the control plane exists."""

from typing import TYPE_CHECKING, Any

from config.scheduling import GPU_TAINT
from config.versions import ADDON_VERSIONS, EBS_CSI_ADDON_VERSION

if TYPE_CHECKING:
    from config.model import EnvironmentConfig

# How often the Secrets Store CSI driver re-reads mounted secrets. A value fixed after a pod started
# (a Hugging Face token put in late) reaches the mounted file within this interval, and a crash-looping
# server picks it up on its next restart. Cost: one GetSecretValue per mounted secret per pod per poll,
# about 2 x 22,000 calls a month per pod at 2 minutes, roughly $0.22 at $0.05 per 10,000 calls.
SECRET_ROTATION_POLL = "2m"

# Add-on settings that differ from EKS defaults, and why.
ADDON_CONFIGURATION: dict[str, dict[str, Any]] = {
    # The node agent enforces Kubernetes NetworkPolicy, so vLLM can be fenced off.
    "vpc-cni": {"enableNetworkPolicy": "true"},
    "aws-secrets-store-csi-driver-provider": {
        # The AWS provider must run where vLLM mounts its secrets: on the tainted GPU nodes (its
        # chart tolerates nothing by default; the CSI driver itself tolerates every taint).
        "tolerations": [GPU_TAINT.toleration()],
        # Rotation is off by default upstream; the driver is a sub-chart of the add-on's chart.
        "secrets-store-csi-driver": {"enableSecretRotation": True, "rotationPollInterval": SECRET_ROTATION_POLL},
    },
    # GPU health is what node auto-repair reacts to. The agent watches every node (upstream's default,
    # stated so it cannot drift); its DCGM server tolerates nothing by default and must reach the GPUs.
    "eks-node-monitoring-agent": {
        "nodeAgent": {"tolerations": [{"operator": "Exists"}]},
        "dcgmAgent": {"tolerations": [GPU_TAINT.toleration()]},
    },
    # Volumes are for Prometheus on the system nodes: keep the node plugin off the GPU nodes (upstream
    # tolerates every taint), so it takes nothing from the GPU nodes' kubelet budget.
    "aws-ebs-csi-driver": {"node": {"tolerateAllTaints": False}},
}


def environment_addons(config: "EnvironmentConfig") -> dict[str, str]:
    """The add-ons an environment installs, by name and pinned build: the EBS CSI driver only for in-cluster Prometheus."""
    if config.observability.installs_prometheus:
        return {**ADDON_VERSIONS, "aws-ebs-csi-driver": EBS_CSI_ADDON_VERSION}
    return dict(ADDON_VERSIONS)
