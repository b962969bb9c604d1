"""`make secrets`: moto for Secrets Manager and STS, a local HTTP server standing in for Hugging Face."""

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws
from rich.console import Console

from functions.guards.secrets import PLACEHOLDER
from scripts import set_secrets as secrets
from tests.conftest import ROOT, without_aws_credentials
from tests.local_server import serving

HF_SECRET = "vllm-dev/huggingface-token"
DOCKER_SECRET = "ecr-pullthroughcache/docker-hub"
TOKEN = "hf_" + "T" * 34  # what a person would paste; must never appear in any output
OLD_TOKEN = "hf_" + "o" * 34
MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"
NOT_A_TTY = secrets.Terminal(interactive=False)


class Hub:
    """A stand-in for the Hugging Face Hub that answers every request with `status` and records it."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[str, str | None]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub.requests.append((self.path, self.headers.get("Authorization")))
                body = b"{}"
                self.send_response(hub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.handler = Handler
        self.url = ""


@pytest.fixture(scope="module")
def hub_server() -> Iterator[Hub]:
    hub = Hub()
    with serving(hub.handler) as hub.url:
        yield hub


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from this machine's shell (a real HF_TOKEN, a proxy) may leak into a test."""
    for name in ("HF_TOKEN", "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def hub(hub_server: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    hub_server.status = 200
    hub_server.requests.clear()
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    return hub_server


# One session for every test: it caches the service models, which take most of a client's creation time.
SESSION = boto3.session.Session(
    region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing"
)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[boto3.session.Session]:
    """A fresh moto account per test (mock_aws resets its state), seen through the shared session."""
    with mock_aws():
        yield SESSION


def create(session: boto3.session.Session, name: str, value: str = PLACEHOLDER) -> None:
    """The secret as its stack creates it: the placeholder, or a value put earlier."""
    session.client("secretsmanager").create_secret(Name=name, SecretString=value)


def value(session: boto3.session.Session, name: str) -> str:
    return str(session.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def run(session: boto3.session.Session, *argv: str, terminal: secrets.Terminal = NOT_A_TTY) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, soft_wrap=True, highlight=False)
    code = secrets.main(list(argv), clients=session.client, console=console, terminal=terminal)
    return code, buffer.getvalue()


def test_the_token_from_the_environment_replaces_the_placeholder_and_is_never_printed(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, HF_SECRET)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, out = run(aws, "--env", "dev")
    assert code == 0, out
    assert value(aws, HF_SECRET) == TOKEN
    assert f"set {HF_SECRET} (value not shown)" in out
    assert "next: make deploy ENV=dev" in out
    assert TOKEN not in out
    assert hub.requests == [(f"/api/models/{MODEL}/auth-check", f"Bearer {TOKEN}")]


def test_a_secret_already_set_is_skipped_unless_forced(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, HF_SECRET, OLD_TOKEN)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, out = run(aws, "--env", "dev")
    assert code == 0, out
    assert "already set" in out
    assert value(aws, HF_SECRET) == OLD_TOKEN
    assert hub.requests == []

    code, out = run(aws, "--env", "dev", "--force")
    assert code == 0, out
    assert value(aws, HF_SECRET) == TOKEN
    assert TOKEN not in out and OLD_TOKEN not in out


def test_a_missing_secret_means_the_stack_is_not_deployed(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, out = run(aws, "--env", "dev")
    assert code == 2
    assert "secrets stack is not deployed" in out
    assert "run `make secrets ENV=dev`, which deploys it first" in out
    assert hub.requests == []


def test_no_terminal_and_no_variable_names_the_variable(aws: boto3.session.Session, hub: Hub) -> None:
    create(aws, HF_SECRET)
    code, out = run(aws, "--env", "dev")
    assert code == 2
    assert "set HF_TOKEN" in out
    assert value(aws, HF_SECRET) == PLACEHOLDER


def test_on_a_terminal_the_token_is_asked_for_without_echo(aws: boto3.session.Session, hub: Hub) -> None:
    create(aws, HF_SECRET)
    prompts: list[str] = []

    def hidden(prompt: str) -> str:
        prompts.append(prompt)
        return f"  {TOKEN}\n"

    def visible(prompt: str) -> str:
        raise AssertionError("a token must never be read with a visible prompt")

    code, out = run(aws, "--env", "dev", terminal=secrets.Terminal(interactive=True, hidden=hidden, visible=visible))
    assert code == 0, out
    assert prompts == [f"Hugging Face token for {HF_SECRET} (input hidden): "]
    assert value(aws, HF_SECRET) == TOKEN


def test_a_malformed_token_is_refused_without_being_echoed(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, HF_SECRET)
    monkeypatch.setenv("HF_TOKEN", "ghp_not_a_hugging_face_token")
    code, out = run(aws, "--env", "dev")
    assert code == 2
    assert "is not a Hugging Face access token (those start with hf_)" in out
    assert "ghp_not_a_hugging_face_token" not in out
    assert value(aws, HF_SECRET) == PLACEHOLDER
    assert hub.requests == []


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        (
            401,
            "the token was refused by Hugging Face (401): create a read token at https://huggingface.co/settings/tokens",
        ),
        (
            403,
            f"the token cannot read {MODEL} (403): accept the model's license on its Hugging Face page with the "
            "account that owns the token",
        ),
    ],
)
def test_a_token_hugging_face_refuses_is_not_stored(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch, status: int, sentence: str
) -> None:
    create(aws, HF_SECRET)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.status = status
    code, out = run(aws, "--env", "dev")
    assert code == 2
    assert sentence in out
    assert value(aws, HF_SECRET) == PLACEHOLDER
    assert TOKEN not in out


