"""The alert rules: promtool checks them, and unit-tests each alert firing on a bad series and silent on a healthy one."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.model import AlertConfig, EnvironmentConfig
from observability.rules import COST_PER_MILLION, GPUS_IDLE, MODEL_COST, REPLICA_PRICE, rule_groups
from planning.sizing import ReplicaPrice
from tests.conftest import ROOT
from tests.promql import PLATFORM_METRICS, catalog_series, metric_names

PROMTOOL = ROOT / ".tools" / "prom" / "usr" / "bin" / "promtool"
PRICES = [ReplicaPrice("m", "g5.xlarge", 1.006), ReplicaPrice("other", "g6e.xlarge", 1.861)]
GROUPS = rule_groups(AlertConfig(), PRICES)
RULES = {rule["alert"]: rule for group in GROUPS["groups"] for rule in group["rules"] if "alert" in rule}
RECORDS = [rule for group in GROUPS["groups"] for rule in group["rules"] if "record" in rule]

# alert -> (series that make it fire, when to look, the labels it then carries, its value, healthy series)
CASES: dict[str, tuple[list[dict[str, str]], str, dict[str, str], str, list[dict[str, str]]]] = {
    "GpuIdleWhilePaidFor": (
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="node-a",gpu="0"}', "values": "1x180"}], "150m",
        {"Hostname": "node-a"}, "1",
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="node-a",gpu="0"}', "values": "60x180"}],
    ),
    "GpuTooHot": (
        [{"series": 'DCGM_FI_DEV_GPU_TEMP{Hostname="node-a",gpu="0"}', "values": "90x20"}], "10m",
        {"Hostname": "node-a", "gpu": "0"}, "90",
        [{"series": 'DCGM_FI_DEV_GPU_TEMP{Hostname="node-a",gpu="0"}', "values": "60x20"}],
    ),
    "GpuXidError": (
        [{"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="node-a",gpu="0"}', "values": "0 0 79 79 79"}], "3m",
        {"Hostname": "node-a", "gpu": "0"}, "1",
        # An XID from long ago stays in the field until the node restarts: no page for it every evaluation.
        [{"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="node-a",gpu="0"}', "values": "79x30"}],
    ),
    "VllmKvCacheNearlyFull": (
        [{"series": 'vllm:kv_cache_usage_perc{model_name="m",engine="0"}', "values": "0.99x30"}], "20m",
        {"model_name": "m"}, "0.99",
        [{"series": 'vllm:kv_cache_usage_perc{model_name="m",engine="0"}', "values": "0.5x30"}],
    ),
    "VllmRequestsQueueing": (
        [{"series": 'vllm:num_requests_waiting{model_name="m",engine="0"}', "values": "20x20"}], "10m",
        {"model_name": "m"}, "20",
        [{"series": 'vllm:num_requests_waiting{model_name="m",engine="0"}', "values": "2x20"}],
    ),
    "VllmTimeToFirstTokenSlow": (
        [{"series": f'vllm:time_to_first_token_seconds_bucket{{model_name="m",engine="0",le="{le}"}}',
          "values": "0+0x40" if le in ("0.5", "1") else "0+100x40"} for le in ("0.5", "1", "5", "+Inf")],
        "30m", {"model_name": "m"}, "",
        [{"series": f'vllm:time_to_first_token_seconds_bucket{{model_name="m",engine="0",le="{le}"}}',
          "values": "0+100x40"} for le in ("0.5", "1", "5", "+Inf")],
    ),
    "VllmRestarting": (
        [{"series": 'kube_pod_container_status_restarts_total{namespace="vllm",pod="vllm-m-1"}', "values": "0 1 2 3 4 5"}],
        "5m", {"namespace": "vllm", "pod": "vllm-m-1"}, "",
        # A steady vLLM pod, and a restarting pod elsewhere that this alert is not about.
        [{"series": 'kube_pod_container_status_restarts_total{namespace="vllm",pod="vllm-m-1"}', "values": "0x5"},
         {"series": 'kube_pod_container_status_restarts_total{namespace="kube-system",pod="coredns-1"}',
          "values": "0 1 2 3 4 5"}],
    ),
    "MetricsTargetDown": (
        [{"series": 'up{job="vllm",instance="10.0.0.1:8000"}', "values": "0x30"}], "25m",
        {"job": "vllm", "instance": "10.0.0.1:8000"}, "0",
        # A model still loading (the slowest budgeted start is ~9 minutes) is not down.
        [{"series": 'up{job="vllm",instance="10.0.0.1:8000"}', "values": "0x14 1x16"}],
    ),
    "MetricsTargetMissingVllm": (
        [{"series": 'up{job="dcgm-exporter",instance="10.0.0.2:9400"}', "values": "1x30"}], "25m",
        {"job": "vllm"}, "1",
        [{"series": 'up{job="vllm",instance="10.0.0.1:8000"}', "values": "0x30"}],
    ),
    "MetricsTargetMissingDcgm": (
        [{"series": 'up{job="vllm",instance="10.0.0.1:8000"}', "values": "1x30"}], "25m",
        {"job": "dcgm-exporter"}, "1",
        [{"series": 'up{job="dcgm-exporter",instance="10.0.0.2:9400"}', "values": "1x30"}],
    ),
}  # fmt: skip


def _expanded(template: str, labels: dict[str, str], value: str) -> str:
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match.group(1)], template)
    return text.replace("{{ $value }}", value)


def _test_file(rules_file: Path) -> dict[str, Any]:
    tests = []
    for name, (firing, at, labels, value, healthy) in CASES.items():
        rule = RULES[name]
        annotations = {key: _expanded(text, labels, value) for key, text in rule["annotations"].items()}
        expected = {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}
        tests.append({"interval": "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": [expected]}]})  # fmt: skip
        tests.append({"interval": "1m", "input_series": healthy,
                      "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []}]})  # fmt: skip
    return {"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": tests}


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    assert PROMTOOL.is_file(), "promtool is unpacked by `make test` into .tools/prom (Debian's prometheus package)"
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(GROUPS, sort_keys=False))
    return path


def test_promtool_accepts_the_rules(rules_file):
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES) + len(RECORDS)} rules found" in result.stdout


def test_every_alert_fires_on_a_bad_series_and_stays_silent_on_a_healthy_one(rules_file, tmp_path):
    assert set(CASES) == set(RULES), "every alert has its firing and its silent case"
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump(_test_file(rules_file), sort_keys=False))
    result = subprocess.run([str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_would_catch_a_broken_rule(tmp_path):
    broken = {
        "groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum by (model_name) (vllm:num_requests_waiting"}]}]
    }
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True).returncode != 0


def test_rules_name_only_catalog_metrics_and_every_alert_has_a_runbook():
    recorded = {rule["record"] for rule in RECORDS}
    for rule in (*RULES.values(), *RECORDS):
        names = metric_names(rule["expr"])
        assert names or rule.get("record") == REPLICA_PRICE, rule
        outside = names - catalog_series() - PLATFORM_METRICS - recorded
        assert not outside, f"{rule.get('alert') or rule['record']} names {outside}, which is not in the catalog"
    for rule in RULES.values():
        assert len(rule["annotations"]["runbook"]) > 40 and rule["labels"]["severity"] in ("warning", "critical")


def _expr_test(series: list[dict[str, str]], at: str, expr: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {"interval": "1m", "input_series": series,
            "promql_expr_test": [{"expr": expr, "eval_time": at, "exp_samples": samples}]}  # fmt: skip


def test_the_cost_records_follow_their_formula(rules_file, tmp_path):
    """m: 2 replicas at $1.006/h generating 100 tokens/s together -> 2 x 1.006 / 360000 x 1e6 = $5.589 per million."""
    one_pod = 'vllm:num_requests_running{model_name="m",engine="0",pod="%s"}'
    tokens = 'vllm:generation_tokens_total{model_name="m",engine="0",pod="%s"}'
    series = [
        {"series": one_pod % "a", "values": "3x90"},
        {"series": one_pod % "b", "values": "1x90"},
        {"series": tokens % "a", "values": "0+3000x90"},  # 50 tokens/s
        {"series": tokens % "b", "values": "0+3000x90"},
        {"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="node-a",gpu="0"}', "values": "1x90"},
        {"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="node-b",gpu="0"}', "values": "80x90"},
    ]
    priced = {"model_name": "m", "instance_type": "g5.xlarge"}
    tests = [
        _expr_test(series, "80m", GPUS_IDLE, [{"labels": GPUS_IDLE, "value": 1}]),
        _expr_test([], "5m", GPUS_IDLE, [{"labels": GPUS_IDLE, "value": 0}]),
        _expr_test([], "5m", f'{REPLICA_PRICE}{{model_name="other"}}',
                   [{"labels": f'{REPLICA_PRICE}{{model_name="other",instance_type="g6e.xlarge"}}', "value": 1.861}]),
        _expr_test(series, "80m", MODEL_COST,
                   [{"labels": f'{MODEL_COST}{{model_name="m",instance_type="g5.xlarge"}}', "value": 2.012}]),
        _expr_test(series, "80m", COST_PER_MILLION,
                   [{"labels": COST_PER_MILLION + "{" + ",".join(f'{k}="{v}"' for k, v in priced.items()) + "}",
                     "value": 2 * 1.006 / (100 * 3600) * 1e6}]),
        _expr_test(series[:2], "80m", COST_PER_MILLION, []),  # no tokens generated: no price, not +Inf
        # A counter that stopped: no tokens in the last hour, so no price either (not +Inf).
        _expr_test([series[0], {"series": tokens % "a", "values": "500x90"}], "80m", COST_PER_MILLION, []),
    ]  # fmt: skip
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run([str(PROMTOOL), "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_kube_state_metrics_no_rule_names_its_series():
    """AMP's managed scraper reads no kube-state-metrics: a rule on its series would never fire."""
    groups = rule_groups(AlertConfig(), PRICES, kube_state_metrics=False)
    names = {name for group in groups["groups"] for rule in group["rules"] for name in metric_names(rule["expr"])}
    assert "kube_pod_container_status_restarts_total" not in names
    assert "VllmRestarting" in RULES and "VllmRestarting" not in str(groups)


