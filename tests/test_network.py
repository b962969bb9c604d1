"""The network stack: what the guide's GPU nodes and load balancers need from the VPC."""

import pytest
from aws_cdk.assertions import Match

from components.vpc import INTERNAL_ELB_TAG, PUBLIC_ELB_TAG


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
