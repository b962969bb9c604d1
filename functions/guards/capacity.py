"""Can this account launch what the environment deploys, and what it may scale to? One implementation for two callers.

Quotas, instance offerings, the Kubernetes version and the pinned add-on builds, all read-only.
A quota below what the deploy launches (`desired_size`) fails; a quota below the ceiling
(`max_size`) only warns, since nothing launches that many until something scales out.

scripts/preflight.py runs it from a laptop before anything is created; the quota guard custom
resource runs it inside `cdk deploy` before the control plane.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

from .results import FAIL, OK, WARN, CheckResult


@dataclass(frozen=True)
class Quota:
    code: str
    name: str


# EC2 vCPU quotas by instance family letter and capacity type (Service Quotas, service code ec2).
QUOTAS: dict[tuple[str, str], Quota] = {
    ("g", "on_demand"): Quota("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("g", "spot"): Quota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", "on_demand"): Quota("L-417A185B", "Running On-Demand P instances"),
    ("p", "spot"): Quota("L-7212CCBC", "All P Spot Instance Requests"),
    ("standard", "on_demand"): Quota("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
}
USABLE_VERSION_STATUSES = {"STANDARD_SUPPORT", "EXTENDED_SUPPORT"}


@dataclass(frozen=True)
class CapacityRequest:
    """What one environment launches when deployed, and the most it may scale to."""

    region: str
    availability_zones: tuple[str, ...]
    gpu_instance_types: tuple[str, ...]
    gpu_desired_nodes: int
    gpu_max_nodes: int
    capacity_type: str  # on_demand or spot
    system_instance_types: tuple[str, ...]
    system_desired_nodes: int
    system_max_nodes: int
    kubernetes_version: str
    addon_versions: dict[str, str]
    addon_configuration: dict[str, str]  # add-on name -> its configuration values, as JSON text

    def to_properties(self) -> dict[str, Any]:
        """Custom-resource properties (CloudFormation passes every scalar back as a string)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> "CapacityRequest":
        return cls(
            region=properties["region"],
            availability_zones=tuple(properties["availability_zones"]),
            gpu_instance_types=tuple(properties["gpu_instance_types"]),
            gpu_desired_nodes=int(properties["gpu_desired_nodes"]),
            gpu_max_nodes=int(properties["gpu_max_nodes"]),
            capacity_type=properties["capacity_type"],
            system_instance_types=tuple(properties["system_instance_types"]),
            system_desired_nodes=int(properties["system_desired_nodes"]),
            system_max_nodes=int(properties["system_max_nodes"]),
            kubernetes_version=properties["kubernetes_version"],
            addon_versions=dict(properties["addon_versions"]),
            addon_configuration=dict(properties.get("addon_configuration", {})),
        )


@dataclass(frozen=True)
class QuotaIncrease:
    quota: Quota
    region: str
    desired_vcpus: int

    @property
    def command(self) -> str:
        return (
            f"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {self.quota.code} "
            f"--desired-value {self.desired_vcpus} --region {self.region}"
        )


def _family(instance_type: str) -> str:
    letter = instance_type[0]
    return letter if letter in ("g", "p") else "standard"


def quota_value(quotas: Any, quota: Quota) -> float:
    """The applied quota in this account, or AWS's default where none was ever applied."""
    try:
        return float(quotas.get_service_quota(ServiceCode="ec2", QuotaCode=quota.code)["Quota"]["Value"])
    except quotas.exceptions.NoSuchResourceException:
        return float(quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=quota.code)["Quota"]["Value"])


def instance_vcpus(ec2: Any, instance_types: list[str]) -> tuple[dict[str, int], list[str]]:
    """vCPUs per instance type, and the names EC2 does not know in this region."""
    vcpus: dict[str, int] = {}
    unknown: list[str] = []
    for name in instance_types:
        try:
            info = ec2.describe_instance_types(InstanceTypes=[name])["InstanceTypes"]
        except ec2.exceptions.ClientError as error:
            if "InvalidInstanceType" not in str(error):
                raise
            info = []
        if info:
            vcpus[name] = int(info[0]["VCpuInfo"]["DefaultVCpus"])
        else:
            unknown.append(name)
    return vcpus, unknown


