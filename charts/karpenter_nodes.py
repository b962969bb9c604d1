"""Karpenter's GPU capacity: the EC2NodeClass GPU nodes boot from and the NodePools that launch them.

The taint, labels and GPU resource come from config.scheduling, the same values the managed node group
and every GPU chart use, so a node Karpenter launches is the node the model's pod asks for. The AWS
identifiers the node class points at (node role, subnets, security group) exist only at deploy time:
the cluster stack passes them in as CloudFormation references, which is why this chart is applied by
that stack and not written to dist/.
"""

from dataclasses import dataclass
from typing import Any

from charts.common import PART_OF_LABEL, StandaloneChart, api_object
from config.model import CapacityType, GpuNodeGroupConfig
from config.node_config import fast_image_pull_node_config
from config.scheduling import GPU_NODE_LABELS, GPU_RESOURCE, GPU_TAINT
from config.versions import KARPENTER_AMI_ALIAS

NODE_CLASS = "gpu"
SPOT_POOL = "gpu"  # the whole fleet, or what is above the on-demand floor
ON_DEMAND_POOL = "gpu-on-demand"  # the floor: preferred (higher weight) until its limit is reached
ON_DEMAND_POOL_WEIGHT = 100
ROOT_DEVICE = "/dev/xvda"  # root device of the EKS-optimized AL2023 AMIs
IMDS_HOP_LIMIT = 1  # as on the managed node groups: no pod behind the pod network reaches IMDS


@dataclass(frozen=True)
class NodeClassTargets:
    """Where GPU nodes go in AWS: deploy-time references in the stack, plain strings in tests."""

    node_role: str
    subnet_ids: list[str]
    security_group_ids: list[str]


class KarpenterNodesChart(StandaloneChart):
    def __init__(
        self,
        *,
        gpu_nodes: GpuNodeGroupConfig,
        zones: list[str],
        targets: NodeClassTargets,
        tags: dict[str, str],
    ) -> None:
        super().__init__("karpenter-gpu-nodes")
        api_object(
            self,
            "NodeClass",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata={"name": NODE_CLASS, "labels": PART_OF_LABEL},
            spec=node_class_spec(gpu_nodes, targets, tags),
        )
        for name, spec in node_pool_specs(gpu_nodes, zones).items():
            api_object(
                self,
                f"NodePool-{name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": name, "labels": PART_OF_LABEL},
                spec=spec,
            )


def node_class_spec(gpu_nodes: GpuNodeGroupConfig, targets: NodeClassTargets, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "role": targets.node_role,
        "amiSelectorTerms": [{"alias": KARPENTER_AMI_ALIAS}],
        "subnetSelectorTerms": [{"id": subnet} for subnet in targets.subnet_ids],
        "securityGroupSelectorTerms": [{"id": group} for group in targets.security_group_ids],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": ROOT_DEVICE,
                "ebs": {
                    "volumeSize": f"{gpu_nodes.disk_size_gib}Gi",
                    "volumeType": "gp3",
                    **gpu_nodes.raised_disk_performance,
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": tags,
        **({"userData": fast_image_pull_node_config()} if gpu_nodes.fast_image_pull else {}),
    }


def pool_limits(gpu_nodes: GpuNodeGroupConfig, nodes: int) -> dict[str, str]:
    """The spend ceiling of `nodes` nodes: GPUs, and CPUs at the largest allowed type."""
    specs = gpu_nodes.instance_specs
    return {GPU_RESOURCE: str(nodes * specs[0].gpus), "cpu": str(nodes * max(spec.vcpus for spec in specs))}


def node_pool_specs(gpu_nodes: GpuNodeGroupConfig, zones: list[str]) -> dict[str, dict[str, Any]]:
    """NodePools by name: the fleet up to max_size, split into an on-demand floor when Spot is allowed."""
    spot = gpu_nodes.capacity_type is CapacityType.SPOT
    floor = gpu_nodes.on_demand_nodes
    pools = {
        SPOT_POOL: _pool(
            gpu_nodes, zones, ["spot", "on-demand"] if spot else ["on-demand"], nodes=gpu_nodes.max_size - floor
        )
    }
    if floor:
        pools[ON_DEMAND_POOL] = _pool(gpu_nodes, zones, ["on-demand"], nodes=floor) | {"weight": ON_DEMAND_POOL_WEIGHT}
    return pools


def _pool(gpu_nodes: GpuNodeGroupConfig, zones: list[str], capacity_types: list[str], *, nodes: int) -> dict[str, Any]:
    return {
        "template": {
            "metadata": {"labels": dict(GPU_NODE_LABELS)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS},
                "taints": [{"key": GPU_TAINT.key, "value": GPU_TAINT.value, "effect": GPU_TAINT.effect}],
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": gpu_nodes.instance_types},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity_types},
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": zones},
                ],
                "expireAfter": gpu_nodes.expire_after,
            },
        },
        "disruption": {
            # Only empty nodes: a busy model server is never moved to save money (a move is a model reload).
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": gpu_nodes.consolidate_after,
            # One GPU node at a time for consolidation and drift (an AMI bump); expiry and Spot interruption
            # are not budgeted, by Karpenter's design.
            "budgets": [{"nodes": "1"}],
        },
        "limits": pool_limits(gpu_nodes, nodes),
    }