def test_an_unreachable_hub_only_warns(aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The person may be offline; the deploy still checks the secret is set."""
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    create(aws, HF_SECRET)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, out = run(aws, "--env", "dev")
    assert code == 0, out
    assert "warning: could not reach Hugging Face" in out
    assert value(aws, HF_SECRET) == TOKEN


def test_no_verify_asks_nothing_of_the_hub(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, HF_SECRET)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.status = 401
    code, out = run(aws, "--env", "dev", "--no-verify")
    assert code == 0, out
    assert hub.requests == []
    assert value(aws, HF_SECRET) == TOKEN


def test_docker_hub_credentials_are_stored_as_the_json_ecr_expects(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod mirrors images through ECR, whose pull-through cache needs Docker Hub credentials."""
    create(aws, "vllm-prod/huggingface-token")
    create(aws, DOCKER_SECRET)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("DOCKERHUB_USERNAME", "platform-bot")
    monkeypatch.setenv("DOCKERHUB_TOKEN", "dckr_pat_secretvalue")
    code, out = run(aws, "--env", "prod")
    assert code == 0, out
    assert json.loads(value(aws, DOCKER_SECRET)) == {"username": "platform-bot", "accessToken": "dckr_pat_secretvalue"}
    assert value(aws, "vllm-prod/huggingface-token") == TOKEN
    assert f"set {DOCKER_SECRET} (value not shown)" in out
    assert "dckr_pat_secretvalue" not in out and TOKEN not in out


def test_docker_hub_prompts_show_the_username_and_hide_the_token(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, "vllm-prod/huggingface-token", OLD_TOKEN)
    create(aws, DOCKER_SECRET)
    asked: list[tuple[str, str]] = []

    def hidden(prompt: str) -> str:
        asked.append(("hidden", prompt))
        return "dckr_pat_secretvalue"

    def visible(prompt: str) -> str:
        asked.append(("visible", prompt))
        return "platform-bot"

    terminal = secrets.Terminal(interactive=True, hidden=hidden, visible=visible)
    code, out = run(aws, "--env", "prod", terminal=terminal)
    assert code == 0, out
    assert [kind for kind, _ in asked] == ["visible", "hidden"]
    assert json.loads(value(aws, DOCKER_SECRET))["accessToken"] == "dckr_pat_secretvalue"
    assert "already set" in out  # the Hugging Face token was valid already


def test_docker_hub_without_a_terminal_names_both_variables(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(aws, "vllm-prod/huggingface-token", OLD_TOKEN)
    create(aws, DOCKER_SECRET)
    monkeypatch.setenv("DOCKERHUB_USERNAME", "platform-bot")
    code, out = run(aws, "--env", "prod")
    assert code == 2
    assert "set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN" in out
    assert value(aws, DOCKER_SECRET) == PLACEHOLDER


def test_credentials_for_another_account_are_refused(
    aws: boto3.session.Session, hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["account"] = "999999999999"
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, out = run(aws, "--env", "env", "--config-dir", str(tmp_path))
    assert code == 2
    assert "credentials are for account 123456789012" in out and "999999999999" in out


def test_without_credentials_exits_2(tmp_path: Path) -> None:
    environ = without_aws_credentials(tmp_path, HF_TOKEN=TOKEN)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.set_secrets", "--env", "dev"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no AWS credentials found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
