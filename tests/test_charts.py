"""The charts of issue #3: what each renders, checked against the schema and against the node group."""

import json

import kubernetes_validate
import pytest
import yaml
from aws_cdk.assertions import Annotations, Match

from charts import dcgm_exporter, vllm
from charts.bundle import write_manifests
from components import cluster_autoscaler
from config.scheduling import GPU_NODE_LABELS, GPU_RESOURCE, GPU_TAINT
from config.versions import DCGM_EXPORTER_IMAGE, DEVICE_PLUGIN_IMAGE, VLLM_IMAGE
from functions.guards.secrets import PLACEHOLDER
from tests.conftest import EXPOSURE_ENVIRONMENTS, RENDERED_ENVIRONMENTS
from tests.manifests import (
    CRD_GROUPS_WITHOUT_SCHEMA,
    applied_documents,
    documents,
    find,
    gpu_request,
    pod_specs,
    validate_strictly,
)


@pytest.fixture(scope="module", params=RENDERED_ENVIRONMENTS)
def rendered(request, synth_env):
    synthesized = synth_env(request.param)
    return {name: documents(chart) for name, chart in synthesized.stacks.inference.charts.items()}


@pytest.mark.parametrize("env_name", RENDERED_ENVIRONMENTS)
def test_manifest_snapshot(synth_env, json_snapshot, env_name):
    charts = synth_env(env_name).stacks.inference.charts
    assert {name: documents(chart) for name, chart in charts.items()} == json_snapshot


def test_every_document_validates_strictly_against_the_pinned_kubernetes(rendered):
    validate_strictly(*(doc for docs in rendered.values() for doc in docs))


def test_strict_validation_rejects_unknown_fields_and_kinds():
    """The check above can fail: a typo'd field and an unlisted custom kind are both refused."""
    with pytest.raises(Exception, match="nodeSelecter"):
        validate_strictly(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "x"},
                "spec": {"containers": [], "nodeSelecter": {}},
            }
        )
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_strictly({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}})
    assert set(CRD_GROUPS_WITHOUT_SCHEMA) == {"secrets-store.csi.x-k8s.io"}


def test_custom_resources_are_validated_against_their_upstream_schema():
    """A broken PrometheusRule is refused by prometheus-operator's own CRD schema, not a hand-written one."""
    good = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}]}]},
    }
    validate_strictly(good)
    broken = json.loads(json.dumps(good))
    del broken["spec"]["groups"][0]["rules"][0]["expr"]
    with pytest.raises(ValueError, match="required property expr"):
        validate_strictly(broken)
    with pytest.raises(ValueError, match="must be string"):
        validate_strictly(
            {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
             "spec": {"selector": {}, "endpoints": [{"port": 9400}]}}
        )  # fmt: skip


# --- NVIDIA device plugin -------------------------------------------------------------------


def test_device_plugin_cannot_miss_the_gpu_nodes(rendered):
    daemon_set = find(rendered["nvidia-device-plugin"], "DaemonSet")
    spec = daemon_set["spec"]["template"]["spec"]
    assert spec["tolerations"] == [GPU_TAINT.toleration()]
    assert spec["nodeSelector"] == GPU_NODE_LABELS
    assert spec["priorityClassName"] == "system-node-critical"
    assert daemon_set["metadata"]["namespace"] == "kube-system"


def test_device_plugin_runs_with_minimal_privileges(rendered):
    spec = find(rendered["nvidia-device-plugin"], "DaemonSet")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == DEVICE_PLUGIN_IMAGE.ref and ":latest" not in container["image"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert "privileged" not in str(spec)
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["volumeMounts"] == [{"name": "device-plugins", "mountPath": "/var/lib/kubelet/device-plugins"}]
    assert spec["volumes"][0]["hostPath"] == {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}
    assert spec["automountServiceAccountToken"] is False


# --- DCGM exporter -------------------------------------------------------------------------


def test_dcgm_exporter_runs_on_gpu_nodes_and_serves_metrics_on_9400(rendered):
    docs = rendered["dcgm-exporter"]
    daemon_set = find(docs, "DaemonSet")
    spec = daemon_set["spec"]["template"]["spec"]
    assert spec["tolerations"] == [GPU_TAINT.toleration()]
    assert spec["nodeSelector"] == GPU_NODE_LABELS
    (container,) = spec["containers"]
    assert container["image"] == DCGM_EXPORTER_IMAGE.ref
    assert container["ports"] == [{"name": "metrics", "containerPort": 9400}]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    service = find(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9400, "targetPort": "metrics"}]
    assert service["spec"]["selector"].items() <= daemon_set["spec"]["template"]["metadata"]["labels"].items()


