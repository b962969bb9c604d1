"""Is every secret a workload needs set to a real value? One implementation for the guard and the scripts.

A secret the stacks create for a person to fill holds a placeholder until someone puts a value in.
The value itself is checked (not only whether it changed since creation): a template that ever
wrote the placeholder again, or a version stage moved back, would otherwise pass unnoticed while
the pods read the placeholder. No message ever quotes a value.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

from .results import FAIL, OK, WARN, CheckResult

# Part of the deployed contract: CloudFormation writes SecretString again only when it changes, and a
# changed placeholder would overwrite every token people have put in (tests pin it).
PLACEHOLDER = "unset: put the real value in with make secrets"
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


def check_secret(client: Any, spec: SecretSpec) -> CheckResult:
    """One secret: missing, still the placeholder, or a value of the wrong shape."""
    check = f"secret {spec.name}"
    try:
        value = client.get_secret_value(SecretId=spec.name).get("SecretString", "")
    except client.exceptions.ResourceNotFoundException:
        return CheckResult(check, FAIL, f"does not exist yet ({spec.purpose})", f"run `{spec.set_command}`")
    problem = value_problem(spec.kind, value)
    if problem:
        return CheckResult(check, FAIL, f"{problem} ({spec.purpose})", f"run `{spec.set_command}`")
    return CheckResult(check, OK, "set")


def check_secrets(client: Any, specs: list[SecretSpec]) -> list[CheckResult]:
    results = [check_secret(client, spec) for spec in specs]
    return results or [CheckResult("secrets", OK, "none to set by hand in this environment")]


__all__ = ["DOCKER_HUB", "FAIL", "HF_TOKEN", "OK", "PLACEHOLDER", "WARN", "SecretSpec", "check_secrets"]
