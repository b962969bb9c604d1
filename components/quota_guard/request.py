"""What an environment file asks of the account, in the form the checks take."""

from components.quota_guard.checks import CapacityRequest
from config.model import EnvironmentConfig
from config.versions import ADDON_VERSIONS, KUBERNETES_VERSION


def capacity_request(config: EnvironmentConfig) -> CapacityRequest:
    system = config.cluster.system_node_group
    gpu = config.gpu_node_group
    return CapacityRequest(
        region=config.region,
        availability_zones=tuple(config.network.availability_zones),
        gpu_instance_types=tuple(gpu.instance_types),
        gpu_max_nodes=gpu.max_size,
        capacity_type=gpu.capacity_type.value,
        system_instance_types=tuple(system.instance_types),
        system_max_nodes=system.max_size,
        kubernetes_version=KUBERNETES_VERSION,
        addon_versions=dict(ADDON_VERSIONS),
    )
