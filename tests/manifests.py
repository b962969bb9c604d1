"""Helpers to read rendered Kubernetes manifests."""

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from charts.common import StandaloneChart
from config.scheduling import GPU_RESOURCE
from config.versions import KUBERNETES_VERSION
from tests import tool_cache

SCHEMA_VERSION = f"{KUBERNETES_VERSION}.0"
ROOT = Path(__file__).resolve().parent.parent
# kubernetes-validate reads and parses its schema files (a megabyte of shared definitions) again for every
# document; they cannot change while the tests run, so each is parsed once per process.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)
CRD_VALIDATOR = ROOT / "tests" / "crd_validate.mjs"
NODE_LOCKS = [ROOT / "package-lock.json", ROOT / "node_modules" / ".package-lock.json"]  # pinned, and installed
# Custom resources, by API group, validated against their upstream CRD schema from a pinned package
# (package.json) that ships it; tests/crd_validate.mjs runs the package's own validator.
# @kubernetes-models/karpenter 2.0.0 is generated from Karpenter v1.12.1 (the pinned chart is 1.14.1: see
# config/versions.py); @kubernetes-models/keda 2.0.0 from KEDA v2.19.0.
CRD_SCHEMA_PACKAGES = {
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
    "karpenter.sh": "@kubernetes-models/karpenter",
    "karpenter.k8s.aws": "@kubernetes-models/karpenter",
    "keda.sh": "@kubernetes-models/keda",
}
# The one group no maintained package ships a schema for (checked: npm @kubernetes-models/*, PyPI
# cloudcoil-models-*): the EKS add-on installs its CRD. Validated by nothing but its own tests.
CRD_GROUPS_WITHOUT_SCHEMA = {"secrets-store.csi.x-k8s.io": "aws-secrets-store-csi-driver-provider add-on"}


def documents(chart: StandaloneChart) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(chart.to_yaml(), Loader=yaml.CSafeLoader) if doc]


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


def validate_custom_resources(docs: list[dict[str, Any]]) -> list[str | None]:
    """Each document's error against its upstream CRD schema, or None; one Node run per package."""
    errors: list[str | None] = [None] * len(docs)
    by_package: dict[str, list[int]] = {}
    for index, doc in enumerate(docs):
        group = _group(doc)
        if group not in CRD_SCHEMA_PACKAGES:
            errors[index] = f"no CRD schema package is pinned for {group}"
            continue
        by_package.setdefault(CRD_SCHEMA_PACKAGES[group], []).append(index)
    for package, indexes in by_package.items():
        request = {"package": package, "documents": [docs[index] for index in indexes]}
        result = tool_cache.run(
            ["node", str(CRD_VALIDATOR)],
            {},
            stdin=json.dumps(request),
            versions=[CRD_VALIDATOR, *NODE_LOCKS],
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        for answer in json.loads(result.stdout):
            errors[indexes[answer["index"]]] = answer["error"]
    return errors


def validate_strictly(*docs: dict[str, Any]) -> None:
    """Core kinds against the pinned Kubernetes schema; custom resources against their upstream CRD schema."""
    custom = [doc for doc in docs if _group(doc) in CRD_SCHEMA_PACKAGES]
    problems = [
        f"{doc['kind']} {doc['metadata'].get('name')}: {error}"
        for doc, error in zip(custom, validate_custom_resources(custom), strict=True)
        if error
    ]
    if problems:
        raise ValueError("\n".join(problems))
    for doc in docs:
        if _group(doc) in CRD_SCHEMA_PACKAGES:
            continue
        try:
            kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if _group(doc) not in CRD_GROUPS_WITHOUT_SCHEMA:
                raise


def _group(doc: dict[str, Any]) -> str:
    return doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""


def applied_documents(template: dict[str, Any], logical_id_prefix: str) -> list[dict[str, Any]]:
    """The objects the KubernetesManifests whose logical ids start with the prefix apply, in template order;
    CloudFormation references become `<ref>`."""
    docs: list[dict[str, Any]] = []
    for logical_id, resource in template["Resources"].items():
        if logical_id.startswith(logical_id_prefix) and resource["Type"] == "Custom::AWSCDK-EKS-KubernetesResource":
            manifest = resource["Properties"]["Manifest"]
            if isinstance(manifest, dict):
                separator, parts = manifest["Fn::Join"]
                manifest = separator.join(part if isinstance(part, str) else "<ref>" for part in parts)
            docs += json.loads(manifest)
    assert docs, f"no KubernetesManifest {logical_id_prefix}*"
    return docs
