"""Cluster Autoscaler for the GPU managed node group (gpu_node_group.autoscaler: cluster-autoscaler).

It finds the GPU group by the tags EKS puts on managed node groups' Auto Scaling groups (auto-discovery,
narrowed to that group's name, so the system group stays as configured), and, while the group is at zero,
learns a GPU node's labels and taints from EKS's DescribeNodegroup (the ones the node group is created
with, config.scheduling) and its GPUs from its instance type; the node group's tags add the root volume's
size. Installed by Helm on the system nodes with its own Pod Identity role; it may resize only that group.
"""

from typing import Any

from aws_cdk import Aws, CfnJson, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.helm import pinned_release
from components.nag import acknowledge, acknowledge_cfn_utils_provider, logical_id, wildcard_resource
from components.workload_access import PodIdentity
from config.model import GpuNodeGroupConfig
from config.versions import (
    CLUSTER_AUTOSCALER_CHART_VERSION,
    CLUSTER_AUTOSCALER_IMAGE_TAG,
    CLUSTER_AUTOSCALER_REPOSITORY,
)

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# Cluster Autoscaler's AWS provider treats a node with this label as a GPU node whose GPUs may not be
# advertised yet, so it does not launch a second node while the device plugin starts on the first.
GPU_LABEL = "k8s.amazonaws.com/accelerator"
TEMPLATE_TAG = "k8s.io/cluster-autoscaler/node-template/resources/"
NODEGROUP_TAG = "eks:nodegroup-name"  # EKS puts it on each managed node group's Auto Scaling group
# Upstream's "full features" policy (cluster-autoscaler/cloudprovider/aws/README.md): reads on every resource,
# because Auto Scaling and EC2 describe calls take no resource; writes only on the GPU group (this cluster's tag and the group's name).
READ_ACTIONS = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
]
WRITE_ACTIONS = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]


def node_template_tags(gpu_nodes: GpuNodeGroupConfig) -> dict[str, str]:
    """What a GPU node offers, for Cluster Autoscaler to scale the group up from zero (node group tags)."""
    return {
        f"{TEMPLATE_TAG}nvidia.com/gpu": str(gpu_nodes.instance_specs[0].gpus),
        f"{TEMPLATE_TAG}ephemeral-storage": f"{gpu_nodes.disk_size_gib}Gi",
    }


def discovery_tags(cluster_name: str, nodegroup_name: str) -> list[str]:
    """The GPU group's Auto Scaling group only. EKS tags every managed group's ASG with the first two, so the
    system group would be found (and resized) too; the third, also EKS's, names the GPU group."""
    return [
        "k8s.io/cluster-autoscaler/enabled",
        f"k8s.io/cluster-autoscaler/{cluster_name}",
        f"{NODEGROUP_TAG}={nodegroup_name}",
    ]


def chart_values(cluster_name: str, nodegroup_name: str, region: str, gpu_nodes: GpuNodeGroupConfig) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name, "tags": discovery_tags(cluster_name, nodegroup_name)},
        "image": {"tag": CLUSTER_AUTOSCALER_IMAGE_TAG},
        "rbac": {"serviceAccount": {"name": SERVICE_ACCOUNT}},
        "extraArgs": {
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            # An empty GPU node goes after the same quiet spell as under Karpenter. Nodes running a model server
            # are never taken: its hostPath caches make Cluster Autoscaler skip the node (like Karpenter's
            # WhenEmpty), so a one-replica model is not moved to save money.
            "scale-down-unneeded-time": gpu_nodes.consolidate_after,
            # A cooldown for the whole cluster after any scale-up, so a burst's new nodes are not judged at once.
            "scale-down-delay-after-add": gpu_nodes.consolidate_after,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


class ClusterAutoscaler(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        gpu_nodes: GpuNodeGroupConfig,
        nodegroup_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        identity = PodIdentity(self, "Identity", cluster=cluster, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT)
        nodegroups = f"arn:{Aws.PARTITION}:eks:{Aws.REGION}:{Aws.ACCOUNT_ID}:nodegroup/{cluster.cluster_name}/*/*"
        policy = iam.Policy(
            self,
            "Policy",
            roles=[identity.role],
            statements=[
                iam.PolicyStatement(actions=READ_ACTIONS, resources=["*"]),
                iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroups]),
                iam.PolicyStatement(
                    actions=WRITE_ACTIONS,
                    resources=["*"],
                    # The tag key holds the cluster name, a token until deploy: CfnJson resolves it there.
                    conditions={
                        "StringEquals": CfnJson(
                            self,
                            "OwnedByThisCluster",
                            value={
                                f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster.cluster_name}": "owned",
                                f"aws:ResourceTag/{NODEGROUP_TAG}": nodegroup_name,
                            },
                        )
                    },
                ),
            ],
        )
        acknowledge(
            policy,
            {
                wildcard_resource("*"): "Auto Scaling and EC2 describe calls take no resource; the two "
                "writes are limited to the Auto Scaling group tagged with this cluster and the GPU group's name",
                wildcard_resource(
                    f"arn:<AWS::Partition>:eks:<AWS::Region>:<AWS::AccountId>:nodegroup/<{logical_id(cluster)}>/*/*"
                ): "every node group of this cluster, whose names EKS generates",
            },
        )
        self.release = pinned_release(
            self,
            "Release",
            cluster=cluster,
            chart="cluster-autoscaler",
            repository=CLUSTER_AUTOSCALER_REPOSITORY,
            version=CLUSTER_AUTOSCALER_CHART_VERSION,
            namespace=NAMESPACE,
            values=chart_values(cluster.cluster_name, nodegroup_name, Stack.of(self).region, gpu_nodes),
        )
        # Pods started before their association (or its permissions) get no credentials until restarted.
        self.release.node.add_dependency(identity, policy)
        acknowledge_cfn_utils_provider(self)
