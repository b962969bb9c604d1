"""What a Prometheus Operator in the cluster needs to scrape the GPUs and the model servers, alert on them,
and draw them.

Rendered with `observability.mode: existing`. The scrape namespace must carry the label the
NetworkPolicies admit (vllm-on-eks/metrics-scraper=true).
"""

from typing import Any

from charts import dcgm_exporter
from charts.common import StandaloneChart, api_object, recommended_labels
from config.model import ObservabilityConfig
from config.vllm import VLLM_IMAGE
from observability.dashboard import FILE_NAME as DASHBOARD_FILE
from observability.scrape import JOB_LABEL, SCRAPE_INTERVAL, SCRAPE_TARGETS, ScrapeTarget

API_VERSION = "monitoring.coreos.com/v1"
# kube-prometheus-stack's Grafana sidecar loads ConfigMaps with this label from every namespace
# (its defaults since chart 45.11: label grafana_dashboard, value "1", searchNamespace ALL).
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}


class MonitoringChart(StandaloneChart):
    def __init__(self, *, observability: ObservabilityConfig, rules: dict[str, Any], dashboard: str) -> None:
        super().__init__("monitoring")
        labels = {
            **recommended_labels("vllm-on-eks-monitoring", "vllm-on-eks", component="metrics", version=VLLM_IMAGE.tag),
            **observability.selector_labels,
        }
        for target in SCRAPE_TARGETS:
            self._service_monitor(target, labels)
        api_object(
            self,
            "alerts",
            api_version=API_VERSION,
            kind="PrometheusRule",
            metadata={"name": "vllm-on-eks-alerts", "namespace": dcgm_exporter.NAMESPACE, "labels": labels},
            spec=rules,
        )
        api_object(
            self,
            "dashboard",
            api_version="v1",
            kind="ConfigMap",
            metadata={
                "name": "vllm-on-eks-dashboard",
                "namespace": dcgm_exporter.NAMESPACE,
                "labels": {**labels, **GRAFANA_DASHBOARD_LABEL},
            },
            data={DASHBOARD_FILE: dashboard},
        )

    def _service_monitor(self, target: ScrapeTarget, labels: dict[str, str]) -> None:
        api_object(
            self,
            f"{target.job}-monitor",
            api_version=API_VERSION,
            kind="ServiceMonitor",
            metadata={"name": target.job, "namespace": target.namespace, "labels": labels},
            spec={
                "jobLabel": JOB_LABEL,
                "selector": {"matchLabels": target.service_labels},
                "endpoints": [{"port": target.port, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
            },
        )
