"""Karpenter for the GPU fleet (the node class and pools it launches from, its controller, its scoped access, the
interruption queue) and KEDA for the replicas (the queue and KV-cache triggers), and what the planner, the rollout
and the quota request make of their ceilings."""

import json
import re

import pytest
from aws_cdk.assertions import Match

from charts import prometheus_prerequisites, vllm
from charts.karpenter_nodes import ON_DEMAND_POOL, SPOT_POOL, KarpenterNodesChart, NodeClassTargets, node_pool_specs
from charts.prometheus_prerequisites import RELEASE
from components.karpenter import INTERRUPTION_EVENTS, NAMESPACE, SERVICE_ACCOUNT
from components.node_groups import NODE_POLICIES
from config.capacity import capacity_request
from config.metrics import KV_CACHE_USAGE, REQUESTS_WAITING
from config.model import EnvironmentConfig
from config.scheduling import GPU_NODE_LABELS, GPU_RESOURCE, GPU_TAINT
from config.versions import KARPENTER_AMI_ALIAS, KARPENTER_REPOSITORY, KARPENTER_VERSION, KEDA_REPOSITORY, KEDA_VERSION
from observability.rules import VLLM_JOB
from planning.capacity import capacity_findings, surge_first
from planning.cold_start import environment_budgets
from tests.conftest import KARPENTER_ENVIRONMENTS, load
from tests.manifests import applied_documents, documents, find, validate_custom_resources
from tests.promql import metric_names

PLACEHOLDER = "<ref>"
PRUNE_LABEL = re.compile(r"^aws\.cdk\.eks/prune-")


def _chart(config: EnvironmentConfig, *, deployed: bool = False) -> KarpenterNodesChart:
    """The chart as the stack builds it (`<ref>` for each reference), or with ids shaped as AWS returns them."""
    zones = config.network.availability_zones
    subnets = [f"subnet-0{index:016x}" if deployed else PLACEHOLDER for index in range(len(zones))]
    return KarpenterNodesChart(
        gpu_nodes=config.gpu_node_group,
        zones=zones,
        targets=NodeClassTargets(
            node_role="vllm-dev-cluster-KarpenterNodeRole" if deployed else PLACEHOLDER,
            subnet_ids=subnets,
            security_group_ids=["sg-0123456789abcdef0" if deployed else PLACEHOLDER],
        ),
        tags={"environment": config.name, **config.tags},
    )


def _applied(synthesized) -> list[dict]:
    docs = applied_documents(synthesized.template_json("cluster"), "KarpenterGpuNode")
    for doc in docs:
        doc["metadata"]["labels"] = {k: v for k, v in doc["metadata"]["labels"].items() if not PRUNE_LABEL.match(k)}
    return docs


def _pools(docs: list[dict]) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc["spec"] for doc in docs if doc["kind"] == "NodePool"}


def _node_class(docs: list[dict]) -> dict:
    (node_class,) = [doc["spec"] for doc in docs if doc["kind"] == "EC2NodeClass"]
    return node_class


@pytest.fixture(params=[*KARPENTER_ENVIRONMENTS, "variant"])
def karpenter_env(request, synth_env, variant):
    return variant if request.param == "variant" else synth_env(request.param)


def test_the_cluster_stack_applies_exactly_the_chart(karpenter_env):
    assert _applied(karpenter_env) == documents(_chart(karpenter_env.config))


def test_node_class_and_pools_validate_against_karpenters_crd_schemas(karpenter_env):
    docs = documents(_chart(karpenter_env.config, deployed=True))
    assert {doc["apiVersion"] for doc in docs} == {"karpenter.sh/v1", "karpenter.k8s.aws/v1"}
    assert validate_custom_resources(docs) == [None] * len(docs)


