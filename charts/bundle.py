"""The charts of one environment, in apply order, and their plain-YAML rendering for kubectl."""

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from charts.autoscaling import ScaledObjectsChart
from charts.benchmark import BenchmarkChart
from charts.common import StandaloneChart
from charts.dcgm_exporter import DcgmExporterChart
from charts.device_plugin import DevicePluginChart
from charts.exposure import ExposureChart
from charts.monitoring import MonitoringChart
from charts.prometheus_prerequisites import QUERY_URL, PrometheusPrerequisitesChart
from charts.vllm import ModelServer, VllmChart
from config.model import EnvironmentConfig, ModelConfig
from config.secrets import mounted_secrets
from observability.dashboard import FILE_NAME as DASHBOARD_FILE
from observability.dashboard import dashboard_json
from observability.rules import rule_groups
from planning.capacity import rendered_replicas, surge_first
from planning.sizing import replica_prices

RULES_FILE = "prometheus/vllm-on-eks.rules.yaml"
BENCHMARK_DIR = "benchmark"


def prometheus_rules(config: EnvironmentConfig) -> dict[str, Any]:
    """The alert and cost rules, whichever way the observability mode delivers them."""
    return rule_groups(
        config.observability.alerts,
        replica_prices(config),
        kube_state_metrics=not config.observability.managed_prometheus,
    )


def benchmark_chart(config: EnvironmentConfig, model: ModelConfig) -> BenchmarkChart:
    return BenchmarkChart(
        model=model, benchmark=config.benchmark, image=config.image("vllm"), secrets=mounted_secrets(config)
    )


def side_files(config: EnvironmentConfig) -> dict[str, str]:
    """What ships with the manifests but is not applied with them: the rule file, the Grafana dashboard JSON,
    and each model's benchmark Job (`make bench-endpoint` applies it on request)."""
    return {
        RULES_FILE: yaml.safe_dump(prometheus_rules(config), sort_keys=False),
        f"grafana/{DASHBOARD_FILE}": dashboard_json(),
        **{f"{BENCHMARK_DIR}/{model.name}.yaml": benchmark_chart(config, model).to_yaml() for model in config.models},
    }


def environment_charts(config: EnvironmentConfig) -> dict[str, StandaloneChart]:
    """Charts by name, in the order they must be applied (device plugin before GPU workloads).

    The one place that reads the whole environment for the charts: each chart gets only what it renders.
    """
    scraped_from_vpc = config.observability.managed_prometheus
    servers = [
        ModelServer(model=model, replicas=rendered_replicas(model), surge_first=surge_first(config, model))
        for model in config.models
    ]
    charts: dict[str, StandaloneChart] = {
        "nvidia-device-plugin": DevicePluginChart(image=config.image("nvidia-device-plugin")),
        "dcgm-exporter": DcgmExporterChart(
            image=config.image("dcgm-exporter"), scraper_cidrs=[config.network.vpc_cidr] if scraped_from_vpc else []
        ),
        "vllm": VllmChart(
            servers=servers,
            secrets=mounted_secrets(config),
            region=config.region,
            image=config.image("vllm"),
            weights_bucket=config.weights_bucket.name if config.weights_bucket else None,
        ),
        "exposure": ExposureChart(
            models=config.models,
            exposure=config.exposure,
            vpc_cidr=config.network.vpc_cidr,
            hosts={model.name: config.model_host(model) for model in config.models},
            scraped_from_vpc=scraped_from_vpc,
        ),
    }
    prometheus_url = QUERY_URL if config.observability.installs_prometheus else config.observability.prometheus_url
    if any(model.autoscaling for model in config.models) and prometheus_url:
        charts["autoscaling"] = ScaledObjectsChart(models=config.models, prometheus_url=prometheus_url)
    if config.observability.installs_prometheus:
        charts["prometheus-prerequisites"] = PrometheusPrerequisitesChart()
    if config.observability.operator_objects:
        charts["monitoring"] = MonitoringChart(
            observability=config.observability, rules=prometheus_rules(config), dashboard=dashboard_json()
        )
    return charts


def write_manifests(
    charts: dict[str, StandaloneChart], directory: Path, *, files: dict[str, str] | None = None
) -> list[Path]:
    """Write one numbered YAML file per chart, so `kubectl apply -f DIR/` applies them in order, and the side
    files (rules, dashboard) in subfolders: not Kubernetes objects, so out of kubectl's way.

    Files are written to a temporary directory first, then swapped in: never a half-written output.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for number, (name, chart) in enumerate(charts.items(), start=1):
            (staging / f"{number:02d}-{name}.yaml").write_text(chart.to_yaml())
        for relative, text in (files or {}).items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).write_text(text)
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(directory.glob("*.yaml"))
