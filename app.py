#!/usr/bin/env python3
"""CDK entry point: synthesizes the environment named by `-c env=NAME` (default dev)."""

import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from config import ConfigError, load_environment
from stacks.assembly import build

DEFAULT_ENV = "dev"


def main() -> int:
    app = App()
    env_name = app.node.try_get_context("env") or DEFAULT_ENV
    try:
        config = load_environment(env_name)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    build(app, config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
