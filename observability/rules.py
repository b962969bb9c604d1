"""Prometheus alert and recording rules for the GPU fleet and the model servers, written from the metric catalog.

Each alert carries a runbook line: what it means and what to do. The recording rules are the cost
signal: idle GPUs, and dollars per million generated tokens from the planner's instance price. The
rules are plain Prometheus rule groups; delivering them (a PrometheusRule, or an AMP rule groups
namespace) is the observability mode's job. promtool checks and unit-tests them in `make test`.
"""

from typing import Any

from config.metrics import (
    DCGM_CATALOG,
    GENERATION_TOKENS,
    KV_CACHE_USAGE,
    REQUESTS_RUNNING,
    REQUESTS_WAITING,
    TIME_TO_FIRST_TOKEN,
)
from config.model import AlertConfig
from planning.sizing import ReplicaPrice

GPU_UTIL, GPU_TEMP, XID = (
    next(metric for metric in DCGM_CATALOG if metric.name == name)
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_XID_ERRORS")
)
VLLM_JOB = "vllm"  # the scrape job the collection modes give the model servers
DCGM_JOB = "dcgm-exporter"

# Recorded series (level:metric:operation, Prometheus's naming convention), read by the dashboard.
GPUS_IDLE = "vllm_on_eks:gpus_idle:count"
REPLICA_PRICE = "vllm_on_eks:replica_usd_per_hour"
MODEL_COST = "vllm_on_eks:usd_per_hour"
COST_PER_MILLION = "vllm_on_eks:usd_per_million_generated_tokens:rate1h"


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, runbook: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook": runbook},
    }


def cost_rules(alerts: AlertConfig, prices: list[ReplicaPrice]) -> list[dict[str, Any]]:
    """Idle GPUs now, and each model's cost: replicas running x the planner's price per replica-hour.

    $ per million generated tokens = $ per hour / (generated tokens/s over the last hour x 3600) x 1e6,
    the formula `make plan` uses with its estimated throughput; here the throughput is measured.
    """
    rules: list[dict[str, Any]] = [
        {"record": GPUS_IDLE, "expr": f"count({GPU_UTIL.series()} < {alerts.gpu_idle_percent:g}) or vector(0)"}
    ]
    rules += [
        # A constant per model, labelled so it joins the model's own metrics on model_name.
        {
            "record": REPLICA_PRICE,
            "expr": f"vector({price.usd_per_hour:.4f})",
            "labels": {"model_name": price.served_name, "instance_type": price.instance_type},
        }
        for price in prices
    ]
    running = f"count by (model_name) ({REQUESTS_RUNNING.series()})"
    generated_per_hour = f"sum by (model_name) (rate({GENERATION_TOKENS.series()}[1h])) * 3600"
    rules += [
        {"record": MODEL_COST, "expr": f"{REPLICA_PRICE} * on (model_name) group_left {running}"},
        {
            "record": COST_PER_MILLION,
            "expr": f"{MODEL_COST} / on (model_name) group_left () ({generated_per_hour} > 0) * 1e6",
        },
    ]
    return rules


