"""NVIDIA device plugin: makes `nvidia.com/gpu` a schedulable resource on the GPU nodes.

The guide's silent failure is a plugin that does not tolerate the GPU taint and so never runs
where the GPUs are. Here placement comes from config.scheduling, the same values the node
group is built from, so the two cannot drift apart.
"""

from charts.common import (
    NO_PRIVILEGES,
    PINNED_BY_TAG,
    RUNTIME_DEFAULT_SECCOMP,
    StandaloneChart,
    gpu_node_daemon_set,
    ingress_policy,
    recommended_labels,
    selector_labels,
)
from charts.names import DEVICE_PLUGIN as NAME
from charts.names import DEVICE_PLUGIN_NAMESPACE as NAMESPACE
from config.images import Image
from config.scheduling import GPU_NODE_AGENT_REQUESTS
from config.versions import DEVICE_PLUGIN_IMAGE

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
            scan_findings=PINNED_BY_TAG
            | {
                "CKV_K8S_23": "registers with the kubelet through a socket in the root-owned host directory "
                "/var/lib/kubelet/device-plugins, as upstream runs it; it has no capability and cannot escalate",
                "CKV_K8S_40": "same reason: the kubelet's device-plugin directory belongs to root on the host",
                "CKV_K8S_22": "left writable as upstream ships it; not tried read-only without a GPU to prove it",
                "CKV_K8S_8": "a node agent with no HTTP endpoint (upstream ships no probe); FAIL_ON_INIT_ERROR makes "
                "it crash, visibly, instead of running without GPUs",
                "CKV_K8S_9": "same reason: nothing to probe; the kubelet sees it register or not",
            },
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
        # It serves nothing over the network (the kubelet talks to it through a socket), so nothing may reach it.
        self.network_policy = ingress_policy(
            self,
            "NetworkPolicy",
            metadata={"name": f"{NAME}-deny-ingress", "namespace": NAMESPACE, "labels": labels},
            pods=selector_labels(NAME, NAME),
        )