def test_a_broken_node_pool_fails_the_schema():
    docs = documents(_chart(load("dev"), deployed=True))
    pool = next(doc for doc in docs if doc["kind"] == "NodePool")
    pool["spec"]["disruption"]["consolidationPolicy"] = "WhenIdle"
    node_class = _node_class(docs)
    node_class["metadataOptions"]["httpTokens"] = "optional-ish"
    errors = validate_custom_resources(docs)
    assert any(error and "consolidationPolicy" in error for error in errors)
    assert any(error and "httpTokens" in error for error in errors)


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_node_class_boots_the_pinned_al2023_release_hardened_like_the_node_groups(synth_env, env_name):
    synthesized = synth_env(env_name)
    node_class = _node_class(_applied(synthesized))
    assert node_class["amiSelectorTerms"] == [{"alias": KARPENTER_AMI_ALIAS}]
    assert re.fullmatch(r"al2023@v\d{8}", KARPENTER_AMI_ALIAS), "a dated release, never @latest"
    assert node_class["metadataOptions"]["httpTokens"] == "required"
    assert node_class["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert node_class["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {
                "volumeSize": f"{synthesized.config.gpu_node_group.disk_size_gib}Gi",
                "volumeType": "gp3",
                **synthesized.config.gpu_node_group.raised_disk_performance,
                "encrypted": True,
                "deleteOnTermination": True,
            },
        }
    ]
    assert node_class["tags"] == {"environment": env_name, **synthesized.config.tags}


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_node_class_uses_the_private_subnets_the_cluster_security_group_and_the_node_role(synth_env, env_name):
    synthesized = synth_env(env_name)
    resources = synthesized.template_json("cluster")["Resources"]
    (manifest,) = [r["Properties"]["Manifest"] for k, r in resources.items() if k.startswith("KarpenterGpuNodeClass")]
    references = [part for part in manifest["Fn::Join"][1] if not isinstance(part, str)]
    subnets = [ref["Fn::GetStackOutput"]["OutputName"] for ref in references if "Fn::GetStackOutput" in ref]
    zones = synthesized.config.network.availability_zones
    assert len(subnets) == len(zones) and all("privateSubnet" in name for name in subnets)
    security_groups = [ref["Fn::GetAtt"] for ref in references if "Fn::GetAtt" in ref]
    assert len(security_groups) == 1 and security_groups[0][1] == "ClusterSecurityGroupId"
    assert resources[security_groups[0][0]]["Type"] == "AWS::EKS::Cluster"
    (role,) = [ref["Ref"] for ref in references if "Ref" in ref]
    assert resources[role]["Type"] == "AWS::IAM::Role"
    policies = json.dumps(resources[role]["Properties"]["ManagedPolicyArns"])
    assert all(name in policies for name in NODE_POLICIES)


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_one_on_demand_pool_up_to_max_size_when_spot_is_off(synth_env, env_name):
    config = synth_env(env_name).config
    gpu = config.gpu_node_group
    pools = _pools(_applied(synth_env(env_name)))
    assert list(pools) == [SPOT_POOL]
    pool = pools[SPOT_POOL]
    requirements = {r["key"]: r["values"] for r in pool["template"]["spec"]["requirements"]}
    assert requirements == {
        "node.kubernetes.io/instance-type": gpu.instance_types,
        "karpenter.sh/capacity-type": ["on-demand"],
        "topology.kubernetes.io/zone": config.network.availability_zones,
    }
    per_node = gpu.instance_specs[0]
    assert pool["limits"] == {
        GPU_RESOURCE: str(gpu.max_size * per_node.gpus),
        "cpu": str(gpu.max_size * per_node.vcpus),
    }
    assert pool["template"]["metadata"]["labels"] == GPU_NODE_LABELS
    assert pool["template"]["spec"]["taints"] == [
        {"key": GPU_TAINT.key, "value": GPU_TAINT.value, "effect": GPU_TAINT.effect}
    ]


