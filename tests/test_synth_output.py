"""The synthesized templates: snapshots, cfn-lint, cdk-nag, and no dependence on the machine."""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from config import EnvironmentConfig
from stacks.assembly import build
from tests import tool_cache
from tests.conftest import (
    ENVIRONMENTS,
    RENDERED_ENVIRONMENTS,
    ROOT,
    acknowledged_rules,
    cdk_app,
    cloudformation_validate_report,
    load,
    normalized,
    synthesize,
    variant_config,
)

STACKS = ["network", "secrets", "cluster", "inference"]
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("stack", STACKS)
def test_template_snapshot(synth_env, json_snapshot, env_name, stack):
    assert normalized(synth_env(env_name).template_json(stack)) == json_snapshot


def test_registry_template_snapshot(prod, json_snapshot):
    assert prod.stacks.registry is not None
    template = prod.assembly.get_stack_by_name(prod.stacks.registry.stack_name).template
    assert normalized(template) == json_snapshot


def test_monitoring_template_snapshot(prod, json_snapshot):
    assert prod.stacks.monitoring is not None
    assert normalized(prod.template_json("monitoring")) == json_snapshot


def _cfn_lint_completed(code: int) -> bool:
    """cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational; anything else a crash."""
    return code & ~(2 | 4 | 8) == 0


def cfn_lint_errors(templates: dict[str, bytes]) -> str | None:
    """cfn-lint's report when it finds an error in the templates (name -> content), else None."""
    result = tool_cache.run(
        [CFN_LINT, "--format", "parseable", "--regions", "us-east-1", "--", *templates],
        templates,
        versions=[ROOT / "uv.lock", *tool_cache.installed(ROOT / ".venv", "cfn_lint")],
        storable=lambda completed: _cfn_lint_completed(completed.returncode),
    )
    assert _cfn_lint_completed(result.returncode), result.stdout + result.stderr
    return result.stdout + result.stderr if result.returncode & 2 else None


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cfn_lint_finds_no_errors(synth_env, env_name):
    synthesized = synth_env(env_name)
    templates = {path.name: path.read_bytes() for path in sorted(synthesized.outdir.glob("*.template.json"))}
    optional = (synthesized.stacks.registry, synthesized.stacks.monitoring)
    assert len(templates) == len(STACKS) + sum(stack is not None for stack in optional)
    assert cfn_lint_errors(templates) is None


def test_cfn_lint_would_catch_an_error():
    """The check above can fail: a property CloudFormation does not know is an error."""
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"RetentionDays": 4}}}}
    errors = cfn_lint_errors({"broken.template.json": json.dumps(broken).encode()})
    assert errors is not None and "RetentionDays" in errors


# CDK's validator concludes from what it reads (the templates, the rules acknowledged on their constructs) and
# from what runs it: the aws-cdk-lib that bundles it, cdk.json's flags, and this test code with conftest's cdk_app.
VALIDATOR_VERSIONS = [
    ROOT / "uv.lock",
    ROOT / "cdk.json",
    ROOT / "tests" / "conftest.py",
    Path(__file__),
    *tool_cache.installed(ROOT / ".venv", "aws_cdk_lib"),
]


def validator_inputs(outdir: Path) -> dict[str, bytes]:
    """What CDK's validator reads from a synth."""
    inputs = {path.name: path.read_bytes() for path in sorted(outdir.glob("*.template.json"))}
    inputs["acknowledged-rules.json"] = json.dumps(acknowledged_rules(outdir), sort_keys=True).encode()
    return inputs


def cdk_validator_verdict(unvalidated: Path, synth_validated: Callable[[Path], object], outdir: Path) -> dict[str, Any]:
    """What CDK's own validator says of the synth in `unvalidated`, made with it off: whether it failed the synth,
    and its entry in the report (conftest.cloudformation_validate_report).

    `synth_validated(outdir)` makes the same synth with the validator on. It runs only when no verdict is stored
    for the same inputs (tests/tool_cache.py); a warm run of the suite saves the validator's WebAssembly engine
    start (~2.5 s) and a synth per environment. A synth that fails for another reason is raised, never stored.
    """
    stored = tool_cache.recall("cdk-validator", validator_inputs(unvalidated), versions=VALIDATOR_VERSIONS)
    if stored is not None:
        return dict(stored)
    try:
        synth_validated(outdir)
        failed = False
    except RuntimeError as error:
        if not str(error).startswith("ValidationFailed"):
            raise
        failed = True
    verdict = {"synth_failed": failed, "report": cloudformation_validate_report(outdir)}
    tool_cache.remember("cdk-validator", validator_inputs(outdir), versions=VALIDATOR_VERSIONS, result=verdict)
    return verdict


def _validated_environment(name: str) -> tuple[EnvironmentConfig, dict[str, Any]]:
    """An environment and its cached context, by the name the validator test gives it."""
    if name == "variant":
        return variant_config(), {}
    if name == "existing-vpc":
        from tests.test_network import existing_vpc_environment

        return existing_vpc_environment()
    if name == "adopted-weights-bucket":
        from tests.test_weights import adopted_bucket_environment

        return adopted_bucket_environment(), {}
    return load(name), {}


