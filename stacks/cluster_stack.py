from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from components.cluster_autoscaler import ClusterAutoscaler
from components.eks_cluster import InferenceCluster, ManagedAddons
from components.guards import QuotaGuard
from components.karpenter import Karpenter
from components.keda import Keda
from components.load_balancer_controller import LoadBalancerController
from components.node_groups import GpuNodeGroup, SystemNodeGroup
from config.addons import environment_addons
from config.capacity import capacity_request
from config.model import EnvironmentConfig


class ClusterStack(Stack):
    """The EKS control plane, its add-ons and node groups; `vpc` None means look up network.existing_vpc_id.

    `admin_principals` get cluster-admin access entries: the configured ones and, unless config says
    otherwise, the principal that deploys.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        vpc: ec2.IVpc | None,
        mirror_repositories: list[ecr.IRepository],
        admin_principals: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if vpc is None:
            # network.existing_vpc_id: looked up once with credentials, then read from cdk.context.json.
            vpc = ec2.Vpc.from_lookup(self, "ExistingVpc", vpc_id=config.network.existing_vpc_id)
        control_plane = InferenceCluster(
            self, "ControlPlane", config=config.cluster, vpc=vpc, admin_principals=admin_principals
        )
        self.cluster = control_plane.handle
        self.system_nodes = SystemNodeGroup(
            self, "SystemNodes", cluster=self.cluster, config=config.cluster.system_node_group
        )
        addons = ManagedAddons(self, "Addons", cluster=self.cluster, versions=environment_addons(config))
        # CoreDNS only becomes healthy once a node can run it.
        addons.node.add_dependency(self.system_nodes)
        self.gpu_nodes: GpuNodeGroup | Karpenter
        if config.gpu_node_group.karpenter:
            self.gpu_nodes = Karpenter(
                self,
                "Karpenter",
                cluster=self.cluster,
                gpu_nodes=config.gpu_node_group,
                subnets=vpc.private_subnets,
                zones=config.network.availability_zones,
                tags={"environment": config.name, **config.tags},
            )
            # Its controller runs on the system nodes, with the Pod Identity agent.
            self.gpu_nodes.node.add_dependency(self.system_nodes, addons)
        else:
            self.gpu_nodes = GpuNodeGroup(self, "GpuNodes", cluster=self.cluster, config=config.gpu_node_group)
            # The GPU nodes need the CNI and kube-proxy add-ons before they can turn Ready.
            self.gpu_nodes.node.add_dependency(addons)
            if config.gpu_node_group.cluster_autoscaler:
                autoscaler = ClusterAutoscaler(
                    self,
                    "ClusterAutoscaler",
                    cluster=self.cluster,
                    gpu_nodes=config.gpu_node_group,
                    nodegroup_name=self.gpu_nodes.nodegroup.nodegroup_name,
                )
                # It runs on the system nodes, with the Pod Identity agent; it discovers the GPU group by its tags.
                autoscaler.node.add_dependency(self.system_nodes, addons, self.gpu_nodes)
        self.keda: Keda | None = None
        if any(model.autoscaling for model in config.models):
            self.keda = Keda(self, "Keda", cluster=self.cluster, aws_identity=config.observability.managed_prometheus)
            self.keda.node.add_dependency(self.system_nodes, addons)
        for repository in mirror_repositories:
            # The first pull of a tag makes ECR fetch it from upstream on the puller's behalf.
            repository.grant(self.gpu_nodes.role, "ecr:BatchImportUpstreamImage")
        if config.gpu_node_group.quota_guard:
            # A node group without quota sits failing for twenty minutes; the guard fails in seconds,
            # before the control plane (and so before the add-ons and node groups) is even started.
            guard = QuotaGuard(self, "QuotaGuard", request=capacity_request(config))
            control_plane.cluster.node.add_dependency(guard)
        if config.cluster.load_balancer_controller:
            controller = LoadBalancerController(self, "LoadBalancerController", cluster=control_plane.cluster)
            # The controller's pods run on the system nodes and need a working pod network.
            controller.node.add_dependency(addons)

        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(
            self,
            "KubeconfigCommand",
            value=f"aws eks update-kubeconfig --region {self.region} --name {self.cluster.cluster_name}",
        )
