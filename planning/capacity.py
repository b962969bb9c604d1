"""Who owns the GPU fleet's size, and what that allows: the one decision the rollout strategy, the
spare-GPU check, the Deployment's `replicas` and the quota request all read.

The configuration owns a model's replica count, unless the model has `autoscaling` (KEDA owns it
then, between min_replicas and max_replicas). The GPU node count is the configuration's
(`gpu_node_group.desired_size`) with autoscaler none, and the node autoscaler's (Karpenter or Cluster
Autoscaler), up to `max_size`, otherwise: then a rollout can count on every node under that ceiling.
"""

from enum import StrEnum

from config.model import EnvironmentConfig, ModelConfig
from planning.findings import Finding, Kind, warning


class Owner(StrEnum):
    CONFIG = "config"  # replicas and desired_size in the environment file
    AUTOSCALER = "autoscaler"  # an autoscaler sets them; the rendered objects must not fight it


def replicas_owner(model: ModelConfig) -> Owner:
    return Owner.AUTOSCALER if model.autoscaling else Owner.CONFIG


def rendered_replicas(model: ModelConfig) -> int | None:
    """The Deployment's `replicas`, or None (omitted) when an autoscaler owns it: a value there would fight it."""
    return model.replicas if replicas_owner(model) is Owner.CONFIG else None


def gpus_per_node(config: EnvironmentConfig) -> int:
    return config.gpu_node_group.instance_specs[0].gpus  # validated equal for every allowed type


def gpu_node_ceiling(config: EnvironmentConfig) -> int:
    """The GPU nodes a rollout can count on: an autoscaler launches up to max_size; a fixed group has desired_size."""
    group = config.gpu_node_group
    return group.max_size if group.scales else group.desired_size


def ceiling_field(config: EnvironmentConfig) -> str:
    return "max_size" if config.gpu_node_group.scales else "desired_size"


def nodes_for_replicas(config: EnvironmentConfig) -> int:
    """GPU nodes the replicas occupy at deploy (what Karpenter launches then)."""
    return -(-sum(m.initial_replicas * m.gpus for m in config.models) // gpus_per_node(config))


def nodes_at_peak(config: EnvironmentConfig) -> int:
    """GPU nodes the replicas occupy when every model runs its most replicas."""
    return -(-sum(m.peak_replicas * m.gpus for m in config.models) // gpus_per_node(config))


def spare_gpus(config: EnvironmentConfig) -> int:
    """GPUs left at the fleet's ceiling once every replica, at its peak, has its own."""
    return gpu_node_ceiling(config) * gpus_per_node(config) - sum(m.peak_replicas * m.gpus for m in config.models)


def surge_first(config: EnvironmentConfig, model: ModelConfig) -> bool:
    """Can a rolling update start the new pod before stopping the old one (the guide's strategy)?"""
    return spare_gpus(config) >= model.gpus


def capacity_findings(config: EnvironmentConfig) -> list[Finding]:
    spare = spare_gpus(config)
    field = f"gpu_node_group.{ceiling_field(config)}"
    ceiling = gpu_node_ceiling(config)
    if spare < 0:
        return [
            warning(
                Kind.GPUS_SHORT,
                f"the models need {-spare} more GPUs than {field} ({ceiling}) provides, so some replicas stay "
                f"Pending; raise {ceiling_field(config)}",
            )
        ]
    return [
        warning(
            Kind.STOP_FIRST_ROLLOUT,
            f"models[{index}] ({model.name}): no spare GPU at {ceiling_field(config)} {ceiling}, so "
            "rolling updates stop the old pod before starting the new one (minutes of downtime per update); "
            f"raise {field} by {-(-model.gpus // gpus_per_node(config))} for surge-first updates",
        )
        for index, model in enumerate(config.models)
        if not surge_first(config, model)
    ]
