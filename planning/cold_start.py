"""Cold-start budget: how long a model server takes to turn Ready, phase by phase, for each way to get its weights.

Every phase starts from a published measurement (planning/data/cold_start.yaml, with its conditions and
source) and scales it to this model's weights, the pinned image, the planned instance and the GPU root
volume. Where two limits apply, the slower one wins: a 1000 MiB/s volume on an instance whose EBS link
carries 437.5 MB/s writes at 437.5 MB/s.

Two starts are budgeted. A *new node* launches, pulls the image, fetches the weights and compiles from
scratch. A *warm node* has served this model before: the image, the node's Hugging Face cache and vLLM's
compile cache (both hostPath, charts/vllm.py) are on its disk.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from config.model import (
    GP3_INCLUDED_IOPS,
    GP3_INCLUDED_MIBPS,
    ColdStartConfig,
    EnvironmentConfig,
    GpuNodeGroupConfig,
    ModelConfig,
)
from config.vllm import STARTUP_PROBE_FAILURES, STARTUP_PROBE_PERIOD_SECONDS
from planning.catalog import InstanceSpec, load_data
from planning.findings import Finding, Kind, Severity
from planning.sizing import GIB, Sizing, plan_environment

FACTS_FILE = Path(__file__).parent / "data" / "cold_start.yaml"
MIB = 1024**2
MB = 1e6
WeightSource = Literal["huggingface", "s3-stream", "s3-mount"]
WEIGHT_SOURCES: tuple[WeightSource, ...] = ("huggingface", "s3-stream", "s3-mount")
# What the app builds today; the others are budgeted so the choice can be made on numbers.
BUILT_WEIGHT_SOURCES: frozenset[WeightSource] = frozenset({"huggingface", "s3-stream"})
NodeState = Literal["new", "warm"]
NODE_STATES: tuple[NodeState, ...] = ("new", "warm")
PHASES = ("node launch", "image pull", "weights", "load into GPU", "torch.compile", "CUDA graphs", "health check")


@cache
def facts() -> dict[str, Any]:
    data: dict[str, Any] = load_data(FACTS_FILE)
    return data


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    how: str  # the formula with its numbers, and where they come from


@dataclass(frozen=True)
class Budget:
    model: str
    weight_source: WeightSource
    node: NodeState
    phases: tuple[Phase, ...]

    @property
    def total_seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    @property
    def slowest(self) -> Phase:
        return max(self.phases, key=lambda phase: phase.seconds)


@dataclass(frozen=True)
class Disk:
    """The GPU root volume as the instance sees it: the smaller of the volume's and the instance's EBS throughput."""

    volume_mibps: int
    instance_mbps: float

    @property
    def bytes_per_second(self) -> float:
        return min(self.volume_mibps * MIB, self.instance_mbps * MB)

    def describe(self) -> str:
        if self.volume_mibps * MIB <= self.instance_mbps * MB:
            return f"gp3 {self.volume_mibps} MiB/s"
        return f"the instance's EBS limit {self.instance_mbps:g} MB/s (volume {self.volume_mibps} MiB/s)"


def image_pull_seconds(disk: Disk, *, fast: bool = False) -> Phase:
    """The published pull (containerd, or SOCI parallel pull when `fast`) scaled by image size, unless writing
    the unpacked layers to this disk takes longer."""
    image, reference = facts()["image"], facts()["image_pull"]
    published = reference["soci_parallel_seconds" if fast else "containerd_seconds"]
    measured = published * image["compressed_bytes"] / reference["compressed_bytes"]
    written = image["unpacked_bytes"] / disk.bytes_per_second
    seconds = max(measured, written)
    return Phase(
        "image pull",
        seconds,
        f"max({published} s measured{' with SOCI parallel pull' if fast else ''} for "
        f"{reference['compressed_bytes'] / 1e9:.2f} GB, scaled "
        f"to {image['compressed_bytes'] / 1e9:.2f} GB = {measured:.0f} s; {image['unpacked_bytes'] / 1e9:.1f} GB "
        f"unpacked / {disk.describe()} = {written:.0f} s) [{reference['source']}]",
    )


def _network_bytes_per_second(instance: InstanceSpec) -> float:
    return instance.network_gbps * 1e9 / 8


def weights_phases(
    source: WeightSource, node: NodeState, weight_bytes: float, instance: InstanceSpec, disk: Disk
) -> tuple[Phase, Phase]:
    """(fetching the weights, loading them into GPU memory) for one weight source."""
    known = facts()
    network = _network_bytes_per_second(instance)
    loader = known["safetensors_load"]
    loader_rate = loader["bytes"] / loader["seconds"]
    gb = weight_bytes / 1e9
    link = f"{instance.name} network {instance.network_gbps:g} Gbit/s"
    if source == "huggingface":
        if node == "warm":
            fetch = Phase("weights", 0, "in the node's Hugging Face cache (hostPath) from the last start")
            read_rate = min(loader_rate, disk.bytes_per_second)
            load = Phase(
                "load into GPU",
                weight_bytes / read_rate,
                f"{gb:.1f} GB / min(the safetensors loader {loader_rate / 1e6:.0f} MB/s, {disk.describe()}) "
                f"[{loader['source']}]",
            )
            return fetch, load
        hub = known["huggingface_download"]["bytes_per_second"]
        rate = min(hub, network, disk.bytes_per_second)
        fetch = Phase(
            "weights",
            weight_bytes / rate,
            f"{gb:.1f} GB / min(Hub {hub / 1e6:.0f} MB/s, {link}, {disk.describe()}) "
            f"[{known['huggingface_download']['source']}]",
        )
        load = Phase(
            "load into GPU",
            weight_bytes / loader_rate,
            f"{gb:.1f} GB / the safetensors loader {loader_rate / 1e6:.0f} MB/s (measured with a cold page cache) "
            f"[{loader['source']}]",
        )
        return fetch, load
    if source == "s3-stream":
        stream = known["s3_stream"]
        stream_rate = stream["bytes"] / stream["seconds"]
        fetch = Phase(
            "weights",
            weight_bytes / min(stream_rate, network),
            f"{gb:.1f} GB / min(Run:ai streamer from S3 {stream_rate / 1e9:.2f} GB/s at concurrency "
            f"{stream['concurrency']}, {link}) [{stream['source']}]",
        )
        return fetch, Phase("load into GPU", 0, "streamed straight into GPU memory (counted in weights)")
    mount = known["s3_mount"]
    mount_rate = mount["mib_per_second"] * MIB
    rate = min(mount_rate, network, loader_rate)
    fetch = Phase(
        "weights",
        weight_bytes / rate,
        f"{gb:.1f} GB / min(Mountpoint {mount['mib_per_second']} MiB/s, {link}, safetensors loader "
        f"{loader_rate / 1e6:.0f} MB/s) [{mount['source']}]",
    )
    return fetch, Phase("load into GPU", 0, "read through the mount by the loader (counted in weights)")


def budget(
    model: ModelConfig,
    sizing: Sizing,
    gpu_nodes: GpuNodeGroupConfig,
    source: WeightSource,
    node: NodeState,
) -> Budget:
    known = facts()
    instance = sizing.instance
    disk = Disk(gpu_nodes.disk_throughput_mibps, instance.ebs_mbps)
    weight_bytes = sizing.weights_gib * GIB
    compile_facts = known["compile"]
    new = node == "new"
    fetch, load = weights_phases(source, node, weight_bytes, instance, disk)
    phases = (
        Phase("node launch", known["node_ready"]["seconds"], f"measured [{known['node_ready']['source']}]")
        if new
        else Phase("node launch", 0, "the node is up"),
        image_pull_seconds(disk, fast=gpu_nodes.fast_image_pull)
        if new
        else Phase("image pull", 0, "the image is on the node"),
        fetch,
        load,
        Phase(
            "torch.compile",
            compile_facts["cold_seconds"] if new else compile_facts["cached_seconds"],
            ("compiled from scratch" if new else "loaded from the node's compile cache (hostPath)")
            + f" [{compile_facts['source']}]",
        ),
        Phase("CUDA graphs", known["graph_capture"]["seconds"], f"measured [{known['graph_capture']['source']}]"),
        Phase(
            "health check",
            STARTUP_PROBE_PERIOD_SECONDS,
            "at most one startup-probe period after the server is up (config/vllm.py)",
        ),
    )
    return Budget(model=model.name, weight_source=source, node=node, phases=phases)


def environment_budgets(config: EnvironmentConfig) -> dict[str, dict[tuple[WeightSource, NodeState], Budget]]:
    """Every sized model's budget for each weight source, on a new and on a warm node."""
    result = {}
    for model_plan in plan_environment(config):
        if model_plan.sizing is None:
            continue
        result[model_plan.model.name] = {
            (source, node): budget(model_plan.model, model_plan.sizing, config.gpu_node_group, source, node)
            for source in WEIGHT_SOURCES
            for node in NODE_STATES
        }
    return result


