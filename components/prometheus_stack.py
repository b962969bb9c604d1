"""kube-prometheus-stack, installed by Helm at deploy time (observability.mode in-cluster).

Everything runs on the system nodes: no component tolerates the GPU taint, and the node exporter
(which would, and would take from the GPU nodes' kubelet budget) is off; the rules and dashboard
need the DCGM exporter and kube-state-metrics, not it. EKS hides etcd, the scheduler and the
controller manager, so their scrapes and rules are off too.
"""

from typing import Any

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from charts.prometheus_prerequisites import RELEASE
from components.helm import pinned_release
from config.model import InClusterConfig, ObservabilityConfig
from config.versions import KUBE_PROMETHEUS_STACK_REPOSITORY, KUBE_PROMETHEUS_STACK_VERSION


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def chart_values(
    observability: ObservabilityConfig, *, storage_class: str, settings: InClusterConfig
) -> dict[str, Any]:
    """Helm values sized for two m6i.large system nodes (2 vCPU, 8 GiB each) beside CoreDNS and the controllers."""
    selector = {"matchLabels": observability.selector_labels}
    return {
        "nodeExporter": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},  # EKS's kube-proxy serves metrics on 127.0.0.1 only
        "prometheusOperator": {"resources": _resources("100m", "128Mi", "256Mi")},
        "kube-state-metrics": {"resources": _resources("50m", "128Mi", "256Mi")},
        "alertmanager": {"alertmanagerSpec": {"resources": _resources("50m", "64Mi", "128Mi")}},
        "grafana": {
            "enabled": settings.grafana,
            # Empty: the Grafana chart generates a random one into its Secret, kept across upgrades
            # (kubectl -n monitoring get secret kube-prometheus-stack-grafana); stated so no default creeps in.
            "adminPassword": "",
            "resources": _resources("100m", "192Mi", "384Mi"),
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": settings.retention,
                "resources": _resources("500m", "1536Mi", "3Gi"),
                # Select by the same labels the monitoring chart puts on its objects, in every namespace.
                "serviceMonitorSelector": selector,
                "podMonitorSelector": selector,
                "ruleSelector": selector,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": storage_class,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{settings.storage_gib}Gi"}},
                        }
                    }
                },
            }
        },
    }


class KubePrometheusStack(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        namespace: str,
        storage_class: str,
        observability: ObservabilityConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.release = pinned_release(
            self,
            "Release",
            cluster=cluster,
            chart="kube-prometheus-stack",
            repository=KUBE_PROMETHEUS_STACK_REPOSITORY,
            version=KUBE_PROMETHEUS_STACK_VERSION,
            release=RELEASE,
            namespace=namespace,
            create_namespace=False,  # the prerequisites chart creates it, labelled for the NetworkPolicies
            values=chart_values(observability, storage_class=storage_class, settings=observability.in_cluster),
        )
