"""observability.mode existing: ServiceMonitors that select exactly the right Services, and the alert rules as a PrometheusRule."""

import json
import re

import yaml

from charts.bundle import prometheus_rules
from charts.monitoring import GRAFANA_DASHBOARD_LABEL
from observability.dashboard import FILE_NAME, grafana_dashboard
from observability.rules import DCGM_JOB, VLLM_JOB
from observability.scrape import JOB_LABEL, scrape_config, scrape_config_yaml
from tests.manifests import documents, find


def _docs(synthesized, chart):
    return documents(synthesized.stacks.inference.charts[chart])


def test_service_monitors_select_the_scraped_services_and_name_the_jobs_the_rules_use(synth_env):
    alb = synth_env("alb")
    monitoring = _docs(alb, "monitoring")
    services = [
        doc for chart in ("dcgm-exporter", "vllm", "exposure") for doc in _docs(alb, chart) if doc["kind"] == "Service"
    ]
    for name, job in (("dcgm-exporter", DCGM_JOB), ("vllm", VLLM_JOB)):
        monitor = find(monitoring, "ServiceMonitor", name)
        selector = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert chosen and all(s["metadata"]["namespace"] == monitor["metadata"]["namespace"] for s in chosen)
        assert all(s["spec"]["type"] == "ClusterIP" for s in chosen), "never the load balancer Services"
        (port,) = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
        assert all(port in {p["name"] for p in s["spec"]["ports"]} for s in chosen)
        assert {s["metadata"]["labels"][JOB_LABEL] for s in chosen} == {job}
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        len([s for s in services if s["metadata"]["name"].startswith("vllm-") and s["spec"]["type"] == "ClusterIP"])
        == 2
    )


def test_the_prometheus_rule_carries_the_tested_rules(synth_env):
    alb = synth_env("alb")
    rule = find(_docs(alb, "monitoring"), "PrometheusRule")
    assert rule["spec"] == prometheus_rules(alb.config)
    assert "vllm-on-eks.cost" in {group["name"] for group in rule["spec"]["groups"]}


def test_the_dashboard_is_a_configmap_the_grafana_sidecar_loads(synth_env):
    alb = synth_env("alb")
    config_map = find(_docs(alb, "monitoring"), "ConfigMap", "vllm-on-eks-dashboard")
    assert GRAFANA_DASHBOARD_LABEL.items() <= config_map["metadata"]["labels"].items()
    assert json.loads(config_map["data"][FILE_NAME]) == grafana_dashboard()


def test_no_operator_objects_unless_the_cluster_runs_the_operator(synth_env, prod):
    unmonitored = synth_env("node-group")
    assert (unmonitored.config.observability.mode, prod.config.observability.mode) == ("none", "amp")
    for synthesized in (unmonitored, prod):
        assert "monitoring" not in synthesized.stacks.inference.charts
    assert unmonitored.stacks.monitoring is None


def _resource(template, kind):
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == kind]
    return resource


def _ref(template, kind):
    (logical_id,) = [key for key, r in template["Resources"].items() if r["Type"] == kind]
    return logical_id


def test_amp_scraper_reads_the_cluster_from_its_private_subnets_into_the_workspace(prod):
    template = prod.template_json("monitoring")
    scraper = _resource(template, "AWS::APS::Scraper")["Properties"]
    eks_source = scraper["Source"]["EksConfiguration"]
    cluster_arn = eks_source["ClusterArn"]["Fn::GetStackOutput"]
    assert cluster_arn["StackName"] == "vllm-prod-cluster"
    assert re.fullmatch(r"\w*ControlPlaneCluster\w*Arn\w*", cluster_arn["OutputName"]), "the cluster's ARN"
    # Two or more subnets in two or more zones (the collector's requirement): the VPC's private subnets.
    assert len(eks_source["SubnetIds"]) == len(prod.config.network.availability_zones) >= 2
    assert all("privateSubnet" in json.dumps(subnet) for subnet in eks_source["SubnetIds"])
    assert "ClusterSecurityGroupId" in json.dumps(eks_source["SecurityGroupIds"])
    workspace = _ref(template, "AWS::APS::Workspace")
    assert scraper["Destination"]["AmpConfiguration"]["WorkspaceArn"] == {"Fn::GetAtt": [workspace, "Arn"]}
    assert yaml.safe_load(scraper["ScrapeConfiguration"]["ConfigurationBlob"]) == scrape_config()


