"""What a check found, typed: callers decide by kind and severity, never by matching message text."""

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    PROBLEM = "problem"  # stops synth
    WARNING = "warning"  # printed by synth, the plan and the pre-checks


class Kind(StrEnum):
    UNSIZED_MODEL = "unsized-model"
    CONTEXT_TOO_LONG = "context-too-long"
    TP_SPLITS_NO_HEADS = "tp-splits-no-heads"
    WEIGHTS_DO_NOT_FIT = "weights-do-not-fit"
    NO_ROOM_FOR_ONE_SEQUENCE = "no-room-for-one-sequence"
    LOW_CONCURRENCY = "low-concurrency"
    TOO_MANY_GPUS = "too-many-gpus"
    POD_MEMORY = "pod-memory"
    POD_CPU = "pod-cpu"
    GPUS_SHORT = "gpus-short"
    STOP_FIRST_ROLLOUT = "stop-first-rollout"
    COLD_START_OVER_TARGET = "cold-start-over-target"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    severity: Severity
    message: str


def problem(kind: Kind, message: str) -> Finding:
    return Finding(kind, Severity.PROBLEM, message)


def warning(kind: Kind, message: str) -> Finding:
    return Finding(kind, Severity.WARNING, message)


def messages(findings: list[Finding], severity: Severity) -> list[str]:
    return [finding.message for finding in findings if finding.severity is severity]
