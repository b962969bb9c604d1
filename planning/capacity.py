"""Who owns the GPU fleet's size, and what that allows: the one decision the rollout strategy, the
spare-GPU check, the Deployment's `replicas` and the quota request all read.

Today nothing autoscales: the configuration owns both the replica counts and the node count
(`gpu_node_group.desired_size`), so `desired_size` is the capacity a rollout can count on. An
autoscaler (the autoscaling issue) changes the owner here, and every reader follows.
"""

from enum import StrEnum

from config.model import EnvironmentConfig, ModelConfig
from planning.findings import Finding, Kind, warning


class Owner(StrEnum):
    CONFIG = "config"  # replicas and desired_size in the environment file
    AUTOSCALER = "autoscaler"  # an autoscaler sets them; the rendered objects must not fight it


def capacity_owner(config: EnvironmentConfig) -> Owner:
    return Owner.CONFIG


def rendered_replicas(config: EnvironmentConfig, model: ModelConfig) -> int | None:
    """The Deployment's `replicas`, or None (omitted) when an autoscaler owns it."""
    return model.replicas if capacity_owner(config) is Owner.CONFIG else None


def spare_gpus(config: EnvironmentConfig) -> int:
    """GPUs left at the node group's desired size once every replica has its own."""
    per_node = config.gpu_node_group.instance_specs[0].gpus  # validated equal for every allowed type
    return config.gpu_node_group.desired_size * per_node - sum(m.replicas * m.gpus for m in config.models)


def surge_first(config: EnvironmentConfig, model: ModelConfig) -> bool:
    """Can a rolling update start the new pod before stopping the old one (the guide's strategy)?"""
    return spare_gpus(config) >= model.gpus


def capacity_findings(config: EnvironmentConfig) -> list[Finding]:
    spare = spare_gpus(config)
    if spare < 0:
        return [
            warning(
                Kind.GPUS_SHORT,
                f"the models need {-spare} more GPUs than gpu_node_group.desired_size "
                f"({config.gpu_node_group.desired_size}) provides, so some replicas stay Pending; raise desired_size",
            )
        ]
    return [
        warning(
            Kind.STOP_FIRST_ROLLOUT,
            f"models[{index}] ({model.name}): no spare GPU at desired_size {config.gpu_node_group.desired_size}, so "
            "rolling updates stop the old pod before starting the new one (minutes of downtime per update); "
            f"raise gpu_node_group.desired_size by {-(-model.gpus // config.gpu_node_group.instance_specs[0].gpus)} "
            "for surge-first updates",
        )
        for index, model in enumerate(config.models)
        if not surge_first(config, model)
    ]
