"""Bad input never reaches AWS: refused before anything is written, exit 2, one bounded paragraph naming the field.

The corpus is tests/fixtures/bad/ (one environment file per case, the expected field in its first line);
the property test mutates the shipped environment files and holds the same invariants for whatever it makes.
"""

import io
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from config import ConfigError, load_environment
from planning.fit import require_deployable
from scripts import check, plan
from tests.conftest import ROOT

BAD = ROOT / "tests" / "fixtures" / "bad"
CASES = sorted(path.stem for path in BAD.glob("*.yaml"))
MAX_MESSAGE = 2000


def expected(case: str) -> str:
    first = (BAD / f"{case}.yaml").read_text().splitlines()[0]
    return first.removeprefix("# expect: ")


def outputs_on_disk() -> dict[str, float]:
    return {str(path): path.stat().st_mtime for folder in ("dist", "cdk.out") for path in (ROOT / folder).rglob("*")}


def run_check(capsys, name: str, config_dir: Path) -> tuple[int, str]:
    code = check.main(["--config-dir", str(config_dir), "--", name])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_plan(name: str, config_dir: Path) -> tuple[int, str]:
    buffer = io.StringIO()
    code = plan.main(["--env", name, "--config-dir", str(config_dir)], console=Console(file=buffer, width=300))
    return code, buffer.getvalue()


def assert_refused(code: int, output: str, field: str) -> None:
    assert code == 2, output
    assert field in output, output
    assert "Traceback" not in output
    assert len(output) < MAX_MESSAGE, f"{len(output)} characters"


def test_the_corpus_covers_every_class():
    assert len(CASES) >= 9


@pytest.mark.parametrize("case", CASES)
def test_each_bad_file_is_refused_by_synth_and_plan_alike(capsys, case):
    before = outputs_on_disk()
    with pytest.raises(ConfigError) as refused:  # what app.py runs before it builds anything
        require_deployable(load_environment(case, config_dir=BAD))
    assert_refused(2, str(refused.value), expected(case))
    code, output = run_check(capsys, case, BAD)
    assert_refused(code, output, expected(case))
    assert output.count("\n") == 1, "one paragraph"
    code, output = run_plan(case, BAD)
    assert_refused(code, output[output.rindex("error:") :], expected(case))  # the plan's tables come before
    assert "Traceback" not in output
    assert outputs_on_disk() == before, "nothing written or changed on disk"


@pytest.mark.parametrize("name", ["F_58", "../config/dev", "dev;touch x", "DEV", "-dev", "d" * 40, "dev/x"])
def test_names_that_cannot_be_stack_names_are_refused_before_reading_anything(capsys, tmp_path, name):
    if "/" not in name:
        (tmp_path / f"{name}.yaml").write_text((ROOT / "config" / "dev.yaml").read_text())
    code, output = run_check(capsys, name, tmp_path)
    assert_refused(code, output, "is not an environment name")


@pytest.mark.parametrize("value", ["dev;touch {marker}", "dev $(touch {marker})", "dev`touch {marker}`", ""])
def test_make_refuses_a_bad_environment_name_before_any_recipe(tmp_path, value):
    marker = tmp_path / "ran"
    result = subprocess.run(
        ["make", "-n", "synth", f"ENV={value.format(marker=marker)}"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "is not an environment name" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("case", "literal"),
    [("model-id-with-markup", "[/x][bold]m"), ("tool-parser-with-markup", "[/x][red]p"),
     ("alb-host-with-markup", "[bold]{model}.example.com[/bold]")],
)  # fmt: skip
def test_markup_in_a_value_is_printed_literally(case, literal):
    code, output = run_plan(case, BAD)
    assert code == 2 and literal in output


LEAVES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))
    yield prefix


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env_name=st.sampled_from(["dev", "prod"]), data=st.data())
def test_any_mutation_of_a_shipped_file_is_accepted_or_refused_cleanly(tmp_path_factory, env_name, data):
    document = yaml.safe_load((ROOT / "config" / f"{env_name}.yaml").read_text())
    path = data.draw(st.sampled_from([p for p in _paths(document) if p]))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(LEAVES)
    config_dir = tmp_path_factory.mktemp("mutated")
    (config_dir / f"{env_name}.yaml").write_text(yaml.safe_dump(document))
    code, output = run_plan(env_name, config_dir)
    assert code in (0, 2), output
    assert "Traceback" not in output
    if code == 2:
        assert len(output[output.rindex("error:") :]) < MAX_MESSAGE


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://a b", "http://host:99999", "http://host?x=1"])
def test_a_malformed_url_is_a_usage_error(capsys, url):
    from scripts import smoke_test

    code = smoke_test.main(["--url", url, "--api-key", "k"], environ={})
    output = capsys.readouterr().out
    assert code == 2 and "--url" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("architecture", "tensor_parallel_size", "splits"),
    [("llama-3-8b", 3, False), ("qwen-2.5-7b", 8, False), ("qwen-2.5-7b", 7, False), ("qwen-2.5-7b", 4, True),
     ("llama-3.1-70b", 8, True), ("llama-3.1-70b", 16, True)],
)  # fmt: skip
def test_tensor_parallelism_must_split_attention_and_kv_heads(architecture, tensor_parallel_size, splits):
    """vLLM refuses a TP size that does not divide the attention heads, or the KV heads (replicated when fewer)."""
    from planning.catalog import model_architectures
    from planning.sizing import _splits_heads

    assert _splits_heads(model_architectures()[architecture], tensor_parallel_size) is splits


def test_make_passes_a_hostile_url_single_quoted(tmp_path):
    marker = tmp_path / "ran"
    for url in (f"`touch {marker}`", f"$$(touch {marker})", f"x'; touch {marker}; echo '"):
        result = subprocess.run(
            ["make", "--no-print-directory", "smoke", f"URL={url}", "ENV=dev"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode != 0 and "--url" in result.stdout + result.stderr
        assert not marker.exists(), url


def test_an_interrupted_synth_leaves_the_last_complete_output(tmp_path):
    """CDK killed mid-synth: cdk.out/ keeps the previous complete synth, nothing half-written, no lock.

    SIGKILL, because a shell without a terminal (CI) ignores SIGINT in what it starts.
    """
    fake_cdk = tmp_path / "cdk"
    fake_cdk.write_text(
        '#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\nmkdir -p "$2" && echo partial > "$2/half.template.json"\n'
        'touch "$2/synth.lock"\nkill -KILL $$\n'
    )
    fake_cdk.chmod(0o755)
    work = tmp_path / "work"
    (work / "cdk.out").mkdir(parents=True)
    (work / "cdk.out" / "complete.template.json").write_text("previous")
    python = ROOT / ".venv" / "bin" / "python"
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "synth", "ENV=dev", f"CDK={fake_cdk}",
         f"PY={python}", "-o", "install", "-o", f"{ROOT}/.venv/.installed", "-o", "node_modules/.installed"],
        cwd=work, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
    assert sorted(path.name for path in (work / "cdk.out").iterdir()) == ["complete.template.json"]
    assert (work / "cdk.out" / "complete.template.json").read_text() == "previous"
