"""Does a vLLM pod fit on the GPU nodes it is sent to? Checked at synth, before anything deploys.

Allocatable capacity follows the kubelet settings of the EKS AL2023 AMIs (amazon-eks-ami
nodeadm): kube-reserved memory = 11 MiB x max pods + 255 MiB, CPU reserved on a sliding
scale, hard eviction at 100 MiB free. The kernel and firmware keep a few percent of the
nominal EC2 memory; OS_MEMORY_SHARE is a stated, slightly pessimistic estimate of it.
"""

from dataclasses import dataclass

from charts import dcgm_exporter, device_plugin
from config.catalog import InstanceSpec
from config.model import EnvironmentConfig, ModelConfig
from config.sizing import fit_refusals

OS_MEMORY_SHARE = 0.04
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


# Our own GPU-node DaemonSets, read from the charts' request constants.
CHART_DAEMONS = {
    device_plugin.NAME: (_millicores(device_plugin.REQUESTS["cpu"]), _mebibytes(device_plugin.REQUESTS["memory"])),
    dcgm_exporter.NAME: (_millicores(dcgm_exporter.REQUESTS["cpu"]), _mebibytes(dcgm_exporter.REQUESTS["memory"])),
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


def node_budget(instance: InstanceSpec) -> NodeBudget:
    kube_reserved_mib = 11 * instance.max_pods + 255
    memory_mib = int(instance.memory_gib * 1024 * (1 - OS_MEMORY_SHARE)) - kube_reserved_mib - EVICTION_HARD_MIB
    daemons = [*ADDON_DAEMONS.values(), *CHART_DAEMONS.values()]
    return NodeBudget(
        instance=instance,
        allocatable_millicores=int(instance.vcpus * 1000 - _reserved_millicores(instance.vcpus)),
        allocatable_mib=memory_mib,
        daemon_millicores=sum(cpu for cpu, _ in daemons),
        daemon_mib=sum(memory for _, memory in daemons),
    )


def fit_problems(config: EnvironmentConfig) -> list[str]:
    """Every way a configured model cannot be scheduled on the smallest allowed GPU instance."""
    instances = config.gpu_node_group.instance_specs
    problems = []
    for index, model in enumerate(config.models):
        where = f"models[{index}] ({model.name})"
        problems += _gpu_problems(where, model, min(instances, key=lambda spec: spec.gpus))
        problems += _cpu_memory_problems(where, model, node_budget(min(instances, key=lambda spec: spec.memory_gib)))
        problems += _cpu_problems(where, model, node_budget(min(instances, key=lambda spec: spec.vcpus)))
    return problems


def _gpu_problems(where: str, model: ModelConfig, smallest: InstanceSpec) -> list[str]:
    if model.gpus <= smallest.gpus:
        return []
    return [
        f"{where} requests {model.gpus} GPUs (tensor_parallel_size) but {smallest.name} has {smallest.gpus}; "
        f"lower tensor_parallel_size to {smallest.gpus} or list instance types with {model.gpus} or more GPUs "
        "in gpu_node_group.instance_types"
    ]


def _cpu_memory_problems(where: str, model: ModelConfig, budget: NodeBudget) -> list[str]:
    wanted = model.memory_gib * 1024
    if wanted <= budget.free_mib:
        return []
    return [
        f"{where} requests {model.memory_gib} GiB of memory but {budget.instance.name} "
        f"({budget.instance.memory_gib:g} GiB) has about {budget.free_mib / 1024:.1f} GiB left for it after the "
        f"kubelet reservation and {budget.daemon_mib} MiB of DaemonSets; lower memory_gib to at most "
        f"{budget.free_mib // 1024} or choose a larger instance type in gpu_node_group.instance_types"
    ]


def _cpu_problems(where: str, model: ModelConfig, budget: NodeBudget) -> list[str]:
    wanted = int(model.cpu * 1000)
    if wanted <= budget.free_millicores:
        return []
    return [
        f"{where} requests {model.cpu:g} CPU but {budget.instance.name} ({budget.instance.vcpus} vCPU) has about "
        f"{budget.free_millicores / 1000:.2f} left for it after the kubelet reservation and DaemonSets; lower cpu "
        f"to at most {budget.free_millicores // 100 / 10:g} or choose a larger instance type"
    ]


def spare_gpus(config: EnvironmentConfig) -> int:
    """GPUs left at the node group's desired size once every replica has its own.

    No node autoscaler is installed, so desired_size is the capacity a rollout can count on.
    """
    per_node = config.gpu_node_group.instance_specs[0].gpus  # validated equal for every allowed type
    return config.gpu_node_group.desired_size * per_node - sum(m.replicas * m.gpus for m in config.models)


def surge_first(config: EnvironmentConfig, model: ModelConfig) -> bool:
    """Can a rolling update start the new pod before stopping the old one (the guide's strategy)?"""
    return spare_gpus(config) >= model.gpus


def capacity_warnings(config: EnvironmentConfig) -> list[str]:
    spare = spare_gpus(config)
    if spare < 0:
        return [
            f"the models need {-spare} more GPUs than gpu_node_group.desired_size "
            f"({config.gpu_node_group.desired_size}) provides, so some replicas stay Pending; raise desired_size"
        ]
    return [
        f"models[{index}] ({model.name}): no spare GPU at desired_size {config.gpu_node_group.desired_size}, so "
        "rolling updates stop the old pod before starting the new one (minutes of downtime per update); "
        f"raise gpu_node_group.desired_size by {-(-model.gpus // config.gpu_node_group.instance_specs[0].gpus)} "
        "for surge-first updates"
        for index, model in enumerate(config.models)
        if not surge_first(config, model)
    ]


def deployability(config: EnvironmentConfig) -> tuple[list[str], list[str]]:
    """Everything synth checks before building: (problems that stop it, warnings it prints).

    The models must fit their GPUs (weights, KV cache) and their pods the nodes (GPUs, CPU, memory);
    low concurrency and rollouts without a spare GPU are warned about.
    """
    model_problems, model_warnings = fit_refusals(config)
    return model_problems + fit_problems(config), model_warnings + capacity_warnings(config)


def refusal(config: EnvironmentConfig, problems: list[str]) -> str:
    """The one paragraph synth stops with."""
    return f"{config.source_file}: {'; '.join(problems)}. Nothing was synthesized; fix the file and run again."
