"""How clients reach vLLM: an internal NLB or an HTTPS ALB, and the NetworkPolicy that fences the pods."""

import json
from typing import Any

import cdk8s

from charts.common import StandaloneChart, api_object, recommended_labels
from charts.vllm import APP, HTTP_PORT, NAMESPACE, SERVICE_PORT, deployment_name, model_selector
from config.model import EnvironmentConfig, ExposureMode
from config.versions import VLLM_IMAGE

# Longer than any streamed completion is expected to run: the ALB default (60 s) cuts them mid-sentence.
IDLE_TIMEOUT_SECONDS = 300
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
# Label a namespace with this to let its pods call vLLM directly (cluster-ip clients).
CLIENT_NAMESPACE_LABEL = {"vllm-on-eks/llm-client": "true"}


def nlb_annotations(config: EnvironmentConfig) -> dict[str, str]:
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    annotations = {
        f"{prefix}-type": "external",  # handled by the AWS Load Balancer Controller, not the legacy in-tree code
        f"{prefix}-nlb-target-type": "ip",
        f"{prefix}-scheme": "internal",
        f"{prefix}-healthcheck-protocol": "http",
        f"{prefix}-healthcheck-path": "/health",
    }
    if config.exposure.certificate_arn:
        annotations |= {f"{prefix}-ssl-cert": config.exposure.certificate_arn, f"{prefix}-ssl-ports": "443"}
    return annotations


def alb_annotations(config: EnvironmentConfig) -> dict[str, str]:
    prefix = "alb.ingress.kubernetes.io"
    return {
        f"{prefix}/scheme": "internet-facing" if config.exposure.public else "internal",
        f"{prefix}/target-type": "ip",
        f"{prefix}/listen-ports": json.dumps([{"HTTPS": 443}]),
        f"{prefix}/certificate-arn": config.exposure.certificate_arn or "",
        f"{prefix}/ssl-policy": TLS_POLICY,
        f"{prefix}/load-balancer-attributes": f"idle_timeout.timeout_seconds={IDLE_TIMEOUT_SECONDS}",
        f"{prefix}/healthcheck-path": "/health",
        f"{prefix}/success-codes": "200",
    }


class ExposureChart(StandaloneChart):
    def __init__(self, *, config: EnvironmentConfig) -> None:
        super().__init__("exposure")
        self.config = config
        mode = config.exposure.mode
        if mode is ExposureMode.INTERNAL_NLB:
            for model in config.models:
                self._load_balancer_service(model.name)
        if mode is ExposureMode.ALB:
            self._ingress()
        self._network_policy()

    def _labels(self, model_name: str) -> dict[str, str]:
        return recommended_labels(APP, model_name, component="endpoint", version=VLLM_IMAGE.tag)

    def _load_balancer_service(self, model_name: str) -> cdk8s.ApiObject:
        ports: list[dict[str, Any]] = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}]
        if self.config.exposure.certificate_arn:
            ports.append({"name": "https", "port": 443, "targetPort": "http"})
        return api_object(
            self,
            f"{model_name}-nlb",
            api_version="v1",
            kind="Service",
            metadata={
                "name": f"vllm-{model_name}-nlb",
                "namespace": NAMESPACE,
                "labels": self._labels(model_name),
                "annotations": nlb_annotations(self.config),
            },
            spec={"type": "LoadBalancer", "selector": model_selector(model_name), "ports": ports},
        )

    def _ingress(self) -> cdk8s.ApiObject:
        rules = [
            {
                "host": self.config.model_host(model),
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": deployment_name(model), "port": {"number": SERVICE_PORT}}},
                        }
                    ]
                },
            }
            for model in self.config.models
        ]
        return api_object(
            self,
            "ingress",
            api_version="networking.k8s.io/v1",
            kind="Ingress",
            metadata={
                "name": "vllm",
                "namespace": NAMESPACE,
                "labels": self._labels("all-models"),
                "annotations": alb_annotations(self.config),
            },
            spec={"ingressClassName": "alb", "rules": rules},
        )

    def _network_policy(self) -> cdk8s.ApiObject:
        """Only the load balancer path and labelled client namespaces reach vLLM's port.

        Load balancers with IP targets connect from their addresses inside the VPC, so in those modes
        the VPC CIDR is allowed; kubelet probes from the node are always allowed by the VPC CNI.
        """
        sources: list[dict[str, Any]] = [{"namespaceSelector": {"matchLabels": CLIENT_NAMESPACE_LABEL}}]
        cidrs = list(self.config.exposure.client_cidrs)
        if self.config.exposure.load_balanced:
            cidrs.insert(0, self.config.network.vpc_cidr)
        sources += [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]
        return api_object(
            self,
            "network-policy",
            api_version="networking.k8s.io/v1",
            kind="NetworkPolicy",
            metadata={"name": "vllm-ingress", "namespace": NAMESPACE, "labels": self._labels("all-models")},
            spec={
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": APP}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": HTTP_PORT}]}],
            },
        )