@pytest.mark.parametrize(
    "name",
    [
        *(name for name in RENDERED_ENVIRONMENTS if name != "dev"),
        "variant",
        "existing-vpc",
        "adopted-weights-bucket",
    ],
)
def test_cdks_own_validator_accepts_every_environment(name, synth_env, tmp_path):
    """CDK's built-in CloudFormation validator, on in app.py and off in the other test synths (conftest.cdk_app),
    runs here over every environment and every variant whose templates differ in shape (dev: through app.py,
    in the secret-leak test). Each warning it leaves is acknowledged on its construct (components/vpc.py)."""
    config, context = _validated_environment(name)
    if name in RENDERED_ENVIRONMENTS:
        unvalidated = synth_env(name).outdir
    else:
        unvalidated = synthesize(config, tmp_path / "unvalidated", context=context).outdir
    verdict = cdk_validator_verdict(
        unvalidated,
        lambda outdir: synthesize(config, outdir, builtin_validation=True, context=context),
        tmp_path / "validated",
    )
    passed = {"conclusion": "success", "violations": []}
    assert not verdict["synth_failed"], verdict["report"]
    if config.network.existing_vpc_id:
        assert verdict["report"] in (None, passed), "no VPC of ours here, so the report may leave the validator out"
    else:
        assert verdict["report"] == passed, "the VPC's acknowledged W3010 (its literal zones) is reported: it ran"


def test_cdks_own_validator_fails_synth_on_an_error(tmp_path):
    """The check above can fail: cdk.json's validateAgainstDefaultRules turns the validator's errors into a
    failed synth (without it they would be warnings), and an unknown property is one."""

    def canary(outdir: Path, *, validate: bool = False) -> None:
        app = cdk_app(outdir, builtin_validation=validate)
        queue = sqs.CfnQueue(Stack(app, "Canary"), "Queue")
        queue.add_property_override("RetentionDays", 4)
        app.synth()

    canary(tmp_path / "unvalidated")
    verdict = cdk_validator_verdict(
        tmp_path / "unvalidated", lambda outdir: canary(outdir, validate=True), tmp_path / "validated"
    )
    assert verdict["synth_failed"]
    (violation,) = verdict["report"]["violations"]
    assert violation["severity"] == "error" and "RetentionDays" in violation["description"]
    assert violation["constructs"] == ["Canary/Queue"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cdk_nag_has_no_unacknowledged_findings(synth_env, env_name):
    report = json.loads((synth_env(env_name).outdir / "validation-report.json").read_text())
    failures = [
        violation
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
        if violation["ruleName"].startswith("AwsSolutions")
    ]
    assert failures == []


def test_cdk_nag_is_active_and_fails_synth_on_a_finding(tmp_path):
    """A bucket without SSL enforcement or logging must stop synth: proves the checks run at all."""
    app = cdk_app(tmp_path)
    stacks = build(app, load("dev"))
    s3.Bucket(stacks.network, "UncheckedBucket")
    with pytest.raises(Exception, match=r"AwsSolutions-S1|AwsSolutions-S10"):
        app.synth()


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_nag_acknowledgment_sits_on_a_resource_with_a_reason(synth_env, env_name):
    """Acknowledgments are per construct, never stack-wide, and each says why."""
    acknowledged = {
        (path, rule): reason
        for path, rules in acknowledged_rules(synth_env(env_name).outdir).items()
        for rule, reason in rules.items()
        if "AwsSolutions" in rule
    }
    assert acknowledged, "components acknowledge their cdk-nag findings"
    for (path, rule), reason in acknowledged.items():
        assert path.count("/") >= 2, f"{rule} is acknowledged for a whole stack ({path})"
        assert len(reason.split()) >= 5, f"{rule} at {path} needs a concrete reason, got {reason!r}"


def test_synth_does_not_depend_on_this_machine(dev, tmp_path_factory):
    """Two synths in different directories give identical normalized templates."""
    second = synthesize(load("dev"), tmp_path_factory.mktemp("elsewhere"))
    assert second.outdir != dev.outdir
    for stack in STACKS:
        assert normalized(dev.template_json(stack)) == normalized(second.template_json(stack))


def test_stacks_are_bound_to_no_account_unless_configured(dev):
    assert Stack.of(dev.stacks.cluster).region == "us-east-1"
    assert dev.stacks.cluster.account.startswith("${Token"), "dev.yaml names no account"


@pytest.mark.parametrize("env_name", ["dev", "prod", "alb"])
def test_synth_needs_no_aws_lookup_and_raises_no_error(synth_env, env_name):
    """Missing context means a look-up the CLI would try with credentials: synth must need none."""
    manifest = json.loads((synth_env(env_name).outdir / "manifest.json").read_text())
    assert not manifest.get("missing"), "synth needs a context look-up"
    for name, artifact in manifest["artifacts"].items():
        for path, entries in artifact.get("metadata", {}).items():
            errors = [entry["data"] for entry in entries if entry["type"] == "aws:cdk:error"]
            assert not errors, f"{name}{path}: {errors}"
