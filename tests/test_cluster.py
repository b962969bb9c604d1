"""The cluster stack: control plane, add-ons, system nodes and the GPU node group of the guide's Step 1."""

import json

import pytest
from aws_cdk.assertions import Match

from config.addons import ADDON_CONFIGURATION
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT
from config.versions import ADDON_VERSIONS, KUBERNETES_VERSION
from tests.conftest import KARPENTER_ENVIRONMENTS, NODE_GROUP_ENVIRONMENTS


def _gpu_nodegroup(template):
    groups = template.find_resources("AWS::EKS::Nodegroup", {"Properties": {"AmiType": "AL2023_x86_64_NVIDIA"}})
    assert len(groups) == 1, "exactly one node group runs the NVIDIA AMI"
    return next(iter(groups.values()))["Properties"]


def _launch_template_of(template, nodegroup):
    logical_id = nodegroup["LaunchTemplate"]["Id"]["Ref"]
    return template.to_json()["Resources"][logical_id]["Properties"]["LaunchTemplateData"]


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_control_plane_is_pinned_logged_and_encrypted(synth_env, env_name):
    template = synth_env(env_name).template("cluster")
    template.resource_count_is("AWS::EKS::Cluster", 1)
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "Version": KUBERNETES_VERSION,
            "Logging": {
                "ClusterLogging": {
                    "EnabledTypes": [
                        {"Type": kind} for kind in ["api", "audit", "authenticator", "controllerManager", "scheduler"]
                    ]
                }
            },
            "EncryptionConfig": [{"Provider": {"KeyArn": Match.any_value()}, "Resources": ["secrets"]}],
            "AccessConfig": {"AuthenticationMode": "API"},
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_dev_endpoint_is_public_only_to_the_configured_cidrs(dev):
    dev.template("cluster").has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "ResourcesVpcConfig": Match.object_like(
                {"EndpointPrivateAccess": True, "EndpointPublicAccess": True, "PublicAccessCidrs": ["0.0.0.0/0"]}
            )
        },
    )


@pytest.mark.parametrize("fixture", ["prod", "variant"])
def test_private_endpoint_is_private_only(request, fixture):
    request.getfixturevalue(fixture).template("cluster").has_resource_properties(
        "AWS::EKS::Cluster",
        {"ResourcesVpcConfig": Match.object_like({"EndpointPrivateAccess": True, "EndpointPublicAccess": False})},
    )


def test_every_admin_principal_gets_a_cluster_admin_access_entry(variant, dev):
    template = variant.template("cluster")
    for principal in variant.config.cluster.admin_principals:
        entries = template.find_resources("AWS::EKS::AccessEntry", {"Properties": {"PrincipalArn": principal}})
        assert len(entries) == 1, principal
        (policy,) = next(iter(entries.values()))["Properties"]["AccessPolicies"]
        assert policy["AccessScope"] == {"Type": "cluster"}
        assert "policy/AmazonEKSClusterAdminPolicy" in str(policy["PolicyArn"])
    dev_entries = dev.template("cluster").find_resources("AWS::EKS::AccessEntry")
    assert all(isinstance(entry["Properties"]["PrincipalArn"], dict) for entry in dev_entries.values()), (
        "with no principal configured and no deployer recorded, only the CDK kubectl role gets an entry"
    )


def test_managed_addons_are_pinned_and_network_policy_is_enforced(prod):
    template = prod.template("cluster")
    addons = {
        addon["Properties"]["AddonName"]: addon["Properties"]
        for addon in template.find_resources("AWS::EKS::Addon").values()
    }
    assert {name: props["AddonVersion"] for name, props in addons.items()} == ADDON_VERSIONS, (
        "no EBS driver without in-cluster Prometheus"
    )
    assert addons["vpc-cni"]["ConfigurationValues"] == '{"enableNetworkPolicy":"true"}'
    configured = {name: json.loads(props.get("ConfigurationValues", "null")) for name, props in addons.items()}
    assert configured == {name: ADDON_CONFIGURATION.get(name) for name in ADDON_VERSIONS}, "every add-on's settings"
    assert all(props["ResolveConflicts"] == "OVERWRITE" for props in addons.values())


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_system_node_group_runs_al2023_on_demand_without_taints(synth_env, env_name):
    synthesized = synth_env(env_name)
    system = synthesized.config.cluster.system_node_group
    synthesized.template("cluster").has_resource_properties(
        "AWS::EKS::Nodegroup",
        {
            "AmiType": "AL2023_x86_64_STANDARD",
            "CapacityType": "ON_DEMAND",
            "InstanceTypes": system.instance_types,
            "ScalingConfig": {
                "MinSize": system.min_size,
                "DesiredSize": system.desired_size,
                "MaxSize": system.max_size,
            },
            "Taints": Match.absent(),
        },
    )


