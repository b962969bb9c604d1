"""vLLM: one Deployment, Service and PodDisruptionBudget per configured model, in their own namespace."""

import json
from dataclasses import dataclass
from typing import Any

import cdk8s
import cdk8s_plus_36 as kplus

from charts.common import (
    NO_PRIVILEGES,
    PART_OF_LABEL,
    PINNED_BY_TAG,
    RUNTIME_DEFAULT_SECCOMP,
    StandaloneChart,
    api_object,
    gpu_placement,
    recommended_labels,
    scan_skips,
)
from charts.names import VLLM_APP as APP
from charts.names import VLLM_NAMESPACE as NAMESPACE
from charts.names import VLLM_SERVICE_PORT as SERVICE_PORT
from charts.names import deployment_name, model_selector
from config.images import Image
from config.model import ModelConfig
from config.scheduling import GPU_RESOURCE
from config.secrets import API_KEY_FILE, HF_TOKEN_FILE
from config.vllm import (
    RUNAI_STREAMER_CONCURRENCY,
    RUNAI_STREAMER_MEMORY_LIMIT_BYTES,
    STARTUP_PROBE_FAILURES,
    STARTUP_PROBE_PERIOD_SECONDS,
    VLLM_IMAGE,
)

SERVICE_ACCOUNT = "vllm"
HTTP_PORT = 8000
HF_CACHE = "/root/.cache/huggingface"  # HF_HOME of the vllm-openai image, which runs as root
NODE_MODEL_CACHE = "/var/lib/vllm-cache"  # on the node's 200 GiB root volume: restarts skip the download
# vLLM's own cache (torch.compile artefacts), kept on the node so a restart loads the compiled graphs (~9 s)
# instead of compiling again (~67 s; planning/cold_start.py). vLLM names each entry by a hash of the model, its
# arguments and its own forward code (docs/design/torch_compile.md); the node directory is also per vLLM release,
# so an upgrade never even looks at an older release's artefacts.
VLLM_CACHE = "/root/.cache/vllm"
NODE_COMPILE_CACHE = "/var/lib/vllm-compile-cache"
SECRETS_MOUNT = "/mnt/secrets"
# The server is started explicitly rather than through the image's entrypoint, whose form has
# changed between vLLM releases; the model is `vllm serve`'s positional argument.
SERVE = ["vllm", "serve"]
# vLLM takes its api key from VLLM_API_KEY (or --api-key, which would show in `ps`). The key is
# mounted as a file, so a shell reads it into the environment and then becomes vLLM itself.
API_KEY_LAUNCHER = [
    "/bin/sh",
    "-c",
    f'VLLM_API_KEY="$(cat {SECRETS_MOUNT}/{API_KEY_FILE})" && export VLLM_API_KEY && exec {" ".join(SERVE)} "$@"',
    "vllm",
]
SECRET_PROVIDER_CLASS = "vllm-secrets"
# The ALB idle timeout (300 s) bounds how long one streamed response can run; the pod gets that
# long to finish in-flight streams after it stops receiving new requests.
TERMINATION_GRACE_SECONDS = 300
# Time for the endpoint removal to reach kube-proxy and load balancers before vLLM stops accepting.
PRE_STOP_SLEEP_SECONDS = 15
VLLM_SCAN_FINDINGS = PINNED_BY_TAG | {
    "CKV_K8S_23": "the vllm-openai image runs as root and its caches (and the node's model cache) are root's; "
    "it runs with no capability, no escalation and the RuntimeDefault seccomp profile",
    "CKV_K8S_40": "same reason: the image has no non-root user to run as",
    "CKV_K8S_22": "torch.compile, Triton and Hugging Face write caches under the home directory at start-up",
    "CKV_K8S_11": "no CPU limit on purpose: CFS throttling stalls token streaming; the request reserves its share",
}


