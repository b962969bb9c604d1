"""`make synth`'s first step: validate config/ENV.yaml and check that every model can run, before CDK starts.

    python -m scripts.check dev

One paragraph and exit 2 for a problem (a bad value, or a model that does not fit its GPUs or its
node); otherwise silent and exit 0, since synth prints the warnings itself. app.py runs the same
checks, for `cdk` used directly.
"""

import argparse
import sys
from pathlib import Path

from charts.capacity import deployability, refusal
from config import ConfigError, load_environment
from config.loader import CONFIG_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("env")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        problems, _warnings = deployability(config)
        if problems:
            raise ConfigError(refusal(config, problems))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
