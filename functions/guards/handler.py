"""Custom-resource handlers: fail `cdk deploy` in seconds, with the fix, when what it starts could never run.

They run under the CDK provider framework, which reports a raised exception to CloudFormation as
the resource's failure reason. Both stand aside on Delete and during a rollback (lifecycle.py).
"""

from typing import Any

import boto3

from . import capacity, secrets
from .lifecycle import stand_aside_reason
from .results import failure_summary, warnings


class GuardFailed(Exception):
    """The deploy would start something that cannot work; the message says what to do."""


def _respond(physical_id: str, results: list[Any], headline: str) -> dict[str, Any]:
    summary = failure_summary(results)
    if summary:
        raise GuardFailed(f"{headline}: {summary}")
    for warning in warnings(results):
        print(f"warning: {warning}")
    return {"PhysicalResourceId": physical_id, "Data": {"Checks": str(len(results))}}


def _stand_aside(event: dict[str, Any], session: Any, physical_id: str) -> dict[str, Any] | None:
    reason = stand_aside_reason(event, session.client("cloudformation"))
    if reason is None:
        return None
    print(f"standing aside: {reason}")
    return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}


def on_quota_event(event: dict[str, Any], _context: Any = None, session: Any = None) -> dict[str, Any]:
    """GPU and system vCPU quotas, AZ offerings, the Kubernetes version and add-on builds."""
    physical_id = "gpu-quota-guard"
    request = capacity.CapacityRequest.from_properties(event["ResourceProperties"])
    session = session or boto3.session.Session(region_name=request.region)
    if (passed := _stand_aside(event, session, physical_id)) is not None:
        return passed
    results = capacity.run_checks(
        request, ec2=session.client("ec2"), quotas=session.client("service-quotas"), eks=session.client("eks")
    )
    return _respond(physical_id, results, "GPU capacity preflight failed")


def on_secrets_event(event: dict[str, Any], _context: Any = None, session: Any = None) -> dict[str, Any]:
    """Every secret a person must set holds a real value (never logged, never in the failure message)."""
    physical_id = "workload-secrets-guard"
    properties = event["ResourceProperties"]
    session = session or boto3.session.Session(region_name=properties["region"])
    if (passed := _stand_aside(event, session, physical_id)) is not None:
        return passed
    specs = [secrets.SecretSpec.from_properties(spec) for spec in properties["secrets"]]
    results = secrets.check_secrets(session.client("secretsmanager"), specs)
    return _respond(physical_id, results, "a secret the model servers need is not set")
