"""Facts about GPU instance types, read from planning/data/gpu_instances.yaml."""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATA = Path(__file__).parent / "data"
CATALOG_FILE = DATA / "gpu_instances.yaml"
ARCHITECTURES_FILE = DATA / "model_architectures.yaml"
BYTES_PER_DTYPE = {"bfloat16": 2, "float16": 2, "fp8": 1}


class GpuSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    memory_gib: float = Field(gt=0)
    visible_memory_mib: int = Field(gt=0, description="what nvidia-smi reports")
    cuda_memory_gib: float = Field(gt=0, description="what CUDA reports: vLLM's budget is a share of it")
    bandwidth_gbps: float = Field(gt=0, description="GPU memory bandwidth, GB/s")
    tflops_bf16: float = Field(gt=0, description="dense BF16 Tensor Core throughput, TFLOP/s")
    tflops_fp8: float | None = Field(gt=0, description="dense FP8 Tensor Core throughput; None: no FP8 math")
    nvlink: bool = Field(description="tensor-parallel traffic between this GPU and its neighbours uses NVLink")


class InstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    gpu: str
    gpus: int = Field(gt=0)
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    max_pods: int = Field(gt=0, description="VPC CNI pod limit, which sets the kubelet's memory reservation")
    usd_per_hour: float = Field(gt=0, description="Linux on-demand, us-east-1")
    network_gbps: float = Field(gt=0, description="the primary network card's peak bandwidth, Gbit/s")
    ebs_mbps: float = Field(gt=0, description="the instance's maximum (burst) EBS throughput, MB/s")
    gpu_spec: GpuSpec


def load_data(path: Path) -> Any:
    """One of the app's own data files. libyaml's parser: these files are ours, and Python's takes ~10x longer,
    on every synth and every script run."""
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)


@cache
def _catalog() -> dict[str, Any]:
    data: dict[str, Any] = load_data(CATALOG_FILE)
    return data


@cache
def gpu_specs() -> dict[str, GpuSpec]:
    """Every GPU model the app knows, by name."""
    return {name: GpuSpec(**spec) for name, spec in _catalog()["gpus"].items()}


@cache
def gpu_instances() -> dict[str, InstanceSpec]:
    """Every GPU instance type the app knows, by EC2 name."""
    raw = _catalog()
    gpus = gpu_specs()
    return {name: InstanceSpec(name=name, gpu_spec=gpus[row["gpu"]], **row) for name, row in raw["instances"].items()}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    retrieved: str


class ModelArchitecture(BaseModel):
    """The numbers that size a model's weights and KV cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    model_ids: list[str]
    parameters_billion: float = Field(gt=0)
    layers: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool
    dtype: str
    max_context: int = Field(gt=0)
    source: Source

    @property
    def linear_parameters(self) -> float:
        """The parameters every token multiplies through, for FLOPs: all but the embeddings (the output head, a few
        per cent of the work, is left out with them)."""
        return self.parameters_billion * 1e9 - self.embedding_parameters

    @property
    def embedding_parameters(self) -> float:
        """Input embedding and output head: FP8 quantization leaves them at the native dtype."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """Keys and values, every layer, every KV head: what one token of context costs in the cache."""
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


@cache
def model_architectures() -> dict[str, ModelArchitecture]:
    raw = load_data(ARCHITECTURES_FILE)
    return {name: ModelArchitecture(name=name, **row) for name, row in raw.items()}


def architecture_for(model_id: str) -> ModelArchitecture | None:
    return next((arch for arch in model_architectures().values() if model_id in arch.model_ids), None)
