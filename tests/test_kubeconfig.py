"""`make kubeconfig`: botocore Stubbers for STS, CloudFormation, EKS and EC2, a fake aws CLI that records argv.

Stubbers rather than moto: moto's CloudFormation needs packages this project does not install, and
importing its EC2 and EKS backends alone takes seconds.
"""

import io
import json
import stat
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from rich.console import Console

from scripts import kubeconfig
from tests.conftest import ROOT, without_aws_credentials

CLUSTER = "ClusterControlPlaneCluster-abc123"  # what CloudFormation names a cluster
HOST = "0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com"
SYSTEM_NODE, GPU_NODE = "i-0a1b2c3d4e5f60718", "i-00000000000000001"
RUNNING_NODES = {"Filters": [
    {"Name": "tag:eks:cluster-name", "Values": [CLUSTER]},
    {"Name": "instance-state-name", "Values": ["running"]},
]}  # fmt: skip


# One session for every test: it caches the service models, which take most of a client's creation time.
SESSION = boto3.session.Session(
    region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing"
)


class FakeAwsCli:
    """Records every argv; `update-kubeconfig --kubeconfig PATH` writes what the real CLI would write there."""

    def __init__(self, exit_code: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.exit_code = exit_code

    def __call__(self, argv: Sequence[str]) -> int:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:3] == ["aws", "eks", "update-kubeconfig"] and "--kubeconfig" in argv:
            arn = f"arn:aws:eks:us-east-1:123456789012:cluster/{argv[argv.index('--name') + 1]}"
            alias = argv[argv.index("--alias") + 1]
            document = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": arn, "cluster": {"server": f"https://{HOST}", "certificate-authority-data": "Q0E="}}
                ],
                "contexts": [{"name": alias, "context": {"cluster": arn, "user": arn}}],
                "current-context": alias,
                "users": [{"name": arn, "user": {"exec": {"command": "aws", "args": ["eks", "get-token"]}}}],
            }
            Path(argv[argv.index("--kubeconfig") + 1]).write_text(yaml.safe_dump(document))
        return self.exit_code

    def commands(self, *prefix: str) -> list[list[str]]:
        return [call for call in self.calls if call[: len(prefix)] == list(prefix)]


def node(instance_id: str, instance_type: str, nodegroup: str) -> dict[str, Any]:
    tags = [{"Key": "eks:cluster-name", "Value": CLUSTER}, {"Key": "eks:nodegroup-name", "Value": nodegroup}]
    return {"InstanceId": instance_id, "InstanceType": instance_type, "Tags": tags}


