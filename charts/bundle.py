"""The charts of one environment, in apply order, and their plain-YAML rendering for kubectl."""

import shutil
import tempfile
from pathlib import Path

from charts.common import StandaloneChart
from charts.dcgm_exporter import DcgmExporterChart
from charts.device_plugin import DevicePluginChart
from charts.exposure import ExposureChart
from charts.vllm import VllmChart
from config.model import EnvironmentConfig


def environment_charts(config: EnvironmentConfig) -> dict[str, StandaloneChart]:
    """Charts by name, in the order they must be applied (device plugin before GPU workloads)."""
    return {
        "nvidia-device-plugin": DevicePluginChart(image=config.image("nvidia-device-plugin")),
        "dcgm-exporter": DcgmExporterChart(image=config.image("dcgm-exporter")),
        "vllm": VllmChart(config=config, image=config.image("vllm")),
        "exposure": ExposureChart(config=config),
    }


def write_manifests(charts: dict[str, StandaloneChart], directory: Path) -> list[Path]:
    """Write one numbered YAML file per chart, so `kubectl apply -f DIR/` applies them in order.

    Files are written to a temporary directory first, then swapped in: never a half-written output.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for number, (name, chart) in enumerate(charts.items(), start=1):
            (staging / f"{number:02d}-{name}.yaml").write_text(chart.to_yaml())
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(directory.glob("*.yaml"))
