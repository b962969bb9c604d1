"""gpu_node_group.autoscaler: cluster-autoscaler (the alb fixture): the managed node group stays, Cluster
Autoscaler resizes it between min_size and max_size, and scales it up from zero knowing what a GPU node offers."""

import json

import pytest

from charts.vllm import deployment_name
from components.cluster_autoscaler import GPU_LABEL, NAMESPACE, READ_ACTIONS, SERVICE_ACCOUNT, WRITE_ACTIONS
from config.capacity import capacity_request
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT
from config.versions import (
    CLUSTER_AUTOSCALER_CHART_VERSION,
    CLUSTER_AUTOSCALER_IMAGE_TAG,
    CLUSTER_AUTOSCALER_REPOSITORY,
    KUBERNETES_VERSION,
)
from planning.capacity import gpu_node_ceiling, surge_first
from tests.manifests import documents, find


@pytest.fixture(scope="module")
def alb(synth_env):
    synthesized = synth_env("alb")
    assert synthesized.config.gpu_node_group.cluster_autoscaler
    return synthesized


def _release(alb) -> dict:
    template = alb.template("cluster")
    (release,) = template.find_resources(
        "Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "cluster-autoscaler"}}
    ).values()
    return release


def _values(release: dict) -> dict:
    parts = release["Properties"]["Values"]["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else "<ref>" for part in parts))


def test_the_release_is_pinned_and_its_minor_is_the_clusters(alb):
    properties = _release(alb)["Properties"]
    assert (properties["Repository"], properties["Version"], properties["Namespace"]) == (
        CLUSTER_AUTOSCALER_REPOSITORY,
        CLUSTER_AUTOSCALER_CHART_VERSION,
        NAMESPACE,
    )
    values = _values(_release(alb))
    assert values["image"] == {"tag": CLUSTER_AUTOSCALER_IMAGE_TAG}
    assert CLUSTER_AUTOSCALER_IMAGE_TAG.startswith(f"v{KUBERNETES_VERSION}."), (
        "Cluster Autoscaler's minor = the cluster's"
    )
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == alb.config.region
    assert values["autoDiscovery"] == {
        "clusterName": "<ref>",
        # The GPU group only: EKS gives the system group's Auto Scaling group the first two tags as well.
        "tags": ["k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/<ref>", "eks:nodegroup-name=<ref>"],
    }
    assert values["rbac"] == {"serviceAccount": {"name": SERVICE_ACCOUNT}}


def test_it_balances_groups_and_removes_an_empty_gpu_node_after_the_quiet_spell(alb):
    args = _values(_release(alb))["extraArgs"]
    quiet = alb.config.gpu_node_group.consolidate_after
    assert args["balance-similar-node-groups"] is True
    assert args["expander"] == "least-waste"
    assert args["scale-down-unneeded-time"] == args["scale-down-delay-after-add"] == quiet
    assert "skip-nodes-with-system-pods" not in args and "skip-nodes-with-local-storage" not in args


def test_it_runs_with_its_own_pod_identity_before_its_pods_start(alb):
    template = alb.template("cluster")
    associations = template.find_resources(
        "AWS::EKS::PodIdentityAssociation", {"Properties": {"Namespace": NAMESPACE, "ServiceAccount": SERVICE_ACCOUNT}}
    )
    assert len(associations) == 1
    depends_on = set(_release(alb).get("DependsOn", []))
    assert set(associations) <= depends_on
    policy = next(i for i in alb.template_json("cluster")["Resources"] if i.startswith("ClusterAutoscalerPolicy"))
    assert policy in depends_on, "its permissions exist before its pods ask"


def test_it_may_resize_only_this_clusters_groups(alb):
    resources = alb.template_json("cluster")["Resources"]
    (policy,) = [
        r["Properties"]
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::IAM::Policy" and logical_id.startswith("ClusterAutoscalerPolicy")
    ]
    reads, describe, writes = policy["PolicyDocument"]["Statement"]
    assert reads["Action"] == READ_ACTIONS and reads["Resource"] == "*"
    assert describe["Action"] == "eks:DescribeNodegroup"
    arn = "".join(part if isinstance(part, str) else "<ref>" for part in describe["Resource"]["Fn::Join"][1])
    assert arn.endswith(":nodegroup/<ref>/*/*")
    assert writes["Action"] == WRITE_ACTIONS and writes["Resource"] == "*"
    (condition,) = writes["Condition"]["StringEquals"]["Fn::GetAtt"][:1]
    parts = resources[condition]["Properties"]["Value"]["Fn::Join"][1]
    rendered = "".join(part if isinstance(part, str) else f"<{next(iter(part.values()))}>" for part in parts)
    cluster = next(part["Ref"] for part in parts if isinstance(part, dict) and "Ref" in part)
    assert cluster.startswith("ControlPlaneCluster")
    (gpu_group,) = [
        i for i in resources if i.startswith("GpuNodesNodeGroup") and resources[i]["Type"] == "AWS::EKS::Nodegroup"
    ]
    assert json.loads(
        rendered.replace(f"<{cluster}>", "CLUSTER").replace(f"<['{gpu_group}', 'NodegroupName']>", "GROUP")
    ) == {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/CLUSTER": "owned",
        "aws:ResourceTag/eks:nodegroup-name": "GROUP",
    }


def test_the_group_tells_the_autoscaler_what_a_gpu_node_offers_from_the_shared_definitions(alb):
    template = alb.template("cluster")
    (nodegroup,) = template.find_resources(
        "AWS::EKS::Nodegroup", {"Properties": {"AmiType": "AL2023_x86_64_NVIDIA"}}
    ).values()
    properties = nodegroup["Properties"]
    gpu = alb.config.gpu_node_group
    assert properties["Labels"] == {**GPU_NODE_LABELS, GPU_LABEL: "nvidia"}
    assert properties["Taints"] == [{"Key": GPU_TAINT.key, "Value": GPU_TAINT.value, "Effect": "NO_SCHEDULE"}]
    template_tags = {k: v for k, v in properties["Tags"].items() if k.startswith("k8s.io/cluster-autoscaler/")}
    assert template_tags == {
        "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": str(gpu.instance_specs[0].gpus),
        "k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage": f"{gpu.disk_size_gib}Gi",
    }
    # Created at min_size; the pods decide the rest (a desired size in the template would fight the autoscaler).
    assert properties["ScalingConfig"] == {
        "MinSize": gpu.min_size,
        "DesiredSize": gpu.min_size,
        "MaxSize": gpu.max_size,
    }


def test_rollouts_surge_first_under_the_autoscalers_ceiling(alb):
    config = alb.config
    assert gpu_node_ceiling(config) == config.gpu_node_group.max_size == 3
    docs = documents(alb.stacks.inference.charts["vllm"])
    for model in config.models:
        assert surge_first(config, model)
        strategy = find(docs, "Deployment", deployment_name(model))["spec"]["strategy"]
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_the_quota_request_is_the_groups_size_at_creation_and_its_ceiling(alb):
    request = capacity_request(alb.config)
    assert (request.gpu_desired_nodes, request.gpu_max_nodes) == (2, 3)


def test_no_cluster_autoscaler_in_the_other_modes(synth_env):
    for env_name in ("dev", "node-group"):
        template = synth_env(env_name).template("cluster")
        assert not template.find_resources(
            "Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "cluster-autoscaler"}}
        )


def test_it_runs_unprivileged_with_bounded_memory(alb):
    values = _values(_release(alb))
    assert values["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["containerSecurityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}}


def test_a_fixed_group_launches_desired_size_and_an_autoscaled_one_what_the_pods_need():
    from tests.conftest import load

    fixed = load("node-group")
    group = fixed.gpu_node_group
    for desired in (0, 2):
        sized = fixed.model_copy(update={"gpu_node_group": group.model_copy(update={"desired_size": desired})})
        assert capacity_request(sized).gpu_desired_nodes == desired


def test_an_autoscaled_group_may_start_at_its_maximum():
    from config.model import GpuNodeGroupConfig

    sizes = GpuNodeGroupConfig(autoscaler="cluster-autoscaler", min_size=2, max_size=2).created_sizes
    assert (sizes.min_size, sizes.desired_size, sizes.max_size) == (2, 2, 2)
