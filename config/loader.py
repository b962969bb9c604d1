"""Reads config/<env>.yaml into an EnvironmentConfig, or fails with one clear paragraph."""

import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from config.model import EnvironmentConfig

CONFIG_DIR = Path(__file__).parent
# An environment name becomes a CloudFormation stack name (vllm-NAME-inference), a directory (dist/NAME)
# and a make argument: lower-case letters, digits and inner hyphens only.
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 32
MAX_QUOTED = 80  # characters of a bad value an error message repeats
MAX_DEPTH = 64  # the deepest setting is a handful of levels down


class _StrictLoader(yaml.CSafeLoader):
    """libyaml's safe loader (every make target and test reads these files: ~10x the pure-Python one's speed),
    refusing duplicate keys, which YAML would keep the last of silently. Aliases are refused by `_parse`."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
                )
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{str(key)[:MAX_QUOTED]}' appears twice; keep one", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse(text: str) -> Any:
    """The document, refusing first aliases (*name: a few bytes can expand to gigabytes) and nesting deeper
    than MAX_DEPTH (libyaml composes recursively and would crash the process on thousands of levels)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        mark = cast(yaml.error.Mark, event.start_mark)  # libyaml's mark: the same line and column
        if isinstance(event, yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed; write the value out", mark
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.load(text, Loader=_StrictLoader)


class ConfigError(Exception):
    """A problem in an environment file, worded for the person who has to fix it."""


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(path.stem for path in config_dir.glob("*.yaml"))


def load_environment(
    name: str, *, config_dir: Path = CONFIG_DIR, environ: Mapping[str, str] | None = None
) -> EnvironmentConfig:
    """Load and validate one environment; account and region fall back to CDK_DEFAULT_*."""
    environ = os.environ if environ is None else environ
    if not ENVIRONMENT_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        known = ", ".join(available_environments(config_dir)) or "none"
        raise ConfigError(
            f"'{_quoted(name)}' is not an environment name: use lower-case letters, digits and inner hyphens, at "
            f"most {MAX_NAME_LENGTH} characters (it becomes a stack name and a directory). Environments "
            f"available: {known}. Fix: pass one of them (make synth ENV=dev), or rename the file in config/."
        )
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
        raw = _parse(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"{shown}: not valid YAML{where}: {_quoted(problem, 200)}. Fix: correct the syntax there."
        ) from None
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


def _quoted(value: str, limit: int = MAX_QUOTED) -> str:
    """A bad value as an error message repeats it: bounded, on one line."""
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
            message = f"{message} (got {_quoted(repr(item['input']))})"
        problems.append(f"{field}: {message}")
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"{shown} is invalid ({count}): " + "; ".join(problems) + ". Fix the file and run again."
