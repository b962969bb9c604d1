"""The EKS control plane: pinned version, audit logging, KMS-encrypted secrets, scoped endpoint."""

from typing import Any, cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer
from constructs import Construct

from components.nag import acknowledge, invoke_any_version, managed_policy
from config.model import ClusterConfig, EndpointAccess
from config.scheduling import GPU_TAINT
from config.versions import ADDON_VERSIONS, KUBERNETES_VERSION

CONTROL_PLANE_LOGS = [
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
]

# How often the Secrets Store CSI driver re-reads mounted secrets. A value fixed after a pod started
# (a Hugging Face token put in late) reaches the mounted file within this interval, and a crash-looping
# server picks it up on its next restart. Cost: one GetSecretValue per mounted secret per pod per poll,
# about 2 x 22,000 calls a month per pod at 2 minutes, roughly $0.22 at $0.05 per 10,000 calls.
SECRET_ROTATION_POLL = "2m"

# Add-on settings that differ from EKS defaults, and why.
ADDON_CONFIGURATION: dict[str, dict[str, Any]] = {
    # The node agent enforces Kubernetes NetworkPolicy, so vLLM can be fenced off.
    "vpc-cni": {"enableNetworkPolicy": "true"},
    "aws-secrets-store-csi-driver-provider": {
        # The AWS provider must run where vLLM mounts its secrets: on the tainted GPU nodes (its
        # chart tolerates nothing by default; the CSI driver itself tolerates every taint).
        "tolerations": [GPU_TAINT.toleration()],
        # Rotation is off by default upstream; the driver is a sub-chart of the add-on's chart.
        "secrets-store-csi-driver": {"enableSecretRotation": True, "rotationPollInterval": SECRET_ROTATION_POLL},
    },
    # GPU health is what node auto-repair reacts to. The agent watches every node (upstream's default,
    # stated so it cannot drift); its DCGM server tolerates nothing by default and must reach the GPUs.
    "eks-node-monitoring-agent": {
        "nodeAgent": {"tolerations": [{"operator": "Exists"}]},
        "dcgmAgent": {"tolerations": [GPU_TAINT.toleration()]},
    },
}


class InferenceCluster(Construct):
    """An `aws_eks_v2` cluster with no default capacity: node groups are added by their own components."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ClusterConfig, vpc: ec2.IVpc, admin_principals: list[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets_key = kms.Key(
            self,
            "SecretsKey",
            description="Envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            version=eks.KubernetesVersion.of(KUBERNETES_VERSION),
            vpc=vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            default_capacity=0,
            endpoint_access=_endpoint_access(config),
            cluster_logging=CONTROL_PLANE_LOGS,
            secrets_encryption_key=self.secrets_key,
            kubectl_provider_options=eks.KubectlProviderOptions(
                kubectl_layer=KubectlV36Layer(self, "KubectlLayer"),
            ),
        )
        # jsii's Python stubs miss that Cluster implements ICluster; components take the interface.
        self.handle = cast(eks.ICluster, self.cluster)
        acknowledge(
            self.cluster.role,
            {managed_policy("AmazonEKSClusterPolicy"): "the AWS-maintained policy EKS requires for its cluster role"},
        )
        self._acknowledge_kubectl_provider()
        admin = eks.AccessPolicy.from_access_policy_name(
            "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
        )
        for principal in admin_principals:
            # The id names the principal, so adding or reordering principals never replaces another's entry.
            self.cluster.grant_access(f"Admin-{principal.split(':', 5)[-1].replace('/', '-')}", principal, [admin])

    def _acknowledge_kubectl_provider(self) -> None:
        """The kubectl handler is aws-cdk-lib's own construct; its runtime and roles are not ours to change."""
        provider = self.cluster.node.find_child("KubectlProvider")
        lambda_policy = "AWS-managed Lambda execution policy on aws-cdk-lib's kubectl provider"
        acknowledge(
            provider,
            {
                "AwsSolutions-L1": "aws-cdk-lib pins the kubectl handler's runtime to the one its layer is built for",
                managed_policy("service-role/AWSLambdaBasicExecutionRole"): lambda_policy,
                managed_policy("service-role/AWSLambdaVPCAccessExecutionRole"): lambda_policy
                + "; it runs in the private subnets to reach a private endpoint",
                managed_policy("AmazonEC2ContainerRegistryReadOnly"): "aws-cdk-lib's kubectl handler reads "
                "Helm charts stored as OCI artifacts in ECR",
                KUBECTL_ECR_PUBLIC_FINDING: "conditional ECR Public read-only policy aws-cdk-lib adds for public "
                "OCI Helm charts in regions that have ECR Public",
                invoke_any_version(provider.node.find_child("Handler")): (
                    "the provider framework may invoke any version of the kubectl handler it owns"
                ),
            },
        )


KUBECTL_ECR_PUBLIC_FINDING = (
    'AwsSolutions-IAM4[Policy::{"Fn::If":["ControlPlaneClusterKubectlProviderHandlerHasEcrPublic6AA9E5D7",'
    '{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},'
    '{"Ref":"AWS::NoValue"}]}]'
)


def _endpoint_access(config: ClusterConfig) -> eks.EndpointAccess:
    if config.endpoint_access is EndpointAccess.PRIVATE:
        return eks.EndpointAccess.PRIVATE
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*config.public_access_cidrs)


class ManagedAddons(Construct):
    """The EKS managed add-ons at the versions pinned in config/versions.py."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.ICluster) -> None:
        super().__init__(scope, construct_id)
        self.addons = {
            name: eks.Addon(
                self,
                name,
                cluster=cluster,
                addon_name=name,
                addon_version=version,
                configuration_values=ADDON_CONFIGURATION.get(name),
                preserve_on_delete=False,
            )
            for name, version in ADDON_VERSIONS.items()
        }
        for addon in self.addons.values():
            # EKS installs self-managed copies of vpc-cni, coredns and kube-proxy at creation;
            # take them over instead of failing on the conflict.
            addon.node.default_child.add_property_override("ResolveConflicts", "OVERWRITE")  # type: ignore[union-attr]