def test_a_replica_pays_its_share_of_a_multi_gpu_instance_as_the_plan_does():
    """One 1-GPU replica on a 4-GPU g5.12xlarge pays a quarter of the instance, the number `make plan` uses."""
    from planning.sizing import plan_environment, replica_prices
    from tests.conftest import load

    data = load("dev").model_dump(mode="json")
    data["gpu_node_group"]["instance_types"] = ["g5.12xlarge"]
    config = EnvironmentConfig.model_validate(data)
    (price,) = replica_prices(config)
    (plan,) = plan_environment(config)
    assert price.instance_type == "g5.12xlarge"
    assert price.usd_per_hour == pytest.approx(plan.sizing.usd_per_hour)
    assert price.usd_per_hour == pytest.approx(plan.sizing.instance.usd_per_hour / 4)


def test_each_model_gets_its_price_as_labels_promtool_can_tell_apart():
    prices = [r for r in RECORDS if r["record"] == REPLICA_PRICE]
    assert [(r["labels"]["model_name"], r["expr"]) for r in prices] == [
        ("m", "vector(1.0060)"),
        ("other", "vector(1.8610)"),
    ]


def test_synth_writes_the_rules_beside_the_manifests_out_of_kubectls_way(dev, tmp_path):
    from charts.bundle import RULES_FILE, prometheus_rules, side_files, write_manifests

    written = write_manifests(dev.stacks.inference.charts, tmp_path / "dev", files=side_files(dev.config))
    assert all(path.parent == tmp_path / "dev" for path in written), "kubectl apply -f dist/dev/ sees only objects"
    assert yaml.safe_load((tmp_path / "dev" / RULES_FILE).read_text()) == prometheus_rules(dev.config)
    assert (tmp_path / "dev" / "grafana" / "vllm-on-eks.json").is_file()
