"""Every pinned version in the app, each with the reason it is the one.

Bumping a version is a one-line change here; tests assert that the
Kubernetes version, the kubectl layer and the cdk8s-plus package agree.
"""

from dataclasses import dataclass

# The newest minor that EKS standard support (1.36 since 2026-06, standard support
# to 2027-08), aws-cdk-lib's KubernetesVersion, the aws-cdk.lambda-layer-kubectl-v36
# layer and cdk8s-plus-36 all cover. Changing it means moving those two pins in
# pyproject.toml to the same minor; tests/test_versions.py checks that they agree.
KUBERNETES_VERSION = "1.36"

# Managed add-ons, pinned so an EKS default bump never changes a running cluster
# behind our back: the newest eksbuild seen for 1.36 when last bumped.
# `aws eks describe-addon-versions --kubernetes-version 1.36 --addon-name NAME`
# lists what is current before a bump.
ADDON_VERSIONS: dict[str, str] = {
    "vpc-cni": "v1.23.2-eksbuild.1",  # >= 1.14 runs the node agent that enforces NetworkPolicy
    "coredns": "v1.14.7-eksbuild.11",
    "kube-proxy": "v1.36.0-eksbuild.45",  # kube-proxy tracks the control-plane minor
    "eks-pod-identity-agent": "v1.4.0-eksbuild.3",  # hands Pod Identity credentials to pods
    # Secrets Store CSI driver + AWS provider: mounts Secrets Manager secrets into pods.
    "aws-secrets-store-csi-driver-provider": "v3.1.3-eksbuild.1",
    # Sets the AcceleratedHardwareReady node condition from NVIDIA XID and DCGM errors, which node
    # auto-repair acts on; v1.7.0 is the newest chart tag upstream (aws/eks-node-monitoring-agent,
    # 2026-08). Its 1.36 build string is unconfirmed: preflight and the quota guard check it.
    "eks-node-monitoring-agent": "v1.7.0-eksbuild.1",
}


# The deploy-time guards' runtime (functions/guards): the newest Python Lambda runs, so cdk-nag's
# latest-runtime rule holds; the guards use only the standard library and the runtime's boto3.
LAMBDA_PYTHON_RUNTIME = "python3.14"

# Upstream registries an ECR pull-through cache rule can front, by registry host, with the
# repository prefix the cache uses. nvcr.io (NVIDIA NGC) is not one of them.
PULL_THROUGH_UPSTREAMS = {"docker.io": ("docker-hub", "registry-1.docker.io")}


@dataclass(frozen=True)
class Image:
    """A container image pinned by tag; `registry` is what a mirror (ECR) replaces."""

    registry: str
    repository: str
    tag: str

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def mirror_prefix(self) -> str | None:
        """The pull-through cache prefix for this image's registry, or None where ECR cannot mirror it."""
        upstream = PULL_THROUGH_UPSTREAMS.get(self.registry)
        return upstream[0] if upstream else None

    @property
    def mirror_repository(self) -> str:
        return f"{self.mirror_prefix}/{self.repository}"

    def mirrored(self, account: str, region: str) -> "Image":
        """The same image served from the account's ECR, or itself where ECR cannot mirror its registry."""
        if not self.mirror_prefix:
            return self
        return Image(f"{account}.dkr.ecr.{region}.amazonaws.com", self.mirror_repository, self.tag)


# vLLM 0.31.0 (2026-10): the newest release with a published, widely used image. Since 0.20 the
# unsuffixed image is built on CUDA 13, which needs NVIDIA driver >= 580: the EKS AL2023 NVIDIA
# AMI ships the 580 branch. Never `latest`: a model-server upgrade is a tested change.
VLLM_IMAGE = Image("docker.io", "vllm/vllm-openai", "v0.31.0")
# NVIDIA device plugin v0.20.0 (2026-08): newest upstream release tag; no privileges needed.
DEVICE_PLUGIN_IMAGE = Image("nvcr.io", "nvidia/k8s-device-plugin", "v0.20.0")
# DCGM exporter 4.5.3-4.8.2 (DCGM 4.5.3, exporter 4.8.2): newest upstream release; the
# distroless variant is what upstream's own manifests use and has the smallest attack surface.
DCGM_EXPORTER_IMAGE = Image("nvcr.io", "nvidia/k8s/dcgm-exporter", "4.5.3-4.8.2-distroless")

IMAGES = {"vllm": VLLM_IMAGE, "nvidia-device-plugin": DEVICE_PLUGIN_IMAGE, "dcgm-exporter": DCGM_EXPORTER_IMAGE}
