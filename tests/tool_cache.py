"""The external checkers' verdicts (checkov, cfn-lint, the CRD schema validator), kept by the bytes they read.

A checker run is a function of its command, its installed version and its input files, and nothing
else (each runs offline). So each run happens in a fresh directory holding only its inputs, under
relative names (a checker's own config file, should one be added, is one of them), and its result is
stored under a hash of all three. Only an identical run reuses it:
an edited template, another command or an upgraded checker (its lockfile is part of the key) is a
new key, never a stale hit. A fresh clone, as in CI, has no cache and runs everything.

    rm -rf .tools/cache                       # forget every stored result
    VLLM_ON_EKS_TOOL_CACHE=off make test      # run every checker, store nothing
"""

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".tools" / "cache"
KEPT_RESULTS = 200  # the oldest are dropped beyond this; one full run stores a few dozen


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(
    command: list[str],
    files: Mapping[str, str | bytes],
    *,
    versions: list[Path],
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    storable: Callable[[int], bool] = lambda code: code == 0,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`command` run in a new directory holding `files` (relative name -> content), or its stored result.

    `versions` are the files that pin the checker (a lockfile, its script); `env` is added to this
    process's environment and is part of the key; only a run whose exit code is `storable` is kept,
    so a crash is never replayed.
    """
    key = _digest(
        json.dumps(
            {
                "command": command,
                "stdin": stdin,
                "env": dict(sorted((env or {}).items())),
                "files": {name: _digest(_bytes(content)) for name, content in sorted(files.items())},
                "versions": {str(path.relative_to(ROOT)): _digest(path.read_bytes()) for path in versions},
            },
            sort_keys=True,
        ).encode()
    )
    stored = CACHE_DIR / f"{key}.json"
    enabled = os.environ.get("VLLM_ON_EKS_TOOL_CACHE", "on") != "off"
    if enabled and stored.is_file():
        result = json.loads(stored.read_text())
        os.utime(stored)
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
            env=os.environ | dict(env or {}),
            timeout=timeout,
        )
    if enabled and storable(completed.returncode):
        _store(stored, {"returncode": completed.returncode, "stdout": completed.stdout, "stderr": completed.stderr})
    return completed


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _store(path: Path, result: dict[str, object]) -> None:
    """Written whole (another pytest worker may read it at the same moment), then the oldest beyond the limit go."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=CACHE_DIR, suffix=".partial", delete=False) as partial:
        json.dump(result, partial)
    os.replace(partial.name, path)
    results = sorted(CACHE_DIR.glob("*.json"), key=_last_used, reverse=True)
    for old in results[KEPT_RESULTS:]:
        old.unlink(missing_ok=True)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # dropped by another worker meanwhile
        return 0.0
