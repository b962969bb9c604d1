"""What every chart shares: recommended labels, GPU placement, a base Chart."""

from typing import Any

import cdk8s

from charts.names import selector_labels
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT

PART_OF = "vllm-on-eks"
# Label a namespace with this to let its Prometheus scrape the GPU and model-server metrics.
METRICS_SCRAPER_NAMESPACE_LABEL = {"vllm-on-eks/metrics-scraper": "true"}
# Every pod we write runs under the container runtime's default seccomp filter.
RUNTIME_DEFAULT_SECCOMP = {"seccompProfile": {"type": "RuntimeDefault"}}
# No privilege escalation, no Linux capability: what every container we write runs with.
NO_PRIVILEGES = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
PART_OF_LABEL = {"app.kubernetes.io/part-of": PART_OF}  # for objects that belong to no one component


def recommended_labels(name: str, instance: str, *, component: str, version: str) -> dict[str, str]:
    return {
        **selector_labels(name, instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "cdk8s",
    }


def scan_skips(findings: dict[str, str]) -> dict[str, str]:
    """checkov's skip annotations (`checkov.io/skipN: CHECK_ID=reason`): the reason sits on the object it excuses."""
    return {
        f"checkov.io/skip{number}": f"{check}={reason}" for number, (check, reason) in enumerate(findings.items(), 1)
    }


# Findings every image we run shares, and why each is accepted.
PINNED_BY_TAG = {
    "CKV_K8S_43": "pinned by tag in config/versions.py; no digest could be verified from a primary source here, "
    "and an unverified digest would be worse than the tag",
    "CKV_K8S_15": "the pinned tag is a release tag, never rewritten (and immutable in the ECR mirror); pulling "
    "Always would reach the registry on every start of a multi-GB image for nothing",
}


def gpu_placement() -> dict[str, Any]:
    """Pod spec fields that put a pod on the GPU node group and nowhere else."""
    return {"nodeSelector": dict(GPU_NODE_LABELS), "tolerations": [GPU_TAINT.toleration()]}


def api_object(
    scope: cdk8s.Chart, construct_id: str, *, api_version: str, kind: str, metadata: dict[str, Any], **body: Any
) -> cdk8s.ApiObject:
    """A Kubernetes object from plain fields (`spec=`, `data=`, ...).

    jsii cannot pass extra keyword fields to ApiObject, so the body goes in as JSON patches;
    tests validate every object strictly against the Kubernetes schema.
    """
    obj = cdk8s.ApiObject(scope, construct_id, api_version=api_version, kind=kind, metadata=metadata)
    for field, value in body.items():
        obj.add_json_patch(cdk8s.JsonPatch.add(f"/{field}", value))
    return obj


def ingress_policy(
    chart: cdk8s.Chart,
    construct_id: str,
    *,
    metadata: dict[str, Any],
    pods: dict[str, str],
    ingress: list[dict[str, Any]] | None = None,
) -> cdk8s.ApiObject:
    """A NetworkPolicy admitting only `ingress` to the selected pods; none given, nothing may reach them."""
    spec: dict[str, Any] = {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress"]}
    if ingress:
        spec["ingress"] = ingress
    return api_object(
        chart, construct_id, api_version="networking.k8s.io/v1", kind="NetworkPolicy", metadata=metadata, spec=spec
    )


def gpu_node_daemon_set(
    chart: cdk8s.Chart,
    *,
    name: str,
    namespace: str,
    labels: dict[str, str],
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    scan_findings: dict[str, str],
    pod_security_context: dict[str, Any] | None = None,
) -> cdk8s.ApiObject:
    """A DaemonSet on every GPU node and nowhere else, evicted last, with no Kubernetes API token."""
    return api_object(
        chart,
        "DaemonSet",
        api_version="apps/v1",
        kind="DaemonSet",
        metadata={"name": name, "namespace": namespace, "labels": labels, "annotations": scan_skips(scan_findings)},
        spec={
            "selector": {"matchLabels": selector_labels(name, name)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **gpu_placement(),
                    # Evicted last under node pressure: without these agents the node's GPUs vanish or go dark.
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                    **({"securityContext": pod_security_context} if pod_security_context else {}),
                    "containers": [{"name": name, **container}],
                    "volumes": volumes,
                },
            },
        },
    )


class StandaloneChart(cdk8s.Chart):
    """A chart in its own cdk8s App, so it synthesizes on its own and for kubectl alike."""

    def __init__(self, construct_id: str) -> None:
        super().__init__(cdk8s.App(), construct_id, disable_resource_name_hashes=True)

    def to_yaml(self) -> str:
        return cdk8s.App.of(self).synth_yaml()
