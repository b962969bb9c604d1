"""The Grafana dashboard, built with Grafana's own typed builders (grafana-foundation-sdk), never hand-edited JSON.

It answers "why is it slow" top to bottom: are the GPUs busy, hot or faulted; are requests queueing,
is the KV cache full, where does latency go; and what it costs. Every expression names catalog
metrics or the series the rules record (a test parses each one and checks that), filtered by the
`model` variable, per model and per pod.
"""

import json
from collections.abc import Iterable
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from config.metrics import (
    DCGM_CATALOG,
    GENERATION_TOKENS,
    INTER_TOKEN_LATENCY,
    KV_CACHE_USAGE,
    PREFIX_CACHE_HITS,
    PREFIX_CACHE_QUERIES,
    PROMPT_TOKENS,
    REQUESTS_RUNNING,
    REQUESTS_WAITING,
    TIME_TO_FIRST_TOKEN,
    Metric,
)
from observability.rules import COST_PER_MILLION, GPUS_IDLE, MODEL_COST

UID = "vllm-on-eks"
TITLE = "vLLM on EKS"
FILE_NAME = f"{UID}.json"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
MODEL = 'model_name=~"$model"'
RATE = "[$__rate_interval]"
DCGM = {metric.name: metric for metric in DCGM_CATALOG}
GPU = "Hostname, gpu"
GPU_LEGEND = "{{Hostname}} GPU {{gpu}}"


def _query(expr: str, legend: str, ref_id: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)


def _series(title: str, unit: str, description: str, queries: Iterable[tuple[str, str]]) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).description(description).datasource(DATASOURCE)
    for ref_id, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
        panel.with_target(_query(expr, legend, ref_id))
    return panel.span(8).height(8)


def _stat(title: str, unit: str, description: str, expr: str, legend: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend, "A").instant())
        .span(8)
        .height(8)
    )


def _gpu(metric: str) -> str:
    return f"max by ({GPU}) ({DCGM[metric].series()})"


def _per_pod(metric: Metric, how: str = "sum") -> str:
    return f"{how} by (model_name, pod) ({metric.series()}{{{MODEL}}})"


def _rate(metric: Metric) -> str:
    return f"sum by (model_name) (rate({metric.series()}{{{MODEL}}}{RATE}))"


def _quantiles(metric: Metric) -> list[tuple[str, str]]:
    buckets = f"sum by (model_name, le) (rate({metric.series('_bucket')}{{{MODEL}}}{RATE}))"
    return [(f"histogram_quantile({q}, {buckets})", f"{{{{model_name}}}} p{q * 100:g}") for q in (0.5, 0.95, 0.99)]


def _gpu_row() -> list[Builder[Any]]:
    return [
        _series("GPU utilisation", "percent", "Busy time per GPU; under 5 % for hours is a GPU paid for nothing.",
                [(_gpu("DCGM_FI_DEV_GPU_UTIL"), GPU_LEGEND)]),
        _series("GPU memory", "decmbytes", "Framebuffer used and free per GPU: vLLM takes gpu_memory_utilization "
                "of it at start-up, so used stays flat while it serves.",
                [(_gpu("DCGM_FI_DEV_FB_USED"), GPU_LEGEND + " used"), (_gpu("DCGM_FI_DEV_FB_FREE"), GPU_LEGEND + " free")]),
        _series("GPU temperature", "celsius", "A hot GPU throttles its clocks (alert GpuTooHot).",
                [(_gpu("DCGM_FI_DEV_GPU_TEMP"), GPU_LEGEND)]),
        _series("GPU power", "watt", "Power draw per GPU: low power with high utilisation means a memory-bound decode.",
                [(_gpu("DCGM_FI_DEV_POWER_USAGE"), GPU_LEGEND)]),
        _series("XID errors", "none", "The last driver-reported GPU fault per GPU; anything but 0 is a hardware or "
                "driver problem (alert GpuXidError).", [(_gpu("DCGM_FI_DEV_XID_ERRORS"), GPU_LEGEND)]),
        _stat("GPU-hours idle", "h", "GPUs under the idle threshold, summed over the selected time range "
              "(recorded every evaluation).", f"avg_over_time({GPUS_IDLE}[$__range]) * $__range_s / 3600", "idle"),
    ]  # fmt: skip


def _model_row() -> list[Builder[Any]]:
    per_pod = "{{model_name}} {{pod}}"
    return [
        _series("Requests running and waiting", "short", "Per pod: waiting above zero for minutes means too few "
                "replicas (alert VllmRequestsQueueing).",
                [(_per_pod(REQUESTS_RUNNING), per_pod + " running"), (_per_pod(REQUESTS_WAITING), per_pod + " waiting")]),
        _series("KV cache usage", "percentunit", "Share of KV-cache blocks in use per pod; near 100 % requests are "
                "preempted (alert VllmKvCacheNearlyFull).", [(_per_pod(KV_CACHE_USAGE, "max"), per_pod)]),
        _series("Time to first token", "s", "p50, p95, p99 per model: queueing and prefill.",
                _quantiles(TIME_TO_FIRST_TOKEN)),
        _series("Inter-token latency", "s", "p50, p95, p99 per model: decode speed as users see it.",
                _quantiles(INTER_TOKEN_LATENCY)),
        _series("Tokens per second", "short", "Prompt tokens processed and tokens generated per model.",
                [(_rate(PROMPT_TOKENS), "{{model_name}} prompt"), (_rate(GENERATION_TOKENS), "{{model_name}} generated")]),
        _series("Prefix cache hit rate", "percentunit", "Share of prompt tokens found in the prefix cache per model.",
                [(f"{_rate(PREFIX_CACHE_HITS)} / {_rate(PREFIX_CACHE_QUERIES)}", "{{model_name}}")]),
    ]  # fmt: skip


def _cost_row() -> list[Builder[Any]]:
    return [
        _series("Cost per million generated tokens", "currencyUSD", "The replicas' share of the planned instance's "
                "on-demand price / tokens generated over the last hour (recorded; the formula is in observability/rules.py).",
                [(f"{COST_PER_MILLION}{{{MODEL}}}", "{{model_name}}")]),
        _series("Cost per hour", "currencyUSD", "Replicas running x price per replica-hour, per model.",
                [(f"{MODEL_COST}{{{MODEL}}}", "{{model_name}} on {{instance_type}}")]),
    ]  # fmt: skip


def grafana_dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with stable panel ids so an import replaces, never duplicates."""
    builder = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["vllm", "gpu", "eks"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("model")
            .label("Model")
            .datasource(DATASOURCE)
            .query(f"label_values({REQUESTS_RUNNING.series()}, model_name)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    for title, panels in (("GPUs (DCGM)", _gpu_row()), ("Model servers (vLLM)", _model_row()), ("Cost", _cost_row())):
        builder.with_row(dashboard.Row(title))
        for panel in panels:
            builder.with_panel(panel)
    result: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for panel_id, panel in enumerate(result["panels"], start=1):
        panel["id"] = panel_id
    return result


def dashboard_json() -> str:
    return json.dumps(grafana_dashboard(), indent=2, sort_keys=True) + "\n"