def test_spot_runs_above_an_on_demand_floor_that_is_filled_first(variant):
    gpu = variant.config.gpu_node_group
    assert (gpu.capacity_type, gpu.on_demand_nodes, gpu.max_size) == ("spot", 1, 5)
    pools = _pools(_applied(variant))
    floor, rest = pools[ON_DEMAND_POOL], pools[SPOT_POOL]
    capacity = {
        name: next(
            r["values"] for r in pool["template"]["spec"]["requirements"] if r["key"] == "karpenter.sh/capacity-type"
        )
        for name, pool in pools.items()
    }
    assert capacity == {ON_DEMAND_POOL: ["on-demand"], SPOT_POOL: ["spot", "on-demand"]}
    assert floor["weight"] > rest.get("weight", 0), "Karpenter fills the heavier pool first"
    assert floor["limits"][GPU_RESOURCE] == "1" and rest["limits"][GPU_RESOURCE] == "4", "together: max_size"
    assert rest["limits"]["cpu"] == str(4 * 8), "at the largest allowed type (g5/g6.2xlarge: 8 vCPUs)"
    instance_types = {
        name: next(r["values"] for r in pool["template"]["spec"]["requirements"] if r["key"].endswith("instance-type"))
        for name, pool in pools.items()
    }
    assert instance_types == {ON_DEMAND_POOL: ["g5.2xlarge", "g6.2xlarge"], SPOT_POOL: ["g5.2xlarge", "g6.2xlarge"]}


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_only_empty_nodes_are_consolidated_after_a_delay_longer_than_a_model_load(synth_env, env_name):
    config = synth_env(env_name).config
    for pool in _pools(_applied(synth_env(env_name))).values():
        assert pool["disruption"]["consolidationPolicy"] == "WhenEmpty", "a busy model server is never moved"
        assert pool["disruption"]["consolidateAfter"] == config.gpu_node_group.consolidate_after
        assert pool["disruption"]["budgets"] == [{"nodes": "1"}]
        assert pool["template"]["spec"]["expireAfter"] == config.gpu_node_group.expire_after
    minutes = int(config.gpu_node_group.consolidate_after.removesuffix("m"))
    slowest_start = max(
        result.total_seconds
        for budgets in environment_budgets(config).values()
        for (_, node), result in budgets.items()
        if node == "new"
    )
    assert minutes * 60 >= slowest_start, "an empty node outwaits the slowest budgeted start before it goes"


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_the_controller_is_pinned_and_runs_with_its_own_pod_identity(synth_env, env_name):
    template = synth_env(env_name).template("cluster")
    (chart,) = template.find_resources("Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "karpenter"}}).values()
    properties = chart["Properties"]
    assert (properties["Repository"], properties["Version"], properties["Namespace"]) == (
        KARPENTER_REPOSITORY,
        KARPENTER_VERSION,
        NAMESPACE,
    )
    values = "".join(
        part if isinstance(part, str) else json.dumps(part) for part in properties["Values"]["Fn::Join"][1]
    )
    assert '"clusterName":"{"Ref": "ControlPlaneCluster' in values
    assert '"interruptionQueue":"{"Fn::GetAtt": ["KarpenterInterruptionQueue' in values
    assert '"serviceAccount":{"name":"karpenter"}' in values
    associations = template.find_resources(
        "AWS::EKS::PodIdentityAssociation",
        {"Properties": {"Namespace": NAMESPACE, "ServiceAccount": SERVICE_ACCOUNT}},
    )
    assert len(associations) == 1
    # Pods started before their association get no credentials until restarted: the release waits for it.
    assert set(associations) <= set(chart.get("DependsOn", []))


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_nodes_karpenter_launches_join_as_ec2_linux_nodes(synth_env, env_name):
    template = synth_env(env_name).template("cluster")
    template.has_resource_properties(
        "AWS::EKS::AccessEntry",
        {"Type": "EC2_LINUX", "PrincipalArn": {"Fn::GetAtt": [Match.string_like_regexp("KarpenterNodeRole"), "Arn"]}},
    )


def _controller_statements(template: dict) -> list[dict]:
    return [
        statement
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical_id.startswith("Karpenter")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


MUTATING = {
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:DeleteLaunchTemplate",
    "iam:CreateInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:DeleteInstanceProfile",
}


# What upstream's policy grants on "*": regional reads, prices, the instance-profile list and the zonal-shift
# status, none of which names a resource to scope to.
WILDCARD_STATEMENTS = {
    "AllowRegionalReadActions",
    "AllowPricingReadActions",
    "AllowUnscopedInstanceProfileListAction",
    "AllowZonalShiftStatusReadOnly",
}


def test_only_upstreams_read_statements_grant_every_resource(dev):
    statements = {statement["Sid"]: statement for statement in _controller_statements(dev.template_json("cluster"))}
    unscoped = {sid for sid, statement in statements.items() if statement["Resource"] == "*"}
    assert unscoped == WILDCARD_STATEMENTS
    queue = statements["AllowInterruptionQueueActions"]["Resource"]
    assert queue["Fn::GetAtt"][0].startswith("KarpenterInterruptionQueue")


def test_controller_changes_only_what_carries_this_clusters_tag(dev):
    template = dev.template_json("cluster")
    scoped = {
        logical_id: json.dumps(resource["Properties"]["Value"])
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "Custom::AWSCDKCfnJson"
    }
    statements = _controller_statements(template)
    assert len(statements) == 18, "upstream's v1.14 policy, statement by statement"
    for statement in statements:
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if actions & MUTATING:
            (reference,) = [v["Fn::GetAtt"][0] for v in statement["Condition"].values() if "Fn::GetAtt" in v]
            assert "kubernetes.io/cluster/" in scoped[reference] and "ControlPlaneCluster" in scoped[reference], (
                statement["Sid"]
            )
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"]["Fn::GetAtt"][0].startswith("KarpenterNodeRole"), "only the node role is passed"
    (describe,) = [s for s in statements if s["Action"] == "eks:DescribeCluster"]
    assert "ControlPlaneCluster" in json.dumps(describe["Resource"])


def test_interruption_notices_reach_an_encrypted_tls_only_queue(dev):
    template = dev.template("cluster")
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 300})
    rules = template.find_resources("AWS::Events::Rule")
    patterns = {
        (rule["Properties"]["EventPattern"]["source"][0], rule["Properties"]["EventPattern"]["detail-type"][0])
        for rule in rules.values()
        if rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("KarpenterInterruptionQueue")
    }
    assert patterns == set(INTERRUPTION_EVENTS.values())
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def _dev(*, replicas: int = 1, autoscaling: dict | None = None, **gpu_changes) -> EnvironmentConfig:
    data = load("dev").model_dump(mode="json")
    data["models"][0].update(replicas=replicas, autoscaling=autoscaling)
    data["gpu_node_group"].update(gpu_changes)
    return EnvironmentConfig.model_validate(data)


