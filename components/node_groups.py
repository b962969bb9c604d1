"""Managed node groups: a small system group, and the tainted GPU group for vLLM."""

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.cluster_autoscaler import GPU_LABEL, node_template_tags
from components.nag import acknowledge, managed_policy
from config.model import CapacityType, GpuNodeGroupConfig, NodeGroupSize, SystemNodeGroupConfig
from config.node_config import NODE_CONFIG_CONTENT_TYPE, fast_image_pull_node_config
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT

ROOT_DEVICE = "/dev/xvda"  # root device name of the EKS-optimized AL2023 AMIs
# One hop: the node itself and host-network agents (vpc-cni, kube-proxy, the Pod Identity and node
# monitoring agents) reach IMDS; a pod behind the pod network cannot, so no pod can borrow the node
# role's credentials. Every AWS-calling pod here has Pod Identity or IRSA, and the load balancer
# controller gets its region and VPC id as chart values (aws-cdk-lib's AlbController passes them).
IMDS_HOP_LIMIT = 1
SYSTEM_DISK_GIB = 50

# The AWS-maintained policies EKS documents for node roles; AWS updates them as EKS changes.
NODE_POLICIES = {
    "AmazonEKSWorkerNodePolicy": "lets the kubelet join the cluster and describe EC2 resources",
    "AmazonEKS_CNI_Policy": "lets the VPC CNI attach ENIs and assign pod IPs",
    "AmazonEC2ContainerRegistryPullOnly": "lets the kubelet pull images from ECR, nothing more",
    "AmazonSSMManagedInstanceCore": "shell access through SSM Session Manager instead of SSH keys",
}

TAINT_EFFECTS = {
    "NoSchedule": eks.TaintEffect.NO_SCHEDULE,
    "PreferNoSchedule": eks.TaintEffect.PREFER_NO_SCHEDULE,
    "NoExecute": eks.TaintEffect.NO_EXECUTE,
}
CAPACITY_TYPES = {CapacityType.ON_DEMAND: eks.CapacityType.ON_DEMAND, CapacityType.SPOT: eks.CapacityType.SPOT}


def node_role(scope: Construct, construct_id: str) -> iam.Role:
    """The role EC2 nodes join the cluster with: AWS's EKS node policies and nothing else."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in NODE_POLICIES],
    )
    acknowledge(
        role, {managed_policy(name): f"AWS-maintained EKS node policy: {why}" for name, why in NODE_POLICIES.items()}
    )
    return role


class _HardenedNodeGroup(Construct):
    """A managed node group with IMDSv2 required, an encrypted gp3 root volume and SSM instead of SSH."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        ami_type: eks.NodegroupAmiType,
        instance_types: list[str],
        sizes: NodeGroupSize,
        disk_size_gib: int,
        capacity_type: eks.CapacityType,
        disk_performance: dict[str, int] | None = None,
        node_config: str | None = None,
        labels: dict[str, str] | None = None,
        taints: list[eks.TaintSpec] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = node_role(self, "NodeRole")
        user_data = None
        if node_config:
            # A MIME part of nodeadm's type: EKS merges it into the NodeConfig it writes for the group.
            user_data = ec2.MultipartUserData()
            user_data.add_part(ec2.MultipartBody.from_raw_body(content_type=NODE_CONFIG_CONTENT_TYPE, body=node_config))
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=IMDS_HOP_LIMIT,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        disk_size_gib,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        encrypted=True,
                        **(disk_performance or {}),
                    ),
                )
            ],
        )
        self.nodegroup = eks.Nodegroup(
            self,
            "NodeGroup",
            cluster=cluster,
            ami_type=ami_type,
            instance_types=[ec2.InstanceType(name) for name in instance_types],
            capacity_type=capacity_type,
            min_size=sizes.min_size,
            desired_size=sizes.desired_size,
            max_size=sizes.max_size,
            node_role=self.role,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template_spec=eks.LaunchTemplateSpec(
                id=self.launch_template.launch_template_id or "",
                version=self.launch_template.latest_version_number,
            ),
            labels=labels,
            taints=taints,
            tags=tags,
            enable_node_auto_repair=True,
        )


class SystemNodeGroup(_HardenedNodeGroup):
    """On-demand AL2023 nodes for CoreDNS and controllers, which the GPU taint keeps off GPU nodes."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.ICluster, config: SystemNodeGroupConfig):
        super().__init__(
            scope,
            construct_id,
            cluster=cluster,
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            instance_types=config.instance_types,
            sizes=config,
            disk_size_gib=SYSTEM_DISK_GIB,
            capacity_type=eks.CapacityType.ON_DEMAND,
        )


class GpuNodeGroup(_HardenedNodeGroup):
    """NVIDIA GPU nodes on the AL2023 NVIDIA AMI (driver and container toolkit preinstalled).

    The taint repels every pod that does not tolerate it; the label lets GPU pods select these nodes.
    Both come from config.scheduling, which the charts read too.
    """

    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.ICluster, config: GpuNodeGroupConfig):
        super().__init__(
            scope,
            construct_id,
            cluster=cluster,
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_NVIDIA,
            instance_types=config.instance_types,
            sizes=config.created_sizes,
            disk_size_gib=config.disk_size_gib,
            disk_performance=config.raised_disk_performance,
            node_config=fast_image_pull_node_config() if config.fast_image_pull else None,
            capacity_type=CAPACITY_TYPES[config.capacity_type],
            labels=dict(GPU_NODE_LABELS) | ({GPU_LABEL: "nvidia"} if config.cluster_autoscaler else {}),
            taints=[eks.TaintSpec(effect=TAINT_EFFECTS[GPU_TAINT.effect], key=GPU_TAINT.key, value=GPU_TAINT.value)],
            tags=node_template_tags(config) if config.cluster_autoscaler else None,
        )
