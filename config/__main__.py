"""`python -m config reference [--write README.md]` prints (or writes) the config reference table."""

import argparse
import sys
from pathlib import Path

from config.reference import render, write_into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config")
    commands = parser.add_subparsers(dest="command", required=True)
    reference = commands.add_parser("reference", help="print the config reference (markdown)")
    reference.add_argument("--write", type=Path, metavar="README", help="replace the reference block in this file")
    args = parser.parse_args(argv)
    if args.write:
        write_into(args.write)
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
