"""Every pinned version in the app, each with the reason it is the one.

Bumping a version is a one-line change here; tests assert that the
Kubernetes version, the kubectl layer and the cdk8s-plus package agree.
"""

from config.images import Image
from config.vllm import VLLM_IMAGE  # the vLLM pin lives with what that release accepts

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


# Only with observability.mode in-cluster: Prometheus's volume is an EBS volume. v1.64.0 is the newest
# driver release upstream (kubernetes-sigs/aws-ebs-csi-driver CHANGELOG, 2026-08); its EKS build string
# is unconfirmed, so preflight and the quota guard check it against the region before anything starts.
EBS_CSI_ADDON_VERSION = "v1.64.0-eksbuild.1"

# kube-prometheus-stack for observability.mode in-cluster: 88.5.3 (Prometheus Operator v0.93.1) is the
# newest chart in prometheus-community/helm-charts as read on 2026-12-03 (snapshot of 2026-08-22), and
# supports Kubernetes >= 1.25. Installed from the chart repository below at deploy time, never at synth.
KUBE_PROMETHEUS_STACK_VERSION = "88.5.3"
KUBE_PROMETHEUS_STACK_REPOSITORY = "https://prometheus-community.github.io/helm-charts"

# Karpenter 1.14.1 (gpu_node_group.autoscaler karpenter): the newest release in aws/karpenter-provider-aws
# (snapshot of 2026-08-21); its compatibility matrix needs >= 1.13 for Kubernetes 1.36. The CRD schemas the
# tests validate against (@kubernetes-models/karpenter 2.0.0) are generated from v1.12.1; v1.12.1 -> v1.14.1
# only adds optional fields to EC2NodeClass (connectionTracking, cpuOptions) that the app does not set.
# A bump: the chart installs its CRDs only on first install, so apply the karpenter-crd chart of the new
# version first (upstream's upgrade guide), then change this line.
KARPENTER_VERSION = "1.14.1"
KARPENTER_REPOSITORY = "oci://public.ecr.aws/karpenter/karpenter"
# The EKS-optimized AL2023 AMI release Karpenter launches GPU nodes from (it picks the NVIDIA variant for GPU
# types), never @latest: a new AMI would roll every GPU node. v20260714 is the newest release in
# awslabs/amazon-eks-ami's CHANGELOG with amazon-eks-node-al2023-x86_64-nvidia-1.36 (snapshot of 2026-08).
# Bump it with KUBERNETES_VERSION: the alias must name a release built for the cluster's minor, or the
# node class turns not-Ready and no GPU node launches. A bump replaces the GPU nodes as drift, one at a time.
KARPENTER_AMI_ALIAS = "al2023@v20260714"

# KEDA 2.20.2 (models[].autoscaling): the newest chart in kedacore/charts (snapshot of 2026-08-13; the chart
# version equals KEDA's). The CRD schemas the tests validate against (@kubernetes-models/keda 2.0.0) are
# generated from KEDA v2.19.0; the chart's ScaledObject CRD from 2.19.0 to 2.20.2 only tightened validation
# (minimums, minReplicaCount <= maxReplicaCount, the authenticationRef kind enum), which config validation
# enforces too. KEDA's support of Kubernetes 1.36 is not verified here: its release notes were not reachable.
KEDA_VERSION = "2.20.2"
KEDA_REPOSITORY = "https://kedacore.github.io/charts"

# AWS Load Balancer Controller v3.2.2: the newest release aws-cdk-lib 2.275 ships together with its
# matching IAM policy, so the controller's permissions are AWS-maintained, not a hand-copied document.
LOAD_BALANCER_CONTROLLER_VERSION = "v3.2.2"

# The deploy-time guards' runtime (functions/guards): the newest Python Lambda runs, so cdk-nag's
# latest-runtime rule holds; the guards use only the standard library and the runtime's boto3.
LAMBDA_PYTHON_RUNTIME = "python3.14"

# NVIDIA device plugin v0.20.0 (2026-08): newest upstream release tag; no privileges needed.
DEVICE_PLUGIN_IMAGE = Image("nvcr.io", "nvidia/k8s-device-plugin", "v0.20.0")
# DCGM exporter 4.5.3-4.8.2 (DCGM 4.5.3, exporter 4.8.2): newest upstream release; the
# distroless variant is what upstream's own manifests use and has the smallest attack surface.
DCGM_EXPORTER_IMAGE = Image("nvcr.io", "nvidia/k8s/dcgm-exporter", "4.5.3-4.8.2-distroless")

IMAGES = {"vllm": VLLM_IMAGE, "nvidia-device-plugin": DEVICE_PLUGIN_IMAGE, "dcgm-exporter": DCGM_EXPORTER_IMAGE}

# Cluster Autoscaler (gpu_node_group.autoscaler cluster-autoscaler): chart 9.59.0 is the newest in
# kubernetes/autoscaler (snapshot of 2026-08-22); its default image is 1.35.0, but Cluster Autoscaler's minor
# must match the cluster's, so the image is 1.36.1, the newest 1.36 release tag in that repository
# (cluster-autoscaler-1.36.1). The image's presence on registry.k8s.io was not checked from here.
CLUSTER_AUTOSCALER_CHART_VERSION = "9.59.0"
CLUSTER_AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER_IMAGE_TAG = "v1.36.1"
