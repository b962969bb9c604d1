"""KEDA ScaledObjects: a model's replicas follow its queue (and its KV cache), read from Prometheus.

CPU says nothing about a GPU server's load (the guide's Gotcha 2): the queue does. Scale-up adds every
replica the queue asks for at once; scale-down removes one at a time after a long quiet spell, because a
replica takes minutes to load and a node minutes to launch.
"""

from typing import Any

from charts.common import StandaloneChart, api_object, recommended_labels
from charts.vllm import APP, NAMESPACE, deployment_name
from config.metrics import KV_CACHE_USAGE, REQUESTS_WAITING
from config.model import ModelConfig, ReplicaAutoscalingConfig
from config.versions import KEDA_VERSION
from observability.rules import VLLM_JOB

AWS_AUTHENTICATION = "keda-aws"  # TriggerAuthentication: KEDA signs AMP queries with its operator's role
POLLING_SECONDS = 15  # KEDA's default: how often the queue is read
# The HPA acts only when a metric is more than 10 % off its target (kube-controller-manager's
# --horizontal-pod-autoscaler-tolerance default): the triggers' targets sit that far below where action is due.
HPA_TOLERANCE = 0.1
SCALE_DOWN_STEP_SECONDS = 300  # at most one replica removed per five minutes, after the quiet spell


def model_series(model: ModelConfig) -> str:
    """The selector of one model's vLLM series, as the scrape jobs label them."""
    return f'{{job="{VLLM_JOB}", namespace="{NAMESPACE}", model_name="{model.served_name}"}}'


def queue_query(model: ModelConfig) -> str:
    return f"sum({REQUESTS_WAITING.series()}{model_series(model)})"


def kv_cache_query(model: ModelConfig) -> str:
    return f"avg({KV_CACHE_USAGE.series()}{model_series(model)})"


class ScaledObjectsChart(StandaloneChart):
    """`aws_region` set: the Prometheus is AMP, queried with SigV4 in that region through KEDA's AWS identity."""

    def __init__(self, *, models: list[ModelConfig], prometheus_url: str, aws_region: str | None = None) -> None:
        super().__init__("autoscaling")
        if aws_region:
            api_object(
                self,
                "AwsAuthentication",
                api_version="keda.sh/v1alpha1",
                kind="TriggerAuthentication",
                metadata={
                    "name": AWS_AUTHENTICATION,
                    "namespace": NAMESPACE,
                    "labels": recommended_labels(APP, AWS_AUTHENTICATION, component="autoscaler", version=KEDA_VERSION),
                },
                spec={"podIdentity": {"provider": "aws", "identityOwner": "keda"}},
            )
        for model in models:
            if model.autoscaling:
                api_object(
                    self,
                    f"ScaledObject-{model.name}",
                    api_version="keda.sh/v1alpha1",
                    kind="ScaledObject",
                    metadata={
                        "name": deployment_name(model),
                        "namespace": NAMESPACE,
                        "labels": recommended_labels(
                            APP, deployment_name(model), component="autoscaler", version=KEDA_VERSION
                        ),
                    },
                    spec=scaled_object_spec(model, model.autoscaling, prometheus_url, aws_region),
                )


def scaled_object_spec(
    model: ModelConfig, scaling: ReplicaAutoscalingConfig, prometheus_url: str, aws_region: str | None = None
) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = [
        {
            # AverageValue: replicas = ceil(queued requests / waiting_per_replica).
            "type": "prometheus",
            "name": "queue",
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": prometheus_url,
                "query": queue_query(model),
                "threshold": str(scaling.waiting_per_replica),
                "ignoreNullValues": "true",  # no sample yet (a pod still loading) reads as an empty queue
            },
        }
    ]
    if scaling.kv_cache_usage is not None:
        triggers.append(
            {
                # Value: replicas = ceil(current x usage / target), so a cache above target adds one.
                "type": "prometheus",
                "name": "kv-cache",
                "metricType": "Value",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": kv_cache_query(model),
                    "threshold": str(scaling.kv_cache_usage),
                    "ignoreNullValues": "true",
                },
            }
        )
    if aws_region:
        for trigger in triggers:
            trigger["metadata"]["awsRegion"] = aws_region
            trigger["authenticationRef"] = {"name": AWS_AUTHENTICATION}
    return {
        "scaleTargetRef": {"name": deployment_name(model)},
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "pollingInterval": POLLING_SECONDS,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "selectPolicy": "Max",
                        "policies": [{"type": "Pods", "value": scaling.max_replicas, "periodSeconds": POLLING_SECONDS}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": scaling.scale_down_after_seconds,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": SCALE_DOWN_STEP_SECONDS}],
                    },
                }
            }
        },
        "triggers": triggers,
    }