def _quota_check(
    quotas: Any,
    request: CapacityRequest,
    *,
    label: str,
    quota: Quota,
    nodes: tuple[int, int],
    types: list[str],
    vcpus: dict[str, int],
) -> CheckResult:
    """FAIL below what the deploy launches (desired nodes), WARN below the ceiling (max nodes)."""
    desired, maximum = nodes
    largest = max(types, key=lambda name: vcpus[name])
    needed, ceiling = desired * vcpus[largest], maximum * vcpus[largest]
    available = quota_value(quotas, quota)
    detail = (
        f"quota '{quota.name}' ({quota.code}) is {available:g} vCPUs; {label} need {needed} at deploy "
        f"({desired} x {largest} at {vcpus[largest]} vCPUs) and {ceiling} at max_size {maximum}"
    )
    name = f"{label} vCPU quota"
    if available >= ceiling:
        return CheckResult(name, OK, detail)
    increase = QuotaIncrease(quota=quota, region=request.region, desired_vcpus=ceiling)
    remedy = f"request {ceiling} vCPUs for {quota.code} in {request.region}: {increase.command}"
    if available >= needed:
        return CheckResult(
            name, WARN, f"{detail}; scaling past {int(available) // vcpus[largest]} nodes will fail", remedy, increase
        )
    return CheckResult(name, FAIL, detail, remedy, increase)


def _offering_checks(ec2: Any, request: CapacityRequest, types: list[str]) -> list[CheckResult]:
    offered: dict[str, set[str]] = {name: set() for name in types}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone",
        Filters=[
            {"Name": "instance-type", "Values": types},
            {"Name": "location", "Values": list(request.availability_zones)},
        ],
    )
    for page in pages:
        for offering in page["InstanceTypeOfferings"]:
            offered[offering["InstanceType"]].add(offering["Location"])
    results = []
    for name in types:
        zones = sorted(offered[name])
        missing = sorted(set(request.availability_zones) - offered[name])
        check = f"{name} offered in the AZs"
        if not missing:
            results.append(CheckResult(check, OK, f"offered in {', '.join(zones)}"))
        elif zones:
            results.append(
                CheckResult(
                    check,
                    WARN,
                    f"offered in {', '.join(zones)} but not {', '.join(missing)}; nodes launch only where offered",
                )
            )
        else:
            results.append(
                CheckResult(
                    check,
                    FAIL,
                    f"not offered in any of {', '.join(request.availability_zones)}",
                    f"choose availability zones that offer {name} (aws ec2 describe-instance-type-offerings "
                    f"--location-type availability-zone --filters Name=instance-type,Values={name}) or another type",
                )
            )
    return results


def _version_check(eks: Any, request: CapacityRequest) -> CheckResult:
    name = f"Kubernetes {request.kubernetes_version} on EKS"
    versions = eks.describe_cluster_versions(clusterVersions=[request.kubernetes_version])["clusterVersions"]
    statuses = [version.get("versionStatus", "") for version in versions]
    if any(status in USABLE_VERSION_STATUSES for status in statuses):
        return CheckResult(name, OK, f"available in {request.region} ({', '.join(statuses)})")
    return CheckResult(
        name,
        FAIL,
        f"not available in {request.region} ({', '.join(statuses) or 'unknown version'})",
        "pin a version EKS offers in this region: KUBERNETES_VERSION in config/versions.py",
    )