def test_amp_gets_the_same_rules_and_alerts_reach_an_encrypted_topic_only_the_workspace_may_publish_to(prod):
    template = prod.template_json("monitoring")
    workspace = _ref(template, "AWS::APS::Workspace")
    rules = _resource(template, "AWS::APS::RuleGroupsNamespace")["Properties"]
    assert rules["Workspace"] == {"Fn::GetAtt": [workspace, "Arn"]}
    assert yaml.safe_load(rules["Data"]) == prometheus_rules(prod.config)
    topic = _ref(template, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in template["Resources"][topic]["Properties"]
    definition = template["Resources"][workspace]["Properties"]["AlertManagerDefinition"]["Fn::Join"][1]
    resolved = "".join(part if isinstance(part, str) else "arn:aws:sns:us-east-1:123456789012:t" for part in definition)
    alertmanager = yaml.safe_load(yaml.safe_load(resolved)["alertmanager_config"])
    (receiver,) = alertmanager["receivers"]
    assert alertmanager["route"]["receiver"] == receiver["name"]
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == "arn:aws:sns:us-east-1:123456789012:t" and sns["sigv4"] == {"region": "us-east-1"}
    assert sns["send_resolved"] is True, "a page closes when the alert resolves"
    assert len(sns["subject"]) < 100 and "CommonLabels.alertname" in sns["subject"], "AMP cuts subjects at 100"
    assert {"Ref": topic} in definition
    statements = _resource(template, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "aps.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [workspace, "Arn"]}
    assert allow["Condition"]["StringEquals"] == {"AWS:SourceAccount": prod.config.account}
    key_policy = _resource(template, "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "aps.amazonaws.com"} for s in key_policy), "SNS needs the key for APS"


def test_the_scrape_configuration_finds_what_the_service_monitors_find(synth_env, tmp_path):
    """promtool accepts it as a Prometheus configuration, and each job keeps exactly the ServiceMonitor's Services.

    Debian builds Prometheus without Kubernetes discovery, so promtool checks everything else (globals,
    relabelling, regexes) with the discovery swapped for a static target; the discovery is asserted below.
    """
    import subprocess

    from tests.test_alerts import PROMTOOL

    checkable = yaml.safe_load(scrape_config_yaml())
    for job in checkable["scrape_configs"]:
        job["static_configs"] = [{"targets": ["10.0.0.1:9400"]}]
        del job["kubernetes_sd_configs"]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(checkable))
    result = subprocess.run([str(PROMTOOL), "check", "config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    monitors = {
        m["metadata"]["name"]: m for m in _docs(synth_env("alb"), "monitoring") if m["kind"] == "ServiceMonitor"
    }
    for job in scrape_config()["scrape_configs"]:
        monitor = monitors[job["job_name"]]
        (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        wanted = [
            monitor["metadata"]["namespace"],
            *monitor["spec"]["selector"]["matchLabels"].values(),
            monitor["spec"]["endpoints"][0]["port"],
        ]
        assert keep["regex"] == ";".join(wanted)
        assert job["kubernetes_sd_configs"] == [
            {"role": "endpoints", "namespaces": {"names": [monitor["metadata"]["namespace"]]}}
        ]
        assert int(scrape_config()["global"]["scrape_interval"].removesuffix("s")) >= 30, "the collector's minimum"


def test_amp_admits_the_vpc_to_the_model_servers_only_with_an_api_key(prod):
    policy = find(_docs(prod, "exposure"), "NetworkPolicy", "vllm-ingress")
    assert {"ipBlock": {"cidr": prod.config.network.vpc_cidr}} in policy["spec"]["ingress"][0]["from"]
    assert prod.config.exposure.api_key


def _of_type(template, kind):
    return {key: r for key, r in template["Resources"].items() if r["Type"] == kind}


def test_in_cluster_installs_the_pinned_kube_prometheus_stack_that_selects_the_monitoring_objects(synth_env):
    from charts.prometheus_prerequisites import NAMESPACE, STORAGE_CLASS
    from config.versions import KUBE_PROMETHEUS_STACK_REPOSITORY, KUBE_PROMETHEUS_STACK_VERSION

    synthesized = synth_env("dev")
    template = synthesized.template_json("inference")
    ((release_id, release),) = _of_type(template, "Custom::AWSCDK-EKS-HelmChart").items()
    props = release["Properties"]
    assert (props["Chart"], props["Version"], props["Repository"]) == (
        "kube-prometheus-stack",
        KUBE_PROMETHEUS_STACK_VERSION,
        KUBE_PROMETHEUS_STACK_REPOSITORY,
    )
    assert props["Namespace"] == NAMESPACE and not props.get("CreateNamespace"), "the prerequisites chart makes it"
    values = json.loads(props["Values"])
    spec = values["prometheus"]["prometheusSpec"]
    labels = synthesized.config.observability.selector_labels
    assert spec["serviceMonitorSelector"] == spec["ruleSelector"] == {"matchLabels": labels}
    monitoring = _docs(synthesized, "monitoring")
    assert all(labels.items() <= doc["metadata"]["labels"].items() for doc in monitoring)
    assert spec["retention"] == synthesized.config.observability.in_cluster.retention == "7d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == STORAGE_CLASS and claim["resources"]["requests"]["storage"] == "20Gi"
    storage = find(_docs(synthesized, "prometheus-prerequisites"), "StorageClass")
    assert storage["metadata"]["name"] == claim["storageClassName"], "the claim names the class the chart creates"
    assert values["nodeExporter"]["enabled"] is False, "it would tolerate the GPU taint and take from the GPU budget"
    assert values["grafana"]["adminPassword"] == "", "never upstream's well-known password"
    assert "toleration" not in props["Values"], "nothing of the stack lands on the GPU nodes"
    # Order: namespace and storage class, then the release (and its CRDs), then the ServiceMonitors and rules.
    manifests = {key: r for key, r in _of_type(template, "Custom::AWSCDK-EKS-KubernetesResource").items()}
    prerequisites = next(k for k in manifests if k.startswith("prometheusprerequisites"))
    monitoring_id = next(k for k in manifests if k.startswith("monitoring"))
    assert prerequisites in release["DependsOn"]
    assert release_id in manifests[monitoring_id]["DependsOn"]


def test_in_cluster_prometheus_gets_a_scrapable_namespace_and_an_encrypted_gp3_class(synth_env):
    docs = _docs(synth_env("dev"), "prometheus-prerequisites")
    namespace = find(docs, "Namespace")
    assert namespace["metadata"]["labels"]["vllm-on-eks/metrics-scraper"] == "true"
    storage = find(docs, "StorageClass")
    assert storage["provisioner"] == "ebs.csi.aws.com" and storage["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"


def test_the_ebs_driver_comes_only_with_in_cluster_prometheus_and_stays_off_the_gpu_nodes(synth_env, prod):
    from config.addons import ADDON_CONFIGURATION
    from config.versions import EBS_CSI_ADDON_VERSION

    def addons(synthesized):
        return {
            r["Properties"]["AddonName"]: r["Properties"]
            for r in _of_type(synthesized.template_json("cluster"), "AWS::EKS::Addon").values()
        }

    assert "aws-ebs-csi-driver" not in addons(prod)
    in_cluster = synth_env("dev")
    driver = addons(in_cluster)["aws-ebs-csi-driver"]
    assert driver["AddonVersion"] == EBS_CSI_ADDON_VERSION
    assert json.loads(driver["ConfigurationValues"]) == ADDON_CONFIGURATION["aws-ebs-csi-driver"]
    assert ADDON_CONFIGURATION["aws-ebs-csi-driver"]["node"]["tolerateAllTaints"] is False
    template = in_cluster.template_json("cluster")
    (association,) = [
        r["Properties"]
        for r in _of_type(template, "AWS::EKS::PodIdentityAssociation").values()
        if r["Properties"]["ServiceAccount"] == "ebs-csi-controller-sa"
    ]
    assert association["Namespace"] == "kube-system"
    (addon_id,) = [
        k
        for k, r in _of_type(template, "AWS::EKS::Addon").items()
        if r["Properties"]["AddonName"] == "aws-ebs-csi-driver"
    ]
    association_id = next(
        k
        for k, r in template["Resources"].items()
        if r.get("Properties") is not None and r["Properties"].get("ServiceAccount") == "ebs-csi-controller-sa"
    )
    assert association_id in template["Resources"][addon_id]["DependsOn"], "the controller starts with its credentials"
    role = template["Resources"][association["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert json.dumps(role["ManagedPolicyArns"]).endswith(':iam::aws:policy/AmazonEBSCSIDriverPolicyV2"]]}]'), (
        "no service-role/ path"
    )
    (guard,) = [
        r
        for r in _of_type(template, "AWS::CloudFormation::CustomResource").values()
        if "addon_versions" in r["Properties"]
    ]
    assert guard["Properties"]["addon_versions"]["aws-ebs-csi-driver"] == EBS_CSI_ADDON_VERSION, "checked before deploy"
    for synthesized in (prod, in_cluster):
        (checked,) = [
            r["Properties"]
            for r in _of_type(synthesized.template_json("cluster"), "AWS::CloudFormation::CustomResource").values()
            if "addon_versions" in r["Properties"]
        ]
        assert set(checked["addon_configuration"]) <= set(checked["addon_versions"]), "only installed add-ons"


def test_grafana_follows_its_switch():
    from components.prometheus_stack import chart_values
    from config.model import InClusterConfig, ObservabilityConfig

    for wanted in (True, False):
        values = chart_values(ObservabilityConfig(), storage_class="x", settings=InClusterConfig(grafana=wanted))
        assert values["grafana"]["enabled"] is wanted


def test_amp_admits_the_scraper_even_without_a_load_balancer():
    """cluster-ip exposure admits no VPC CIDR for load balancers; the managed scraper still needs it."""
    from charts.bundle import environment_charts
    from config.model import EnvironmentConfig
    from tests.conftest import load

    data = load("dev").model_dump(mode="json")
    data["observability"]["mode"] = "amp"
    data["models"][0]["autoscaling"] = None  # KEDA does not read AMP yet
    config = EnvironmentConfig.model_validate(data)
    assert not config.exposure.load_balanced and config.exposure.api_key
    policy = find(documents(environment_charts(config)["exposure"]), "NetworkPolicy", "vllm-ingress")
    assert {"ipBlock": {"cidr": config.network.vpc_cidr}} in policy["spec"]["ingress"][0]["from"]
