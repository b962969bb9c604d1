"""The README stays true: the config reference and the list of make targets."""

import re

from config.reference import render
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_config_reference_is_generated_from_the_model():
    assert render() in README, "run `make docs` to regenerate the config reference"


def test_every_make_target_is_documented():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):.*## ", makefile, flags=re.MULTILINE)
    assert {"synth", "test", "bench", "deploy", "destroy", "snapshot-update"} <= set(targets)
    for target in targets:
        if target != "help":
            assert f"`make {target}" in README, f"README does not document `make {target}`"
