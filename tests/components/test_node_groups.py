"""components/node_groups.py on its own: the GPU group's scheduling contract and hardened launch template."""

import yaml
from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk.assertions import Template

from components.node_groups import GpuNodeGroup, SystemNodeGroup
from config.model import GpuNodeGroupConfig, SystemNodeGroupConfig
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT


def test_gpu_group_is_tainted_labelled_and_hardened(stack: Stack, cluster: eks.ICluster):
    GpuNodeGroup(stack, "Gpu", cluster=cluster, config=GpuNodeGroupConfig(instance_types=["g6.xlarge"], max_size=2))
    template = Template.from_stack(stack)
    (group,) = template.find_resources("AWS::EKS::Nodegroup").values()
    properties = group["Properties"]
    assert properties["AmiType"] == "AL2023_x86_64_NVIDIA"
    assert properties["Labels"] == GPU_NODE_LABELS
    assert properties["Taints"] == [{"Key": GPU_TAINT.key, "Value": GPU_TAINT.value, "Effect": "NO_SCHEDULE"}]
    assert properties["InstanceTypes"] == ["g6.xlarge"]
    assert properties["NodeRepairConfig"] == {"Enabled": True}
    (launch_template,) = template.find_resources("AWS::EC2::LaunchTemplate").values()
    data = launch_template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    assert data["BlockDeviceMappings"][0]["Ebs"] == {"VolumeSize": 200, "VolumeType": "gp3", "Encrypted": True}


def test_system_group_has_no_taint_and_a_small_encrypted_root(stack: Stack, cluster: eks.ICluster):
    SystemNodeGroup(stack, "System", cluster=cluster, config=SystemNodeGroupConfig())
    template = Template.from_stack(stack)
    (group,) = template.find_resources("AWS::EKS::Nodegroup").values()
    assert "Taints" not in group["Properties"] and group["Properties"]["CapacityType"] == "ON_DEMAND"
    (launch_template,) = template.find_resources("AWS::EC2::LaunchTemplate").values()
    data = launch_template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_gpu_group_root_gets_raised_throughput_and_iops(stack: Stack, cluster: eks.ICluster):
    config = GpuNodeGroupConfig(instance_types=["g6.xlarge"], max_size=2, disk_throughput_mibps=400, disk_iops=6000)
    GpuNodeGroup(stack, "Gpu", cluster=cluster, config=config)
    (launch_template,) = Template.from_stack(stack).find_resources("AWS::EC2::LaunchTemplate").values()
    ebs = launch_template["Properties"]["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]
    assert (ebs["Throughput"], ebs["Iops"]) == (400, 6000)


def test_fast_image_pull_reaches_nodeadm_through_the_launch_templates_user_data(stack: Stack, cluster: eks.ICluster):
    import base64

    config = GpuNodeGroupConfig(
        instance_types=["g5.8xlarge"], max_size=2, disk_throughput_mibps=1000, disk_iops=4000, fast_image_pull=True
    )
    GpuNodeGroup(stack, "Gpu", cluster=cluster, config=config)
    (launch_template,) = Template.from_stack(stack).find_resources("AWS::EC2::LaunchTemplate").values()
    user_data = launch_template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    text = (
        user_data if isinstance(user_data, str) else "".join(p for p in user_data["Fn::Join"][1] if isinstance(p, str))
    )
    text = text if "NodeConfig" in text else base64.b64decode(text).decode()
    assert "Content-Type: application/node.eks.aws" in text and "MIME-Version: 1.0" in text
    document = text.split("---\n", 1)[1].split("\n--", 1)[0]
    assert yaml.safe_load(document) == {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"featureGates": {"FastImagePull": True}},
    }


def test_no_user_data_unless_asked(stack: Stack, cluster: eks.ICluster):
    GpuNodeGroup(stack, "Gpu", cluster=cluster, config=GpuNodeGroupConfig(instance_types=["g6.xlarge"], max_size=2))
    (launch_template,) = Template.from_stack(stack).find_resources("AWS::EC2::LaunchTemplate").values()
    assert "UserData" not in launch_template["Properties"]["LaunchTemplateData"], "no node replaced by adopting it"
    (group,) = Template.from_stack(stack).find_resources("AWS::EKS::Nodegroup").values()
    assert not [key for key in group["Properties"].get("Tags", {}) if key.startswith("k8s.io/cluster-autoscaler/")]
    assert "k8s.amazonaws.com/accelerator" not in group["Properties"]["Labels"]