def test_dcgm_service_carries_labels_a_service_monitor_can_select(rendered):
    labels = find(rendered["dcgm-exporter"], "Service")["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "dcgm-exporter"
    assert labels["app.kubernetes.io/component"] == "gpu-metrics"


def test_dcgm_exports_the_four_metrics_the_guide_names(rendered):
    docs = rendered["dcgm-exporter"]
    csv = find(docs, "ConfigMap")["data"]["counters.csv"]
    fields = {line.split(",")[0] for line in csv.splitlines()}
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_TEMP",
            "DCGM_FI_DEV_POWER_USAGE"} <= fields  # fmt: skip
    assert not any(field.startswith("DCGM_FI_PROF_") for field in fields), "profiling counters need SYS_ADMIN"
    container = find(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["DCGM_EXPORTER_COLLECTORS"] == dcgm_exporter.COUNTERS_PATH
    assert {"name": "counters", "mountPath": dcgm_exporter.COUNTERS_PATH, "subPath": "counters.csv",
            "readOnly": True} in container["volumeMounts"]  # fmt: skip


# --- vLLM ----------------------------------------------------------------------------------


def _vllm(rendered, name="llama3-8b"):
    docs = rendered["vllm"]
    deployment = find(docs, "Deployment", f"vllm-{name}")
    return docs, deployment, deployment["spec"]["template"]["spec"]


def test_vllm_container_has_everything_the_guide_manifest_has(rendered):
    _, _, spec = _vllm(rendered)
    (container,) = spec["containers"]
    assert container["image"].endswith(f"vllm/vllm-openai:{VLLM_IMAGE.tag}"), "upstream or its ECR mirror"
    args = container["args"]
    assert container["command"][-2:] == ["vllm", "serve"] or container["command"][0] == "/bin/sh"
    assert args[0] == "meta-llama/Meta-Llama-3-8B-Instruct", "the model is vllm serve's positional argument"
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    assert flags["--max-model-len"] == "8192"
    assert flags["--gpu-memory-utilization"] == "0.90"
    assert flags["--tensor-parallel-size"] == "1"
    assert flags["--served-model-name"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["resources"] == {
        "requests": {GPU_RESOURCE: "1", "cpu": "4", "memory": "16Gi"},
        "limits": {GPU_RESOURCE: "1", "memory": "16Gi"},
    }
    assert container["startupProbe"]["periodSeconds"] == 10
    # The guide allows 15 minutes; 30 covers twice the slowest budgeted start (tests/test_cold_start.py).
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 900
    assert (container["livenessProbe"]["periodSeconds"], container["livenessProbe"]["failureThreshold"]) == (15, 3)
    assert container["readinessProbe"]["periodSeconds"] == 10
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_vllm_volumes_shm_in_memory_and_node_local_model_cache(rendered):
    _, _, spec = _vllm(rendered)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert volumes["model-cache"]["hostPath"] == {"path": "/var/lib/vllm-cache", "type": "DirectoryOrCreate"}
    mounts = {mount["name"]: mount["mountPath"] for mount in spec["containers"][0]["volumeMounts"]}
    assert mounts["shm"] == "/dev/shm"
    assert mounts["model-cache"] == "/root/.cache/huggingface"


SURGE_FIRST = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
STOP_FIRST = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_vllm_rolls_out_surge_first_when_a_gpu_is_spare(synth_env):
    """alb runs 2 one-GPU models on 3 one-GPU nodes: a spare GPU lets the new pod start first."""
    for model in ("llama3-8b", "qwen25-7b"):
        deployment = find(documents(synth_env("alb").stacks.inference.charts["vllm"]), "Deployment", f"vllm-{model}")
        assert deployment["spec"]["strategy"] == SURGE_FIRST


def test_vllm_rolls_out_stop_first_when_no_gpu_is_spare(synth_env):
    """One fixed GPU node and one replica: a surge pod could never schedule, so the update would hang."""
    synthesized = synth_env("node-group")
    deployment = find(documents(synthesized.stacks.inference.charts["vllm"]), "Deployment")
    assert deployment["spec"]["strategy"] == STOP_FIRST
    Annotations.from_stack(synthesized.stacks.inference).has_warning(
        "*", Match.string_like_regexp("no spare GPU at desired_size 1")
    )


def test_vllm_drains_streams_and_sits_on_gpu_nodes(rendered):
    _, _, spec = _vllm(rendered)
    assert spec["terminationGracePeriodSeconds"] >= 300
    assert spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert spec["tolerations"] == [GPU_TAINT.toleration()]
    assert spec["nodeSelector"] == GPU_NODE_LABELS


def test_vllm_service_pdb_namespace_and_service_account(rendered):
    docs, deployment, spec = _vllm(rendered)
    assert docs[0]["kind"] == "Namespace" and docs[0]["metadata"]["name"] == vllm.NAMESPACE, "namespace first"
    service = find(docs, "Service", "vllm-llama3-8b")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    pdb = find(docs, "PodDisruptionBudget", "vllm-llama3-8b")
    assert pdb["spec"]["selector"]["matchLabels"] == selector and pdb["spec"]["maxUnavailable"] == 1
    account = find(docs, "ServiceAccount", vllm.SERVICE_ACCOUNT)
    assert account["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == vllm.SERVICE_ACCOUNT
    for doc in docs[1:]:
        assert doc["metadata"]["namespace"] == vllm.NAMESPACE


def test_recommended_labels_on_every_object(rendered):
    for docs in rendered.values():
        for doc in docs:
            labels = doc["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/part-of") == "vllm-on-eks", doc["metadata"]["name"]
            if doc["kind"] not in ("Namespace", "ServiceAccount", "SecretProviderClass"):
                for key in ("name", "instance", "component", "version", "managed-by"):
                    assert f"app.kubernetes.io/{key}" in labels, (doc["kind"], key)


def test_selectors_are_small(rendered):
    """Workload and Service selectors; a ServiceMonitor's picks Services, not pods, and may say more."""
    for docs in rendered.values():
        for doc in (d for d in docs if d["kind"] != "ServiceMonitor"):
            selector = doc.get("spec", {}).get("selector", {})
            selector = selector.get("matchLabels", selector)
            if selector:
                assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


def test_hf_token_is_mounted_from_secrets_manager_not_written_into_the_manifest(rendered, synth_env):
    docs, _, spec = _vllm(rendered)
    provider = find(docs, "SecretProviderClass")
    assert provider["spec"]["provider"] == "aws"
    assert provider["spec"]["parameters"]["usePodIdentity"] == "true"
    assert "huggingface-token" in provider["spec"]["parameters"]["objects"]
    env = {item["name"]: item for item in spec["containers"][0]["env"]}
    assert env["HF_TOKEN_PATH"]["value"] == "/mnt/secrets/hf-token"
    assert "HF_TOKEN" not in env and "HUGGING_FACE_HUB_TOKEN" not in env
    assert not any(doc["kind"] == "Secret" for doc in docs)
    csi = next(volume for volume in spec["volumes"] if "csi" in volume)["csi"]
    assert csi["volumeAttributes"]["secretProviderClass"] == provider["metadata"]["name"]


# --- coherence with the node group ---------------------------------------------------------


def _gpu_node_placement(synthesized):
    """The toleration matching the GPU nodes' one taint, and their labels: from the managed node group, or from
    every Karpenter NodePool (which must agree)."""
    template = synthesized.template("cluster")
    if synthesized.config.gpu_node_group.karpenter:
        pools = [doc["spec"]["template"] for doc in applied_documents(template.to_json(), "KarpenterGpuNode")
                 if doc["kind"] == "NodePool"]  # fmt: skip
        placements = [
            ({**pool["spec"]["taints"][0], "operator": "Equal"}, pool["metadata"]["labels"]) for pool in pools
        ]
        assert pools and all(len(pool["spec"]["taints"]) == 1 for pool in pools)
        assert all(placement == placements[0] for placement in placements), "every NodePool places alike"
        return placements[0]
    nodegroups = template.find_resources("AWS::EKS::Nodegroup", {"Properties": {"AmiType": "AL2023_x86_64_NVIDIA"}})
    (nodegroup,) = (group["Properties"] for group in nodegroups.values())
    (taint,) = nodegroup["Taints"]
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    labels = dict(nodegroup["Labels"])
    if synthesized.config.gpu_node_group.cluster_autoscaler:
        # Cluster Autoscaler's GPU marker: the autoscaler reads it, no pod selects on it.
        assert labels.pop(cluster_autoscaler.GPU_LABEL) == "nvidia"
    return {"key": taint["Key"], "operator": "Equal", "value": taint["Value"], "effect": effects[taint["Effect"]]}, (
        labels
    )


@pytest.mark.parametrize("env_name", [*EXPOSURE_ENVIRONMENTS.values(), "node-group"])
def test_gpu_pods_tolerate_exactly_the_node_groups_taint_and_select_its_label(synth_env, env_name):
    synthesized = synth_env(env_name)
    node_toleration, node_labels = _gpu_node_placement(synthesized)
    gpu_pods = 0
    for chart in synthesized.stacks.inference.charts.values():
        for where, spec in pod_specs(documents(chart)):
            if gpu_request(spec):
                gpu_pods += 1
                assert spec["tolerations"] == [node_toleration], where
                assert spec["nodeSelector"] == node_labels, where
                smallest = min(synthesized.config.gpu_node_group.instance_specs, key=lambda s: s.gpus)
                assert gpu_request(spec) <= smallest.gpus, where
    assert gpu_pods == len(synthesized.config.models)


def test_device_plugin_comes_before_the_gpu_workloads(dev):
    inference = dev.template("inference").to_json()["Resources"]
    ids = {
        name: next(k for k in inference if k.startswith(name.replace("-", ""))) for name in dev.stacks.inference.charts
    }
    assert ids["nvidia-device-plugin"] in inference[ids["vllm"]]["DependsOn"]
    association = next(k for k, v in inference.items() if v["Type"] == "AWS::EKS::PodIdentityAssociation")
    assert association in inference[ids["vllm"]]["DependsOn"]


def test_pod_identity_reaches_the_vllm_service_account_and_only_reads_its_secrets(dev):
    template = dev.template("inference")
    template.has_resource_properties(
        "AWS::EKS::PodIdentityAssociation", {"Namespace": vllm.NAMESPACE, "ServiceAccount": vllm.SERVICE_ACCOUNT}
    )
    association = next(iter(template.find_resources("AWS::EKS::PodIdentityAssociation").values()))
    role_id = association["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    (policy,) = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}).values()
    (grant,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(grant["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    arns = json.dumps(grant["Resource"])
    for name in ("vllm-dev/huggingface-token", "vllm-dev/api-key"):
        assert f"secret:{name}-??????" in arns, "exactly these two secrets, by name"
    assert "*" not in arns.replace("-??????", "")


def test_secrets_live_in_their_own_stack_without_a_value(dev):
    template = dev.template("secrets")
    secrets = {
        s["Properties"]["Name"]: s["Properties"]
        for s in template.find_resources("AWS::SecretsManager::Secret").values()
    }
    assert set(secrets) == {"vllm-dev/huggingface-token", "vllm-dev/api-key"}
    assert secrets["vllm-dev/huggingface-token"]["SecretString"] == PLACEHOLDER, "a sentence saying how to set it"
    assert "make secrets" in PLACEHOLDER and not PLACEHOLDER.startswith("hf_")
    assert "SecretString" not in secrets["vllm-dev/api-key"] and secrets["vllm-dev/api-key"]["GenerateSecretString"]
    assert not dev.template("inference").find_resources("AWS::SecretsManager::Secret"), "the workloads own none"


def test_csi_rotation_is_on_so_a_late_token_reaches_running_pods(dev):
    (addon,) = (
        dev.template("cluster")
        .find_resources("AWS::EKS::Addon", {"Properties": {"AddonName": "aws-secrets-store-csi-driver-provider"}})
        .values()
    )
    values = json.loads(addon["Properties"]["ConfigurationValues"])
    assert values["secrets-store-csi-driver"] == {"enableSecretRotation": True, "rotationPollInterval": "2m"}
    assert values["tolerations"] == [GPU_TAINT.toleration()], "the provider runs where vLLM mounts its secrets"


def test_node_monitoring_agent_watches_the_gpu_nodes(dev):
    (addon,) = (
        dev.template("cluster")
        .find_resources("AWS::EKS::Addon", {"Properties": {"AddonName": "eks-node-monitoring-agent"}})
        .values()
    )
    values = json.loads(addon["Properties"]["ConfigurationValues"])
    assert values["dcgmAgent"]["tolerations"] == [GPU_TAINT.toleration()]
    assert values["nodeAgent"]["tolerations"] == [{"operator": "Exists"}]
    nodegroups = dev.template("cluster").find_resources("AWS::EKS::Nodegroup")
    assert all(group["Properties"]["NodeRepairConfig"] == {"Enabled": True} for group in nodegroups.values())


def test_secret_provider_class_names_its_region(rendered):
    provider = find(rendered["vllm"], "SecretProviderClass")
    assert provider["spec"]["parameters"]["region"] == "us-east-1"


# --- plain manifests ----------------------------------------------------------------------


def test_dist_gets_one_numbered_yaml_per_chart_in_apply_order(dev, tmp_path):
    target = tmp_path / "dist" / "dev"
    target.mkdir(parents=True)
    (target / "stale.yaml").write_text("left from an earlier synth")
    written = write_manifests(dev.stacks.inference.charts, target)
    assert [path.name for path in written] == [
        "01-nvidia-device-plugin.yaml",
        "02-dcgm-exporter.yaml",
        "03-vllm.yaml",
        "04-exposure.yaml",
        "05-autoscaling.yaml",
        "06-prometheus-prerequisites.yaml",
        "07-monitoring.yaml",
    ]
    for path, chart in zip(written, dev.stacks.inference.charts.values(), strict=True):
        assert path.read_text() == chart.to_yaml()
        assert "${Token" not in path.read_text()
    assert sorted(p.name for p in tmp_path.joinpath("dist").iterdir()) == ["dev"], "no staging directory left"


def test_cdk_deploys_exactly_what_dist_contains(dev, tmp_path):
    """The template's manifest and the dist/ file are the same documents, field for field.

    The one difference allowed is the label aws-cdk-lib adds so that it can prune removed objects.
    """
    resources = dev.template("inference").to_json()["Resources"]
    written = write_manifests(dev.stacks.inference.charts, tmp_path / "dev")
    for path, name in zip(written, dev.stacks.inference.charts, strict=True):
        (manifest,) = [
            v for k, v in resources.items()
            if k.startswith(name.replace("-", "")) and v["Type"] == "Custom::AWSCDK-EKS-KubernetesResource"
        ]  # fmt: skip
        deployed = json.loads(manifest["Properties"]["Manifest"])
        for doc in deployed:
            labels = doc["metadata"]["labels"]
            (prune,) = [key for key in labels if key.startswith("aws.cdk.eks/prune-")]
            del labels[prune]
        assert deployed == [doc for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if doc], name


def test_vllm_runs_without_privileges_or_capabilities(rendered):
    _, _, spec = _vllm(rendered)
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = spec["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    for chart in ("nvidia-device-plugin", "dcgm-exporter"):
        daemon = find(rendered[chart], "DaemonSet")["spec"]["template"]["spec"]
        assert daemon["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, chart
        assert daemon["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}, chart
        assert daemon["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False, chart


@pytest.mark.parametrize("env_name", EXPOSURE_ENVIRONMENTS.values())
def test_only_the_metrics_scrape_reaches_the_dcgm_exporter(synth_env, env_name):
    """The labelled scrape namespace; with AMP's managed scraper (prod), which connects from VPC addresses,
    the VPC CIDR too, on the metrics port only."""
    synthesized = synth_env(env_name)
    docs = documents(synthesized.stacks.inference.charts["dcgm-exporter"])
    scrapers = [{"namespaceSelector": {"matchLabels": {"vllm-on-eks/metrics-scraper": "true"}}}]
    if synthesized.config.observability.mode == "amp":
        scrapers.append({"ipBlock": {"cidr": synthesized.config.network.vpc_cidr}})
    policy = find(docs, "NetworkPolicy")
    daemon_set = find(docs, "DaemonSet")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= daemon_set["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": scrapers, "ports": [{"protocol": "TCP", "port": 9400}]}]
