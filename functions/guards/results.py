"""One check's outcome, as every guard and script reports it."""

from dataclasses import dataclass
from typing import Any

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    remedy: str = ""
    increase: Any = None  # a capacity.QuotaIncrease where filing one would fix the failure


def failure_summary(results: list[CheckResult]) -> str:
    """One paragraph with every failed check and its remedy, as a guard reports it to CloudFormation."""
    failed = [result for result in results if result.status == FAIL]
    return " ".join(f"{result.name}: {result.detail}. Fix: {result.remedy}" for result in failed)


def warnings(results: list[CheckResult]) -> list[str]:
    return [f"{result.name}: {result.detail}" for result in results if result.status == WARN]
