"""Output tokens/s of one replica for one kind of traffic: the planner's serving model, calibrated on published runs.

One decode step of a batch of B sequences takes

    max(memory:  (weights per GPU + B x context x KV bytes per token per GPU) / (bandwidth x bandwidth_efficiency),
        compute: 2 x linear parameters per GPU x B / (Tensor Core FLOP/s x decode_compute_efficiency))
    + tensor parallelism: 2 all-reduces per layer x all_reduce_ms (NVLink, or PCIe)
    + step_overhead_ms + B x per_sequence_overhead_ms         (the engine's own time, per step and per sequence)

and each request's prefill takes 2 x linear parameters per GPU x (prompt - cached shared prefix) / (FLOP/s x
prefill_compute_efficiency). B requests then produce B x output tokens in B x prefill + output x step seconds.
B is the requests in flight, capped by vLLM's max_num_seqs and by the KV cache. When every request arrives at
once (a "burst": how most published runs send them), the batch drains at the end: on average B x (1 - B / 2N).
FP8 weights use FP8 math where the GPU has it, and BF16 math otherwise (vLLM's weight-only FP8 on Ampere).

The six constants are fitted, not measured: planning/data/throughput_calibration.yaml holds them, the published
runs they were fitted on (with sources and request shapes), and tests/test_throughput.py checks every run.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from planning.catalog import load_data

if TYPE_CHECKING:
    from planning.sizing import Sizing

CALIBRATION_FILE = Path(__file__).parent / "data" / "throughput_calibration.yaml"
ALL_REDUCES_PER_LAYER = 2  # after attention and after the MLP (Megatron-style tensor parallelism)


class Constants(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bandwidth_efficiency: float = Field(gt=0, le=1)
    decode_compute_efficiency: float = Field(gt=0, le=1)
    prefill_compute_efficiency: float = Field(gt=0, le=1)
    step_overhead_ms: float = Field(ge=0)
    per_sequence_overhead_ms: float = Field(ge=0)
    all_reduce_ms: dict[Literal["nvlink", "pcie"], float]


class PublishedRun(BaseModel):
    """One published measurement of vLLM serving throughput, with what it takes to reproduce its shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    architecture: str
    gpu: str
    tensor_parallel_size: int = Field(ge=1)
    quantization: Literal["fp8"] | None = None
    input_tokens: int = Field(ge=1, description="average prompt tokens")
    output_tokens: int = Field(ge=1, description="average output tokens")
    requests: int = Field(ge=1, description="in flight (concurrency), or sent at once when burst")
    burst: bool = Field(description="every request sent at once (request rate inf), none after")
    max_num_seqs: int = Field(default=256, ge=1)
    max_model_len: int = Field(default=8192, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    output_tokens_per_second: float = Field(gt=0, description="measured: generated tokens / run duration")
    vllm: str
    source: str


class KvCacheLog(BaseModel):
    """The KV cache a vLLM server logged at start-up, to hold the plan's memory arithmetic to."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    architecture: str
    gpu: str
    gpu_memory_utilization: float = Field(gt=0, le=1)
    max_model_len: int = Field(ge=1)
    kv_cache_gib: float = Field(gt=0)
    source: str


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    constants: Constants
    runs: list[PublishedRun]
    kv_cache_logs: list[KvCacheLog]


@cache
def calibration() -> Calibration:
    return Calibration(**load_data(CALIBRATION_FILE))


@dataclass(frozen=True)
class Traffic:
    requests: int  # in flight; or, with burst, all sent at once
    input_tokens: int
    output_tokens: int
    shared_prefix_tokens: int = 0  # prompt tokens every request repeats: prefilled once, then cached
    burst: bool = False


def output_tokens_per_second(sizing: "Sizing", traffic: Traffic, constants: Constants | None = None) -> float:
    """The model above, for one replica (one pod of tensor_parallel_size GPUs)."""
    c = constants or calibration().constants
    gpu = sizing.instance.gpu_spec
    tp = sizing.layout.tensor_parallel_size
    sequence = traffic.input_tokens + traffic.output_tokens
    batch = max(min(traffic.requests, sizing.max_num_seqs, sizing.kv_tokens // sequence), 1)
    in_flight = batch * (1 - batch / (2 * traffic.requests)) if traffic.burst else batch
    fp8_math = sizing.layout.weight_bytes == 1 and gpu.tflops_fp8 is not None
    flops = (gpu.tflops_fp8 if fp8_math and gpu.tflops_fp8 else gpu.tflops_bf16) * 1e12
    linear_per_gpu = sizing.architecture.linear_parameters / tp
    context = traffic.input_tokens + traffic.output_tokens / 2
    read_bytes = sizing.weights_per_gpu_bytes + in_flight * context * sizing.kv_bytes_per_token_per_gpu
    memory_seconds = read_bytes / (gpu.bandwidth_gbps * 1e9 * c.bandwidth_efficiency)
    compute_seconds = 2 * linear_per_gpu * in_flight / (flops * c.decode_compute_efficiency)
    all_reduce = c.all_reduce_ms["nvlink" if gpu.nvlink else "pcie"] / 1000 if tp > 1 else 0.0
    step = (
        max(memory_seconds, compute_seconds)
        + ALL_REDUCES_PER_LAYER * sizing.architecture.layers * all_reduce
        + (c.step_overhead_ms + in_flight * c.per_sequence_overhead_ms) / 1000
    )
    prefilled = traffic.input_tokens - traffic.shared_prefix_tokens
    prefill = 2 * linear_per_gpu * prefilled / (flops * c.prefill_compute_efficiency)
    return in_flight * traffic.output_tokens / (in_flight * prefill + traffic.output_tokens * step)


def published_run_sizing(run: PublishedRun) -> "Sizing":
    """The planner's sizing of a published run's server, so the model can be compared with its measurement."""
    from config.model import PlanConfig
    from planning.catalog import InstanceSpec, gpu_specs, model_architectures
    from planning.sizing import Layout, Sizing

    architecture = model_architectures()[run.architecture]
    native = 2
    gpu = gpu_specs()[run.gpu]
    instance = InstanceSpec(
        name=f"{run.tensor_parallel_size}x {run.gpu}",
        gpu=run.gpu,
        gpus=run.tensor_parallel_size,
        vcpus=1,
        memory_gib=1,
        max_pods=1,
        usd_per_hour=1,
        network_gbps=1,
        ebs_mbps=1,
        gpu_spec=gpu,
    )
    layout = Layout(
        weight_bytes=1 if run.quantization == "fp8" else native,
        native_bytes=native,
        kv_bytes=native,
        tensor_parallel_size=run.tensor_parallel_size,
        max_model_len=run.max_model_len,
        gpu_memory_utilization=run.gpu_memory_utilization,
    )
    return Sizing(architecture, instance, layout, PlanConfig(max_num_seqs=run.max_num_seqs))


def predicted(run: PublishedRun, constants: Constants | None = None) -> float:
    traffic = Traffic(run.requests, run.input_tokens, run.output_tokens, burst=run.burst)
    return output_tokens_per_second(published_run_sizing(run), traffic, constants)


@cache
def calibration_band() -> tuple[float, float]:
    """The lowest and highest measured / predicted over the published runs: the range a prediction is shown with."""
    ratios = [run.output_tokens_per_second / predicted(run) for run in calibration().runs]
    return min(ratios), max(ratios)
