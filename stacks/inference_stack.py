from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from charts import vllm
from charts.bundle import environment_charts
from charts.common import StandaloneChart
from components.workload_access import ExternallySetSecret, GeneratedApiKey, PodIdentity
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
        identity = PodIdentity(
            self, "VllmIdentity", cluster=cluster, namespace=vllm.NAMESPACE, service_account=vllm.SERVICE_ACCOUNT
        )
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        if any(model.gated for model in config.models):
            self.secrets[vllm.HF_TOKEN_OBJECT] = ExternallySetSecret(
                self,
                "HuggingFaceToken",
                secret_name=config.hf_token_secret_name,
                description="Hugging Face access token for gated models; set it with put-secret-value",
                rotation_reason="a Hugging Face token is rotated at Hugging Face; a rotation Lambda cannot mint one",
            ).secret
        if config.exposure.api_key:
            self.secrets[vllm.API_KEY_OBJECT] = GeneratedApiKey(
                self, "ApiKey", secret_name=config.api_key_secret_name
            ).secret
        for secret in self.secrets.values():
            secret.grant_read(identity.role)

        self.charts: dict[str, StandaloneChart] = environment_charts(config)
        self.manifests = {
            name: eks.KubernetesManifest(self, name, cluster=cluster, manifest=chart.to_json())
            for name, chart in self.charts.items()
        }
        # GPU pods stay Pending until the device plugin advertises nvidia.com/gpu; they mount the
        # token through Pod Identity, so the association must exist before they start.
        self.manifests["vllm"].node.add_dependency(
            self.manifests["nvidia-device-plugin"], identity, *self.secrets.values()
        )
        self.manifests["exposure"].node.add_dependency(self.manifests["vllm"])
        if config.exposure.public:
            Annotations.of(self).add_warning_v2(
                "vllm:public-endpoint",
                f"{config.source_file}: exposure.public is true, so the ALB is internet-facing; "
                "only the api key stands between the internet and your GPUs",
            )
        for name, secret in self.secrets.items():
            CfnOutput(self, f"{name.title().replace('-', '')}SecretName", value=secret.secret_name)
