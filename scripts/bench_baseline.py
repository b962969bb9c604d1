"""The bare baseline `make bench` compares synth time with: an EKS cluster, a GPU node group and one
cdk8s chart, synthesized with the same venv and CDK CLI. Not part of the app; a yardstick only.

    cdk synth -a ".venv/bin/python scripts/bench_baseline.py" -o /tmp/baseline
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.versions import KUBERNETES_VERSION


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter).parse_args()
    # After the arguments, so --help answers without starting jsii; the timed synth imports them either way.
    import cdk8s
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_eks_v2 as eks
    from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer

    app = App()
    stack = Stack(app, "baseline")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    cluster = eks.Cluster(
        stack,
        "Cluster",
        version=eks.KubernetesVersion.of(KUBERNETES_VERSION),
        vpc=vpc,
        default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
        default_capacity=0,
        kubectl_provider_options=eks.KubectlProviderOptions(kubectl_layer=KubectlV36Layer(stack, "Kubectl")),
    )
    cluster.add_nodegroup_capacity(
        "Gpu", instance_types=[ec2.InstanceType("g5.2xlarge")], ami_type=eks.NodegroupAmiType.AL2023_X86_64_NVIDIA
    )
    chart = cdk8s.Chart(cdk8s.App(), "workload")
    cdk8s.ApiObject(chart, "Namespace", api_version="v1", kind="Namespace", metadata={"name": "baseline"})
    cluster.add_cdk8s_chart("Workload", chart)
    app.synth()


if __name__ == "__main__":
    main()
