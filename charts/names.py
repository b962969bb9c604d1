"""The names our Kubernetes objects are found by outside the charts that write them (`make status` reads
them): plain values and functions, no cdk8s, so reading them starts no jsii runtime. The charts import them."""

from config.model import ModelConfig

DEVICE_PLUGIN = "nvidia-device-plugin"
DEVICE_PLUGIN_NAMESPACE = "kube-system"  # beside the other node agents, as in upstream's static manifest
DCGM_EXPORTER = "dcgm-exporter"
DCGM_EXPORTER_NAMESPACE = "gpu-monitoring"
VLLM_APP = "vllm"  # app.kubernetes.io/name of every model server
VLLM_NAMESPACE = "vllm"
VLLM_SERVICE_PORT = 80


def selector_labels(name: str, instance: str) -> dict[str, str]:
    """Small and never-changing: a Deployment's selector is immutable once created."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def deployment_name(model: ModelConfig) -> str:
    return f"vllm-{model.name}"


def model_selector(model_name: str) -> dict[str, str]:
    """The labels that pick one model's pods: its Deployment, Services, PDB and load balancer agree on them."""
    return selector_labels(VLLM_APP, model_name)