@pytest.mark.parametrize("env_name", NODE_GROUP_ENVIRONMENTS)
def test_gpu_node_group_matches_the_guide(synth_env, env_name):
    synthesized = synth_env(env_name)
    gpu = synthesized.config.gpu_node_group
    template = synthesized.template("cluster")
    nodegroup = _gpu_nodegroup(template)
    assert nodegroup["InstanceTypes"] == ["g5.2xlarge"]
    assert nodegroup["CapacityType"] == "ON_DEMAND"
    assert nodegroup["ScalingConfig"] == {
        "MinSize": gpu.min_size,
        "DesiredSize": gpu.created_sizes.desired_size,
        "MaxSize": gpu.max_size,
    }
    marker = {"k8s.amazonaws.com/accelerator": "nvidia"} if gpu.cluster_autoscaler else {}
    assert nodegroup["Labels"] == {"workload": "llm-inference", **marker}
    assert nodegroup["Taints"] == [{"Key": "nvidia.com/gpu", "Value": "present", "Effect": "NO_SCHEDULE"}]
    assert "RemoteAccess" not in nodegroup, "no SSH key: shell access is through SSM"
    assert "DiskSize" not in nodegroup, "the disk is set in the launch template"


def test_gpu_node_group_taint_and_label_come_from_the_shared_definition(synth_env):
    nodegroup = _gpu_nodegroup(synth_env("node-group").template("cluster"))
    assert nodegroup["Labels"] == GPU_NODE_LABELS
    (taint,) = nodegroup["Taints"]
    assert (taint["Key"], taint["Value"]) == (GPU_TAINT.key, GPU_TAINT.value)


def test_gpu_scaling_matches_the_guide_with_a_fixed_node_group(synth_env):
    scaling = _gpu_nodegroup(synth_env("node-group").template("cluster"))["ScalingConfig"]
    assert scaling == {"MinSize": 0, "DesiredSize": 1, "MaxSize": 3}


@pytest.mark.parametrize("env_name", KARPENTER_ENVIRONMENTS)
def test_karpenter_replaces_the_gpu_node_group(synth_env, env_name):
    template = synth_env(env_name).template("cluster")
    assert not template.find_resources("AWS::EKS::Nodegroup", {"Properties": {"AmiType": "AL2023_x86_64_NVIDIA"}})
    template.resource_count_is("AWS::EKS::Nodegroup", 1)


@pytest.mark.parametrize("env_name", NODE_GROUP_ENVIRONMENTS)
def test_gpu_launch_template_has_a_200_gib_gp3_root(synth_env, env_name):
    template = synth_env(env_name).template("cluster")
    data = _launch_template_of(template, _gpu_nodegroup(template))
    assert data["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 200, "VolumeType": "gp3", "Encrypted": True}}
    ]
    assert "ImageId" not in data and "KeyName" not in data and "InstanceType" not in data


@pytest.mark.parametrize("env_name", ["dev", "node-group"])
def test_every_node_group_requires_imdsv2_with_one_hop_and_an_encrypted_gp3_root(synth_env, env_name):
    """Hop limit 1: no pod behind the pod network can read the node role's credentials from IMDS."""
    synthesized = synth_env(env_name)
    template = synthesized.template("cluster")
    nodegroups = template.find_resources("AWS::EKS::Nodegroup")
    assert len(nodegroups) == (1 if synthesized.config.gpu_node_group.karpenter else 2), "system (and GPU) group"
    for nodegroup in nodegroups.values():
        data = _launch_template_of(template, nodegroup["Properties"])
        assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
        ((root,),) = [data["BlockDeviceMappings"]]
        assert root["DeviceName"] == "/dev/xvda"
        assert root["Ebs"]["Encrypted"] is True and root["Ebs"]["VolumeType"] == "gp3"


def test_every_node_role_has_ssm_and_no_ssh(dev):
    template = dev.template("cluster")
    for nodegroup in template.find_resources("AWS::EKS::Nodegroup").values():
        role_id = nodegroup["Properties"]["NodeRole"]["Fn::GetAtt"][0]
        policies = str(template.to_json()["Resources"][role_id]["Properties"]["ManagedPolicyArns"])
        assert "AmazonSSMManagedInstanceCore" in policies
        assert "AmazonEC2ContainerRegistryPullOnly" in policies
        assert "RemoteAccess" not in nodegroup["Properties"]


def test_explicit_account_is_used(variant):
    assert variant.stacks.cluster.account == "111111111111"
    assert variant.stacks.cluster.region == "us-east-1"


# The releases components/helm.py installs in the cluster stack (kube-prometheus-stack's is in the inference stack).
PINNED_CHARTS = ("karpenter", "keda", "cluster-autoscaler")


def test_every_helm_release_waits_rolls_back_and_times_out_under_the_kubectl_handler(synth_env):
    for env_name in ("dev", "alb"):
        releases = {
            logical_id: release
            for logical_id, release in synth_env(env_name)
            .template("cluster")
            .find_resources("Custom::AWSCDK-EKS-HelmChart")
            .items()
            if release["Properties"]["Chart"] in PINNED_CHARTS
        }
        assert releases
        for logical_id, release in releases.items():
            properties = release["Properties"]
            assert (properties["Wait"], properties["Atomic"], properties["Timeout"]) == (True, True, "600s"), logical_id
