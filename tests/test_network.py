"""The network stack: what the guide's GPU nodes and load balancers need from the VPC."""

from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match

from components.vpc import INTERNAL_ELB_TAG, PUBLIC_ELB_TAG

if TYPE_CHECKING:
    from config import EnvironmentConfig


@pytest.mark.parametrize(("env_name", "azs", "nats"), [("dev", 2, 1), ("prod", 3, 3)])
def test_vpc_spans_the_configured_zones_with_nat_per_config(synth_env, env_name, azs, nats):
    synthesized = synth_env(env_name)
    template = synthesized.template("network")
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": synthesized.config.network.vpc_cidr})
    template.resource_count_is("AWS::EC2::Subnet", 2 * azs)
    template.resource_count_is("AWS::EC2::NatGateway", nats)
    zones = {
        subnet["Properties"]["AvailabilityZone"] for subnet in template.find_resources("AWS::EC2::Subnet").values()
    }
    assert zones == set(synthesized.config.network.availability_zones)


def _subnets_tagged(template, key):
    return [
        subnet
        for subnet in template.find_resources("AWS::EC2::Subnet").values()
        if {"Key": key, "Value": "1"} in subnet["Properties"]["Tags"]
    ]


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_subnets_are_tagged_for_load_balancer_discovery(synth_env, env_name):
    template = synth_env(env_name).template("network")
    public = _subnets_tagged(template, PUBLIC_ELB_TAG)
    private = _subnets_tagged(template, INTERNAL_ELB_TAG)
    azs = len(synth_env(env_name).config.network.availability_zones)
    assert len(public) == len(private) == azs
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in public)
    assert not any(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in private)


def test_image_and_weight_pulls_stay_inside_the_vpc(dev):
    template = dev.template("network")
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "ServiceName": Match.object_like({"Fn::Join": Match.any_value()})},
    )
    interface = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    services = sorted(endpoint["Properties"]["ServiceName"] for endpoint in interface.values())
    assert services == [
        "com.amazonaws.us-east-1.ecr.api",
        "com.amazonaws.us-east-1.ecr.dkr",
        "com.amazonaws.us-east-1.sts",
    ]
    assert all(endpoint["Properties"]["PrivateDnsEnabled"] for endpoint in interface.values())


def test_rejected_traffic_is_logged(dev):
    template = dev.template("network")
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "REJECT", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


EXISTING_VPC = "vpc-0123456789abcdef0"


def cached_vpc_lookup(account: str) -> dict:
    """What `cdk synth` with credentials writes to cdk.context.json for network.existing_vpc_id."""
    subnets = {
        kind: [
            {
                "subnetId": f"subnet-0{code}{index}a1b2c3d4e5f6a7",
                "cidr": f"10.40.{offset + 32 * index}.0/{mask}",
                "availabilityZone": f"us-east-1{zone}",
                "routeTableId": f"rtb-0{code}{index}a1b2c3d4e5f6a7",
            }
            for index, zone in enumerate("ab")
        ]
        for kind, code, offset, mask in (("Public", 1, 128, 22), ("Private", 2, 0, 19))
    }
    key = f"vpc-provider:account={account}:filter.vpc-id={EXISTING_VPC}:region=us-east-1:returnAsymmetricSubnets=true"
    value = {
        "vpcId": EXISTING_VPC,
        "vpcCidrBlock": "10.40.0.0/16",
        "ownerAccountId": account,
        "availabilityZones": [],
        "subnetGroups": [{"name": kind, "type": kind, "subnets": rows} for kind, rows in subnets.items()],
    }
    return {key: value}


def existing_vpc_environment() -> tuple["EnvironmentConfig", dict[str, Any]]:
    """dev in an existing VPC, and the context a look-up with credentials would have cached."""
    from config import EnvironmentConfig
    from tests.conftest import TEST_ACCOUNT, load

    data = load("dev", CDK_DEFAULT_ACCOUNT=TEST_ACCOUNT).model_dump(mode="json")
    data["network"]["existing_vpc_id"] = EXISTING_VPC
    return EnvironmentConfig.model_validate(data), cached_vpc_lookup(TEST_ACCOUNT)


def test_existing_vpc_is_looked_up_from_cached_context_without_a_network_stack(tmp_path):
    from stacks.assembly import build
    from tests.conftest import cdk_app

    config, context = existing_vpc_environment()
    app = cdk_app(tmp_path, **context)
    stacks = build(app, config)
    assembly = app.synth()
    assert stacks.network is None, "an existing VPC needs no network stack (it would be empty)"
    assert [artifact.stack_name for artifact in assembly.stacks] == [
        "vllm-dev-cluster",
        "vllm-dev-secrets",
        "vllm-dev-inference",
    ]
    template = assembly.get_stack_by_name("vllm-dev-cluster").template
    for nodegroup in (r for r in template["Resources"].values() if r["Type"] == "AWS::EKS::Nodegroup"):
        assert nodegroup["Properties"]["Subnets"] == ["subnet-020a1b2c3d4e5f6a7", "subnet-021a1b2c3d4e5f6a7"]
