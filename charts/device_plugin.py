"""NVIDIA device plugin: makes `nvidia.com/gpu` a schedulable resource on the GPU nodes.

The guide's silent failure is a plugin that does not tolerate the GPU taint and so never runs
where the GPUs are. Here placement comes from config.scheduling, the same values the node
group is built from, so the two cannot drift apart.
"""

from charts.common import (
    NO_PRIVILEGES,
    RUNTIME_DEFAULT_SECCOMP,
    StandaloneChart,
    gpu_node_daemon_set,
    recommended_labels,
)
from config.images import Image
from config.scheduling import GPU_NODE_AGENT_REQUESTS
from config.versions import DEVICE_PLUGIN_IMAGE

NAME = "nvidia-device-plugin"
NAMESPACE = "kube-system"  # beside the other node agents, as in upstream's static manifest
KUBELET_DEVICE_PLUGINS = "/var/lib/kubelet/device-plugins"
REQUESTS = GPU_NODE_AGENT_REQUESTS[NAME]
LIMITS = {"cpu": "200m", "memory": "128Mi"}


class DevicePluginChart(StandaloneChart):
    def __init__(self, *, image: Image = DEVICE_PLUGIN_IMAGE) -> None:
        super().__init__(NAME)
        labels = recommended_labels(NAME, NAME, component="device-plugin", version=image.tag)
        self.daemon_set = gpu_node_daemon_set(
            self,
            name=NAME,
            namespace=NAMESPACE,
            labels=labels,
            pod_security_context=RUNTIME_DEFAULT_SECCOMP,
            container={
                "image": image.ref,
                # Crash (and show in kubectl) rather than run without finding GPUs.
                "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "true"}],
                # It only talks to the kubelet over a socket in the mounted directory; the NVIDIA
                # container runtime exposes the devices. No capability needed.
                "securityContext": NO_PRIVILEGES,
                "resources": {"requests": REQUESTS, "limits": LIMITS},
                "volumeMounts": [{"name": "device-plugins", "mountPath": KUBELET_DEVICE_PLUGINS}],
            },
            volumes=[{"name": "device-plugins", "hostPath": {"path": KUBELET_DEVICE_PLUGINS, "type": "Directory"}}],
        )
