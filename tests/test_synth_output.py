"""The synthesized templates: snapshots, cfn-lint, cdk-nag, and no dependence on the machine."""

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from config import EnvironmentConfig
from stacks.assembly import build
from tests import tool_cache
from tests.conftest import (
    ENVIRONMENTS,
    RENDERED_ENVIRONMENTS,
    ROOT,
    Synthesized,
    acknowledged_rules,
    cdk_app,
    cloudformation_validate_report,
    load,
    normalized,
    stack_metadata,
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


# CDK's validator concludes from what a synth gives it (validator_inputs), from the settings aws-cdk-lib reads
# around it (core/lib/app.js and core/lib/private/synthesis-validation.js: context over cdk.json's, validation
# turned off, whether a failure raises or exits; under pytest it raises) and from what runs it: the aws-cdk-lib
# that bundles it, cdk.json, and this test code with conftest's cdk_app.
VALIDATOR_ENVIRONMENT = (
    "CDK_CONTEXT_JSON",
    "CONTEXT_OVERFLOW_LOCATION_ENV",
    "CDK_VALIDATION",
    "CDK_APP_MODE",
    "NODE_ENV",
)
VALIDATOR_VERSIONS = [
    ROOT / "uv.lock",
    ROOT / "cdk.json",
    ROOT / "tests" / "conftest.py",
    Path(__file__),
    *tool_cache.installed(ROOT / ".venv", "aws_cdk_lib"),
]


def validator_settings(context: Mapping[str, Any]) -> dict[str, Any]:
    """What, besides its input files, decides CDK's validator's verdict on a synth made with `context`."""
    return {
        "kind": "cdk-validator",
        "environment": {name: os.environ.get(name) for name in VALIDATOR_ENVIRONMENT},
        "context": dict(context),
    }


def acknowledged_outside_stacks(root: IConstruct) -> dict[str, dict[str, str]]:
    """Acknowledgments on the App, or under it outside any stack: CDK's validator honours them, and no stack's
    metadata file carries them."""
    scopes = [
        root,
        *(scope for child in root.node.children if not Stack.is_stack(child) for scope in child.node.find_all()),
    ]
    acknowledged: dict[str, dict[str, str]] = {}
    for scope in scopes:
        for entry in scope.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                acknowledged.setdefault(scope.node.path, {}).update(entry.data)
    return acknowledged


def validator_inputs(outdir: Path, root: IConstruct) -> dict[str, bytes]:
    """What CDK's validator reads from a synth: the templates; the stacks' environments and feature flags
    (manifest.json); the logical id of each construct path and the rules acknowledged on it (the stacks'
    metadata), which is how a finding on a resource meets its acknowledgment; acknowledgments outside stacks."""
    metadata = {
        "logical ids": dict(stack_metadata(outdir, "aws:cdk:logicalId")),
        "acknowledged": acknowledged_rules(outdir),
        "acknowledged outside stacks": acknowledged_outside_stacks(root),
    }
    return {
        **{path.name: path.read_bytes() for path in sorted(outdir.glob("*.template.json"))},
        "manifest.json": (outdir / "manifest.json").read_bytes(),
        "metadata.json": json.dumps(metadata, sort_keys=True).encode(),
    }


def cdk_validator_verdict(
    app_for: Callable[[Path, bool], App],
    scratch: Path,
    *,
    context: Mapping[str, Any] | None = None,
    shared: Synthesized | None = None,
) -> dict[str, Any]:
    """What CDK's own validator says of a synth: whether it failed the synth, and its entry in the report
    (conftest.cloudformation_validate_report).

    `app_for(outdir, validate)` builds the app, not yet synthesized, with the validator on or off (and
    `context`); `shared` is the same app already synthesized with it off, by a fixture other tests use. The
    validated synth runs only when no verdict is stored for the same inputs and settings (tests/tool_cache.py):
    a warm run of the suite saves the validator's WebAssembly engine start (~2.5 s) and a synth per environment.
    A synth that fails on anything but this validator's findings is raised, never stored.
    """
    if shared is None:
        app = app_for(scratch / "unvalidated", False)
        app.synth()
        unvalidated = validator_inputs(scratch / "unvalidated", app)
    else:
        unvalidated = validator_inputs(shared.outdir, shared.stacks.secrets.node.root)
    settings = validator_settings(context or {})
    stored = tool_cache.recall(settings, unvalidated, versions=VALIDATOR_VERSIONS)
    if stored is not None:
        return dict(stored)
    app = app_for(scratch / "validated", True)
    failure = None
    try:
        app.synth()
    except RuntimeError as error:
        if not str(error).startswith("ValidationFailed"):
            raise
        failure = error
    report = cloudformation_validate_report(scratch / "validated")
    if failure and (report is None or report["conclusion"] != "failure"):
        raise AssertionError(f"synth failed on another validation plugin than CDK's validator: {failure}")
    verdict = {"synth_failed": failure is not None, "report": report}
    tool_cache.remember(
        settings, validator_inputs(scratch / "validated", app), versions=VALIDATOR_VERSIONS, result=verdict
    )
    return verdict


def test_the_validators_verdict_is_kept_apart_for_each_setting_it_reads(monkeypatch):
    """A run with CDK_VALIDATION=false (validation off) or another context would otherwise store its verdict
    under the key of a normal run."""
    for name in VALIDATOR_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    usual = validator_settings({})
    assert validator_settings({"vpc-provider:account=1:filter.vpc-id=vpc-1": {}}) != usual
    for name in VALIDATOR_ENVIRONMENT:
        with monkeypatch.context() as patch:
            patch.setenv(name, "false")
            assert validator_settings({}) != usual, name


def test_the_validators_inputs_hold_what_meets_a_finding_with_its_acknowledgment(tmp_path):
    """Identical templates may get different verdicts: the validator finds a resource by logical id, maps it to
    its construct path, and honours acknowledgments there or on the App."""

    def queue_app(name: str, scope: str, *, acknowledged_on_app: bool = False) -> tuple[str, dict[str, bytes]]:
        app = cdk_app(tmp_path / name)
        queue = sqs.CfnQueue(Construct(Stack(app, "Canary"), scope), "Queue")
        queue.override_logical_id("Queue")
        if acknowledged_on_app:
            Validations.of(app).acknowledge(Acknowledgment(id="CloudFormation-Validate::F3002", reason="a test"))
        app.synth()
        template = (tmp_path / name / "Canary.template.json").read_text()
        return template, validator_inputs(tmp_path / name, app)

    here, there, acknowledged = (
        queue_app("here", "Here"),
        queue_app("there", "There"),
        queue_app("acknowledged", "Here", acknowledged_on_app=True),
    )
    assert here[0] == there[0] == acknowledged[0], "the templates alone cannot tell them apart"
    assert here[1] != there[1] and here[1] != acknowledged[1]


def test_a_crashed_validation_plugin_is_raised_not_read_as_a_verdict(tmp_path):
    """CDK reports a plugin that threw as that plugin's failure, with the error in its metadata."""
    report = {"pluginReports": [{"pluginName": "CloudFormation Validate", "conclusion": "failure",
                                 "metadata": {"error": "RuntimeError: boom"}, "violations": []}]}  # fmt: skip
    (tmp_path / "validation-report.json").write_text(json.dumps(report))
    with pytest.raises(AssertionError, match="boom"):
        cloudformation_validate_report(tmp_path)


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

    def app_for(outdir: Path, validate: bool) -> App:
        app = cdk_app(outdir, builtin_validation=validate, **context)
        build(app, config)
        return app

    shared = synth_env(name) if name in RENDERED_ENVIRONMENTS else None
    verdict = cdk_validator_verdict(app_for, tmp_path, context=context, shared=shared)
    passed = {"conclusion": "success", "violations": []}
    assert not verdict["synth_failed"], verdict["report"]
    if config.network.existing_vpc_id:
        assert verdict["report"] in (None, passed), "no VPC of ours here, so the report may leave the validator out"
    else:
        assert verdict["report"] == passed, "the VPC's acknowledged W3010 (its literal zones) is reported: it ran"


def test_cdks_own_validator_fails_synth_on_an_error(tmp_path):
    """The check above can fail: cdk.json's validateAgainstDefaultRules turns the validator's errors into a
    failed synth (without it they would be warnings), and an unknown property is one."""

    def canary(outdir: Path, validate: bool) -> App:
        app = cdk_app(outdir, builtin_validation=validate)
        queue = sqs.CfnQueue(Stack(app, "Canary"), "Queue")
        queue.add_property_override("RetentionDays", 4)
        return app

    verdict = cdk_validator_verdict(canary, tmp_path)
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
