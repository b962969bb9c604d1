"""The first step of `make diff`, `make secrets`, `make deploy` and `make destroy`: refuse what cannot work first.

    python -m scripts.check dev                       # offline: the file's values, and that every model fits
    python -m scripts.check dev --deploy              # also: credentials, account, who gets cluster-admin
    python -m scripts.check dev --deploy --secrets    # also: the secrets a person must set hold real values,
                                                      # and every streamed model's commit is in the bucket
    python -m scripts.check dev --secret-stacks       # the stacks `make secrets` deploys, one per line

One paragraph and exit 2 for a problem; otherwise a short confirmation (silent offline, since synth
prints the warnings itself) and exit 0. app.py runs the offline checks itself, before it builds anything, so
`make synth` and `cdk` used directly refuse the same files.

With --deploy, the IAM role or user that deploys is recorded in cdk.context.json (once per environment)
when cluster.grant_deployer is on, so `make deploy` gives its caller cluster-admin and every later synth,
in CI too, renders the same access entry without credentials. Commit that file.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from config import ConfigError, EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.model import PLACEHOLDER_ACCOUNT
from config.names import REGISTRY_STACK, deployer_context_key
from config.secrets import human_secrets, set_command
from functions.guards.results import FAIL
from functions.guards.secrets import check_secrets
from planning.fit import require_deployable

ROOT = Path(__file__).resolve().parent.parent
CONTEXT_FILE = ROOT / "cdk.context.json"
ClientFactory = Callable[[str], Any]


def access_problem(config: EnvironmentConfig) -> str | None:
    if not config.cluster.admin_principals and not config.cluster.grant_deployer:
        return (
            f"{config.source_file}: cluster.admin_principals is empty and cluster.grant_deployer is false, so "
            "after the deploy nobody could run kubectl against the cluster. Fix: list your role in "
            "cluster.admin_principals, or set cluster.grant_deployer: true."
        )
    return None


def caller(clients: ClientFactory, config: EnvironmentConfig) -> dict[str, str]:
    try:
        identity: dict[str, str] = clients("sts").get_caller_identity()
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials found, and deploying needs them: log in (aws sso login, or set AWS_PROFILE) and "
            "run again."
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise ConfigError(f"the AWS credentials do not work in {config.region}: {error}") from None
    return identity


def account_problem(config: EnvironmentConfig, account: str) -> str | None:
    if config.account == PLACEHOLDER_ACCOUNT:
        return (
            f"{config.source_file}: account is still the placeholder {PLACEHOLDER_ACCOUNT} (AWS's documentation "
            f"example). Fix: set account: to the account this environment deploys to (your credentials are for "
            f"{account})."
        )
    if config.account and config.account != account:
        return (
            f"{config.source_file}: account is {config.account} but your credentials are for {account}. Fix: switch "
            "credentials (AWS_PROFILE) or correct account: in the file."
        )
    return None


ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")
IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(user|role)/.+$")


def deployer_principal(identity_arn: str, iam: Any) -> str:
    """The IAM role or user behind the caller, as an access entry names it.

    An assumed-role session ARN drops the role's path, which an access entry needs (IAM Identity Center
    roles live under aws-reserved/sso.amazonaws.com/...), so the role is read back from IAM.
    """
    if IAM_PRINCIPAL.match(identity_arn):
        return identity_arn
    match = ASSUMED_ROLE.match(identity_arn)
    if not match:
        raise ConfigError(
            f"you are signed in as {identity_arn}, which EKS cannot give an access entry (only IAM roles and users). "
            "Fix: set cluster.admin_principals to your role's ARN and cluster.grant_deployer: false, or sign in "
            "with a role."
        )
    _partition, account, role = match.groups()
    try:
        return str(iam.get_role(RoleName=role)["Role"]["Arn"])
    except (ClientError, BotoCoreError) as error:
        # A guessed path-less ARN would fail the access entry after the control plane is up, and stay recorded.
        raise ConfigError(
            f"cannot read your role {role} in account {account} to name it in an access entry ({error}); an "
            "IAM Identity Center role needs its full path. Fix: allow yourself iam:GetRole, or list the role's "
            "ARN in cluster.admin_principals and set cluster.grant_deployer: false."
        ) from None


def record_deployer(env_name: str, principal: str, context_file: Path = CONTEXT_FILE) -> str:
    """Record the deployer once; the first one recorded keeps its entry. Returns what this run means."""
    context = json.loads(context_file.read_text()) if context_file.is_file() else {}
    key = deployer_context_key(env_name)
    recorded = context.get(key)
    if recorded == principal:
        return f"cluster-admin for {principal} (recorded in {context_file.name})"
    if recorded:
        return (
            f"cluster-admin stays with {recorded}, who first deployed {env_name}; you are {principal}: add yourself "
            "to cluster.admin_principals to run kubectl"
        )
    context[key] = principal
    context_file.write_text(json.dumps(context, indent=2, sort_keys=True) + "\n")
    return f"cluster-admin for {principal}, recorded in {context_file.name}: commit it so CI synthesizes the same"


def deploy_checks(config: EnvironmentConfig, clients: ClientFactory, *, secrets: bool, context_file: Path) -> str:
    """Raise ConfigError with the fix, or return what the deploy will grant."""
    if problem := access_problem(config):
        raise ConfigError(problem)
    identity = caller(clients, config)
    if problem := account_problem(config, identity["Account"]):
        raise ConfigError(problem)
    granted = "no deployer access entry (cluster.grant_deployer is false)"
    if config.cluster.grant_deployer:
        granted = record_deployer(config.name, deployer_principal(identity["Arn"], clients("iam")), context_file)
    if secrets:
        try:
            results = check_secrets(clients("secretsmanager"), human_secrets(config))
        except (ClientError, BotoCoreError) as error:
            raise ConfigError(f"cannot read the environment's secrets in {config.region}: {error}") from None
        failed = [result for result in results if result.status == FAIL]
        if failed:
            details = "; ".join(f"{result.name} {result.detail}" for result in failed)
            raise ConfigError(
                f"{details}. The model servers would crash-loop without it, so nothing was deployed. "
                f"Fix: run `{set_command(config)}`, then `make deploy ENV={config.name}` again."
            )
        try:
            problem = weights_problem(config, clients)
        except BotoCoreError as error:
            raise ConfigError(f"cannot read the weights bucket in {config.region}: {error}") from None
        if problem:
            raise ConfigError(problem)
    return granted


def secret_stacks(config: EnvironmentConfig) -> list[str]:
    """What `make secrets` deploys before the slow part: the secrets, the registry's cache credentials, and the
    weights bucket that `make load-weights` fills before the first deploy."""
    return [
        f"{config.stack_prefix}-secrets",
        *([REGISTRY_STACK] if config.mirror_images else []),
        *([f"{config.stack_prefix}-weights"] if config.creates_weights_bucket else []),
    ]


def weights_problem(config: EnvironmentConfig, clients: ClientFactory) -> str | None:
    """A model that streams from S3 with no copy of its commit there would fail its start, minutes into the deploy."""
    streamed = [(index, model) for index, model in enumerate(config.models) if model.weights == "s3-stream"]
    if not streamed or config.weights_bucket is None:
        return None
    bucket, s3 = config.weights_bucket.name, clients("s3")
    for index, model in streamed:
        try:
            listing = s3.list_objects_v2(Bucket=bucket, Prefix=model.weights_prefix)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return (
                    f"bucket {bucket} (weights_bucket.name) does not exist. Fix: run `make secrets ENV={config.name}` "
                    f"(it deploys the weights stack), `make load-weights ENV={config.name} MODEL={model.name}`, "
                    f"then `make deploy ENV={config.name}` again."
                )
            return f"cannot list s3://{bucket}/{model.weights_prefix}: {error}"
        names = {item["Key"].removeprefix(model.weights_prefix) for item in listing.get("Contents", [])}
        if "config.json" not in names or not any(name.endswith(".safetensors") for name in names):
            return (
                f"models[{index}] ({model.name}) streams s3://{bucket}/{model.weights_prefix}, which holds no copy of "
                "that commit (config.json and safetensors), so the model server could not start; nothing was "
                f"deployed. Fix: run `make load-weights ENV={config.name} MODEL={model.name}`, then "
                f"`make deploy ENV={config.name}` again."
            )
    return None


def main(argv: list[str] | None = None, clients: ClientFactory | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("env")
    parser.add_argument("--deploy", action="store_true", help="also check credentials, account and cluster access")
    parser.add_argument("--secrets", action="store_true", help="with --deploy: also check the secrets are set")
    parser.add_argument("--secret-stacks", action="store_true", help="print the stacks make secrets deploys")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--context-file", type=Path, default=CONTEXT_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        if args.secret_stacks:
            print("\n".join(secret_stacks(config)))
            return 0
        require_deployable(config)
        if args.deploy:
            if clients is None:
                import boto3  # only here: the offline checks answer without loading it

                clients = boto3.session.Session(region_name=config.region).client
            granted = deploy_checks(config, clients, secrets=args.secrets, context_file=args.context_file)
            print(f"checked {config.source_file}: {granted}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
