"""Every pinned version in the app, each with the reason it is the one.

Bumping a version is a one-line change here; tests assert that the
Kubernetes version, the kubectl layer and the cdk8s-plus package agree.
"""

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
}
