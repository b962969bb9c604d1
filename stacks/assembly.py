"""Builds every stack of one environment into an app: the one place stacks are wired together."""

from dataclasses import dataclass

from aws_cdk import Annotations, App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from charts.capacity import deployability, refusal
from config.loader import ConfigError
from config.model import EnvironmentConfig
from stacks.cluster_stack import ClusterStack
from stacks.inference_stack import InferenceStack
from stacks.network_stack import NetworkStack
from stacks.registry_stack import RegistryStack

REGISTRY_STACK = "vllm-registry"  # one per account and region, shared by its environments


@dataclass(frozen=True)
class EnvironmentStacks:
    network: NetworkStack | None  # None with an existing VPC
    cluster: ClusterStack
    inference: InferenceStack
    registry: RegistryStack | None


def build(app: App, config: EnvironmentConfig) -> EnvironmentStacks:
    """Add the environment's stacks to `app`, with cdk-nag's AwsSolutions checks run at synth.

    Raises ConfigError when a model cannot run on the configured GPU nodes: it does not fit the GPU
    memory (weights, one sequence of KV cache), or its pod does not fit the node (GPUs, CPU, memory).
    """
    problems, warnings = deployability(config)
    if problems:
        raise ConfigError(refusal(config, problems))
    env = Environment(account=config.account, region=config.region)
    prefix = config.stack_prefix
    registry = None
    if config.mirror_images:
        registry = RegistryStack(
            app, REGISTRY_STACK, env=env, description="vLLM on EKS: ECR pull-through cache of the pinned images"
        )
    network = None
    if not config.network.existing_vpc_id:
        network = NetworkStack(
            app, f"{prefix}-network", config=config.network, env=env, description=f"vLLM on EKS ({config.name}): VPC"
        )
    cluster = ClusterStack(
        app,
        f"{prefix}-cluster",
        config=config,
        vpc=network.vpc if network else None,
        mirror_repositories=list(registry.mirror.repositories.values()) if registry else [],
        env=env,
        description=f"vLLM on EKS ({config.name}): EKS cluster and node groups",
    )
    inference = InferenceStack(
        app,
        f"{prefix}-inference",
        config=config,
        cluster=cluster.cluster,
        env=env,
        description=f"vLLM on EKS ({config.name}): GPU workloads (device plugin, DCGM exporter, vLLM)",
    )
    if registry:
        inference.add_stack_dependency(registry, "the vLLM image is pulled through the registry's cache")
    for warning in warnings:
        Annotations.of(inference).add_warning_v2("vllm:model-fit", f"{config.source_file}: {warning}")
    # Environment tags go on the environment's own stacks; the shared registry must not carry
    # one environment's tags, or two environments would keep re-tagging it.
    # The user's tags skip launch templates: a new template version replaces every node, so editing
    # a tag would roll the GPU nodes (and re-download the model). The environment name never changes
    # and still reaches the instances, for cost allocation.
    for stack in (stack for stack in (network, cluster, inference) if stack):
        Tags.of(stack).add("environment", config.name)
        for key, value in config.tags.items():
            Tags.of(stack).add(key, value, exclude_resource_types=["AWS::EC2::LaunchTemplate"])
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return EnvironmentStacks(network=network, cluster=cluster, inference=inference, registry=registry)
