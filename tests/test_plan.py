"""Capacity planner and fit check (issue #6), with real numbers."""

import io
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from aws_cdk.assertions import Annotations, Match
from rich.console import Console

from config import ConfigError, EnvironmentConfig
from config.model import ModelConfig, PlanConfig
from planning.catalog import gpu_instances, model_architectures
from planning.sizing import plan_environment, plan_model
from scripts import plan as plan_script
from tests.conftest import ENVIRONMENTS, FIXTURE_CONFIGS, ROOT, load, synthesize

LLAMA3_8B = "meta-llama/Meta-Llama-3-8B-Instruct"
LLAMA31_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA3_70B = "meta-llama/Meta-Llama-3-70B-Instruct"


def size(model_id: str, instance: str, **model: object):
    return plan_model("m", ModelConfig(name="m", model_id=model_id, **model), gpu_instances()[instance], PlanConfig())


def test_llama3_8b_on_one_a10g_holds_tens_of_thousands_of_kv_tokens():
    result = size(LLAMA3_8B, "g5.2xlarge", gpu_memory_utilization=0.90)
    assert result.problems == []
    # vLLM logs about 2,000 blocks of 16 tokens (~32k tokens) for this model on an A10G at 0.90.
    assert 20_000 <= result.sizing.kv_tokens <= 60_000
    assert result.sizing.kv_bytes_per_token == 128 * 1024
    assert 14 < result.sizing.weights_gib < 16
    assert 30 < result.sizing.decode_ceiling_tokens_per_second < 45


def test_fp8_kv_cache_doubles_the_kv_tokens():
    bf16 = size(LLAMA3_8B, "g5.2xlarge").sizing.kv_tokens
    fp8 = size(LLAMA3_8B, "g5.2xlarge", kv_cache_dtype="fp8").sizing.kv_tokens
    assert abs(fp8 - 2 * bf16) <= 1


def test_a_131072_context_on_g5_xlarge_is_refused_with_numbers():
    result = size(LLAMA31_8B, "g5.xlarge", max_model_len=131072)
    (problem,) = result.problems
    assert "one sequence of max_model_len 131072 needs 16.0 GiB of KV cache" in problem
    assert "lower max_model_len to at most" in problem and "kv_cache_dtype: fp8" in problem


def test_context_beyond_the_model_maximum_is_refused():
    (problem,) = size(LLAMA3_8B, "g5.2xlarge", max_model_len=16384).problems
    assert "supports 8192 tokens" in problem


def test_llama3_70b_bf16_is_refused_on_g5_2xlarge():
    (problem,) = size(LLAMA3_70B, "g5.2xlarge").problems
    assert "weights need 131.5 GiB per GPU" in problem and "quantization: fp8" in problem


def test_llama3_70b_bf16_fits_on_p4d_with_tensor_parallel_8():
    result = size(LLAMA3_70B, "p4d.24xlarge", tensor_parallel_size=8)
    assert result.problems == []
    assert result.sizing.weights_per_gpu_gib == pytest.approx(131.5 / 8, rel=0.01)
    assert result.sizing.max_concurrency > 4


def test_every_catalog_row_has_provenance():
    for arch in model_architectures().values():
        assert arch.source.url.startswith("https://huggingface.co/") and arch.source.retrieved
    families = {name.split(".")[0] for name in gpu_instances()}
    assert {"g5", "g6", "g6e", "p4d", "p5"} <= families
    assert {"llama-3-8b", "llama-3.1-8b", "llama-3-70b", "mistral-7b", "qwen-2.5-7b"} <= set(model_architectures())


