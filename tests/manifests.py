"""Helpers to read rendered Kubernetes manifests."""

from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import yaml

from charts.common import StandaloneChart
from config.scheduling import GPU_RESOURCE
from config.versions import KUBERNETES_VERSION

SCHEMA_VERSION = f"{KUBERNETES_VERSION}.0"
# Custom resources we render, by API group, and the add-on that installs their CRDs.
CRD_GROUPS = {"secrets-store.csi.x-k8s.io": "aws-secrets-store-csi-driver-provider add-on"}


def documents(chart: StandaloneChart) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(chart.to_yaml()) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def gpu_request(pod_spec: dict[str, Any]) -> int:
    return sum(
        int(container.get("resources", {}).get("requests", {}).get(GPU_RESOURCE, 0))
        for container in pod_spec["containers"]
    )


def validate_strictly(doc: dict[str, Any]) -> None:
    """Validate against the pinned Kubernetes version's schema; an unknown kind fails unless allow-listed."""
    try:
        kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        group = doc["apiVersion"].split("/")[0]
        if group not in CRD_GROUPS:
            raise
