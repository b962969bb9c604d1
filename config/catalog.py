"""Facts about GPU instance types, read from config/data/gpu_instances.yaml."""

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

CATALOG_FILE = Path(__file__).parent / "data" / "gpu_instances.yaml"


class GpuSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    memory_gib: float = Field(gt=0)
    bandwidth_gbps: float = Field(gt=0, description="GPU memory bandwidth, GB/s")


class InstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    gpu: str
    gpus: int = Field(gt=0)
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    max_pods: int = Field(gt=0, description="VPC CNI pod limit, which sets the kubelet's memory reservation")
    usd_per_hour: float = Field(gt=0, description="Linux on-demand, us-east-1")
    gpu_spec: GpuSpec


@cache
def gpu_instances() -> dict[str, InstanceSpec]:
    """Every GPU instance type the app knows, by EC2 name."""
    raw = yaml.safe_load(CATALOG_FILE.read_text())
    gpus = {name: GpuSpec(**spec) for name, spec in raw["gpus"].items()}
    return {name: InstanceSpec(name=name, gpu_spec=gpus[row["gpu"]], **row) for name, row in raw["instances"].items()}