def _addon_checks(eks: Any, request: CapacityRequest) -> list[CheckResult]:
    """Each pinned add-on build must exist for the pinned Kubernetes version in this region."""
    results = []
    paginator = eks.get_paginator("describe_addon_versions")
    for name, version in request.addon_versions.items():
        offered = [
            build["addonVersion"]
            for page in paginator.paginate(kubernetesVersion=request.kubernetes_version, addonName=name)
            for addon in page["addons"]
            for build in addon["addonVersions"]
        ]
        check = f"add-on {name} {version}"
        if version in offered:
            results.append(CheckResult(check, OK, f"offered for Kubernetes {request.kubernetes_version}"))
            if name in request.addon_configuration:
                results.append(_configuration_check(eks, name, version, json.loads(request.addon_configuration[name])))
            continue
        newest = ", ".join(offered[:3]) or "none"
        results.append(
            CheckResult(
                check,
                FAIL,
                f"not offered for Kubernetes {request.kubernetes_version} in {request.region} (newest: {newest})",
                f"pin ADDON_VERSIONS['{name}'] in config/versions.py to an offered build",
            )
        )
    return results


def schema_problems(values: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Where `values` break a JSON schema's structure: unknown keys where none are allowed, wrong types.

    The subset EKS add-on schemas use (type, properties, additionalProperties, items); enough to catch a
    misspelt or unsupported setting before EKS refuses it twenty minutes into a deploy.
    """
    kinds: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
    }
    expected = schema.get("type")
    wrong_type = isinstance(expected, str) and expected in kinds and not isinstance(values, kinds[expected])
    if wrong_type or (expected in ("integer", "number") and isinstance(values, bool)):  # bool is an int in Python
        return [f"{path or 'the configuration'} should be {expected}"]
    problems = []
    if isinstance(values, dict):
        properties = schema.get("properties", {})
        for key, value in values.items():
            where = f"{path}.{key}" if path else key
            if key in properties:
                problems += schema_problems(value, properties[key], where)
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where} is not a setting of this add-on")
    if isinstance(values, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(values):
            problems += schema_problems(item, schema["items"], f"{path}[{index}]")
    return problems


def _configuration_check(eks: Any, name: str, version: str, values: dict[str, Any]) -> CheckResult:
    check = f"add-on {name} configuration"
    response = eks.describe_addon_configuration(addonName=name, addonVersion=version)
    schema = json.loads(response.get("configurationSchema") or "{}")
    problems = schema_problems(values, schema)
    if not problems:
        return CheckResult(check, OK, "accepted by the build's configuration schema")
    return CheckResult(
        check,
        FAIL,
        f"{'; '.join(problems)} (aws eks describe-addon-configuration --addon-name {name} --addon-version {version})",
        "fix ADDON_CONFIGURATION in config/addons.py to match the pinned build's schema",
    )


def run_checks(request: CapacityRequest, *, ec2: Any, quotas: Any, eks: Any) -> list[CheckResult]:
    """Every check, in the order a person would fix them."""
    types = list(dict.fromkeys([*request.gpu_instance_types, *request.system_instance_types]))
    vcpus, unknown = instance_vcpus(ec2, types)
    if unknown:
        return [
            CheckResult(
                "instance types exist",
                FAIL,
                f"{', '.join(unknown)} unknown to EC2 in {request.region}",
                "fix the instance type names in the environment file",
            )
        ]
    results: list[CheckResult] = []
    by_family: dict[str, list[str]] = {}
    for name in request.gpu_instance_types:
        by_family.setdefault(_family(name), []).append(name)
    for family, family_types in by_family.items():
        quota = QUOTAS[(family, request.capacity_type)]
        results.append(
            _quota_check(
                quotas, request, label=f"GPU nodes ({request.capacity_type.replace('_', '-')})", quota=quota,
                nodes=(request.gpu_desired_nodes, request.gpu_max_nodes), types=family_types, vcpus=vcpus,
            )
        )  # fmt: skip
    results.append(
        _quota_check(
            quotas, request, label="system nodes", quota=QUOTAS[("standard", "on_demand")],
            nodes=(request.system_desired_nodes, request.system_max_nodes),
            types=list(request.system_instance_types), vcpus=vcpus,
        )
    )  # fmt: skip
    results += _offering_checks(ec2, request, list(request.gpu_instance_types))
    version = _version_check(eks, request)
    results.append(version)
    if version.status == OK:
        results += _addon_checks(eks, request)
    return results
