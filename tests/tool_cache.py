"""The checkers' verdicts (checkov, cfn-lint, the CRD schema validator, CDK's own validator), kept by the bytes
they read.

A checker run is a function of its command, its installed version, its environment and its input files,
and nothing else (each runs offline). So each run happens in a fresh directory holding only its inputs,
under relative names, with a minimal environment whose HOME is that directory (no ~/.cfnlintrc, no
~/.checkov.yaml, no CKV_* variable of the person running the tests), and its result is stored under a
hash of all of them. Only an identical run reuses it: an edited template, another command or an upgraded
checker (its lockfile and its installed files' record are part of the key) is a new key, never a stale
hit. A fresh clone, as in CI, has no cache and runs everything.

A checker that runs inside the test process (CDK's validator runs in a synth) stores its verdict with
`remember` and finds it with `recall`, keyed the same way: its input files, the settings it reads (its
environment variables, its context) and as versions whatever else decides the verdict, the test code that
runs it included.

    rm -rf .tools/cache                       # forget every stored result
    VLLM_ON_EKS_TOOL_CACHE=off make test      # run every checker, store nothing
"""

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".tools" / "cache"
KEPT_RESULTS = 200  # the oldest are dropped beyond this; one full run stores a few dozen
ABANDONED_SECONDS = 3600  # a .partial file this old was left by a killed run
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TMPDIR")  # what the checkers need to start, and nothing they read

Storable = Callable[["subprocess.CompletedProcess[str]"], bool]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(
    command: list[str],
    files: Mapping[str, str | bytes],
    *,
    versions: list[Path],
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    storable: Storable = lambda completed: completed.returncode == 0,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`command` run in a new directory holding `files` (relative name -> content), or its stored result.

    `versions` are the files that pin the checker (a lockfile, its installed RECORD, its script); `env` is
    added to the minimal environment; only a run that is `storable` (a finished check, not a crash or an
    unreadable report) is kept, so a broken install is never replayed.
    """
    environment = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ} | dict(env or {})
    stored = _stored({"command": command, "stdin": stdin, "env": environment}, files, versions)
    enabled = _enabled()
    if enabled and (result := _read(stored)) is not None:
        return subprocess.CompletedProcess(command, result["returncode"], result["stdout"], result["stderr"])
    with tempfile.TemporaryDirectory(prefix="checker-") as directory:
        for name, content in files.items():
            path = Path(directory) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_bytes(content))
        completed = subprocess.run(
            command,
            cwd=directory,
            input=stdin,
            capture_output=True,
            text=True,
            env=environment | {"HOME": directory},
            timeout=timeout,
        )
    if enabled and storable(completed):
        _store(stored, {"returncode": completed.returncode, "stdout": completed.stdout, "stderr": completed.stderr})
    return completed


def recall(what: Mapping[str, object], files: Mapping[str, str | bytes], *, versions: list[Path]) -> Any:
    """The result `remember` stored for the same `what` (the checker, and any setting that changes its verdict),
    files and versions, or None."""
    if not _enabled() or (stored := _read(_stored({"checker": what}, files, versions))) is None:
        return None
    return stored["result"]


def remember(
    what: Mapping[str, object], files: Mapping[str, str | bytes], *, versions: list[Path], result: object
) -> None:
    """Store `result` (not None, JSON) as what the checker `what` concluded from these files with these versions."""
    if _enabled():
        _store(_stored({"checker": what}, files, versions), {"result": result})


def installed(venv: Path, distribution: str) -> list[Path]:
    """The RECORD of a distribution installed in `venv`: every file it installed, with its hash."""
    return sorted(venv.glob(f"lib/python*/site-packages/{distribution}-*.dist-info/RECORD"))


def _enabled() -> bool:
    return os.environ.get("VLLM_ON_EKS_TOOL_CACHE", "on") != "off"


def _stored(what: Mapping[str, object], files: Mapping[str, str | bytes], versions: list[Path]) -> Path:
    """Where the result of `what` over `files`, with the checker pinned by `versions`, is kept."""
    key = {
        **what,
        "files": {name: _digest(_bytes(content)) for name, content in sorted(files.items())},
        "versions": {
            str(path.relative_to(ROOT)): _digest(path.read_bytes()) if path.is_file() else "missing"
            for path in versions
        },
    }
    return CACHE_DIR / f"{_digest(json.dumps(key, sort_keys=True).encode())}.json"


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _read(path: Path) -> dict[str, Any] | None:
    """A stored result, or None when there is none (or another worker dropped it a moment ago)."""
    try:
        result: dict[str, Any] = json.loads(path.read_text())
        os.utime(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return result


def _store(path: Path, result: dict[str, object]) -> None:
    """Written whole (another pytest worker may read it at the same moment), then the oldest beyond the limit go."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=CACHE_DIR, suffix=".partial", delete=False) as partial:
        json.dump(result, partial)
    os.replace(partial.name, path)
    results = sorted(CACHE_DIR.glob("*.json"), key=_last_used, reverse=True)
    for old in results[KEPT_RESULTS:]:
        old.unlink(missing_ok=True)
    for leftover in CACHE_DIR.glob("*.partial"):
        if _last_used(leftover) < time.time() - ABANDONED_SECONDS:
            leftover.unlink(missing_ok=True)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # dropped by another worker meanwhile
        return 0.0
