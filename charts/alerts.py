"""Prometheus alert rules for the GPU fleet and the model servers, written from the metric catalog.

Each rule carries a runbook line: what it means and what to do. The rules are plain Prometheus rule
groups; delivering them (a PrometheusRule, or an AMP rule groups namespace) is the observability
mode's job. promtool checks and unit-tests them in `make test`.
"""

from typing import Any

from config.metrics import (
    DCGM_CATALOG,
    KV_CACHE_USAGE,
    REQUESTS_WAITING,
    TIME_TO_FIRST_TOKEN,
)
from config.model import AlertConfig

GPU_UTIL, GPU_TEMP, XID = (
    next(metric for metric in DCGM_CATALOG if metric.name == name)
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_XID_ERRORS")
)
VLLM_JOB = "vllm"  # the scrape job the collection modes give the model servers
DCGM_JOB = "dcgm-exporter"


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, runbook: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook": runbook},
    }


def alert_rule_groups(alerts: AlertConfig) -> dict[str, Any]:
    """The rule file: one group for the GPUs, one for the model servers, one for the scrape targets."""
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
        _alert(
            "GpuXidError",
            f"max by (Hostname, gpu) ({XID.series()}) > 0",
            "0m",
            "critical",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
            "An XID is a driver-reported GPU fault: look it up in NVIDIA's XID table; the node monitoring "
            "agent marks the node and auto-repair reboots or replaces it after 10 minutes.",
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
        _alert(
            "MetricsTargetDown",
            f'up{{job=~"{VLLM_JOB}|{DCGM_JOB}"}} == 0',
            "5m",
            "critical",
            "{{ $labels.job }} target {{ $labels.instance }} is down",
            "No metrics, no alerts: check the pod (make status) and that the scrape namespace carries "
            "vllm-on-eks/metrics-scraper=true (the NetworkPolicies admit only it).",
        ),
    ]
    return {
        "groups": [
            {"name": "vllm-on-eks.gpus", "rules": gpus},
            {"name": "vllm-on-eks.model-servers", "rules": servers},
            {"name": "vllm-on-eks.targets", "rules": targets},
        ]
    }
