from typing import Any

from aws_cdk import Annotations, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from charts import prometheus_prerequisites, vllm
from charts.bundle import environment_charts
from charts.common import StandaloneChart
from components.guards import SecretsGuard
from components.prometheus_stack import KubePrometheusStack
from components.weights_bucket import grant_stream
from components.workload_access import PodIdentity
from config.model import EnvironmentConfig
from config.secrets import human_secrets, mounted_secrets


class InferenceStack(Stack):
    """The GPU workloads: device plugin, DCGM exporter, vLLM, and the AWS access they need.

    Its own stack so that changing a vLLM argument updates the workload and never the
    cluster or the node group.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, cluster: eks.ICluster, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        identity = PodIdentity(
            self, "VllmIdentity", cluster=cluster, namespace=vllm.NAMESPACE, service_account=vllm.SERVICE_ACCOUNT
        )
        # By name, not by cross-stack export: the secrets stack can drop a secret without an export lock.
        self.secrets: dict[str, secretsmanager.ISecret] = {
            file: secretsmanager.Secret.from_secret_name_v2(self, f"Mounted-{file}", name)
            for file, name in mounted_secrets(config).items()
        }
        for secret in self.secrets.values():
            secret.grant_read(identity.role)
        streamed = [model for model in config.models if model.weights == "s3-stream"]
        if streamed and config.weights_bucket:
            grant_stream(identity.role, config.weights_bucket.name, streamed)

        self.charts: dict[str, StandaloneChart] = environment_charts(config)
        self.manifests = {
            name: eks.KubernetesManifest(self, name, cluster=cluster, manifest=chart.to_json())
            for name, chart in self.charts.items()
        }
        # GPU pods stay Pending until the device plugin advertises nvidia.com/gpu; they mount their
        # secrets through Pod Identity, so the association must exist before they start.
        self.manifests["vllm"].node.add_dependency(self.manifests["nvidia-device-plugin"], identity)
        to_set = human_secrets(config)
        if to_set:
            # A model server started with a placeholder token crash-loops; stop here instead, with the fix.
            guard = SecretsGuard(self, "SecretsGuard", secrets=to_set)
            self.manifests["vllm"].node.add_dependency(guard)
        self.manifests["exposure"].node.add_dependency(self.manifests["vllm"])
        if "autoscaling" in self.manifests:
            # A ScaledObject needs its Deployment; KEDA's CRDs come with its release in the cluster stack.
            self.manifests["autoscaling"].node.add_dependency(self.manifests["vllm"])
        if "monitoring" in self.manifests:
            # What it scrapes must exist first; the Prometheus Operator's CRDs must already be in the cluster.
            self.manifests["monitoring"].node.add_dependency(self.manifests["vllm"], self.manifests["dcgm-exporter"])
        if config.observability.installs_prometheus:
            prometheus = KubePrometheusStack(
                self,
                "KubePrometheusStack",
                cluster=cluster,
                namespace=prometheus_prerequisites.NAMESPACE,
                storage_class=prometheus_prerequisites.STORAGE_CLASS,
                observability=config.observability,
            )
            prometheus.node.add_dependency(self.manifests["prometheus-prerequisites"])
            # The operator's CRDs come with the release.
            self.manifests["monitoring"].node.add_dependency(prometheus)
        if config.exposure.public:
            Annotations.of(self).add_warning_v2(
                "vllm:public-endpoint",
                f"{config.source_file}: exposure.public is true, so the ALB is internet-facing; "
                "only the api key stands between the internet and your GPUs",
            )
