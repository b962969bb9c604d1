"""Preflight: can this AWS account launch what an environment may scale to? Run it before deploying.

    make preflight ENV=prod
    python -m scripts.preflight --env prod --request-increase

Checks AWS credentials and region, the G/VT (or P) vCPU quota for the capacity type in use and the
standard quota for the system nodes (at maximum size), that every GPU instance type is offered in
the environment's AZs, that EKS offers the pinned Kubernetes version and add-on builds, and that the
secrets a person must set (Hugging Face token, Docker Hub credentials) hold real values. Exit 0: all good (warnings
allowed); 1: a check failed; 2: a usage or credentials problem. --request-increase files the quota
increases the failures need, through Service Quotas.
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import EnvironmentConfig, load_environment
from config.capacity import capacity_request
from config.loader import CONFIG_DIR
from config.secrets import human_secrets
from functions.guards.capacity import run_checks
from functions.guards.results import FAIL, OK, WARN, CheckResult
from functions.guards.secrets import check_secrets
from scripts.aws_access import USAGE_PROBLEMS, ClientFactory, signed_in, usage_problem

STYLES = {OK: "green", WARN: "yellow", FAIL: "red"}


def caller_identity(clients: ClientFactory, config: EnvironmentConfig) -> CheckResult:
    identity = signed_in(clients, config)
    return CheckResult("AWS credentials", OK, f"{identity['Arn']} in {config.region}")


def request_increases(clients: ClientFactory, results: list[CheckResult], console: Console) -> None:
    quotas = clients("service-quotas")
    for result in results:
        if not result.increase:
            continue
        increase = result.increase
        response = quotas.request_service_quota_increase(
            ServiceCode="ec2", QuotaCode=increase.quota.code, DesiredValue=float(increase.desired_vcpus)
        )["RequestedQuota"]
        console.print(
            f"Filed a quota increase for '{increase.quota.name}' ({increase.quota.code}) to "
            f"{increase.desired_vcpus} vCPUs in {increase.region}: request {response['Id']}, status "
            f"{response['Status']}. Approval can take hours to days; run preflight again afterwards."
        )


def report(results: list[CheckResult], config: EnvironmentConfig, console: Console) -> None:
    table = Table(title=f"Preflight for {config.name} ({config.region})")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    for result in results:
        table.add_row(escape(result.name), f"[{STYLES[result.status]}]{result.status}[/]", escape(result.detail))
    console.print(table)
    for result in results:
        if result.status == FAIL:
            console.print(f"[red]FAIL[/red] {result.name}: {escape(result.remedy)}")


def main(argv: list[str] | None = None, clients: ClientFactory | None = None, console: Console | None = None) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    parser = argparse.ArgumentParser(
        prog="preflight", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env", required=True, help="environment to check (config/ENV.yaml)")
    parser.add_argument("--request-increase", action="store_true", help="file the quota increases the failures need")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        if clients is None:
            session = boto3.session.Session(region_name=config.region)
            clients = session.client
        results = [caller_identity(clients, config)]
        results += run_checks(
            capacity_request(config), ec2=clients("ec2"), quotas=clients("service-quotas"), eks=clients("eks")
        )
        results += check_secrets(clients("secretsmanager"), human_secrets(config))
    except USAGE_PROBLEMS as error:
        console.print(f"[red]error:[/red] {escape(usage_problem(error))}")
        return 2
    report(results, config, console)
    if args.request_increase:
        request_increases(clients, results, console)
    return 1 if any(result.status == FAIL for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
