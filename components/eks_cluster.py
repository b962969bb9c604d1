"""The EKS control plane: pinned version, audit logging, KMS-encrypted secrets, scoped endpoint."""

import hashlib
from typing import cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer
from constructs import Construct

from components.nag import (
    DEPLOY_TIME_FUNCTION,
    LOGS_WITHOUT_SECRETS,
    NO_SECRET_IN_ENVIRONMENT,
    acknowledge,
    acknowledge_cfn_utils_provider,
    invoke_any_version,
    managed_policy,
    skip_scan,
)
from components.workload_access import PodIdentity
from config.addons import ADDON_CONFIGURATION
from config.model import ClusterConfig, EndpointAccess
from config.versions import KUBERNETES_VERSION

# arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2 (AWS managed policy reference; unlike V1, not under service-role/).
EBS_CSI_POLICY = "AmazonEBSCSIDriverPolicyV2"
CONTROL_PLANE_LOGS = [
    eks.ClusterLoggingTypes.API,
    eks.ClusterLoggingTypes.AUDIT,
    eks.ClusterLoggingTypes.AUTHENTICATOR,
    eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
    eks.ClusterLoggingTypes.SCHEDULER,
]


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
            self.cluster.grant_access(access_entry_id(principal), principal, [admin])
        acknowledge_cfn_utils_provider(self)

    def _acknowledge_kubectl_provider(self) -> None:
        """The kubectl handler is aws-cdk-lib's own construct; its runtime and roles are not ours to change."""
        provider = self.cluster.node.find_child("KubectlProvider")
        skip_scan(provider, DEPLOY_TIME_FUNCTION | NO_SECRET_IN_ENVIRONMENT, resource_type="AWS::Lambda::Function")
        skip_scan(provider, LOGS_WITHOUT_SECRETS, resource_type="AWS::Logs::LogGroup")
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


def access_entry_id(principal: str) -> str:
    """Names the principal (readable) and hashes its whole ARN (unique across paths and accounts), so adding
    or reordering principals never replaces another's entry."""
    digest = hashlib.sha256(principal.encode()).hexdigest()[:8]
    return f"Admin-{principal.rsplit('/', 1)[-1]}-{digest}"


def _endpoint_access(config: ClusterConfig) -> eks.EndpointAccess:
    if config.endpoint_access is EndpointAccess.PRIVATE:
        return eks.EndpointAccess.PRIVATE
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*config.public_access_cidrs)


class ManagedAddons(Construct):
    """The EKS managed add-ons at the versions pinned in config/versions.py (`versions`: name -> build)."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.ICluster, versions: dict[str, str]) -> None:
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
            for name, version in versions.items()
        }
        if "aws-ebs-csi-driver" in self.addons:
            # The driver's controller creates and attaches volumes through Pod Identity, with AWS's policy
            # scoped to volumes it tagged itself.
            identity = PodIdentity(
                self,
                "EbsCsiIdentity",
                cluster=cluster,
                namespace="kube-system",
                service_account="ebs-csi-controller-sa",
            )
            identity.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(EBS_CSI_POLICY))
            acknowledge(
                identity.role,
                {managed_policy(EBS_CSI_POLICY): "AWS's policy for the EBS CSI driver, "
                 "limited to volumes and snapshots the driver tagged"},
            )  # fmt: skip
            self.addons["aws-ebs-csi-driver"].node.add_dependency(identity)
        for addon in self.addons.values():
            # EKS installs self-managed copies of vpc-cni, coredns and kube-proxy at creation;
            # take them over instead of failing on the conflict.
            addon.node.default_child.add_property_override("ResolveConflicts", "OVERWRITE")
