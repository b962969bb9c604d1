"""What the in-cluster Prometheus (observability.mode in-cluster) needs before its Helm release: its
namespace, labelled so the NetworkPolicies let its scrapes in, and an encrypted gp3 StorageClass."""

from charts.common import (
    METRICS_SCRAPER_NAMESPACE_LABEL,
    PART_OF_LABEL,
    StandaloneChart,
    api_object,
    recommended_labels,
)
from config.versions import KUBE_PROMETHEUS_STACK_VERSION

NAMESPACE = "monitoring"
STORAGE_CLASS = "gp3-encrypted"
RELEASE = "kube-prometheus-stack"  # the Helm release; its Prometheus Service is RELEASE-prometheus on 9090
QUERY_URL = f"http://{RELEASE}-prometheus.{NAMESPACE}.svc:9090"


class PrometheusPrerequisitesChart(StandaloneChart):
    def __init__(self) -> None:
        super().__init__("prometheus-prerequisites")
        api_object(
            self,
            "Namespace",
            api_version="v1",
            kind="Namespace",
            metadata={"name": NAMESPACE, "labels": {**PART_OF_LABEL, **METRICS_SCRAPER_NAMESPACE_LABEL}},
        )
        api_object(
            self,
            "StorageClass",
            api_version="storage.k8s.io/v1",
            kind="StorageClass",
            metadata={
                "name": STORAGE_CLASS,
                "labels": recommended_labels(
                    "prometheus-storage", "vllm-on-eks", component="metrics", version=KUBE_PROMETHEUS_STACK_VERSION
                ),
            },
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            # Bound where the pod lands, so the volume is created in that node's availability zone.
            volumeBindingMode="WaitForFirstConsumer",
            allowVolumeExpansion=True,
            reclaimPolicy="Delete",
        )
