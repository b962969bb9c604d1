"""The Grafana dashboard: Grafana's own model reads it back unchanged, every query parses and names known series,
and it answers the questions it is for (GPU row, model-server row, cost, a model selector)."""

import json
import subprocess

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from config.metrics import DCGM_CATALOG
from config.model import AlertConfig
from observability.dashboard import UID, grafana_dashboard
from observability.rules import rule_groups
from planning.sizing import ReplicaPrice
from tests.promql import catalog_series, metric_names, plain_promql
from tests.test_alerts import PROMTOOL

DASHBOARD = grafana_dashboard()
PANELS = [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]
RECORDED = {
    rule["record"]
    for group in rule_groups(AlertConfig(), [ReplicaPrice("m", "g5.xlarge", 1.0)])["groups"]
    for rule in group["rules"]
    if "record" in rule
}


def _exprs(panel):
    return [target["expr"] for target in panel["targets"]]


def _rows():
    rows, current = {}, None
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
        else:
            current.append(panel)
    return rows


def test_grafanas_own_dashboard_model_reads_it_back_unchanged():
    """A key Grafana's schema does not know, or a value of the wrong shape, would not survive the round trip."""
    back = json.loads(json.dumps(Dashboard.from_json(DASHBOARD), cls=JSONEncoder))
    assert back == DASHBOARD
    broken = {**DASHBOARD, "panels": [{**PANELS[0], "gridPosition": PANELS[0]["gridPos"]}]}
    assert json.loads(json.dumps(Dashboard.from_json(broken), cls=JSONEncoder)) != broken


def test_panels_have_unique_ids_and_do_not_overlap():
    assert DASHBOARD["uid"] == UID and DASHBOARD["schemaVersion"] >= 39
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
    cells = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area


@pytest.mark.parametrize("panel", PANELS, ids=lambda panel: panel["title"])
def test_every_query_parses_and_names_only_catalog_or_recorded_series(panel):
    assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
    for expr in _exprs(panel):
        names = metric_names(expr)
        assert names and names <= catalog_series() | RECORDED, names - catalog_series() - RECORDED


def test_prometheus_itself_parses_every_query(tmp_path):
    """promtool parses each query (Grafana's variables given values) as a recording rule."""
    rules = [
        {"record": f"dashboard:panel_{panel['id']}_{index}", "expr": plain_promql(expr)}
        for panel in PANELS
        for index, expr in enumerate(_exprs(panel))
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gpu_row_draws_utilisation_memory_temperature_power_and_xid():
    gpu_series = {name for panel in _rows()["GPUs (DCGM)"] for expr in _exprs(panel) for name in metric_names(expr)}
    for field in ("GPU_UTIL", "FB_USED", "FB_FREE", "GPU_TEMP", "POWER_USAGE", "XID_ERRORS"):
        assert f"DCGM_FI_DEV_{field}" in gpu_series
    assert gpu_series - RECORDED <= {metric.name for metric in DCGM_CATALOG}


def test_the_model_row_answers_why_is_it_slow_per_model_and_pod():
    panels = {panel["title"]: panel for panel in _rows()["Model servers (vLLM)"]}
    wanted = {
        "Requests running and waiting": {"vllm:num_requests_running", "vllm:num_requests_waiting"},
        "KV cache usage": {"vllm:kv_cache_usage_perc"},
        "Time to first token": {"vllm:time_to_first_token_seconds_bucket"},
        "Inter-token latency": {"vllm:inter_token_latency_seconds_bucket"},
        "Tokens per second": {"vllm:prompt_tokens_total", "vllm:generation_tokens_total"},
        "Prefix cache hit rate": {"vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"},
    }
    for title, names in wanted.items():
        exprs = _exprs(panels[title])
        assert {name for expr in exprs for name in metric_names(expr)} == names, title
        assert all('model_name=~"$model"' in expr for expr in exprs), f"{title} ignores the model selector"
    assert all("pod" in expr for expr in _exprs(panels["Requests running and waiting"]))
    latency = " ".join(_exprs(panels["Time to first token"]))
    assert all(f"histogram_quantile({q}," in latency for q in ("0.5", "0.95", "0.99"))


def test_the_model_selector_lists_the_served_models():
    (variable,) = [v for v in DASHBOARD["templating"]["list"] if v["name"] == "model"]
    assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
    assert metric_names(variable["query"].removeprefix("label_values(").rsplit(",", 1)[0]) <= catalog_series()


def test_the_cost_row_reads_the_recorded_cost_series():
    names = {name for panel in _rows()["Cost"] for expr in _exprs(panel) for name in metric_names(expr)}
    assert names and names <= RECORDED


def test_every_model_and_cost_query_follows_the_model_selector():
    for row in ("Model servers (vLLM)", "Cost"):
        for panel in _rows()[row]:
            assert all('model_name=~"$model"' in expr for expr in _exprs(panel)), panel["title"]


def test_each_legend_names_the_series_it_draws():
    (memory,) = [panel for panel in _rows()["GPUs (DCGM)"] if panel["title"] == "GPU memory"]
    by_legend = {target["legendFormat"].rsplit(" ", 1)[1]: target["expr"] for target in memory["targets"]}
    assert metric_names(by_legend["used"]) == {"DCGM_FI_DEV_FB_USED"}
    assert metric_names(by_legend["free"]) == {"DCGM_FI_DEV_FB_FREE"}
