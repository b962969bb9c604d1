"""Every script runs the way users run scripts: `python scripts/NAME.py --help` from the repo root."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A script is a file that runs as a program; the rest of scripts/ (aws_access.py) is what they share.
SCRIPTS = sorted(
    path.stem for path in (ROOT / "scripts").glob("*.py") if 'if __name__ == "__main__"' in path.read_text()
)


def test_the_list_is_complete():
    assert {"check", "kubeconfig", "load_weights", "plan", "preflight", "set_secrets", "smoke_test", "status"} <= set(
        SCRIPTS
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_runs_as_a_file_from_the_repo_root(script):
    result = subprocess.run(
        [sys.executable, f"scripts/{script}.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script", ["status", "bench_endpoint"])
def test_a_script_that_reads_the_cluster_starts_no_jsii_runtime(script):
    """`make status` and `make bench-endpoint` read the cluster: they import the names objects are found by (and
    the benchmark's run plan), not cdk8s or the CDK, whose import starts a Node process (~0.5 s, and a Node
    version banner outside make). bench_endpoint loads the chart only to render its Job."""
    probe = f"import sys, scripts.{script}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'jsii', 'cdk8s', 'aws_cdk'}}))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