def test_surge_first_while_the_ceiling_has_room():
    roomy = _dev(max_size=2)
    assert surge_first(roomy, roomy.models[0]) and not capacity_findings(roomy)
    full = _dev(max_size=2, replicas=2)
    assert not surge_first(full, full.models[0])
    (finding,) = capacity_findings(full)
    assert "no spare GPU at max_size 2" in finding.message and "gpu_node_group.max_size" in finding.message


def test_replicas_round_up_to_whole_nodes_and_the_cpu_limit_follows_the_largest_type():
    from planning.capacity import nodes_at_peak, nodes_for_replicas

    four_gpus = _dev(instance_types=["g5.12xlarge"], autoscaling={"min_replicas": 1, "max_replicas": 2})
    assert nodes_for_replicas(four_gpus) == nodes_at_peak(four_gpus) == 1  # 1 and 2 GPUs of a 4-GPU node
    assert capacity_request(four_gpus).gpu_desired_nodes == 1
    mixed = _dev(instance_types=["g5.2xlarge", "g5.4xlarge"], max_size=3)  # 8 and 16 vCPUs, one GPU each
    pools = node_pool_specs(mixed.gpu_node_group, ["us-east-1a"])
    assert pools[SPOT_POOL]["limits"] == {GPU_RESOURCE: "3", "cpu": "48"}


def test_the_quota_request_launches_the_replicas_and_allows_the_ceiling():
    request = capacity_request(_dev(max_size=3, replicas=2))
    assert (request.gpu_desired_nodes, request.gpu_max_nodes) == (2, 3)
    assert capacity_request(_dev(max_size=3)).gpu_desired_nodes == 1


# Replicas: KEDA on the queue.


def _scaled_object(synthesized) -> dict:
    return find(documents(synthesized.stacks.inference.charts["autoscaling"]), "ScaledObject")


def test_scaled_objects_validate_against_kedas_crd_schema(dev):
    docs = documents(dev.stacks.inference.charts["autoscaling"])
    assert [doc["kind"] for doc in docs] == ["ScaledObject"] * len(dev.config.models)
    assert validate_custom_resources(docs) == [None] * len(docs)
    broken = json.loads(json.dumps(docs[0]))
    broken["spec"]["minReplicaCount"] = "one"
    (error,) = validate_custom_resources([broken])
    assert error and "minReplicaCount" in error


