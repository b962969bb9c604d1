"""Builds every stack of one environment into an app: the one place stacks are wired together."""

from dataclasses import dataclass

from aws_cdk import Annotations, App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from charts.bundle import prometheus_rules
from config.model import EnvironmentConfig
from config.names import REGISTRY_STACK
from config.secrets import API_KEY_FILE, mounted_secrets
from observability.scrape import scrape_config_yaml
from planning.fit import require_deployable
from stacks.cluster_stack import ClusterStack
from stacks.inference_stack import InferenceStack
from stacks.monitoring_stack import MonitoringStack
from stacks.network_stack import NetworkStack
from stacks.registry_stack import RegistryStack
from stacks.secrets_stack import SecretsStack
from stacks.weights_stack import WeightsStack


@dataclass(frozen=True)
class EnvironmentStacks:
    network: NetworkStack | None  # None with an existing VPC
    secrets: SecretsStack
    cluster: ClusterStack
    inference: InferenceStack
    registry: RegistryStack | None
    monitoring: MonitoringStack | None = None  # with observability.mode amp
    weights: WeightsStack | None = None  # with a weights_bucket


def admin_principals(config: EnvironmentConfig, deployer: str | None) -> list[str]:
    """Who gets cluster-admin: the configured principals, plus the deployer unless config says no."""
    principals = list(config.cluster.admin_principals)
    if deployer and config.cluster.grant_deployer and deployer not in principals:
        principals.append(deployer)
    return principals


def build(app: App, config: EnvironmentConfig, *, deployer: str | None = None) -> EnvironmentStacks:
    """Add the environment's stacks to `app`, with cdk-nag's AwsSolutions checks run at synth.

    `deployer` is the IAM principal `make deploy` recorded for this environment (None in CI and tests).

    Raises ConfigError when a model cannot run on the configured GPU nodes: it does not fit the GPU
    memory (weights, one sequence of KV cache), or its pod does not fit the node (GPUs, CPU, memory).
    """
    warnings = require_deployable(config)
    env = Environment(account=config.account, region=config.region)
    prefix = config.stack_prefix
    registry = None
    if config.mirror_images:
        registry = RegistryStack(
            app, REGISTRY_STACK, env=env, description="vLLM on EKS: ECR pull-through cache of the pinned images"
        )
    mounted = mounted_secrets(config)
    network = None
    if not config.network.existing_vpc_id:
        network = NetworkStack(
            app, f"{prefix}-network", config=config.network, env=env, description=f"vLLM on EKS ({config.name}): VPC"
        )
    secrets_stack = SecretsStack(
        app,
        f"{prefix}-secrets",
        # Always, gated model or not: deleting it would schedule the name for deletion, and a later gated
        # model could not create it again for up to 30 days (the token would be gone too).
        hf_token_name=config.hf_token_secret_name,
        api_key_name=mounted.get(API_KEY_FILE),
        env=env,
        description=f"vLLM on EKS ({config.name}): Hugging Face token and api key (values set outside CloudFormation)",
    )
    cluster = ClusterStack(
        app,
        f"{prefix}-cluster",
        config=config,
        vpc=network.vpc if network else None,
        mirror_repositories=list(registry.mirror.repositories.values()) if registry else [],
        admin_principals=admin_principals(config, deployer),
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
    inference.add_stack_dependency(secrets_stack, "the model servers mount the secrets it creates")
    weights = None
    if config.weights_bucket and config.creates_weights_bucket:
        weights = WeightsStack(
            app,
            f"{prefix}-weights",
            config=config.weights_bucket,
            env=env,
            description=f"vLLM on EKS ({config.name}): S3 bucket of model weights (kept when deleted)",
        )
        inference.add_stack_dependency(weights, "models with weights: s3-stream read their weights from its bucket")
    monitoring = None
    if config.observability.managed_prometheus:
        monitoring = MonitoringStack(
            app,
            f"{prefix}-monitoring",
            cluster=cluster.cluster,
            alias=prefix,
            scrape_config=scrape_config_yaml(),
            rules=prometheus_rules(config),
            settings=config.observability.amp,
            autoscaled=[model for model in config.models if model.autoscaling],
            keda_role=cluster.keda.identity.role if cluster.keda and cluster.keda.identity else None,
            env=env,
            description=f"vLLM on EKS ({config.name}): Amazon Managed Service for Prometheus, scraper, alerts",
        )
    if monitoring and cluster.keda:
        monitoring.add_stack_dependency(inference, "its ScaledObjects scale the model servers' Deployments")
    if registry:
        inference.add_stack_dependency(registry, "the vLLM image is pulled through the registry's cache")
    for warning in warnings:
        Annotations.of(inference).add_warning_v2("vllm:model-fit", f"{config.source_file}: {warning}")
    # Environment tags go on the environment's own stacks; the shared registry must not carry
    # one environment's tags, or two environments would keep re-tagging it.
    # The user's tags skip launch templates: a new template version replaces every node, so editing
    # a tag would roll the GPU nodes (and re-download the model). The environment name never changes
    # and still reaches the instances, for cost allocation.
    for stack in (stack for stack in (network, secrets_stack, cluster, inference, monitoring, weights) if stack):
        Tags.of(stack).add("environment", config.name)
        for key, value in config.tags.items():
            Tags.of(stack).add(key, value, exclude_resource_types=["AWS::EC2::LaunchTemplate"])
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return EnvironmentStacks(
        network=network,
        secrets=secrets_stack,
        cluster=cluster,
        inference=inference,
        registry=registry,
        monitoring=monitoring,
        weights=weights,
    )
