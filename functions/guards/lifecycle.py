"""When a guard must stand aside: it may stop a deploy, never a rollback or a delete.

A guard that fails on Delete leaves a stack that cannot be deleted; one that fails during
UPDATE_ROLLBACK turns a failed deploy into UPDATE_ROLLBACK_FAILED, which only a person with the
console can clear. A quota lowered, or a secret emptied, after a successful deploy must not do either.
"""

from typing import Any

IGNORED_PROPERTIES = {"ServiceToken"}


def _checked(properties: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (properties or {}).items() if key not in IGNORED_PROPERTIES}


def stand_aside_reason(event: dict[str, Any], cloudformation: Any) -> str | None:
    """Why this event must pass unchecked, or None when the guard should check."""
    request = event["RequestType"]
    if request == "Delete":
        return "Delete: nothing is launched, so nothing to check"
    if request == "Update" and _checked(event.get("ResourceProperties")) == _checked(
        event.get("OldResourceProperties")
    ):
        return "Update with the checked properties unchanged: they passed before"
    if request == "Update":
        stacks = cloudformation.describe_stacks(StackName=event["StackId"])["Stacks"]
        status = stacks[0]["StackStatus"] if stacks else ""
        if "ROLLBACK" in status:
            return f"the stack is rolling back ({status}): going back to what ran before"
    return None