def test_the_queue_drives_the_replicas_of_exactly_its_model(dev):
    model = dev.config.models[0]
    scaling = model.autoscaling
    spec = _scaled_object(dev)["spec"]
    assert spec["scaleTargetRef"] == {
        "name": find(documents(dev.stacks.inference.charts["vllm"]), "Deployment")["metadata"]["name"]
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (scaling.min_replicas, scaling.max_replicas)
    queue, kv_cache = spec["triggers"]
    assert queue["metricType"] == "AverageValue" and queue["metadata"]["threshold"] == str(scaling.waiting_per_replica)
    assert kv_cache["metricType"] == "Value" and kv_cache["metadata"]["threshold"] == str(scaling.kv_cache_usage)
    assert metric_names(queue["metadata"]["query"]) == {REQUESTS_WAITING.series()}
    assert metric_names(kv_cache["metadata"]["query"]) == {KV_CACHE_USAGE.series()}
    # AverageValue divides the total queue by the replicas: an average would under-scale.
    assert queue["metadata"]["query"].startswith("sum(") and kv_cache["metadata"]["query"].startswith("avg(")
    for trigger in (queue, kv_cache):
        # A pod still loading has no sample yet: that is zero demand, not an error that freezes scaling.
        assert trigger["metadata"]["ignoreNullValues"] == "true"
        query = trigger["metadata"]["query"]
        assert f'model_name="{model.served_name}"' in query
        assert f'job="{VLLM_JOB}"' in query and f'namespace="{vllm.NAMESPACE}"' in query
        assert (
            trigger["metadata"]["serverAddress"]
            == f"http://{RELEASE}-prometheus.{prometheus_prerequisites.NAMESPACE}.svc:9090"
        )


def test_scaling_up_is_one_step_and_down_is_slow(dev):
    scaling = dev.config.models[0].autoscaling
    behavior = _scaled_object(dev)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": scaling.max_replicas, "periodSeconds": 15}]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == scaling.scale_down_after_seconds >= 600
    assert [policy["value"] for policy in behavior["scaleDown"]["policies"]] == [1]


def test_an_autoscaled_deployment_leaves_its_replicas_to_keda(dev, synth_env):
    assert "replicas" not in find(documents(dev.stacks.inference.charts["vllm"]), "Deployment")["spec"]
    fixed = synth_env("node-group")
    assert find(documents(fixed.stacks.inference.charts["vllm"]), "Deployment")["spec"]["replicas"] == 1
    assert "autoscaling" not in fixed.stacks.inference.charts


def test_keda_is_installed_pinned_only_where_a_model_scales(dev, synth_env):
    dev.template("cluster").has_resource_properties(
        "Custom::AWSCDK-EKS-HelmChart",
        {"Chart": "keda", "Repository": KEDA_REPOSITORY, "Version": KEDA_VERSION, "Namespace": "keda"},
    )
    fixed = synth_env("node-group").template("cluster")
    assert not fixed.find_resources("Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "keda"}})
    assert not dev.template("cluster").find_resources(
        "AWS::EKS::PodIdentityAssociation", {"Properties": {"Namespace": "keda"}}
    ), "no AWS identity for KEDA unless it queries AMP"


def test_with_amp_keda_signs_its_queries_with_its_own_role_limited_to_the_workspace(prod):
    from stacks.monitoring_stack import QUERY_ACTIONS

    cluster = prod.template_json("cluster")
    (association,) = [
        (k, r) for k, r in cluster["Resources"].items()
        if r["Type"] == "AWS::EKS::PodIdentityAssociation" and r["Properties"]["Namespace"] == "keda"
    ]  # fmt: skip
    assert association[1]["Properties"]["ServiceAccount"] == "keda-operator"
    (release,) = [k for k, r in cluster["Resources"].items() if r.get("Properties", {}).get("Chart") == "keda"]
    assert association[0] in cluster["Resources"][release]["DependsOn"], "KEDA's pods start with their credentials"
    monitoring = prod.template("monitoring")
    monitoring.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": sorted(QUERY_ACTIONS),
                        "Effect": "Allow",
                        "Resource": {"Fn::GetAtt": [Match.string_like_regexp("ManagedPrometheusWorkspace"), "Arn"]},
                    }
                ]
            },
            "Roles": [{"Fn::GetStackOutput": Match.object_like({"StackName": "vllm-prod-cluster"})}],
        },
    )


