"""What GPU nodes are told at boot through nodeadm's NodeConfig (AL2023), for both ways they are launched:
a managed node group's launch template and Karpenter's EC2NodeClass."""

import yaml

# nodeadm's MIME part type: EKS and Karpenter merge a part of this type into the NodeConfig they generate.
NODE_CONFIG_CONTENT_TYPE = "application/node.eks.aws"
# nodeadm's guidance for FastImagePull (awslabs/amazon-eks-ami nodeadm/doc/examples.md): at least 600 MiB/s to
# the root volume, or pulls get slower than without it.
FAST_IMAGE_PULL_MIN_MIBPS = 600


def fast_image_pull_node_config() -> str:
    """SOCI parallel pull: containerd pulls and unpacks an image's layers in parallel (experimental upstream;
    nodeadm ignores it on nodes under 4 vCPUs or 7 GiB)."""
    document = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"featureGates": {"FastImagePull": True}},
    }
    return "---\n" + yaml.safe_dump(document, sort_keys=False)
