"""What one GPU node offers a pod once the kubelet's reservations and the node agents are taken.

Allocatable capacity follows the kubelet settings of the EKS AL2023 AMIs (amazon-eks-ami
nodeadm): kube-reserved memory = 11 MiB x max pods + 255 MiB, CPU reserved on a sliding
scale, hard eviction at 100 MiB free. The kernel and firmware keep a few percent of the
nominal EC2 memory; OS_MEMORY_SHARE is a stated, slightly pessimistic estimate of it.
"""

from dataclasses import dataclass

from config.scheduling import GPU_NODE_AGENT_REQUESTS
from planning.catalog import InstanceSpec

OS_MEMORY_SHARE = 0.04
# Karpenter decides whether a pod fits an instance type from its own estimate of the memory the VM keeps
# (settings.vmMemoryOverheadPercent, chart default 0.075), set explicitly from here: a pod that fits the
# real node but not Karpenter's estimate would stay Pending, so the fit check uses the larger share under it.
KARPENTER_VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MIB = 100

# Requests of the EKS add-on DaemonSets that also run on GPU nodes, as their pinned
# versions ship them (millicores, MiB); rounded up where the add-on leaves them unset.
ADDON_DAEMONS = {
    "aws-node (vpc-cni)": (25, 64),
    "kube-proxy": (100, 64),
    "eks-pod-identity-agent": (25, 64),
    "secrets-store-csi-driver": (70, 140),
    "secrets-store-csi-driver-provider-aws": (50, 100),
}


def _millicores(cpu: str) -> int:
    return int(cpu.removesuffix("m")) if cpu.endswith("m") else int(float(cpu) * 1000)


def _mebibytes(memory: str) -> int:
    if memory.endswith("Gi"):
        return int(float(memory[:-2]) * 1024)
    return int(memory.removesuffix("Mi"))


# Our own GPU-node DaemonSets: the requests their charts render, from the one definition.
CHART_DAEMONS = {
    name: (_millicores(requests["cpu"]), _mebibytes(requests["memory"]))
    for name, requests in GPU_NODE_AGENT_REQUESTS.items()
}


@dataclass(frozen=True)
class NodeBudget:
    """What one GPU node offers a vLLM pod once kubelet reservations and DaemonSets are taken."""

    instance: InstanceSpec
    allocatable_millicores: int
    allocatable_mib: int
    daemon_millicores: int
    daemon_mib: int

    @property
    def free_millicores(self) -> int:
        return self.allocatable_millicores - self.daemon_millicores

    @property
    def free_mib(self) -> int:
        return self.allocatable_mib - self.daemon_mib


def _reserved_millicores(vcpus: int) -> float:
    """nodeadm's CPU reservation: 6% of core 1, 1% of core 2, 0.5% of cores 3-4, 0.25% beyond."""
    shares = [(1, 0.06), (1, 0.01), (2, 0.005), (max(vcpus - 4, 0), 0.0025)]
    reserved, left = 0.0, vcpus
    for cores, share in shares:
        used = min(cores, left)
        reserved += used * 1000 * share
        left -= used
    return reserved


def node_budget(instance: InstanceSpec, *, karpenter: bool = False) -> NodeBudget:
    kube_reserved_mib = 11 * instance.max_pods + 255
    os_share = max(OS_MEMORY_SHARE, KARPENTER_VM_MEMORY_OVERHEAD) if karpenter else OS_MEMORY_SHARE
    memory_mib = int(instance.memory_gib * 1024 * (1 - os_share)) - kube_reserved_mib - EVICTION_HARD_MIB
    daemons = [*ADDON_DAEMONS.values(), *CHART_DAEMONS.values()]
    return NodeBudget(
        instance=instance,
        allocatable_millicores=int(instance.vcpus * 1000 - _reserved_millicores(instance.vcpus)),
        allocatable_mib=memory_mib,
        daemon_millicores=sum(cpu for cpu, _ in daemons),
        daemon_mib=sum(memory for _, memory in daemons),
    )