class FakeAccount:
    """Stubbed clients with canned answers; asking for any other client, or an unqueued call, fails the test."""

    def __init__(self, env: str, *, deployed: bool = True) -> None:
        self.clients = {name: SESSION.client(name) for name in ("sts", "cloudformation", "eks", "ec2")}
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        identity = {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me"}
        self.stubs["sts"].add_response("get_caller_identity", identity, {})
        params = {"StackName": f"vllm-{env}-cluster"}
        if deployed:
            stack = {
                "StackName": f"vllm-{env}-cluster",
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": "ClusterName", "OutputValue": CLUSTER}],
            }
            self.stubs["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]}, params)
        else:
            message = f"Stack with id vllm-{env}-cluster does not exist"
            self.stubs["cloudformation"].add_client_error(
                "describe_stacks", "ValidationError", message, 400, expected_params=params
            )
        for stub in self.stubs.values():
            stub.activate()

    def client(self, name: str) -> Any:
        return self.clients[name]

    def cluster(self, *nodes: dict[str, Any]) -> None:
        """What the tunnel asks for: the cluster's endpoint, then its running nodes."""
        answer = {"cluster": {"name": CLUSTER, "endpoint": f"https://{HOST}"}}
        self.stubs["eks"].add_response("describe_cluster", answer, {"name": CLUSTER})
        reservations = {"Reservations": [{"Instances": list(nodes)}] if nodes else []}
        self.stubs["ec2"].add_response("describe_instances", reservations, RUNNING_NODES)

    def assert_all_asked(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@pytest.fixture
def aws(aws_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing may touch the real ~/.kube


def run(account: FakeAccount, cli: FakeAwsCli, *argv: str, plugin: bool = True) -> tuple[int, str]:
    buffer = io.StringIO()
    code = kubeconfig.main(
        list(argv),
        clients=account.client,
        console=Console(file=buffer, width=400, soft_wrap=True, highlight=False),
        run=cli,
        which=lambda name: f"/usr/local/bin/{name}" if plugin else None,
    )
    return code, buffer.getvalue()


def test_public_endpoint_writes_the_context_and_names_the_next_step(aws: None) -> None:
    account, cli = FakeAccount("dev"), FakeAwsCli()
    code, out = run(account, cli, "--env", "dev")
    assert code == 0, out
    assert cli.calls == [
        ["aws", "eks", "update-kubeconfig", "--region", "us-east-1", "--name", CLUSTER, "--alias", "vllm-dev"]
    ]
    assert "kubectl --context vllm-dev get nodes" in out and "make status ENV=dev" in out
    account.assert_all_asked()


def test_private_endpoint_without_tunnel_writes_the_context_and_explains(aws: None) -> None:
    account, cli = FakeAccount("prod"), FakeAwsCli()
    code, out = run(account, cli, "--env", "prod")
    assert code == 0, out
    assert cli.calls == [
        ["aws", "eks", "update-kubeconfig", "--region", "us-east-1", "--name", CLUSTER, "--alias", "vllm-prod"]
    ]
    assert "is private" in out
    assert "`make kubeconfig ENV=prod TUNNEL=1`" in out and "SSM port forward" in out
    assert "VPN / Direct Connect" in out
    assert not cli.commands("aws", "ssm")


@pytest.mark.parametrize(("argv", "port"), [((), 8443), (("--local-port", "9443"), 9443)])
def test_tunnel_writes_its_own_kubeconfig_and_forwards_through_a_system_node(
    aws: None, tmp_path: Path, argv: tuple[str, ...], port: int
) -> None:
    account, cli = FakeAccount("prod"), FakeAwsCli()
    account.cluster(  # GPU nodes may scale away under a long session, so a system node is picked
        node(GPU_NODE, "g5.2xlarge", "GpuNodesNodeGroup-1a2b3c"),
        node(SYSTEM_NODE, "m6i.large", "SystemNodesNodeGroup-4d5e6f"),
    )
    code, out = run(account, cli, "--env", "prod", "--tunnel", *argv)
    assert code == 0, out
    account.assert_all_asked()

    path = tmp_path / ".kube" / "vllm-prod-tunnel.yaml"
    assert cli.commands("aws", "eks", "update-kubeconfig")[-1] == [
        "aws", "eks", "update-kubeconfig", "--region", "us-east-1", "--name", CLUSTER,
        "--alias", "vllm-prod-tunnel", "--kubeconfig", str(path),
    ]  # fmt: skip
    written = yaml.safe_load(path.read_text())
    assert written["current-context"] == "vllm-prod-tunnel"
    assert written["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    assert written["clusters"][0]["cluster"]["tls-server-name"] == HOST
    assert written["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="  # still verified
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    [session] = cli.commands("aws", "ssm", "start-session")
    assert session[session.index("--target") + 1] == SYSTEM_NODE
    assert session[session.index("--region") + 1] == "us-east-1"
    assert session[session.index("--document-name") + 1] == "AWS-StartPortForwardingSessionToRemoteHost"
    parameters = json.loads(session[session.index("--parameters") + 1])
    assert parameters == {"host": [HOST], "portNumber": ["443"], "localPortNumber": [str(port)]}
    assert "export KUBECONFIG=~/.kube/vllm-prod-tunnel.yaml" in out


def test_tunnel_uses_a_gpu_node_when_no_other_runs(aws: None) -> None:
    account, cli = FakeAccount("prod"), FakeAwsCli()
    account.cluster(node(GPU_NODE, "g5.2xlarge", "GpuNodesNodeGroup-1a2b3c"))
    code, out = run(account, cli, "--env", "prod", "--tunnel")
    assert code == 0, out
    [session] = cli.commands("aws", "ssm", "start-session")
    assert session[session.index("--target") + 1] == GPU_NODE


def test_tunnel_without_the_session_manager_plugin_says_so(aws: None) -> None:
    account, cli = FakeAccount("prod"), FakeAwsCli()
    code, out = run(account, cli, "--env", "prod", "--tunnel", plugin=False)
    assert code == 2
    assert "Session Manager plugin" in out and "install it" in out
    assert not cli.commands("aws", "ssm")


def test_tunnel_with_no_running_node_exits_2(aws: None) -> None:
    account, cli = FakeAccount("prod"), FakeAwsCli()
    account.cluster()
    code, out = run(account, cli, "--env", "prod", "--tunnel")
    assert code == 2
    assert f"cluster {CLUSTER} has no running node to tunnel through" in out
    assert not cli.commands("aws", "ssm")


def test_cluster_stack_not_deployed_exits_2(aws: None) -> None:
    account, cli = FakeAccount("dev", deployed=False), FakeAwsCli()
    code, out = run(account, cli, "--env", "dev")
    assert code == 2
    assert "vllm-dev-cluster is not deployed in us-east-1: run `make deploy ENV=dev`" in out
    assert cli.calls == []


def test_without_the_aws_cli_exits_2(aws: None) -> None:
    def missing(argv: Sequence[str]) -> int:
        raise FileNotFoundError(argv[0])

    account = FakeAccount("dev")
    buffer = io.StringIO()
    code = kubeconfig.main(["--env", "dev"], clients=account.client, console=Console(file=buffer), run=missing)
    assert code == 2
    assert "the AWS CLI v2 is needed for kubectl's token: install it" in buffer.getvalue()


def test_a_failing_update_kubeconfig_exits_2(aws: None) -> None:
    account, cli = FakeAccount("dev"), FakeAwsCli(exit_code=255)
    code, out = run(account, cli, "--env", "dev")
    assert code == 2 and "`aws eks update-kubeconfig` failed (exit 255)" in out


def test_without_credentials_exits_2(tmp_path: Path) -> None:
    environ = without_aws_credentials(tmp_path, HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "scripts.kubeconfig", "--env", "dev"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no AWS credentials found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
