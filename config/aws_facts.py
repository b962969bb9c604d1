"""What AWS offers, read offline from the service data botocore ships (pinned with boto3 in uv.lock)."""

from functools import cache

PARTITIONS = ("aws", "aws-us-gov", "aws-cn")


@cache
def eks_regions() -> frozenset[str]:
    """Regions where EKS has an endpoint, in every partition."""
    import botocore.session  # here, not at the top: `--help` and usage errors answer without botocore (~0.1 s)

    session = botocore.session.get_session()
    return frozenset(
        region for partition in PARTITIONS for region in session.get_available_regions("eks", partition_name=partition)
    )


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type name EC2's API model knows."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)
