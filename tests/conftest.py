"""Shared fixtures: synthesize an environment in-process, exactly as app.py does, once per session.

The CDK and the stacks are imported where they are used, not here: pytest-xdist's controller loads this
file too but synthesizes nothing, and would otherwise start a jsii runtime before starting its workers.
"""

import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.loaders
import botocore.session
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from config import EnvironmentConfig, load_environment
from config.names import REGISTRY_STACK

if TYPE_CHECKING:
    from aws_cdk import App
    from aws_cdk.assertions import Template
    from aws_cdk.cx_api import CloudAssembly

    from stacks.assembly import EnvironmentStacks

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ["dev", "prod"]
FIXTURE_CONFIGS = ROOT / "tests" / "fixtures" / "config"
# One synthesized environment per exposure mode: the two shipped ones and a test-only ALB fixture.
EXPOSURE_ENVIRONMENTS = {"cluster-ip": "dev", "internal-nlb": "prod", "alb": "alb"}
# One per observability mode: a test-only node-group fixture none, the ALB fixture existing, dev in-cluster, prod amp.
OBSERVABILITY_ENVIRONMENTS = {"none": "node-group", "existing": "alb", "in-cluster": "dev", "amp": "prod"}
# One per GPU capacity mode: the shipped environments run Karpenter, two fixtures a fixed managed node group.
KARPENTER_ENVIRONMENTS = ["dev", "prod"]
NODE_GROUP_ENVIRONMENTS = ["alb", "node-group"]
RENDERED_ENVIRONMENTS = sorted({*EXPOSURE_ENVIRONMENTS.values(), *OBSERVABILITY_ENVIRONMENTS.values()})
TEST_ACCOUNT = "111111111111"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# No stand-in account here looks up an AMI; moto would otherwise load its thousands of default AMIs into
# every region of every mocked account (~0.3 s per test that starts EC2, measured with cProfile). The
# switch is moto's own: settings.ec2_load_default_amis() in the pinned moto (uv.lock).
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def cdk_context() -> dict[str, Any]:
    """The feature flags from cdk.json, as the CDK CLI would pass them."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    """One synthesized environment. Templates are read from the assembly once per stack (each read crosses
    into jsii with ~100 KB of JSON) and handed out as fresh copies, so a test may change what it gets."""

    config: EnvironmentConfig
    stacks: "EnvironmentStacks"
    assembly: "CloudAssembly"
    _template_texts: dict[str, str] = field(default_factory=dict, repr=False)
    _templates: dict[str, "Template"] = field(default_factory=dict, repr=False)

    def template(self, stack: str) -> "Template":
        """The assertions view of a stack's template; read-only, so one per stack."""
        from aws_cdk.assertions import Template

        if stack not in self._templates:
            self._templates[stack] = Template.from_json(self.template_json(stack))
        return self._templates[stack]

    def template_json(self, stack: str) -> dict[str, Any]:
        """A stack's template by short name: network, cluster, inference, or registry (shared, unprefixed)."""
        if stack not in self._template_texts:
            name = REGISTRY_STACK if stack == "registry" else f"{self.config.stack_prefix}-{stack}"
            self._template_texts[stack] = json.dumps(self.assembly.get_stack_by_name(name).template)
        result: dict[str, Any] = json.loads(self._template_texts[stack])
        return result

    @property
    def outdir(self) -> Path:
        return Path(self.assembly.directory)


def cdk_app(outdir: Path | None = None, *, builtin_validation: bool = False, **context: Any) -> "App":
    """An App as the CDK CLI would start app.py's, with cdk.json's feature flags (and `context` over them).

    CDK's built-in CloudFormation validator (the App prop builtinCloudFormationValidation, documented in the
    pinned aws-cdk-lib 2.275's README) is off unless asked for: it starts a WebAssembly engine in each
    test process (~2.5 s) and validates every template of every test synth again (~0.4 s each, Node CPU
    profile). test_synth_output runs it, as app.py does, over each environment and each variant whose
    templates differ in shape (an existing VPC, an adopted bucket); the other test synths change a value.
    """
    from aws_cdk import App

    return App(
        outdir=str(outdir) if outdir else None,
        context={**cdk_context(), **context},
        builtin_cloud_formation_validation=builtin_validation,
    )


def synthesize(config: EnvironmentConfig, outdir: Path, *, deployer: str | None = None) -> Synthesized:
    from stacks.assembly import build

    app = cdk_app(outdir)
    stacks = build(app, config, deployer=deployer)
    return Synthesized(config=config, stacks=stacks, assembly=app.synth())


