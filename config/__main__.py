"""`python -m config check ENV` validates an environment file; `python -m config reference` prints the docs."""

import argparse
import sys
from pathlib import Path

from config.loader import CONFIG_DIR, ConfigError, load_environment
from config.reference import render, write_into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate config/ENV.yaml")
    check.add_argument("env")
    check.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    reference = commands.add_parser("reference", help="print the config reference (markdown)")
    reference.add_argument("--write", type=Path, metavar="README", help="replace the reference block in this file")
    args = parser.parse_args(argv)

    if args.command == "check":
        try:
            load_environment(args.env, config_dir=args.config_dir)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.write:
        write_into(args.write)
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
