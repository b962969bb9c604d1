"""The metric catalog names only what the pinned releases export, and the DCGM exporter enables exactly its fields."""

import pytest

from charts.dcgm_exporter import DcgmExporterChart
from config.metrics import (
    DCGM_CATALOG,
    GENERATION_TOKENS,
    REQUESTS_WAITING,
    TIME_TO_FIRST_TOKEN,
    VLLM_CATALOG,
    exported_by_pinned_vllm,
)
from tests.manifests import documents, find


def test_every_vllm_metric_in_the_catalog_is_exported_by_the_pinned_release_with_its_type():
    exported = exported_by_pinned_vllm()
    for metric in VLLM_CATALOG:
        assert exported.get(metric.name) == metric.kind, metric.name


def test_the_names_older_guides_use_are_gone_in_the_pinned_release():
    """The seed's v0 names: a rule written with them would never fire."""
    exported = exported_by_pinned_vllm()
    for old in (
        "vllm:gpu_cache_usage_perc",
        "vllm:time_per_output_token_seconds",
        "vllm:avg_generation_throughput_toks_per_s",
    ):
        assert old not in exported
        assert all(metric.name != old for metric in VLLM_CATALOG)


def test_the_dcgm_exporter_enables_exactly_the_catalog_fields():
    csv = find(documents(DcgmExporterChart()), "ConfigMap")["data"]["counters.csv"]
    enabled = {line.split(",")[0] for line in csv.splitlines()}
    assert enabled == {metric.name for metric in DCGM_CATALOG}


def test_series_names_follow_the_prometheus_client_conventions():
    assert REQUESTS_WAITING.series() == "vllm:num_requests_waiting"
    assert GENERATION_TOKENS.series() == "vllm:generation_tokens_total"
    assert TIME_TO_FIRST_TOKEN.series("_bucket") == "vllm:time_to_first_token_seconds_bucket"
    with pytest.raises(ValueError, match="histogram"):
        TIME_TO_FIRST_TOKEN.series()


def test_every_metric_the_readme_names_is_in_the_catalog_or_recorded_by_the_rules():
    """The README names metrics too; the only ones outside the catalog are the old names it warns about."""
    import re

    from config.model import AlertConfig
    from observability.rules import rule_groups
    from planning.sizing import ReplicaPrice
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\b(?:vllm|vllm_on_eks):[a-z_:0-9]*[a-z0-9]|\bDCGM_FI_[A-Z_]+", readme))
    recorded = {
        rule["record"]
        for group in rule_groups(AlertConfig(), [ReplicaPrice("m", "g5.xlarge", 1.0)])["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    known = {metric.name for metric in (*VLLM_CATALOG, *DCGM_CATALOG)} | recorded
    warned_about = {"vllm:gpu_cache_usage_perc", "vllm:time_per_output_token_seconds"}
    assert named - known == warned_about
    assert not warned_about & set(exported_by_pinned_vllm()), "still gone in the pinned release"
