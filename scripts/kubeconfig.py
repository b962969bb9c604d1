"""Point kubectl at an environment's cluster; for a private API endpoint, tunnel to it through SSM.

    make kubeconfig ENV=dev
    make kubeconfig ENV=prod TUNNEL=1
    python -m scripts.kubeconfig --env prod --tunnel --local-port 8443

Reads the cluster name from the vllm-ENV-cluster stack and runs `aws eks update-kubeconfig`, which adds
the context vllm-ENV to your kubeconfig ($KUBECONFIG, else ~/.kube/config). kubectl then gets its token
from the AWS CLI v2 with whatever credentials are current.

A private endpoint (cluster.endpoint_access: private) answers only inside the VPC. --tunnel forwards
127.0.0.1:PORT to it with a Session Manager port forward through one of the cluster's system nodes (no
bastion, no inbound port), writes a separate kubeconfig, ~/.kube/vllm-ENV-tunnel.yaml, that talks to the
local port and still checks the API server's certificate against its real name, and holds the session
open until Ctrl-C. The tunnel needs the Session Manager plugin for the AWS CLI.
Exit 0: done; 2: a usage, credentials or missing-tool problem, or the cluster is not deployed.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
import yaml
from botocore.exceptions import ClientError
from rich.console import Console
from rich.markup import escape

from config import EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.model import EndpointAccess
from scripts.aws_access import USAGE_PROBLEMS, ClientFactory, UsageError, signed_in, usage_problem

Runner = Callable[[Sequence[str]], int]  # runs a command in the foreground and returns its exit code
Which = Callable[[str], str | None]

DEFAULT_LOCAL_PORT = 8443
SSM_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
SSM_PLUGIN = "session-manager-plugin"
AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
SSM_PLUGIN_INSTALL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
)
CLOSED_BY_USER = {0, 130, -signal.SIGINT}  # a session ended with Ctrl-C is a normal end


def run_command(argv: Sequence[str]) -> int:
    """Run in the foreground; on Ctrl-C (which the child gets too) let it close its session before giving up."""
    with subprocess.Popen(list(argv)) as process:
        try:
            return process.wait()
        except KeyboardInterrupt:
            try:
                return process.wait(timeout=10)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                process.terminate()
                return process.wait()


def cluster_name(clients: ClientFactory, config: EnvironmentConfig) -> str:
    """The name CloudFormation gave the cluster, from the cluster stack's ClusterName output."""
    stack_name = f"{config.stack_prefix}-cluster"
    try:
        stack = clients("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            raise UsageError(
                f"{stack_name} is not deployed in {config.region}: run `make deploy ENV={config.name}`"
            ) from None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    if not outputs.get("ClusterName"):
        raise UsageError(
            f"{stack_name} has no ClusterName output yet (status {stack.get('StackStatus')}): let "
            f"`make deploy ENV={config.name}` finish, or run it again"
        )
    return str(outputs["ClusterName"])


def update_kubeconfig(
    run: Runner, config: EnvironmentConfig, name: str, alias: str, kubeconfig: Path | None = None
) -> None:
    argv = ["aws", "eks", "update-kubeconfig", "--region", config.region, "--name", name, "--alias", alias]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    try:
        code = run(argv)
    except FileNotFoundError:
        raise UsageError(
            f"the AWS CLI v2 is needed for kubectl's token: install it ({AWS_CLI_INSTALL}) and run again"
        ) from None
    if code != 0:
        raise UsageError(f"`aws eks update-kubeconfig` failed (exit {code}); its message is above")


def endpoint_host(clients: ClientFactory, name: str) -> str:
    endpoint = urlsplit(clients("eks").describe_cluster(name=name)["cluster"].get("endpoint") or "")
    host = endpoint.netloc.rsplit("@", 1)[-1].split(":")[0]  # as EKS spells it (upper case), unlike .hostname
    if not host:
        raise UsageError(f"cluster {name} has no API endpoint yet; wait until it is ACTIVE and run again")
    return host


