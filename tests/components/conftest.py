"""Construct-level tests: one component in a bare stack, with the smallest input it takes."""

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks

from tests.conftest import TEST_ACCOUNT, cdk_app


@pytest.fixture
def stack() -> Stack:
    app = cdk_app()
    return Stack(app, "Bare", env=Environment(account=TEST_ACCOUNT, region="us-east-1"))


@pytest.fixture
def cluster(stack: Stack) -> eks.ICluster:
    """An existing cluster by attributes: a component under test never needs a real control plane."""
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )  # fmt: skip
    return eks.Cluster.from_cluster_attributes(stack, "Cluster", cluster_name="bare", vpc=vpc)
