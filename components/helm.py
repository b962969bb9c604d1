"""A pinned Helm release, installed the one way every release here is: wait, roll back on failure, 10 minutes."""

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

# Under the kubectl handler's own 15-minute limit, so a stuck install is rolled back, not left pending.
RELEASE_TIMEOUT = Duration.minutes(10)


def pinned_release(
    scope: Construct,
    construct_id: str,
    *,
    cluster: eks.ICluster,
    chart: str,
    repository: str,
    version: str,
    namespace: str,
    values: dict[str, Any],
    release: str | None = None,
    create_namespace: bool = True,
) -> eks.HelmChart:
    return eks.HelmChart(
        scope,
        construct_id,
        cluster=cluster,
        chart=chart,
        repository=repository,
        version=version,
        release=release or chart,
        namespace=namespace,
        create_namespace=create_namespace,
        values=values,
        wait=True,
        atomic=True,
        timeout=RELEASE_TIMEOUT,
    )
