"""How clients reach vLLM: an internal NLB or an HTTPS ALB, and the NetworkPolicy that fences the pods."""

import json
from typing import Any

import cdk8s

from charts.benchmark import BENCH_APP
from charts.common import (
    METRICS_SCRAPER_NAMESPACE_LABEL,
    StandaloneChart,
    api_object,
    ingress_policy,
    recommended_labels,
)
from charts.vllm import APP, HTTP_PORT, NAMESPACE, SERVICE_PORT, deployment_name, model_selector
from config.model import ExposureConfig, ExposureMode, ModelConfig
from config.vllm import VLLM_IMAGE

# Longer than any streamed completion is expected to run: the ALB default (60 s) cuts them mid-sentence.
IDLE_TIMEOUT_SECONDS = 300
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
# Label a namespace with this to let its pods call vLLM directly (cluster-ip clients).
CLIENT_NAMESPACE_LABEL = {"vllm-on-eks/llm-client": "true"}


def nlb_annotations(exposure: ExposureConfig) -> dict[str, str]:
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    annotations = {
        f"{prefix}-type": "external",  # handled by the AWS Load Balancer Controller, not the legacy in-tree code
        f"{prefix}-nlb-target-type": "ip",
        f"{prefix}-scheme": "internal",
        f"{prefix}-healthcheck-protocol": "http",
        f"{prefix}-healthcheck-path": "/health",
    }
    if exposure.certificate_arn:
        annotations |= {f"{prefix}-ssl-cert": exposure.certificate_arn, f"{prefix}-ssl-ports": "443"}
    return annotations


def alb_annotations(exposure: ExposureConfig) -> dict[str, str]:
    prefix = "alb.ingress.kubernetes.io"
    return {
        f"{prefix}/scheme": "internet-facing" if exposure.public else "internal",
        f"{prefix}/target-type": "ip",
        f"{prefix}/listen-ports": json.dumps([{"HTTPS": 443}]),
        f"{prefix}/certificate-arn": exposure.certificate_arn or "",
        f"{prefix}/ssl-policy": TLS_POLICY,
        f"{prefix}/load-balancer-attributes": f"idle_timeout.timeout_seconds={IDLE_TIMEOUT_SECONDS}",
        f"{prefix}/healthcheck-path": "/health",
        f"{prefix}/success-codes": "200",
    }


class ExposureChart(StandaloneChart):
    """`hosts` maps each model's name to its ALB host; `vpc_cidr` is where load balancers connect from."""

    def __init__(
        self,
        *,
        models: list[ModelConfig],
        exposure: ExposureConfig,
        vpc_cidr: str,
        hosts: dict[str, str],
        scraped_from_vpc: bool = False,
    ) -> None:
        """`scraped_from_vpc`: a collector outside the pods (AMP's managed scraper) reads /metrics on vLLM's port."""
        super().__init__("exposure")
        self.models, self.exposure, self.vpc_cidr, self.hosts = models, exposure, vpc_cidr, hosts
        self.scraped_from_vpc = scraped_from_vpc
        mode = exposure.mode
        if mode is ExposureMode.INTERNAL_NLB:
            for model in models:
                self._load_balancer_service(model.name)
        if mode is ExposureMode.ALB:
            self._ingress()
        self._network_policy()
        self._benchmark_network_policy()

    def _labels(self, model_name: str) -> dict[str, str]:
        return recommended_labels(APP, model_name, component="endpoint", version=VLLM_IMAGE.tag)

    def _load_balancer_service(self, model_name: str) -> cdk8s.ApiObject:
        ports: list[dict[str, Any]] = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}]
        if self.exposure.certificate_arn:
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
                "annotations": nlb_annotations(self.exposure),
            },
            spec={"type": "LoadBalancer", "selector": model_selector(model_name), "ports": ports},
        )

    def _ingress(self) -> cdk8s.ApiObject:
        rules = [
            {
                "host": self.hosts[model.name],
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
            for model in self.models
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
                "annotations": alb_annotations(self.exposure),
            },
            spec={"ingressClassName": "alb", "rules": rules},
        )

    def _benchmark_network_policy(self) -> cdk8s.ApiObject:
        """The benchmark Job's pod only calls out: nothing may reach it."""
        return ingress_policy(
            self,
            "benchmark-network-policy",
            metadata={"name": "vllm-benchmark-ingress", "namespace": NAMESPACE, "labels": self._labels("benchmark")},
            pods={"app.kubernetes.io/name": BENCH_APP},
        )

    def _network_policy(self) -> cdk8s.ApiObject:
        """Only the load balancer path, labelled client namespaces, the benchmark Job and the metrics scrape reach
        vLLM's port.

        Load balancers with IP targets and AMP's managed scraper connect from their addresses inside the
        VPC, so then the VPC CIDR is allowed; kubelet probes from the node are always allowed by the VPC CNI.
        """
        sources: list[dict[str, Any]] = [
            {"namespaceSelector": {"matchLabels": CLIENT_NAMESPACE_LABEL}},
            # The benchmark Job `make bench-endpoint` starts next to the servers (charts/benchmark.py).
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": BENCH_APP}}},
            {"namespaceSelector": {"matchLabels": METRICS_SCRAPER_NAMESPACE_LABEL}},
        ]
        cidrs = list(self.exposure.client_cidrs)
        if self.exposure.load_balanced or self.scraped_from_vpc:
            cidrs.insert(0, self.vpc_cidr)
        sources += [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]
        return ingress_policy(
            self,
            "network-policy",
            metadata={"name": "vllm-ingress", "namespace": NAMESPACE, "labels": self._labels("all-models")},
            pods={"app.kubernetes.io/name": APP},
            ingress=[{"from": sources, "ports": [{"protocol": "TCP", "port": HTTP_PORT}]}],
        )
