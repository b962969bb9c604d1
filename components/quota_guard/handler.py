"""Custom-resource handler: fail `cdk deploy` in seconds when the GPU node group could never launch.

Runs under the CDK provider framework, which reports a raised exception to CloudFormation
as the resource's failure reason.
"""

from typing import Any

import boto3

try:  # inside the Lambda asset this file and checks.py are top-level modules
    import checks
except ImportError:  # imported from the repository
    from components.quota_guard import checks


class QuotaGuardFailed(Exception):
    """The account cannot launch what the environment may scale to."""


def on_event(event: dict[str, Any], _context: Any = None, session: Any = None) -> dict[str, Any]:
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "gpu-quota-guard")}
    request = checks.CapacityRequest.from_properties(event["ResourceProperties"])
    session = session or boto3.session.Session(region_name=request.region)
    results = checks.run_checks(
        request,
        ec2=session.client("ec2"),
        quotas=session.client("service-quotas"),
        eks=session.client("eks"),
    )
    summary = checks.failure_summary(results)
    if summary:
        raise QuotaGuardFailed(f"GPU capacity preflight failed: {summary}")
    return {"PhysicalResourceId": "gpu-quota-guard", "Data": {"Checks": str(len(results))}}
