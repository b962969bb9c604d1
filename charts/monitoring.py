"""What a Prometheus Operator in the cluster needs to scrape the GPUs and the model servers, alert on them,
and draw them.

Rendered with `observability.mode: existing`. The scrape namespace must carry the label the
NetworkPolicies admit (vllm-on-eks/metrics-scraper=true).
"""

from typing import Any

from charts import dcgm_exporter, vllm
from charts.common import StandaloneChart, api_object, recommended_labels
from charts.dashboard import FILE_NAME as DASHBOARD_FILE
from config.model import ObservabilityConfig
from config.vllm import VLLM_IMAGE

API_VERSION = "monitoring.coreos.com/v1"
SCRAPE_INTERVAL = "30s"
# The Service label that becomes the `job` label, so the alert rules can name the jobs vllm and dcgm-exporter.
JOB_LABEL = "app.kubernetes.io/name"
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
        self._service_monitor(
            "dcgm-exporter",
            dcgm_exporter.NAMESPACE,
            labels,
            {"app.kubernetes.io/name": dcgm_exporter.NAME},
            port="metrics",
        )
        # Only the model servers' ClusterIP Services: the load balancer Services select the same pods.
        self._service_monitor(
            "vllm",
            vllm.NAMESPACE,
            labels,
            {"app.kubernetes.io/name": vllm.APP, "app.kubernetes.io/component": "model-server"},
            port="http",
        )
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

    def _service_monitor(
        self, name: str, namespace: str, labels: dict[str, str], selector: dict[str, str], *, port: str
    ) -> None:
        api_object(
            self,
            f"{name}-monitor",
            api_version=API_VERSION,
            kind="ServiceMonitor",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "jobLabel": JOB_LABEL,
                "selector": {"matchLabels": selector},
                "endpoints": [{"port": port, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
            },
        )