def tunnel_node(clients: ClientFactory, config: EnvironmentConfig, name: str) -> str:
    """A running node of the cluster to forward through, a system node when there is one.

    Every node group here runs the SSM agent with AmazonSSMManagedInstanceCore; GPU nodes are avoided
    only because they may scale to zero (or be replaced) under a long session.
    """
    filters = [
        {"Name": "tag:eks:cluster-name", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    pages = clients("ec2").get_paginator("describe_instances").paginate(Filters=filters)
    instances = [instance for page in pages for group in page["Reservations"] for instance in group["Instances"]]
    if not instances:
        raise UsageError(
            f"cluster {name} has no running node to tunnel through; check its node groups in the EKS console "
            f"(the system node group keeps at least {config.cluster.system_node_group.min_size})"
        )

    def is_gpu(instance: dict[str, Any]) -> bool:
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        in_gpu_group = "gpu" in tags.get("eks:nodegroup-name", "").lower()
        return in_gpu_group or instance.get("InstanceType") in config.gpu_node_group.instance_types

    return str(min(instances, key=lambda instance: (is_gpu(instance), instance["InstanceId"]))["InstanceId"])


def shown(path: Path) -> str:
    """A path as a person would type it: under ~ when it is in the home directory."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def write_tunnel_kubeconfig(run: Runner, config: EnvironmentConfig, name: str, host: str, port: int) -> Path:
    """A kubeconfig of its own, so the tunnel's 127.0.0.1 server never replaces the real one in ~/.kube/config.

    The server becomes the local end of the tunnel; tls-server-name keeps the certificate checked against
    the endpoint's real name, which is what the API server's certificate carries.
    """
    path = Path.home() / ".kube" / f"{config.stack_prefix}-tunnel.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    alias = f"{config.stack_prefix}-tunnel"
    update_kubeconfig(run, config, name, alias, kubeconfig=path)
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    data = data if isinstance(data, dict) else {}
    context = next(
        (entry.get("context") or {} for entry in data.get("contexts") or [] if entry.get("name") == alias), {}
    )
    cluster = next(
        (entry["cluster"] for entry in data.get("clusters") or [] if entry.get("name") == context.get("cluster")), None
    )
    if not isinstance(cluster, dict):
        raise UsageError(f"{path} has no context {alias} after update-kubeconfig; delete the file and run again")
    cluster["server"] = f"https://127.0.0.1:{port}"
    cluster["tls-server-name"] = host
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)
    return path


def open_tunnel(run: Runner, config: EnvironmentConfig, instance: str, host: str, port: int, console: Console) -> None:
    parameters = {"host": [host], "portNumber": ["443"], "localPortNumber": [str(port)]}
    argv = ["aws", "ssm", "start-session", "--region", config.region, "--target", instance]
    argv += ["--document-name", SSM_DOCUMENT, "--parameters", json.dumps(parameters)]
    console.print(f"Opening the tunnel through node {escape(instance)}; Ctrl-C closes it.")
    code = run(argv)
    if code not in CLOSED_BY_USER:
        raise UsageError(
            f"`aws ssm start-session` failed (exit {code}); its message is above. Your credentials need "
            f"ssm:StartSession on {instance} and on the {SSM_DOCUMENT} document"
        )
    console.print("Tunnel closed.")


def tunnel(
    clients: ClientFactory,
    run: Runner,
    which: Which,
    config: EnvironmentConfig,
    name: str,
    port: int,
    console: Console,
) -> None:
    if which(SSM_PLUGIN) is None:
        raise UsageError(
            f"the Session Manager plugin for the AWS CLI is needed for the tunnel: install it ({SSM_PLUGIN_INSTALL}) "
            "and run again"
        )
    host = endpoint_host(clients, name)
    instance = tunnel_node(clients, config, name)
    path = write_tunnel_kubeconfig(run, config, name, host, port)
    console.print(
        f"Wrote {escape(shown(path))}: server https://127.0.0.1:{port}, certificate checked against {escape(host)}.\n"
        "While this terminal holds the tunnel open, in another one:\n"
        f"    export KUBECONFIG={escape(shown(path))}\n"
        "    kubectl get nodes\n"
        f"    make status ENV={escape(config.name)}"
    )
    open_tunnel(run, config, instance, host, port, console)


def private_endpoint_advice(config: EnvironmentConfig) -> str:
    return (
        f"The API endpoint of {config.name} is private (cluster.endpoint_access: private in {config.source_file}): "
        "it answers only inside the VPC, so kubectl from this machine will time out. Run "
        f"`make kubeconfig ENV={config.name} TUNNEL=1` to reach it through an SSM port forward via a system node "
        f"(no bastion, no open port), or run kubectl from inside the VPC (VPN / Direct Connect) with the context "
        f"{config.stack_prefix}."
    )


def port_number(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return port


def main(
    argv: list[str] | None = None,
    clients: ClientFactory | None = None,
    console: Console | None = None,
    run: Runner = run_command,
    which: Which = shutil.which,
) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    parser = argparse.ArgumentParser(
        prog="kubeconfig", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--env", required=True, help="environment whose cluster to use (config/ENV.yaml)")
    parser.add_argument("--tunnel", action="store_true", help="reach a private endpoint through an SSM port forward")
    parser.add_argument(
        "--local-port", type=port_number, default=DEFAULT_LOCAL_PORT, help="local end of the tunnel (default 8443)"
    )
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        if clients is None:
            clients = boto3.session.Session(region_name=config.region).client
        signed_in(clients, config)  # another account would only find no stack
        name = cluster_name(clients, config)
        update_kubeconfig(run, config, name, config.stack_prefix)
        if args.tunnel:
            tunnel(clients, run, which, config, name, args.local_port, console)
        elif config.cluster.endpoint_access is EndpointAccess.PRIVATE:
            console.print(escape(private_endpoint_advice(config)))
        else:
            console.print(
                f"next: kubectl --context {escape(config.stack_prefix)} get nodes, then make status "
                f"ENV={escape(config.name)}"
            )
    except USAGE_PROBLEMS as error:
        console.print(f"[red]error:[/red] {escape(usage_problem(error))}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
