"""Can everything the environment asks for run? Checked before synth, by `make synth`, `make plan` and app.py alike.

The models must fit their GPUs (weights, KV cache: planning.sizing) and their pods the nodes (GPUs,
CPU, memory after the kubelet's reservations: planning.kubelet); rollouts without a spare GPU and
low concurrency are warned about (planning.capacity, planning.sizing).
"""

from config.loader import ConfigError
from config.model import EnvironmentConfig, ModelConfig
from planning.capacity import capacity_findings
from planning.catalog import InstanceSpec
from planning.cold_start import cold_start_findings
from planning.findings import Finding, Kind, Severity, messages, problem
from planning.kubelet import NodeBudget, node_budget
from planning.sizing import model_findings


def pod_findings(config: EnvironmentConfig) -> list[Finding]:
    """Every way a configured model's pod cannot be scheduled on the smallest allowed GPU instance."""
    instances = config.gpu_node_group.instance_specs
    karpenter = config.gpu_node_group.karpenter
    findings = []
    for index, model in enumerate(config.models):
        where = f"models[{index}] ({model.name})"
        findings += _gpu_problems(where, model, min(instances, key=lambda spec: spec.gpus))
        smallest_memory = node_budget(min(instances, key=lambda spec: spec.memory_gib), karpenter=karpenter)
        findings += _memory_problems(where, model, smallest_memory)
        findings += _cpu_problems(where, model, node_budget(min(instances, key=lambda spec: spec.vcpus)))
    return findings


def _gpu_problems(where: str, model: ModelConfig, smallest: InstanceSpec) -> list[Finding]:
    if model.gpus <= smallest.gpus:
        return []
    return [
        problem(
            Kind.TOO_MANY_GPUS,
            f"{where} requests {model.gpus} GPUs (tensor_parallel_size) but {smallest.name} has {smallest.gpus}; "
            f"lower tensor_parallel_size to {smallest.gpus} or list instance types with {model.gpus} or more GPUs "
            "in gpu_node_group.instance_types",
        )
    ]


def _memory_problems(where: str, model: ModelConfig, budget: NodeBudget) -> list[Finding]:
    if model.memory_gib * 1024 <= budget.free_mib:
        return []
    return [
        problem(
            Kind.POD_MEMORY,
            f"{where} requests {model.memory_gib} GiB of memory but {budget.instance.name} "
            f"({budget.instance.memory_gib:g} GiB) has about {budget.free_mib / 1024:.1f} GiB left for it after the "
            f"kubelet reservation and {budget.daemon_mib} MiB of DaemonSets; lower memory_gib to at most "
            f"{budget.free_mib // 1024} or choose a larger instance type in gpu_node_group.instance_types",
        )
    ]


def _cpu_problems(where: str, model: ModelConfig, budget: NodeBudget) -> list[Finding]:
    if int(model.cpu * 1000) <= budget.free_millicores:
        return []
    return [
        problem(
            Kind.POD_CPU,
            f"{where} requests {model.cpu:g} CPU but {budget.instance.name} ({budget.instance.vcpus} vCPU) has about "
            f"{budget.free_millicores / 1000:.2f} left for it after the kubelet reservation and DaemonSets; lower cpu "
            f"to at most {budget.free_millicores // 100 / 10:g} or choose a larger instance type",
        )
    ]


def findings(config: EnvironmentConfig) -> list[Finding]:
    """Everything checked before building, in the order a person would fix it."""
    return model_findings(config) + pod_findings(config) + capacity_findings(config) + cold_start_findings(config)


def deployability(config: EnvironmentConfig) -> tuple[list[str], list[str]]:
    """(problems that stop synth, warnings it prints)."""
    found = findings(config)
    return messages(found, Severity.PROBLEM), messages(found, Severity.WARNING)


def require_deployable(config: EnvironmentConfig) -> list[str]:
    """The warnings of a config whose every model can run; a ConfigError with the one paragraph otherwise."""
    problems, warnings = deployability(config)
    if problems:
        raise ConfigError(refusal(config, problems))
    return warnings


def refusal(config: EnvironmentConfig, problems: list[str]) -> str:
    """The one paragraph synth stops with."""
    return (
        f"{config.source_file}: {'; '.join(problems)}. Nothing was synthesized (cdk.out/ and dist/ keep the last "
        "complete synth, if any); fix the file and run again."
    )
