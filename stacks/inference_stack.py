from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from charts import vllm
from charts.bundle import environment_charts
from charts.common import StandaloneChart
from components.workload_access import ExternallySetSecret, PodIdentity
from config.model import EnvironmentConfig


class InferenceStack(Stack):
    """The GPU workloads: device plugin, DCGM exporter, vLLM, and the AWS access they need.

    Its own stack so that changing a vLLM argument updates the workload and never the
    cluster or the node group.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, cluster: eks.ICluster, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.hf_token = ExternallySetSecret(
            self,
            "HuggingFaceToken",
            secret_name=config.hf_token_secret_name,
            description="Hugging Face access token for gated models; set it with put-secret-value",
        ).secret
        identity = PodIdentity(
            self, "VllmIdentity", cluster=cluster, namespace=vllm.NAMESPACE, service_account=vllm.SERVICE_ACCOUNT
        )
        self.hf_token.grant_read(identity.role)

        self.charts: dict[str, StandaloneChart] = environment_charts(config)
        self.manifests = {
            name: eks.KubernetesManifest(self, name, cluster=cluster, manifest=chart.to_json())
            for name, chart in self.charts.items()
        }
        # GPU pods stay Pending until the device plugin advertises nvidia.com/gpu; they mount the
        # token through Pod Identity, so the association must exist before they start.
        self.manifests["vllm"].node.add_dependency(self.manifests["nvidia-device-plugin"], identity, self.hf_token)