def secrets_mount() -> tuple[dict[str, Any], dict[str, Any]]:
    """The container mount and pod volume of the model servers' secrets (the Secrets Store CSI driver, read-only)."""
    volume = {
        "name": "secrets",
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": SECRET_PROVIDER_CLASS},
        },
    }
    return {"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True}, volume


def weights_uri(model: ModelConfig, weights_bucket: str | None) -> str:
    """What `vllm serve` loads: the Hub id, or the copy of the pinned commit in the weights bucket."""
    if model.weights == "s3-stream":
        return f"s3://{weights_bucket}/{model.weights_prefix}"
    return model.model_id


def vllm_args(model: ModelConfig, weights_bucket: str | None = None) -> list[str]:
    tools = ["--enable-auto-tool-choice", "--tool-call-parser", model.resolved_tool_call_parser or ""]
    streamer = [
        "--load-format", "runai_streamer",
        "--model-loader-extra-config", json.dumps(
            {"concurrency": RUNAI_STREAMER_CONCURRENCY, "memory_limit": RUNAI_STREAMER_MEMORY_LIMIT_BYTES}
        ),
    ]  # fmt: skip
    return [
        weights_uri(model, weights_bucket),
        "--served-model-name", model.served_name,
        "--max-model-len", str(model.max_model_len),
        "--gpu-memory-utilization", f"{model.gpu_memory_utilization:.2f}",
        "--tensor-parallel-size", str(model.tensor_parallel_size),
        "--port", str(HTTP_PORT),
        *(tools if model.tool_calling else []),
        *(["--quantization", model.quantization] if model.quantization else []),
        *(["--kv-cache-dtype", model.kv_cache_dtype] if model.kv_cache_dtype != "auto" else []),
        *(streamer if model.weights == "s3-stream" else []),
        *model.extra_args,
    ]  # fmt: skip


@dataclass(frozen=True)
class ModelServer:
    """One model's Deployment as decided above the chart: who owns replicas, and whether a spare GPU exists."""

    model: ModelConfig
    replicas: int | None  # None: an autoscaler owns the count, so the Deployment leaves it out
    surge_first: bool


def rollout_strategy(server: ModelServer) -> dict[str, Any]:
    """Surge-first where a spare GPU exists; otherwise stop-first, because a surge pod would wait forever."""
    if server.surge_first:
        # A model server takes minutes to warm up: start the new pod before stopping the old.
        return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def _probe(period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": period, "failureThreshold": failures}


class VllmChart(StandaloneChart):
    """The model servers, with their Hugging Face token and api key mounted from Secrets Manager.

    `secrets` maps a file name under the mount to its Secrets Manager name, read in `region`.
    """

    def __init__(
        self,
        *,
        servers: list[ModelServer],
        secrets: dict[str, str],
        region: str,
        image: Image = VLLM_IMAGE,
        weights_bucket: str | None = None,
    ) -> None:
        super().__init__("vllm")
        self.region = region
        self.weights_bucket = weights_bucket
        self.secrets = secrets
        self.namespace_object = kplus.Namespace(
            self, "Namespace", metadata={"name": NAMESPACE, "labels": PART_OF_LABEL}
        )
        self.service_account = kplus.ServiceAccount(
            self,
            "ServiceAccount",
            metadata={"name": SERVICE_ACCOUNT, "namespace": NAMESPACE, "labels": PART_OF_LABEL},
            automount_token=False,
        )
        workloads: list[cdk8s.ApiObject] = [cdk8s.ApiObject.of(self.service_account)]
        if self.secrets:
            workloads.append(self._secret_provider_class())
        self.deployments: dict[str, cdk8s.ApiObject] = {}
        for server in servers:
            model = server.model
            labels = recommended_labels(APP, model.name, component="model-server", version=image.tag)
            self.deployments[model.name] = self._deployment(server, labels, image)
            workloads += [
                self.deployments[model.name],
                self._service(model, labels),
                self._disruption_budget(model, labels),
            ]
        for workload in workloads:
            workload.add_dependency(cdk8s.ApiObject.of(self.namespace_object))

    def _secret_provider_class(self) -> cdk8s.ApiObject:
        """Secrets Store CSI: the AWS provider fetches the secrets with the pod's Pod Identity role."""
        objects = [
            {"objectName": secret_name, "objectType": "secretsmanager", "objectAlias": alias}
            for alias, secret_name in self.secrets.items()
        ]
        return api_object(
            self,
            "SecretProviderClass",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata={"name": SECRET_PROVIDER_CLASS, "namespace": NAMESPACE, "labels": PART_OF_LABEL},
            # An explicit region spares the provider a node look-up on every mount.
            spec={
                "provider": "aws",
                "parameters": {
                    "objects": json.dumps(objects),
                    "usePodIdentity": "true",
                    "region": self.region,
                },
            },
        )

    def _deployment(self, server: ModelServer, labels: dict[str, str], image: Image) -> cdk8s.ApiObject:
        model = server.model
        gpus = str(model.gpus)
        memory = f"{model.memory_gib}Gi"
        env = [{"name": "HF_HOME", "value": HF_CACHE}, {"name": "VLLM_CACHE_ROOT", "value": VLLM_CACHE}]
        if model.weights == "s3-stream":
            # The streamer lists with boto3 (which reads AWS_DEFAULT_REGION) and reads with the AWS SDK for C++
            # (either); both get their credentials from Pod Identity.
            env += [
                {"name": "AWS_REGION", "value": self.region},
                {"name": "AWS_DEFAULT_REGION", "value": self.region},
            ]
        mounts: list[dict[str, Any]] = [
            {"name": "shm", "mountPath": "/dev/shm"},
            {"name": "model-cache", "mountPath": HF_CACHE},
            {"name": "compile-cache", "mountPath": VLLM_CACHE},
        ]
        volumes: list[dict[str, Any]] = [
            # PyTorch and vLLM workers share tensors through /dev/shm; the 64 MiB default crashes them.
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{model.shm_size_gib}Gi"}},
            {"name": "model-cache", "hostPath": {"path": NODE_MODEL_CACHE, "type": "DirectoryOrCreate"}},
            {
                "name": "compile-cache",
                "hostPath": {"path": f"{NODE_COMPILE_CACHE}/{image.tag}", "type": "DirectoryOrCreate"},
            },
        ]
        if model.gated:
            # huggingface_hub reads the token from this file; the value never enters the pod spec.
            env.append({"name": "HF_TOKEN_PATH", "value": f"{SECRETS_MOUNT}/{HF_TOKEN_FILE}"})
        command = API_KEY_LAUNCHER if API_KEY_FILE in self.secrets else SERVE
        if self.secrets:
            mount, volume = secrets_mount()
            mounts.append(mount)
            volumes.append(volume)
        return api_object(
            self,
            f"{model.name}-deployment",
            api_version="apps/v1",
            kind="Deployment",
            metadata={
                "name": deployment_name(model),
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": scan_skips(VLLM_SCAN_FINDINGS),
            },
            spec={
                **({"replicas": server.replicas} if server.replicas is not None else {}),
                "revisionHistoryLimit": 3,
                "selector": {"matchLabels": model_selector(model.name)},
                "strategy": rollout_strategy(server),
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **gpu_placement(),
                        "serviceAccountName": SERVICE_ACCOUNT,
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                        "securityContext": RUNTIME_DEFAULT_SECCOMP,
                        "containers": [
                            {
                                "name": "vllm",
                                "image": image.ref,
                                "command": command,
                                "args": vllm_args(model, self.weights_bucket),
                                "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                                "env": env,
                                "resources": {
                                    # Extended resources cannot be overcommitted: requests equal limits.
                                    # Memory too: an OOM-killed server drops every in-flight stream.
                                    "requests": {GPU_RESOURCE: gpus, "cpu": f"{model.cpu:g}", "memory": memory},
                                    "limits": {GPU_RESOURCE: gpus, "memory": memory},
                                },
                                "startupProbe": _probe(
                                    period=STARTUP_PROBE_PERIOD_SECONDS, failures=STARTUP_PROBE_FAILURES
                                ),
                                "livenessProbe": _probe(period=15, failures=3),
                                "readinessProbe": _probe(period=10, failures=3),
                                "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
                                # The image runs as root (its caches and the node's model cache are root's);
                                # root with no capability and no escalation cannot reach beyond its own files.
                                "securityContext": NO_PRIVILEGES,
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
        )

    def _service(self, model: ModelConfig, labels: dict[str, str]) -> cdk8s.ApiObject:
        return api_object(
            self,
            f"{model.name}-service",
            api_version="v1",
            kind="Service",
            metadata={"name": deployment_name(model), "namespace": NAMESPACE, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": model_selector(model.name),
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
            },
        )

    def _disruption_budget(self, model: ModelConfig, labels: dict[str, str]) -> cdk8s.ApiObject:
        # One pod at a time may be evicted by a drain. minAvailable equal to replicas would
        # block managed node group upgrades forever when there is a single replica.
        return api_object(
            self,
            f"{model.name}-pdb",
            api_version="policy/v1",
            kind="PodDisruptionBudget",
            metadata={"name": deployment_name(model), "namespace": NAMESPACE, "labels": labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": model_selector(model.name)}},
        )
