"""checkov over every synthesized template and manifest of every shipped environment: nothing unacknowledged.

Each acknowledgment is written by the code that creates the resource (template Metadata, or a
`checkov.io/skipN` annotation on the Kubernetes object) with its reason; this test fails on any new
finding, and on an acknowledgment without a reason.
"""

import json
import subprocess
from pathlib import Path

import pytest

from charts.bundle import side_files, write_manifests
from tests import tool_cache
from tests.conftest import ROOT

CHECKOV_ENV = ROOT / ".tools" / "checkov"
CHECKOV = CHECKOV_ENV / "bin" / "checkov"
CHECKOV_LOCK = ROOT / "tools" / "checkov" / "uv.lock"
SCANNED = ["dev", "prod", "alb", "node-group"]
# A canary the scan must flag, so an empty result can never mean "nothing was scanned".
CANARY = {"Resources": {"Canary": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}}}


def _reports(output: str) -> list[dict]:
    decoder, position, reports = json.JSONDecoder(), 0, []
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(output, position)
        reports += document if isinstance(document, list) else [document]
    return reports


def _finished_scan(completed: subprocess.CompletedProcess[str]) -> bool:
    """A scan that ran to its report (exit 1 is a finding); a crash also exits 1, but writes no report."""
    try:
        return completed.returncode in (0, 1) and bool(_reports(completed.stdout))
    except json.JSONDecodeError:
        return False


@pytest.fixture(scope="module")
def scan(synth_env, tmp_path_factory) -> list[dict]:
    assert CHECKOV.is_file(), "checkov is installed by `make test` into .tools/checkov (its own locked venv)"
    files: dict[str, bytes] = {"canary/canary.template.json": json.dumps(CANARY).encode()}
    for env_name in SCANNED:
        synthesized = synth_env(env_name)
        for template in synthesized.outdir.glob("*.template.json"):
            files[f"{env_name}/cdk.out/{template.name}"] = template.read_bytes()
        dist = tmp_path_factory.mktemp(f"dist-{env_name}") / env_name
        # The side files too: the benchmark Job is applied by hand, and is scanned like the rest.
        write_manifests(synthesized.stacks.inference.charts, dist, files=side_files(synthesized.config))
        for path in dist.rglob("*"):
            if path.is_file():
                files[f"{env_name}/dist/{path.relative_to(dist)}"] = path.read_bytes()
    command = [str(CHECKOV), "--skip-download", "--compact", "-o", "json"]
    command += ["--framework", "cloudformation", "kubernetes", "-d", "."]
    result = tool_cache.run(
        command,
        files,
        versions=[CHECKOV_LOCK, *tool_cache.installed(CHECKOV_ENV, "checkov")],
        env={"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
        storable=_finished_scan,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return _reports(result.stdout)


def _checks(reports: list[dict], kind: str) -> list[dict]:
    return [check for report in reports for check in report["results"].get(kind, [])]


def test_every_finding_is_fixed_or_acknowledged(scan):
    failed = [
        f"{check['check_id']} {check['resource']} ({Path(check['file_path']).name})"
        for check in _checks(scan, "failed_checks")
        if "canary" not in check["file_path"]
    ]
    assert failed == [], "fix these, or acknowledge each on its resource with a reason:\n" + "\n".join(failed)


def test_the_scan_ran_and_would_catch_a_finding(scan):
    canary = [check["check_id"] for check in _checks(scan, "failed_checks") if "canary" in check["file_path"]]
    assert "CKV_AWS_158" in canary
    kinds = {report["check_type"] for report in scan}
    assert {"cloudformation", "kubernetes"} <= kinds
    assert sum(report["summary"]["passed"] for report in scan) > 100
    scanned = {
        check["file_path"].lstrip("/")
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in _checks(scan, kind)
    }
    for env_name in SCANNED:
        assert f"{env_name}/cdk.out/vllm-{env_name}-cluster.template.json" in scanned, env_name
        assert f"{env_name}/dist/03-vllm.yaml" in scanned, env_name
        assert any(path.startswith(f"{env_name}/dist/benchmark/") for path in scanned), env_name


def test_every_acknowledgment_carries_a_reason(scan):
    skipped = _checks(scan, "skipped_checks")
    assert skipped, "the acknowledgments are read by the scan"
    for check in skipped:
        reason = check.get("suppress_comment") or check.get("check_result", {}).get("suppress_comment") or ""
        assert len(reason) >= 30, f"{check['check_id']} on {check['resource']}: '{reason}' is no reason"


def test_a_crashed_scan_is_not_kept_as_a_verdict():
    """checkov exits 1 on a finding and on a crash alike; only a run that wrote its report may be stored."""
    report = json.dumps({"check_type": "kubernetes", "results": {"failed_checks": []}, "summary": {"passed": 1}})
    crashed = subprocess.CompletedProcess(["checkov"], 1, "", "Traceback (most recent call last): ...")
    found = subprocess.CompletedProcess(["checkov"], 1, report, "")
    assert not _finished_scan(crashed)
    assert _finished_scan(found)
