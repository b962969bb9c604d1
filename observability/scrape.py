"""What is scraped, once: the Services behind the `vllm` and `dcgm-exporter` jobs the rules and dashboard name.

The ServiceMonitors of mode `existing` and the scrape configuration of mode `amp` (AMP's managed
scraper reads no ServiceMonitors) are both written from SCRAPE_TARGETS, so both find the same
Services and give the samples the same labels: `job` (the Service's app.kubernetes.io/name),
`namespace` and `pod`.
"""

from dataclasses import dataclass
from typing import Any

import yaml

from charts import dcgm_exporter, vllm
from observability.rules import DCGM_JOB, VLLM_JOB

SCRAPE_INTERVAL = "30s"
JOB_LABEL = "app.kubernetes.io/name"  # the Service label whose value is the job name


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    namespace: str
    service_labels: dict[str, str]
    port: str  # the Service port's name


SCRAPE_TARGETS = (
    ScrapeTarget(DCGM_JOB, dcgm_exporter.NAMESPACE, {JOB_LABEL: dcgm_exporter.NAME}, "metrics"),
    # Only the model servers' ClusterIP Services: the load balancer Services select the same pods.
    ScrapeTarget(
        VLLM_JOB, vllm.NAMESPACE, {JOB_LABEL: vllm.APP, "app.kubernetes.io/component": "model-server"}, "http"
    ),
)


def _meta(label: str) -> str:
    """A Kubernetes label as Prometheus's service discovery names it (every non-alphanumeric becomes _)."""
    return "".join(character if character.isalnum() else "_" for character in label)


def _job(target: ScrapeTarget) -> dict[str, Any]:
    return {
        "job_name": target.job,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [target.namespace]}}],
        "relabel_configs": [
            {
                # The namespace again, so the filter holds even where a collector ignores `namespaces`.
                "source_labels": [
                    "__meta_kubernetes_namespace",
                    *(f"__meta_kubernetes_service_label_{_meta(label)}" for label in target.service_labels),
                    "__meta_kubernetes_endpoint_port_name",
                ],
                "regex": ";".join([target.namespace, *target.service_labels.values(), target.port]),
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def scrape_config() -> dict[str, Any]:
    """A Prometheus configuration file with one job per target."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [_job(target) for target in SCRAPE_TARGETS],
    }


def scrape_config_yaml() -> str:
    return yaml.safe_dump(scrape_config(), sort_keys=False)
