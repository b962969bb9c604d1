"""KEDA, installed by Helm on the system nodes: it turns a model's ScaledObject into an HPA fed by Prometheus.

With the in-cluster Prometheus (or yours) it needs no AWS access. With AMP, its operator signs its queries
(SigV4) with its own Pod Identity role, created here before the release so its pods start with the
credentials; the monitoring stack grants that role the workspace it may query.
"""

from typing import Any

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from components.helm import pinned_release
from components.workload_access import PodIdentity
from config.versions import KEDA_REPOSITORY, KEDA_VERSION

NAMESPACE = "keda"
OPERATOR_SERVICE_ACCOUNT = "keda-operator"  # the chart's default (serviceAccount.operator.name)


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def chart_values() -> dict[str, Any]:
    """Small requests for the operator, the metrics API server and the admission webhooks (a handful of
    ScaledObjects); no toleration, so nothing lands on a GPU node."""
    return {
        "resources": {
            "operator": _resources("100m", "128Mi", "512Mi"),
            "metricServer": _resources("100m", "128Mi", "512Mi"),
            "webhooks": _resources("50m", "64Mi", "256Mi"),
        },
    }


class Keda(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.ICluster, aws_identity: bool) -> None:
        super().__init__(scope, construct_id)
        self.identity = (
            PodIdentity(
                self, "OperatorIdentity", cluster=cluster, namespace=NAMESPACE, service_account=OPERATOR_SERVICE_ACCOUNT
            )
            if aws_identity
            else None
        )
        self.release = pinned_release(
            self,
            "Release",
            cluster=cluster,
            chart="keda",
            repository=KEDA_REPOSITORY,
            version=KEDA_VERSION,
            namespace=NAMESPACE,
            values=chart_values(),
        )
        if self.identity:
            self.release.node.add_dependency(self.identity)