def rule_groups(alerts: AlertConfig, prices: list[ReplicaPrice], *, kube_state_metrics: bool = True) -> dict[str, Any]:
    """The rule file: alerts for the GPUs, the model servers and the scrape targets, then the cost records.

    `kube_state_metrics`: whether the collection scrapes kube-state-metrics (kube-prometheus-stack
    does; AMP's managed scraper here does not), which the restart alert reads.
    """
    gpus = [
        _alert(
            "GpuIdleWhilePaidFor",
            f"avg by (Hostname) ({GPU_UTIL.series()}) < {alerts.gpu_idle_percent:g}",
            alerts.gpu_idle_for,
            "warning",
            "GPU node {{ $labels.Hostname }} has been idle for " + alerts.gpu_idle_for,
            "A GPU node bills by the hour whether or not it serves: scale the model down "
            "(gpu_node_group.desired_size, replicas) or check that clients reach it.",
        ),
        _alert(
            "GpuTooHot",
            f"max by (Hostname, gpu) ({GPU_TEMP.series()}) > {alerts.gpu_temperature_c:g}",
            "5m",
            "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is above " + f"{alerts.gpu_temperature_c:g} C",
            "A hot GPU throttles its clocks and tokens slow down: check the instance's health in EC2; "
            "node auto-repair replaces a node whose GPU reports faults.",
        ),
        # The field holds the last XID seen until the node restarts: alert on a new one, not on the old value.
        _alert(
            "GpuXidError",
            f"max by (Hostname, gpu) (changes({XID.series()}[10m])) > 0",
            "0m",
            "critical",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported a new XID error",
            "An XID is a driver-reported GPU fault: read its number (DCGM_FI_DEV_XID_ERRORS) in NVIDIA's XID "
            "table; the node monitoring agent marks the node and auto-repair reboots or replaces it after 10 minutes.",
        ),
    ]
    servers = [
        _alert(
            "VllmKvCacheNearlyFull",
            f"max by (model_name) ({KV_CACHE_USAGE.series()}) > {alerts.kv_cache_full:g}",
            alerts.kv_cache_full_for,
            "warning",
            "{{ $labels.model_name }}: KV cache above " + f"{alerts.kv_cache_full:.0%}",
            "Requests are about to be preempted: add replicas, lower max_model_len, or use kv_cache_dtype: fp8 "
            "(make plan shows the concurrency each choice gives).",
        ),
        _alert(
            "VllmRequestsQueueing",
            f"sum by (model_name) ({REQUESTS_WAITING.series()}) > {alerts.requests_waiting}",
            alerts.requests_waiting_for,
            "warning",
            "{{ $labels.model_name }}: {{ $value }} requests waiting",
            "The model servers cannot keep up: add replicas (and GPU nodes), or shorten requests.",
        ),
        _alert(
            "VllmTimeToFirstTokenSlow",
            "histogram_quantile(0.95, sum by (model_name, le) "
            f"(rate({TIME_TO_FIRST_TOKEN.series('_bucket')}[5m]))) > {alerts.ttft_p95_seconds:g}",
            "10m",
            "warning",
            "{{ $labels.model_name }}: p95 time to first token above " + f"{alerts.ttft_p95_seconds:g} s",
            "Users wait for the first token: check the queue (VllmRequestsQueueing) and KV cache; long prompts "
            "and a cold prefix cache raise it too.",
        ),
    ]
    restarts = [
        _alert(
            "VllmRestarting",
            'increase(kube_pod_container_status_restarts_total{namespace="vllm"}[30m]) > 2',
            "0m",
            "critical",
            "{{ $labels.pod }} restarted more than twice in 30 minutes",
            "make status ENV=... shows why (OOM kill, a 401 from Hugging Face, GPU memory); its last log lines "
            "name the fix.",
        ),
    ]
    targets = [
        # A model server serves /metrics only once its model is loaded: 20 minutes outlasts the slowest start the
        # cold-start budget reckons (~9 minutes; tests/test_cold_start.py holds the two together).
        _alert(
            "MetricsTargetDown",
            f'up{{job=~"{VLLM_JOB}|{DCGM_JOB}"}} == 0',
            "20m",
            "critical",
            "{{ $labels.job }} target {{ $labels.instance }} is down",
            "No metrics, no alerts: check the pod (make status) and that the scrape namespace carries "
            "vllm-on-eks/metrics-scraper=true (the NetworkPolicies admit only it).",
        ),
        *(
            # A collector that finds nothing (no access, a rejected configuration) reports no `up` to go to 0.
            _alert(
                f"MetricsTargetMissing{suffix}",
                f'absent(up{{job="{job}"}})',
                "20m",
                "critical",
                f"no {job} target has been scraped for 20 minutes",
                "The collector finds nothing to scrape: check that the pods run (make status), the collector's "
                "access to the cluster, and its configuration (AMP: the scraper's status in the console).",
            )
            for suffix, job in (("Vllm", VLLM_JOB), ("Dcgm", DCGM_JOB))
        ),
    ]
    return {
        "groups": [
            {"name": "vllm-on-eks.gpus", "rules": gpus},
            {"name": "vllm-on-eks.model-servers", "rules": servers + (restarts if kube_state_metrics else [])},
            {"name": "vllm-on-eks.targets", "rules": targets},
            {"name": "vllm-on-eks.cost", "rules": cost_rules(alerts, prices)},
        ]
    }