def test_with_amp_the_monitoring_stack_applies_the_scaled_objects_against_its_workspace(prod):
    template = prod.template_json("monitoring")
    docs = applied_documents(template, "ScaledObjects")
    auth = next(doc for doc in docs if doc["kind"] == "TriggerAuthentication")
    assert auth["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}
    (scaled,) = [doc for doc in docs if doc["kind"] == "ScaledObject"]
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["awsRegion"] == prod.config.region
        assert trigger["metadata"]["serverAddress"] == "https://aps-workspaces.us-east-1.<ref>/workspaces/<ref>"
    (manifest,) = [r for k, r in template["Resources"].items() if k.startswith("ScaledObjects")]
    references = [p for p in manifest["Properties"]["Manifest"]["Fn::Join"][1] if not isinstance(p, str)]
    workspace_ids = {ref["Fn::GetAtt"][0] for ref in references if "Fn::GetAtt" in ref}
    assert [template["Resources"][k]["Type"] for k in workspace_ids] == ["AWS::APS::Workspace"]
    assert "autoscaling" not in prod.stacks.inference.charts, "the workspace id exists only in the monitoring stack"
    assert "replicas" not in find(documents(prod.stacks.inference.charts["vllm"]), "Deployment")["spec"]


def test_with_amp_the_scaled_objects_validate_and_deploy_after_the_model_servers(prod):
    from charts.autoscaling import ScaledObjectsChart

    chart = ScaledObjectsChart(
        models=prod.config.models,
        prometheus_url="https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123",
        aws_region="us-east-1",
    )
    docs = documents(chart)
    assert validate_custom_resources(docs) == [None] * len(docs)
    manifest = json.loads((prod.outdir / "manifest.json").read_text())
    assert "vllm-prod-inference" in manifest["artifacts"]["vllm-prod-monitoring"]["dependencies"]


def test_your_own_prometheus_is_read_with_mode_existing():
    from charts.bundle import environment_charts

    data = load("dev").model_dump(mode="json")
    data["observability"].update(mode="existing", prometheus_url="http://prometheus.observability.svc:9090")
    config = EnvironmentConfig.model_validate(data)
    (scaled,) = documents(environment_charts(config)["autoscaling"])
    assert {t["metadata"]["serverAddress"] for t in scaled["spec"]["triggers"]} == {
        "http://prometheus.observability.svc:9090"
    }


def test_the_kv_cache_trigger_can_be_turned_off():
    from charts.autoscaling import scaled_object_spec

    config = _dev(autoscaling={"min_replicas": 1, "max_replicas": 3, "kv_cache_usage": None})
    spec = scaled_object_spec(config.models[0], config.models[0].autoscaling, "http://p:9090")
    assert [trigger["name"] for trigger in spec["triggers"]] == ["queue"]


def test_the_ceiling_must_hold_the_peak_replicas_for_surge_first_rollouts():
    roomy = _dev(max_size=3, autoscaling={"min_replicas": 1, "max_replicas": 2})
    assert surge_first(roomy, roomy.models[0])
    full = _dev(max_size=3, autoscaling={"min_replicas": 1, "max_replicas": 3})
    assert not surge_first(full, full.models[0]), "at 3 replicas on 3 nodes a surge pod has nowhere to go"


def test_the_quota_request_launches_the_minimum_replicas():
    request = capacity_request(_dev(max_size=3, autoscaling={"min_replicas": 2, "max_replicas": 3}))
    assert (request.gpu_desired_nodes, request.gpu_max_nodes) == (2, 3)


def _depends_on(template: dict, logical_id: str) -> set[str]:
    return set(template["Resources"][logical_id].get("DependsOn", []))


def _logical_id(template: dict, prefix: str, kind: str = "Custom::AWSCDK-EKS-KubernetesResource") -> str:
    (found,) = [k for k, r in template["Resources"].items() if k.startswith(prefix) and r["Type"] == kind]
    return found


def test_each_karpenter_object_is_its_own_resource_deleted_before_what_it_needs(variant):
    """The kubectl handler prunes no custom kind: a NodePool left in a shared manifest would outlive its config."""
    template = variant.template_json("cluster")
    objects = {}
    for logical_id, resource in template["Resources"].items():
        if logical_id.startswith("KarpenterGpuNode") and resource["Type"] == "Custom::AWSCDK-EKS-KubernetesResource":
            (doc,) = applied_documents({"Resources": {logical_id: resource}}, logical_id)
            objects[(doc["kind"], doc["metadata"]["name"])] = logical_id
    assert set(objects) == {("EC2NodeClass", "gpu"), ("NodePool", SPOT_POOL), ("NodePool", ON_DEMAND_POOL)}
    node_class = objects[("EC2NodeClass", "gpu")]
    controller = _logical_id(template, "KarpenterController", "Custom::AWSCDK-EKS-HelmChart")
    access = _logical_id(template, "KarpenterNodeAccess", "AWS::EKS::AccessEntry")
    assert {controller, access} <= _depends_on(template, node_class)
    for pool in (objects[("NodePool", SPOT_POOL)], objects[("NodePool", ON_DEMAND_POOL)]):
        assert node_class in _depends_on(template, pool), "a pool goes before the class its nodes boot from"


def test_the_controller_repairs_gpu_nodes_and_plans_memory_as_the_fit_check_does(dev):
    from planning.kubelet import KARPENTER_VM_MEMORY_OVERHEAD

    (chart,) = (
        dev.template("cluster")
        .find_resources("Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "karpenter"}})
        .values()
    )
    values = "".join(p if isinstance(p, str) else "<ref>" for p in chart["Properties"]["Values"]["Fn::Join"][1])
    settings = json.loads(values.replace("<ref>", "x"))["settings"]
    assert settings["featureGates"] == {"nodeRepair": True}, "the managed node group's auto-repair, kept"
    assert settings["vmMemoryOverheadPercent"] == KARPENTER_VM_MEMORY_OVERHEAD
    controller = json.loads(values.replace("<ref>", "x"))["controller"]
    assert {"name": "AWS_REGION", "value": dev.config.region} in controller["env"]


def test_a_pod_that_fits_the_node_but_not_karpenters_estimate_is_refused_under_karpenter():
    from planning.fit import pod_findings
    from planning.kubelet import node_budget

    g5 = dev_instance = load("dev").gpu_node_group.instance_specs[0]
    between = (node_budget(g5, karpenter=True).free_mib + node_budget(g5).free_mib) // 2 // 1024
    assert node_budget(g5, karpenter=True).free_mib < between * 1024 < node_budget(g5).free_mib, dev_instance.name
    data = load("dev").model_dump(mode="json")
    data["models"][0].update(memory_gib=between)
    assert [f.kind.name for f in pod_findings(EnvironmentConfig.model_validate(data))] == ["POD_MEMORY"]
    data["gpu_node_group"]["autoscaler"] = "none"
    assert pod_findings(EnvironmentConfig.model_validate(data)) == []


def test_nodes_never_expire_unless_asked():
    assert load("dev").gpu_node_group.expire_after == "Never"
    assert _dev(expire_after="720h").gpu_node_group.expire_after == "720h"


def test_fast_image_pull_reaches_nodeadm_through_the_node_class_and_validates():
    fast = _dev(instance_types=["g5.8xlarge"], disk_throughput_mibps=1000, disk_iops=4000, fast_image_pull=True)
    docs = documents(_chart(fast, deployed=True))
    node_class = _node_class(docs)
    assert "FastImagePull: true" in node_class["userData"] and "kind: NodeConfig" in node_class["userData"]
    assert validate_custom_resources(docs) == [None] * len(docs)
    assert "userData" not in _node_class(documents(_chart(load("dev")))), "off by default: no drift, no node replaced"


def test_both_triggers_act_before_their_alerts_despite_the_hpa_tolerance(dev):
    from charts.autoscaling import HPA_TOLERANCE

    scaling, alerts = dev.config.models[0].autoscaling, dev.config.observability.alerts
    assert HPA_TOLERANCE == 0.1, "kube-controller-manager's default"
    assert alerts.kv_cache_full <= 0.9 * (1 + HPA_TOLERANCE), "the old target would wait past the alert"
    assert scaling.kv_cache_usage * (1 + HPA_TOLERANCE) < alerts.kv_cache_full
    assert scaling.waiting_per_replica * (1 + HPA_TOLERANCE) < alerts.requests_waiting
