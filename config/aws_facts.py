"""What AWS offers, read offline from the service data botocore ships (pinned with boto3 in uv.lock).

The two data files are read directly, not through a botocore session: the session's imports and model
classes took ~0.37 s in every process that loads an environment (app.py, each script, each synth), the
files take ~0.07 s. tests/test_config.py holds both answers equal to botocore's own API.
"""

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

PARTITIONS = ("aws", "aws-us-gov", "aws-cn")


def _botocore_data() -> Path:
    import botocore  # the package alone (~0.02 s); its session and client modules are what cost

    return Path(botocore.__file__).parent / "data"


def _read(stem: Path) -> Any:
    """A botocore data file, shipped as NAME.json or NAME.json.gz."""
    plain = stem.with_name(f"{stem.name}.json")
    if plain.is_file():
        return json.loads(plain.read_bytes())
    return json.loads(gzip.decompress(stem.with_name(f"{stem.name}.json.gz").read_bytes()))


@cache
def eks_regions() -> frozenset[str]:
    """Regions where EKS has a regional endpoint, in every partition (botocore's get_available_regions)."""
    endpoints = _read(_botocore_data() / "endpoints")
    return frozenset(
        name
        for partition in endpoints["partitions"]
        if partition["partition"] in PARTITIONS
        for name in partition["services"].get("eks", {}).get("endpoints", {})
        if name in partition["regions"]
    )


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type name the newest EC2 API model knows."""
    ec2 = _botocore_data() / "ec2"
    latest = max(version.name for version in ec2.iterdir() if any(version.glob("service-2.json*")))
    return frozenset(_read(ec2 / latest / "service-2")["shapes"]["InstanceType"]["enum"])
