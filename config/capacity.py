"""What an environment file asks of the account, in the form the quota guard and preflight take."""

import json

from config.addons import ADDON_CONFIGURATION, environment_addons
from config.model import EnvironmentConfig
from config.versions import KUBERNETES_VERSION
from functions.guards.capacity import CapacityRequest
from planning.capacity import nodes_for_replicas


def capacity_request(config: EnvironmentConfig) -> CapacityRequest:
    system = config.cluster.system_node_group
    gpu = config.gpu_node_group
    return CapacityRequest(
        region=config.region,
        availability_zones=tuple(config.network.availability_zones),
        gpu_instance_types=tuple(gpu.instance_types),
        # An autoscaler launches what the replicas need at deploy; a fixed group launches desired_size.
        gpu_desired_nodes=nodes_for_replicas(config) if gpu.scales else gpu.desired_size,
        gpu_max_nodes=gpu.max_size,
        capacity_type=gpu.capacity_type.value,
        system_instance_types=tuple(system.instance_types),
        system_desired_nodes=system.desired_size,
        system_max_nodes=system.max_size,
        kubernetes_version=KUBERNETES_VERSION,
        addon_versions=environment_addons(config),
        # JSON text, so CloudFormation's stringification of custom-resource properties cannot retype it.
        addon_configuration={
            name: json.dumps(values)
            for name, values in ADDON_CONFIGURATION.items()
            if name in environment_addons(config)
        },
    )