def cloudformation_validate_report(outdir: Path) -> dict[str, Any] | None:
    """CDK's own validator in a synth's validation-report.json: its conclusion and each finding left
    unacknowledged (rule, severity, description, construct paths). None when the report has no entry for it:
    CDK leaves the entry out when the validator found nothing and nothing was acknowledged.

    Raises when a validation plugin crashed: CDK reports the crash as that plugin's failure, not as a finding."""
    report = json.loads((outdir / "validation-report.json").read_text())
    crashed = {
        plugin["pluginName"]: plugin["metadata"]["error"]
        for plugin in report["pluginReports"]
        if plugin.get("metadata", {}).get("error")
    }
    assert not crashed, f"a validation plugin crashed: {crashed}"
    for plugin in report["pluginReports"]:
        if plugin["pluginName"] == "CloudFormation Validate":
            return {
                "conclusion": plugin["conclusion"],
                "violations": [
                    {
                        "rule": violation["ruleName"],
                        "severity": violation["severity"],
                        "description": violation["description"],
                        "constructs": [construct["constructPath"] for construct in violation["violatingConstructs"]],
                    }
                    for violation in plugin.get("violations", [])
                ],
            }
    return None


def stack_metadata(outdir: Path, entry_type: str) -> list[tuple[str, Any]]:
    """Each (construct path, data) of one type of metadata entry, from every stack's metadata file in a synth."""
    return [
        (path, entry["data"])
        for metadata in sorted(outdir.glob("*.metadata.json"))
        for path, entries in json.loads(metadata.read_text()).items()
        for entry in entries
        if entry["type"] == entry_type
    ]


def acknowledged_rules(outdir: Path) -> dict[str, dict[str, str]]:
    """Every acknowledgment the stacks of a synth recorded (cdk-nag's, the validator's, annotations'): construct
    path -> {rule id: reason}."""
    acknowledged: dict[str, dict[str, str]] = {}
    for path, rules in stack_metadata(outdir, "aws:cdk:acknowledged-rules"):
        acknowledged.setdefault(path, {}).update(rules)
    return acknowledged


def load(env_name: str, **environ: str) -> EnvironmentConfig:
    """An environment as the loader reads it, with no CDK_DEFAULT_* from this machine leaking in.

    Names that are not shipped environments come from tests/fixtures/config/.
    """
    config_dir = FIXTURE_CONFIGS if (FIXTURE_CONFIGS / f"{env_name}.yaml").is_file() else ROOT / "config"
    return load_environment(env_name, config_dir=config_dir, environ=environ)


@pytest.fixture(autouse=True, scope="session")
def one_botocore_data_loader() -> Iterator[None]:
    """Every botocore session of a test process reads service models through one loader, which keeps what it
    parsed: EC2's model alone is megabytes of JSON, parsed per session otherwise (~0.2 s per test that mocks AWS).
    The same registration as botocore's own, with the loader cached by data path."""
    shared_loader = functools.cache(botocore.loaders.create_loader)

    def register(session: botocore.session.Session) -> None:
        session._components.lazy_register_component(
            "data_loader", lambda: shared_loader(session.get_config_variable("data_path"))
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session.Session, "_register_data_loader", register)
        yield


@pytest.fixture(scope="session")
def synth_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    cache: dict[str, Synthesized] = {}

    def get(env_name: str) -> Synthesized:
        if env_name not in cache:
            cache[env_name] = synthesize(load(env_name), tmp_path_factory.mktemp(f"cdk-{env_name}"))
        return cache[env_name]

    return get


@pytest.fixture(scope="session")
def dev(synth_env: Callable[[str], Synthesized]) -> Synthesized:
    return synth_env("dev")


@pytest.fixture(scope="session")
def prod(synth_env: Callable[[str], Synthesized]) -> Synthesized:
    return synth_env("prod")


def variant_config() -> EnvironmentConfig:
    """dev with the opt-in choices turned on: an admin role, a private endpoint, Spot GPUs above an on-demand
    floor, an account."""
    data = load("dev", CDK_DEFAULT_ACCOUNT=TEST_ACCOUNT).model_dump(mode="json")
    data["cluster"].update(
        admin_principals=[
            f"arn:aws:iam::{TEST_ACCOUNT}:role/PlatformAdmin",
            f"arn:aws:iam::{TEST_ACCOUNT}:user/oncall",
        ],
        endpoint_access="private",
        public_access_cidrs=[],
    )
    data["gpu_node_group"].update(
        capacity_type="spot", on_demand_nodes=1, instance_types=["g5.2xlarge", "g6.2xlarge"], max_size=5
    )
    return EnvironmentConfig.model_validate(data)


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(variant_config(), tmp_path_factory.mktemp("cdk-variant"))


ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    """A template with the parts that vary between machines replaced by placeholders.

    Kubernetes manifests embedded as JSON strings are expanded so snapshot diffs read line by line.
    """
    result = json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))
    for resource in result.get("Resources", {}).values():
        manifest = resource.get("Properties", {}).get("Manifest")
        if resource["Type"] == "Custom::AWSCDK-EKS-KubernetesResource" and isinstance(manifest, str):
            resource["Properties"]["Manifest"] = json.loads(manifest)
    return result


@pytest.fixture
def json_snapshot(snapshot):
    """One readable JSON file per snapshot under tests/__snapshots__/, so reviews read like template diffs."""
    return snapshot.use_extension(JSONSnapshotExtension)


FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def without_aws_credentials(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment with every AWS credential source removed, for a script run as a user runs it."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return environ | {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process as a user with no AWS credentials anywhere runs it: the in-process twin of the above."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in without_aws_credentials(tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so boto3 signs requests that moto or a Stubber answer; no real AWS call is possible."""
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