def test_unknown_architecture_warns_instead_of_guessing():
    result = size("acme/mystery-13b", "g5.2xlarge")
    assert result.sizing is None and result.problems == []
    assert "no architecture facts" in result.warnings[0]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_plan_json_is_stable(env_name, json_snapshot, capsys):
    code = plan_script.main(["--env", env_name, "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document == json_snapshot


def test_plan_table_prints_every_assumption():
    buffer = io.StringIO()
    code = plan_script.main(["--env", "dev"], console=Console(file=buffer, width=220))
    out = buffer.getvalue()
    assert code == 0
    for key in PlanConfig.model_fields:
        assert key in out, key
    for quantity in (
        "KV tokens",
        "max concurrency",
        "decode ceiling",
        "cost per million output tokens",
        "fp8 kv cache",
    ):
        assert quantity in out


def test_plan_exits_2_on_a_bad_environment():
    assert plan_script.main(["--env", "nope"], console=Console(file=io.StringIO())) == 2


def test_synth_warns_about_low_concurrency_and_can_be_made_to_fail(dev, tmp_path):
    Annotations.from_stack(dev.stacks.inference).has_warning(
        "*", Match.string_like_regexp("below plan.min_concurrency 4")
    )
    data = load("dev").model_dump(mode="json")
    data["plan"]["fail_below_min_concurrency"] = True
    with pytest.raises(ConfigError, match=r"only 2\.98 sequences of 8192 tokens"):
        synthesize(EnvironmentConfig.model_validate(data), tmp_path)


def test_make_synth_refuses_131072_context_on_g5_xlarge(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["gpu_node_group"]["instance_types"] = ["g5.xlarge"]
    data["models"][0].update(model_id=LLAMA31_8B, max_model_len=131072, memory_gib=12, shm_size_gib=4, cpu=3)
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "long", "config_dir": str(tmp_path)})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "max_model_len 131072 needs 16.0 GiB of KV cache per GPU but g5.xlarge" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_plan_sizes_on_the_smallest_allowed_instance():
    data = load("dev").model_dump(mode="json")
    data["gpu_node_group"]["instance_types"] = ["g6e.2xlarge", "g5.2xlarge"]
    (model_plan,) = plan_environment(EnvironmentConfig.model_validate(data))
    assert model_plan.sizing.instance.name == "g5.2xlarge"


def test_cost_per_million_tokens_follows_its_formula():
    """$/M tokens = hourly price x instance share / (tokens/s x 3600 x utilization) x 1e6, by hand for dev."""
    (model_plan,) = plan_environment(load("dev"))
    sizing = model_plan.sizing
    assert sizing is not None
    by_hand = 1.212 * 1 / (sizing.estimated_throughput * 3600 * 0.5) * 1e6
    assert sizing.usd_per_million_output_tokens == pytest.approx(by_hand, rel=1e-9)
    # The ~300 tokens/s published for Llama 3 8B on one A10G (issue 15) would cost $2.24 per million at 50 %.
    published = 1.212 / (300 * 3600 * 0.5) * 1e6
    assert sizing.usd_per_million_output_tokens == pytest.approx(published, rel=0.3)


def _fleet(env_name: str, capsys, *extra: str) -> dict:
    assert plan_script.main(["--env", env_name, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)["fleet"]


def test_the_plan_prices_the_fleet_at_the_fewest_and_the_most_replicas(capsys):
    from planning.catalog import gpu_instances

    hourly = gpu_instances()["g5.2xlarge"].usd_per_hour
    dev_fleet = _fleet("dev", capsys)  # one model, KEDA between 1 and 2 replicas of one GPU
    assert (dev_fleet["gpu_nodes_min"], dev_fleet["gpu_nodes_max"], dev_fleet["gpu_node_ceiling"]) == (1, 2, 3)
    assert dev_fleet["usd_per_month_on_demand_min"] == round(1 * hourly * 730, 2)
    assert dev_fleet["usd_per_month_on_demand_max"] == round(2 * hourly * 730, 2)
    fixed_fleet = _fleet("node-group", capsys, "--config-dir", str(FIXTURE_CONFIGS))  # fixed replicas: no range
    assert fixed_fleet["gpu_nodes_min"] == fixed_fleet["gpu_nodes_max"] == 1
    # A fixed node group runs desired_size nodes (1), not max_size (3): that is its ceiling.
    assert (fixed_fleet["autoscaler"], fixed_fleet["gpu_node_ceiling"]) == ("none", 1)


def test_the_plan_table_shows_the_range(capsys):
    buffer = io.StringIO()
    assert plan_script.main(["--env", "dev"], console=Console(file=buffer, width=220)) == 0
    text = buffer.getvalue()
    assert "GPU fleet between the fewest and the most replicas (autoscaler: karpenter)" in text
    assert re.search(r"GPU nodes \(g5\.2xlarge\)\s*│\s*1\s*│\s*2\s*│", text)
