"""Reads config/<env>.yaml into an EnvironmentConfig, or fails with one clear paragraph."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.model import EnvironmentConfig

CONFIG_DIR = Path(__file__).parent


class ConfigError(Exception):
    """A problem in an environment file, worded for the person who has to fix it."""


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in config_dir.glob("*.yaml"))


def load_environment(
    name: str, *, config_dir: Path = CONFIG_DIR, environ: Mapping[str, str] | None = None
) -> EnvironmentConfig:
    """Load and validate one environment; account and region fall back to CDK_DEFAULT_*."""
    environ = os.environ if environ is None else environ
    path = config_dir / f"{name}.yaml"
    shown = _display(path)
    if not path.is_file():
        known = ", ".join(available_environments(config_dir)) or "none"
        raise ConfigError(
            f"{shown}: there is no environment named '{name}'. Environments available: {known}. "
            f"Fix: pass one of them (make synth ENV=dev, or cdk synth -c env=dev), "
            f"or create {shown} by copying config/dev.yaml and editing it."
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{shown}: not valid YAML{where}: {problem}. Fix: correct the syntax there.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{shown}: expected a mapping of settings at the top level, got {type(raw).__name__}.")
    if "name" in raw:
        raise ConfigError(f"{shown}: field 'name' is set from the file name; remove it from the file.")
    data: dict[str, Any] = {**raw, "name": name}
    if not data.get("account") and environ.get("CDK_DEFAULT_ACCOUNT"):
        data["account"] = environ["CDK_DEFAULT_ACCOUNT"]
    if not data.get("region") and environ.get("CDK_DEFAULT_REGION"):
        data["region"] = environ["CDK_DEFAULT_REGION"]
    try:
        config = EnvironmentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_explain(shown, error)) from None
    config._source_file = shown
    return config


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _explain(shown: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting; remove it or fix its spelling (see the config reference in README.md)"
        elif item["type"] == "missing":
            message = "required but missing; add it (see config/dev.yaml for an example)"
        elif "input" in item and item["type"] not in ("value_error", "assertion_error"):
            message = f"{message} (got {item['input']!r})"
        problems.append(f"{field}: {message}")
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"{shown} is invalid ({count}): " + "; ".join(problems) + ". Fix the file and run again."
