#!/usr/bin/env python3
"""CDK entry point: synthesizes the environment named by `-c env=NAME` (default dev).

`-c config_dir=DIR` reads the environment files from DIR instead of config/; `-c dist_dir=DIR`
writes the plain manifests to DIR/<env>/ instead of dist/<env>/. The principal that deploys comes
from the context key `vllm-on-eks:deployer:<env>`, which `make deploy` records in cdk.context.json.
"""

import sys
from pathlib import Path

from aws_cdk import App

from config import ConfigError, load_environment
from config.loader import CONFIG_DIR
from config.names import deployer_context_key
from planning.fit import require_deployable

DEFAULT_ENV = "dev"
MANIFESTS_DIR = Path(__file__).parent / "dist"  # plain YAML per chart, for kubectl and GitOps


def main() -> int:
    app = App()
    env_name = app.node.try_get_context("env") or DEFAULT_ENV
    config_dir = Path(app.node.try_get_context("config_dir") or CONFIG_DIR)
    try:
        deployer = app.node.try_get_context(deployer_context_key(env_name))
        config = load_environment(env_name, config_dir=config_dir)
        require_deployable(config)
        # The stacks and charts load only for a config that will synthesize: a refusal answers a second sooner.
        from charts.bundle import side_files, write_manifests
        from stacks.assembly import build

        stacks = build(app, config, deployer=deployer)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app.synth()
    write_manifests(
        stacks.inference.charts,
        Path(app.node.try_get_context("dist_dir") or MANIFESTS_DIR) / env_name,
        files=side_files(config),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
