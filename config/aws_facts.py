"""What AWS offers, read offline from the service data botocore ships (pinned with boto3 in uv.lock)."""

from functools import cache

import botocore.session

PARTITIONS = ("aws", "aws-us-gov", "aws-cn")


@cache
def eks_regions() -> frozenset[str]:
    """Regions where EKS has an endpoint, in every partition."""
    session = botocore.session.get_session()
    return frozenset(
        region for partition in PARTITIONS for region in session.get_available_regions("eks", partition_name=partition)
    )


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type name EC2's API model knows."""
    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)
