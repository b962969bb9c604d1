"""The checkers' result cache reuses a verdict only for the same command, input bytes and checker version."""

import json
import sys
from pathlib import Path

import pytest

from tests import tool_cache


@pytest.fixture
def checker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in checker that counts its real runs in a file outside its working directory."""
    monkeypatch.setattr(tool_cache, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("VLLM_ON_EKS_TOOL_CACHE", raising=False)
    runs = tmp_path / "runs"
    version = tmp_path / "checker.lock"
    version.write_text("1.0")
    monkeypatch.setattr(tool_cache, "ROOT", tmp_path)
    script = (
        "import pathlib, sys; "
        f"pathlib.Path({str(runs)!r}).open('a').write('x'); "
        "text = pathlib.Path('in/template.json').read_text(); print(text.upper()); sys.exit(int('bad' in text))"
    )

    def check(content: str, *, storable=lambda completed: completed.returncode == 0):
        result = tool_cache.run([sys.executable, "-c", script], {"in/template.json": content}, versions=[version],
                                storable=storable)  # fmt: skip
        return result, len(runs.read_text()) if runs.exists() else 0

    return check, version, monkeypatch


def test_an_identical_run_is_answered_from_the_cache(checker):
    check, _, _ = checker
    first, runs = check("fine")
    again, runs_after = check("fine")
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout) == (0, "FINE\n")
    assert runs_after == runs, "the second identical run did not start the checker"


def test_changed_input_or_checker_version_runs_again(checker):
    check, version, _ = checker
    _, runs = check("fine")
    result, runs_after_edit = check("fine, edited")
    assert runs_after_edit == runs + 1 and result.stdout == "FINE, EDITED\n"
    version.write_text("1.1")
    _, runs_after_upgrade = check("fine, edited")
    assert runs_after_upgrade == runs_after_edit + 1


def test_a_failure_outside_storable_is_never_replayed(checker):
    check, _, _ = checker
    _, runs = check("bad")
    result, runs_after = check("bad")
    assert result.returncode == 1 and runs_after == runs + 1
    finished = lambda completed: completed.returncode in (0, 1)  # noqa: E731
    _, stored_once = check("bad", storable=finished)
    _, replayed = check("bad", storable=finished)
    assert replayed == stored_once


def test_the_cache_can_be_turned_off(checker):
    check, _, monkeypatch = checker
    _, runs = check("fine")
    monkeypatch.setenv("VLLM_ON_EKS_TOOL_CACHE", "off")
    _, runs_after = check("fine")
    assert runs_after == runs + 1


def test_the_checker_sees_neither_the_callers_home_nor_its_variables(tmp_path, monkeypatch):
    """A ~/.cfnlintrc or a CKV_SKIP_CHECK of the person running the tests would change the verdict without
    changing the key: the checker runs with HOME in its own directory and only PATH and the locale passed."""
    monkeypatch.setattr(tool_cache, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(tool_cache, "ROOT", tmp_path)
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_AWS_158")
    monkeypatch.setenv("HOME", str(tmp_path))
    script = (
        "import json, os; print(json.dumps({'home': os.environ['HOME'], 'skip': os.environ.get('CKV_SKIP_CHECK')}))"
    )
    result = tool_cache.run([sys.executable, "-c", script], {}, versions=[])
    seen = json.loads(result.stdout)
    assert seen["skip"] is None
    assert seen["home"] != str(tmp_path) and Path(seen["home"]).name.startswith("checker-")


def test_a_missing_version_file_is_part_of_the_key_not_a_crash(checker, tmp_path):
    check, version, _ = checker
    _, runs = check("fine")
    version.unlink()
    _, runs_after = check("fine")
    assert runs_after == runs + 1


def test_an_in_process_verdict_is_recalled_only_for_the_same_checker_settings_files_and_versions(tmp_path, monkeypatch):
    """CDK's validator runs inside a synth: its verdict is stored and found by the same key as a checker run's,
    with the settings it reads (environment variables, context) in place of a command."""
    monkeypatch.setattr(tool_cache, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(tool_cache, "ROOT", tmp_path)
    monkeypatch.delenv("VLLM_ON_EKS_TOOL_CACHE", raising=False)
    version = tmp_path / "validator.lock"
    version.write_text("1.0")
    files = {"a.template.json": b"{}", "metadata.json": b"{}"}
    validator = {"kind": "validator", "environment": {"CDK_VALIDATION": None}}
    assert tool_cache.recall(validator, files, versions=[version]) is None
    tool_cache.remember(validator, files, versions=[version], result={"synth_failed": False})
    assert tool_cache.recall(validator, files, versions=[version]) == {"synth_failed": False}
    assert tool_cache.recall({**validator, "kind": "another checker"}, files, versions=[version]) is None
    assert (
        tool_cache.recall({**validator, "environment": {"CDK_VALIDATION": "false"}}, files, versions=[version]) is None
    )
    assert tool_cache.recall(validator, {**files, "metadata.json": b'{"W3010": "x"}'}, versions=[version]) is None
    version.write_text("1.1")
    assert tool_cache.recall(validator, files, versions=[version]) is None
    version.write_text("1.0")
    monkeypatch.setenv("VLLM_ON_EKS_TOOL_CACHE", "off")
    assert tool_cache.recall(validator, files, versions=[version]) is None
