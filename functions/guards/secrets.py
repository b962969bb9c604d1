"""Is every secret a workload needs set to a real value? One implementation for the guard and the scripts.

A secret the stacks create for a person to fill holds a placeholder until someone puts a value in.
Secrets Manager keeps the creation value as its first version; a `put-secret-value` makes a new
AWSCURRENT version and moves the old one to AWSPREVIOUS. So "never set since it was created" is
read from the version stages alone (DescribeSecret), without reading the secret: the guard in the
stack never touches secret material. The scripts, which run as the operator, also read the value to
check its shape.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

from .results import FAIL, OK, WARN, CheckResult

PLACEHOLDER = "unset: put the real value in with `make secrets ENV=<environment>`"
HF_TOKEN, DOCKER_HUB = "hf-token", "docker-hub"  # the kinds of value a person provides


@dataclass(frozen=True)
class SecretSpec:
    """A secret a person must set before the workloads that need it can start."""

    name: str  # Secrets Manager name
    kind: str  # HF_TOKEN or DOCKER_HUB
    purpose: str
    set_command: str

    def to_properties(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> "SecretSpec":
        return cls(**{key: str(properties[key]) for key in ("name", "kind", "purpose", "set_command")})


def value_problem(kind: str, value: str) -> str | None:
    """What is wrong with a value of this kind, or None. Never quotes the value."""
    value = value.strip()
    if not value or value == PLACEHOLDER:
        return "holds no value yet (the placeholder the stack created)"
    if kind == HF_TOKEN and not value.startswith("hf_"):
        return "is not a Hugging Face access token (those start with hf_)"
    if kind == DOCKER_HUB:
        try:
            fields = json.loads(value)
        except json.JSONDecodeError:
            fields = None
        if not isinstance(fields, dict) or not fields.get("username") or not fields.get("accessToken"):
            return 'is not the JSON ECR expects: {"username": "...", "accessToken": "..."}'
    return None


def ever_set(description: dict[str, Any]) -> bool:
    """True once a value was put after creation: some version then carries AWSPREVIOUS."""
    stages = description.get("VersionIdsToStages", {})
    return any("AWSPREVIOUS" in labels for labels in stages.values())


def check_secret(client: Any, spec: SecretSpec, *, read_value: bool) -> CheckResult:
    """One secret: missing, never set, or (with read_value) a value of the wrong shape."""
    check = f"secret {spec.name}"
    try:
        description = client.describe_secret(SecretId=spec.name)
    except client.exceptions.ResourceNotFoundException:
        return CheckResult(check, FAIL, f"does not exist yet ({spec.purpose})", f"run `{spec.set_command}`")
    if read_value:
        value = client.get_secret_value(SecretId=spec.name).get("SecretString", "")
        problem = value_problem(spec.kind, value)
        if problem:
            return CheckResult(check, FAIL, f"{problem} ({spec.purpose})", f"run `{spec.set_command}`")
        return CheckResult(check, OK, "set")
    if not ever_set(description):
        return CheckResult(
            check,
            FAIL,
            f"still holds the placeholder it was created with ({spec.purpose})",
            f"run `{spec.set_command}`",
        )
    return CheckResult(check, OK, "set after creation")


def check_secrets(client: Any, specs: list[SecretSpec], *, read_values: bool) -> list[CheckResult]:
    results = [check_secret(client, spec, read_value=read_values) for spec in specs]
    return results or [CheckResult("secrets", OK, "none to set by hand in this environment")]


__all__ = ["DOCKER_HUB", "FAIL", "HF_TOKEN", "OK", "PLACEHOLDER", "WARN", "SecretSpec", "check_secrets"]