def configured_source(model: ModelConfig) -> WeightSource:
    """Where a model's weights come from (models[].weights)."""
    return model.weights


def startup_probe_allowance_seconds() -> int:
    return STARTUP_PROBE_PERIOD_SECONDS * STARTUP_PROBE_FAILURES


def disk_usd_per_month(gpu_nodes: GpuNodeGroupConfig) -> float:
    """What the raised throughput and IOPS add to one GPU node's root volume each month."""
    prices = facts()["gp3_prices"]
    return (gpu_nodes.disk_throughput_mibps - GP3_INCLUDED_MIBPS) * prices["usd_per_mibps_month"] + (
        gpu_nodes.disk_iops - GP3_INCLUDED_IOPS
    ) * prices["usd_per_iops_month"]


def cold_start_findings(config: EnvironmentConfig) -> list[Finding]:
    """The configured path against the targets: a warning, or a refusal with cold_start.over_target refuse."""
    targets: ColdStartConfig = config.cold_start
    severity = Severity.PROBLEM if targets.over_target == "refuse" else Severity.WARNING
    found = []
    every_budget = environment_budgets(config)
    for index, model in enumerate(config.models):
        budgets = every_budget.get(model.name)
        if budgets is None:
            continue
        source = configured_source(model)
        targets_by_node: tuple[tuple[NodeState, int], ...] = (
            ("new", targets.new_node_seconds),
            ("warm", targets.warm_node_seconds),
        )
        for node, target in targets_by_node:
            result = budgets[(source, node)]
            if result.total_seconds <= target:
                continue
            slowest = result.slowest
            found.append(
                Finding(
                    Kind.COLD_START_OVER_TARGET,
                    severity,
                    f"models[{index}] ({model.name}): a start on a {node} node is budgeted at "
                    f"{result.total_seconds:.0f} s with weights from {source}, over cold_start."
                    f"{node}_node_seconds {target} ({slowest.name} alone takes {slowest.seconds:.0f} s); "
                    f"make plan ENV={config.name} shows every phase and what each weight source would take. "
                    "Raise the target to accept it",
                )
            )
    return found
