"""The metric catalog: every metric name a chart, rule, dashboard, scaling trigger or the README uses.

vLLM's names are checked against what the pinned release really exports (vllm_metrics.json beside
this file, read from that release's package); its v1 engine renamed several metrics that older
guides still use (the seed's `vllm:gpu_cache_usage_perc` is `vllm:kv_cache_usage_perc` here, and
per-token latency is `vllm:inter_token_latency_seconds`). DCGM's are the fields the exporter's
counters file enables: the DCGM exporter chart renders that file from DCGM_COUNTERS below.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from config.vllm import VLLM_IMAGE

VLLM_METRICS_FILE = Path(__file__).with_name("vllm_metrics.json")
Kind = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    meaning: str

    def series(self, suffix: str = "") -> str:
        """The name Prometheus stores: counters gain _total; histograms _bucket, _sum and _count."""
        if self.kind == "counter":
            return f"{self.name}_total"
        if self.kind == "histogram":
            if suffix not in ("_bucket", "_sum", "_count"):
                raise ValueError(f"{self.name} is a histogram: ask for its _bucket, _sum or _count series")
            return f"{self.name}{suffix}"
        return self.name


# vLLM (labels: model_name, engine), the ones this app reads.
REQUESTS_RUNNING = Metric("vllm:num_requests_running", "gauge", "requests in the running batch")
REQUESTS_WAITING = Metric("vllm:num_requests_waiting", "gauge", "requests queued for the batch: the scaling signal")
KV_CACHE_USAGE = Metric("vllm:kv_cache_usage_perc", "gauge", "share of KV-cache blocks in use (0-1)")
TIME_TO_FIRST_TOKEN = Metric("vllm:time_to_first_token_seconds", "histogram", "time to first token")
INTER_TOKEN_LATENCY = Metric("vllm:inter_token_latency_seconds", "histogram", "time between output tokens")
E2E_LATENCY = Metric("vllm:e2e_request_latency_seconds", "histogram", "request latency, end to end")
PROMPT_TOKENS = Metric("vllm:prompt_tokens", "counter", "prompt tokens processed")
GENERATION_TOKENS = Metric("vllm:generation_tokens", "counter", "tokens generated")
PREFIX_CACHE_QUERIES = Metric("vllm:prefix_cache_queries", "counter", "tokens looked up in the prefix cache")
PREFIX_CACHE_HITS = Metric("vllm:prefix_cache_hits", "counter", "of those, tokens found")
PREEMPTIONS = Metric("vllm:num_preemptions", "counter", "requests preempted when the KV cache ran out")
VLLM_CATALOG = (
    REQUESTS_RUNNING, REQUESTS_WAITING, KV_CACHE_USAGE, TIME_TO_FIRST_TOKEN, INTER_TOKEN_LATENCY, E2E_LATENCY,
    PROMPT_TOKENS, GENERATION_TOKENS, PREFIX_CACHE_QUERIES, PREFIX_CACHE_HITS, PREEMPTIONS,
)  # fmt: skip

# DCGM fields the exporter enables: the guide's day-one four (utilisation, framebuffer, temperature,
# power) plus the ones that explain them. DCGM field -> (Prometheus type, help text).
DCGM_COUNTERS: dict[str, tuple[Kind, str]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("gauge", "GPU utilization (in %)."),
    "DCGM_FI_DEV_FB_USED": ("gauge", "Framebuffer memory used (in MiB)."),
    "DCGM_FI_DEV_FB_FREE": ("gauge", "Framebuffer memory free (in MiB)."),
    "DCGM_FI_DEV_GPU_TEMP": ("gauge", "GPU temperature (in C)."),
    "DCGM_FI_DEV_POWER_USAGE": ("gauge", "Power draw (in W)."),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("gauge", "Memory utilization (in %)."),
    "DCGM_FI_DEV_SM_CLOCK": ("gauge", "SM clock frequency (in MHz)."),
    "DCGM_FI_DEV_XID_ERRORS": ("gauge", "Value of the last XID error encountered."),
}
DCGM_CATALOG = tuple(Metric(name, kind, meaning) for name, (kind, meaning) in DCGM_COUNTERS.items())


@cache
def exported_by_pinned_vllm() -> dict[str, str]:
    """Metric name -> type, as the pinned vLLM release declares them."""
    data = json.loads(VLLM_METRICS_FILE.read_text())
    if data["vllm_version"] != VLLM_IMAGE.tag:
        raise RuntimeError(f"{VLLM_METRICS_FILE.name} is for vLLM {data['vllm_version']}, the pin is {VLLM_IMAGE.tag}")
    return dict(data["metrics"])
