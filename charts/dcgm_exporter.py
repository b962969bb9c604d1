"""NVIDIA DCGM exporter: GPU telemetry in Prometheus format on port 9400, GPU nodes only."""

from collections.abc import Sequence

from charts.common import (
    METRICS_SCRAPER_NAMESPACE_LABEL,
    NO_PRIVILEGES,
    PART_OF_LABEL,
    PINNED_BY_TAG,
    RUNTIME_DEFAULT_SECCOMP,
    StandaloneChart,
    api_object,
    gpu_node_daemon_set,
    ingress_policy,
    recommended_labels,
    selector_labels,
)
from charts.names import DCGM_EXPORTER as NAME
from charts.names import DCGM_EXPORTER_NAMESPACE as NAMESPACE
from config.images import Image
from config.metrics import DCGM_COUNTERS
from config.scheduling import GPU_NODE_AGENT_REQUESTS
from config.versions import DCGM_EXPORTER_IMAGE

METRICS_PORT = 9400
COUNTERS_PATH = "/etc/dcgm-exporter/counters.csv"
POD_RESOURCES = "/var/lib/kubelet/pod-resources"  # lets the exporter label metrics with the pod using the GPU
REQUESTS = GPU_NODE_AGENT_REQUESTS[NAME]
LIMITS = {"cpu": "500m", "memory": "1Gi"}


def counters_csv() -> str:
    return "".join(f"{field}, {kind}, {help_text}\n" for field, (kind, help_text) in DCGM_COUNTERS.items())


class DcgmExporterChart(StandaloneChart):
    def __init__(self, *, image: Image = DCGM_EXPORTER_IMAGE, scraper_cidrs: Sequence[str] = ()) -> None:
        """`scraper_cidrs`: where a scraper that is not a pod (AMP's managed collector) connects from."""
        super().__init__(NAME)
        labels = recommended_labels(NAME, NAME, component="gpu-metrics", version=image.tag)
        namespace = api_object(
            self,
            "Namespace",
            api_version="v1",
            kind="Namespace",
            metadata={"name": NAMESPACE, "labels": PART_OF_LABEL},
        )
        counters = api_object(
            self,
            "Counters",
            api_version="v1",
            kind="ConfigMap",
            metadata={"name": f"{NAME}-counters", "namespace": NAMESPACE, "labels": labels},
            data={"counters.csv": counters_csv()},
        )
        health = {"httpGet": {"path": "/health", "port": METRICS_PORT}, "initialDelaySeconds": 45, "periodSeconds": 10}
        self.daemon_set = gpu_node_daemon_set(
            self,
            name=NAME,
            namespace=NAMESPACE,
            labels=labels,
            pod_security_context=RUNTIME_DEFAULT_SECCOMP,
            scan_findings=PINNED_BY_TAG
            | {
                "CKV_K8S_23": "DCGM reads the GPUs as root through the NVIDIA container runtime, as upstream runs "
                "it; every capability is dropped and escalation is off",
                "CKV_K8S_40": "same reason: the GPU device nodes and DCGM's host engine need root",
                "CKV_K8S_22": "DCGM's embedded host engine writes its socket and logs under the root filesystem",
            },
            container={
                "image": image.ref,
                "env": [
                    {"name": "DCGM_EXPORTER_LISTEN", "value": f":{METRICS_PORT}"},
                    {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                    {"name": "DCGM_EXPORTER_COLLECTORS", "value": COUNTERS_PATH},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                ],
                "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
                "securityContext": {
                    # DCGM reads the GPUs as root through the NVIDIA runtime. SYS_ADMIN is only needed
                    # for the DCGM_FI_PROF_* profiling counters, which are not exported.
                    "runAsNonRoot": False,
                    "runAsUser": 0,
                    **NO_PRIVILEGES,
                },
                "resources": {"requests": REQUESTS, "limits": LIMITS},
                "livenessProbe": health,
                "readinessProbe": health,
                "volumeMounts": [
                    {"name": "pod-resources", "mountPath": POD_RESOURCES, "readOnly": True},
                    {"name": "counters", "mountPath": COUNTERS_PATH, "subPath": "counters.csv", "readOnly": True},
                ],
            },
            volumes=[
                {"name": "pod-resources", "hostPath": {"path": POD_RESOURCES, "type": "Directory"}},
                {"name": "counters", "configMap": {"name": f"{NAME}-counters"}},
            ],
        )
        self.service = api_object(
            self,
            "Service",
            api_version="v1",
            kind="Service",
            # The labels are what a Prometheus ServiceMonitor selects on.
            metadata={"name": NAME, "namespace": NAMESPACE, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": selector_labels(NAME, NAME),
                "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}],
            },
        )
        # Only the metrics scrape may reach the exporter: its labelled namespace, or a collector outside the pods.
        self.network_policy = ingress_policy(
            self,
            "NetworkPolicy",
            metadata={"name": f"{NAME}-ingress", "namespace": NAMESPACE, "labels": labels},
            pods=selector_labels(NAME, NAME),
            ingress=[
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": METRICS_SCRAPER_NAMESPACE_LABEL}},
                        *({"ipBlock": {"cidr": cidr}} for cidr in scraper_cidrs),
                    ],
                    "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
                }
            ],
        )
        for namespaced in (counters, self.daemon_set, self.service, self.network_policy):
            namespaced.add_dependency(namespace)
        self.daemon_set.add_dependency(counters)
