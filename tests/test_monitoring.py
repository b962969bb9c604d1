"""observability.mode existing: ServiceMonitors that select exactly the right Services, and the alert rules as a PrometheusRule."""

import json

from charts.alerts import DCGM_JOB, VLLM_JOB
from charts.bundle import prometheus_rules
from charts.dashboard import FILE_NAME, grafana_dashboard
from charts.monitoring import GRAFANA_DASHBOARD_LABEL, JOB_LABEL
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


def test_no_operator_objects_unless_the_cluster_runs_the_operator(dev, prod):
    for synthesized in (dev, prod):
        assert synthesized.config.observability.mode == "none"
        assert "monitoring" not in synthesized.stacks.inference.charts
