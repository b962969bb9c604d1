"""Karpenter for the GPU fleet: its controller (Helm, on the system nodes), its AWS access, the interruption
queue, and the node class and pools it launches GPU nodes from.

The controller's permissions follow upstream's getting-started CloudFormation for v1.14 statement by
statement, each scoped to this cluster by the tags Karpenter puts on what it creates.
"""

from typing import Any

from aws_cdk import Aws, CfnJson, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from charts.karpenter_nodes import KarpenterNodesChart, NodeClassTargets
from components.helm import pinned_release
from components.nag import acknowledge, acknowledge_cfn_utils_provider, skip_scan, wildcard_resource
from components.node_groups import node_role
from components.workload_access import PodIdentity
from config.model import GpuNodeGroupConfig
from config.versions import KARPENTER_REPOSITORY, KARPENTER_VERSION
from planning.kubelet import KARPENTER_VM_MEMORY_OVERHEAD

NAMESPACE = "kube-system"  # upstream's recommendation: the API server's priority for system controllers
SERVICE_ACCOUNT = "karpenter"  # the chart's default (its full name)
# What EventBridge forwards: a node's warning that it is about to go (Spot reclaim, scheduled maintenance,
# rebalance, reservation end) and its state changes, so Karpenter drains it before it disappears.
INTERRUPTION_EVENTS = {
    "ScheduledChange": ("aws.health", "AWS Health Event"),
    "SpotInterruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "Rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "InstanceStateChange": ("aws.ec2", "EC2 Instance State-change Notification"),
    "CapacityReservationInterruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
LAUNCHED = ["fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"]


LAUNCH_SCOPE = (
    "Karpenter names no instance, volume or template before it creates them; the statement is limited to "
    "resources tagged (or being tagged) kubernetes.io/cluster/<this cluster>=owned with a karpenter.sh/nodepool, "
    "as upstream's policy scopes it"
)
LAUNCH_INPUTS = (
    "RunInstances/CreateFleet also authorize every input resource; which AMI, subnet and security group are chosen "
    "is decided by the EC2NodeClass this app writes, as in upstream's policy"
)
# Every wildcard resource in the controller's policies, with why it is there (upstream's v1.14 policy has each).
WILDCARDS: dict[str, dict[str, str]] = {
    "NodeLifecyclePolicy": {
        **{f"arn:<AWS::Partition>:ec2:<AWS::Region>::{kind}/*": LAUNCH_INPUTS for kind in ("image", "snapshot")},
        **{
            f"arn:<AWS::Partition>:ec2:<AWS::Region>:*:{kind}/*": LAUNCH_INPUTS
            for kind in ("security-group", "subnet", "capacity-reservation", "placement-group")
        },
        **{f"arn:<AWS::Partition>:ec2:<AWS::Region>:*:{kind}/*": LAUNCH_SCOPE for kind in LAUNCHED},
    },
    "IntegrationPolicy": {
        "arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*": "Karpenter creates the node class's "
        "instance profile under a generated name; only profiles tagged for this cluster and region may be changed",
        "*": "arc-zonal-shift:GetManagedResource takes no resource ARN; the condition limits it to this cluster",
    },
    "ResourceDiscoveryPolicy": {
        "*": "EC2 Describe* and pricing:GetProducts support no resource-level permission (limited to this "
        "region); iam:ListInstanceProfiles neither",
        "arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*": "read-only: finds the profile it created",
        "arn:<AWS::Partition>:ssm:<AWS::Region>::parameter/aws/service/*": "reads AWS's public AMI parameters to "
        "resolve the pinned AMI alias",
    },
}


class Karpenter(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        gpu_nodes: GpuNodeGroupConfig,
        subnets: list[ec2.ISubnet],
        zones: list[str],
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = node_role(self, "NodeRole")
        # Nodes Karpenter launches join with this role; EC2_LINUX is the entry type EKS documents for them.
        node_access = eks.AccessEntry(
            self,
            "NodeAccess",
            cluster=cluster,
            principal=self.role.role_arn,
            access_entry_type=eks.AccessEntryType.EC2_LINUX,
            access_policies=[],
        )
        self.queue = sqs.Queue(
            self,
            "InterruptionQueue",
            retention_period=Duration.minutes(5),  # a warning older than that is past acting on
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        acknowledge(
            self.queue,
            {
                "AwsSolutions-SQS3": "Karpenter reads and deletes every interruption notice; one it cannot act on "
                "is stale within minutes, so a dead-letter queue would only keep noise"
            },
        )
        skip_scan(
            self.queue,
            {
                "CKV_AWS_27": "encrypted at rest with SQS-managed keys (SSE-SQS), which checkov does not recognise; it "
                "carries EC2 and Health event notices (instance ids), and a KMS key would need a key policy for "
                "EventBridge to protect nothing secret"
            },
            resource_type="AWS::SQS::Queue",
        )
        for rule_id, (source, detail_type) in INTERRUPTION_EVENTS.items():
            events.Rule(
                self,
                f"{rule_id}Rule",
                event_pattern=events.EventPattern(source=[source], detail_type=[detail_type]),
                targets=[targets.SqsQueue(self.queue)],
            )
        identity = PodIdentity(
            self, "ControllerIdentity", cluster=cluster, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT
        )
        for name, statements in controller_statements(self, cluster.cluster_name, self.role, self.queue).items():
            policy = iam.ManagedPolicy(self, name, statements=statements)
            identity.role.add_managed_policy(policy)
            acknowledge(policy, {wildcard_resource(resource): reason for resource, reason in WILDCARDS[name].items()})
        self.controller = pinned_release(
            self,
            "Controller",
            cluster=cluster,
            chart="karpenter",
            repository=KARPENTER_REPOSITORY,
            version=KARPENTER_VERSION,
            namespace=NAMESPACE,
            values=controller_values(cluster.cluster_name, self.queue.queue_name, Stack.of(self).region),
        )
        self.controller.node.add_dependency(identity)
        nodes = KarpenterNodesChart(
            gpu_nodes=gpu_nodes,
            zones=zones,
            targets=NodeClassTargets(
                node_role=self.role.role_name,
                subnet_ids=[subnet.subnet_id for subnet in subnets],
                security_group_ids=[cluster.cluster_security_group_id],
            ),
            tags=tags,
        )
        # One manifest per object: the kubectl handler prunes only built-in kinds, so a NodePool dropped from a
        # shared manifest would stay and keep launching; its own resource is deleted with it. Each depends on the
        # controller (its CRDs, and it must outlive them to terminate their nodes) and on the node access entry
        # (nodes keep their API access while they drain).
        documents = nodes.to_json()
        (node_class,) = [doc for doc in documents if doc["kind"] == "EC2NodeClass"]
        self.node_class = eks.KubernetesManifest(self, "GpuNodeClass", cluster=cluster, manifest=[node_class])
        self.node_class.node.add_dependency(self.controller, node_access)
        self.node_pools = {
            doc["metadata"]["name"]: eks.KubernetesManifest(
                self, f"GpuNodePool-{doc['metadata']['name']}", cluster=cluster, manifest=[doc]
            )
            for doc in documents
            if doc["kind"] == "NodePool"
        }
        for pool in self.node_pools.values():
            # Deleted before the node class, whose finalizer waits for the pools' nodes.
            pool.node.add_dependency(self.node_class)
        acknowledge_cfn_utils_provider(self)  # its policies' conditions name the cluster through CfnJson


def controller_values(cluster_name: str, queue_name: str, region: str) -> dict[str, Any]:
    return {
        "settings": {
            "clusterName": cluster_name,
            "interruptionQueue": queue_name,
            "vmMemoryOverheadPercent": KARPENTER_VM_MEMORY_OVERHEAD,  # the fit check plans with the same share
            # The managed node group had EKS node auto-repair; Karpenter's equivalent (replacing a node whose
            # AcceleratedHardwareReady condition the node monitoring agent set false) is alpha and off by default.
            "featureGates": {"nodeRepair": True},
        },
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        # Two replicas (leader election) on the system nodes: the chart keeps them off nodes Karpenter
        # launches, which it could otherwise remove from under itself.
        "replicas": 2,
        "controller": {
            # The region from config, not IMDS: the system nodes' hop limit of 1 keeps pods away from IMDS.
            "env": [{"name": "AWS_REGION", "value": region}],
            # Upstream suggests 1 CPU and 1 GiB for large fleets; a GPU fleet of a few nodes needs far less, and
            # two such replicas would take half of two m6i.large system nodes. No CPU limit, so it may burst.
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        },
    }


def controller_statements(
    scope: Construct, cluster_name: str, node_role: iam.IRole, queue: sqs.IQueue
) -> dict[str, list[iam.PolicyStatement]]:
    """Karpenter's permissions as upstream's v1.14 CloudFormation grants them, by managed policy."""
    region, account, partition = Aws.REGION, Aws.ACCOUNT_ID, Aws.PARTITION
    owned = f"kubernetes.io/cluster/{cluster_name}"
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}"

    def ec2_arns(*kinds: str, account_part: str = "*") -> list[str]:
        return [f"arn:{partition}:ec2:{region}:{account_part}:{kind}/*" for kind in kinds]

    def condition(name: str, value: dict[str, Any]) -> CfnJson:
        # CloudFormation cannot put a reference in a key; CfnJson resolves the cluster name inside them.
        return CfnJson(scope, name, value=value)

    instance_profiles = f"arn:{partition}:iam::{account}:instance-profile/*"
    created_tags = {f"aws:RequestTag/{owned}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    return {
        "NodeLifecyclePolicy": [
            iam.PolicyStatement(
                sid="AllowScopedEC2InstanceAccessActions",
                actions=["ec2:RunInstances", "ec2:CreateFleet"],
                resources=[f"arn:{partition}:ec2:{region}::{kind}/*" for kind in ("image", "snapshot")]
                + ec2_arns("security-group", "subnet", "capacity-reservation", "placement-group"),
            ),
            iam.PolicyStatement(
                sid="AllowScopedEC2LaunchTemplateAccessActions",
                actions=["ec2:RunInstances", "ec2:CreateFleet"],
                resources=ec2_arns("launch-template"),
                conditions={
                    "StringEquals": condition("LaunchTemplateOwned", {f"aws:ResourceTag/{owned}": "owned"}),
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedEC2InstanceActionsWithTags",
                actions=["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                resources=ec2_arns(*LAUNCHED),
                conditions={
                    "StringEquals": condition("LaunchTagged", created_tags),
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedResourceCreationTagging",
                actions=["ec2:CreateTags"],
                resources=ec2_arns(*LAUNCHED),
                conditions={
                    "StringEquals": condition(
                        "CreationTagged",
                        created_tags | {"ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                    ),
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedResourceTagging",
                actions=["ec2:CreateTags"],
                resources=ec2_arns("instance"),
                conditions={
                    "StringEquals": condition("InstanceOwned", {f"aws:ResourceTag/{owned}": "owned"}),
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                    "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedDeletion",
                actions=["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                resources=ec2_arns("instance", "launch-template"),
                conditions={
                    "StringEquals": condition("DeletionOwned", {f"aws:ResourceTag/{owned}": "owned"}),
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            ),
        ],
        "IntegrationPolicy": [
            iam.PolicyStatement(
                sid="AllowPassingInstanceRole",
                actions=["iam:PassRole"],
                resources=[node_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
            ),
            iam.PolicyStatement(
                sid="AllowScopedInstanceProfileCreationActions",
                actions=["iam:CreateInstanceProfile"],
                resources=[instance_profiles],
                conditions={
                    "StringEquals": condition(
                        "ProfileCreationTagged", created_tags | {"aws:RequestTag/topology.kubernetes.io/region": region}
                    ),
                    "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedInstanceProfileTagActions",
                actions=["iam:TagInstanceProfile"],
                resources=[instance_profiles],
                conditions={
                    "StringEquals": condition(
                        "ProfileTagged",
                        created_tags
                        | {
                            f"aws:ResourceTag/{owned}": "owned",
                            "aws:ResourceTag/topology.kubernetes.io/region": region,
                            "aws:RequestTag/topology.kubernetes.io/region": region,
                        },
                    ),
                    "StringLike": {
                        "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    },
                },
            ),
            iam.PolicyStatement(
                sid="AllowScopedInstanceProfileActions",
                actions=[
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:DeleteInstanceProfile",
                ],
                resources=[instance_profiles],
                conditions={
                    "StringEquals": condition(
                        "ProfileOwned",
                        {f"aws:ResourceTag/{owned}": "owned", "aws:ResourceTag/topology.kubernetes.io/region": region},
                    ),
                    "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            ),
            iam.PolicyStatement(
                sid="AllowAPIServerEndpointDiscovery", actions=["eks:DescribeCluster"], resources=[cluster_arn]
            ),
            iam.PolicyStatement(
                sid="AllowInterruptionQueueActions",
                actions=["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                resources=[queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="AllowZonalShiftStatusReadOnly",
                actions=["arc-zonal-shift:GetManagedResource"],
                resources=["*"],
                conditions={"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
            ),
        ],
        "ResourceDiscoveryPolicy": [
            iam.PolicyStatement(
                sid="AllowRegionalReadActions",
                actions=[
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribePlacementGroups",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                resources=["*"],
                conditions={"StringEquals": {"aws:RequestedRegion": region}},
            ),
            iam.PolicyStatement(
                sid="AllowSSMReadActions",
                actions=["ssm:GetParameter"],
                resources=[f"arn:{partition}:ssm:{region}::parameter/aws/service/*"],
            ),
            iam.PolicyStatement(sid="AllowPricingReadActions", actions=["pricing:GetProducts"], resources=["*"]),
            iam.PolicyStatement(
                sid="AllowUnscopedInstanceProfileListAction", actions=["iam:ListInstanceProfiles"], resources=["*"]
            ),
            iam.PolicyStatement(
                sid="AllowInstanceProfileReadActions", actions=["iam:GetInstanceProfile"], resources=[instance_profiles]
            ),
        ],
    }
