"""scripts/smoke_test.py against a canned OpenAI-compatible server on 127.0.0.1."""

import socket

import boto3
import yaml
from moto import mock_aws

from scripts import smoke_test
from tests.conftest import ROOT
from tests.fake_openai import MODEL, Behaviour, fake_openai_server


def run(capsys, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, list[str]]:
    code = smoke_test.main(list(argv), environ=environ or {})
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if line.strip()]


def test_all_steps_pass_with_one_line_each(capsys):
    behaviour = Behaviour()
    with fake_openai_server(behaviour) as url:
        code, lines = run(capsys, "--url", url, "--api-key", "test-key", "--tools")
    assert code == 0, lines
    assert [line.split()[:2] for line in lines] == [
        ["OK", "models:"],
        ["OK", "chat:"],
        ["OK", "stream:"],
        ["OK", "tool"],
    ]
    assert MODEL in lines[0]
    assert "time to first token" in lines[2] and "5 tokens at" in lines[2] and "tokens/s" in lines[2]
    assert 'get_weather({"city": "Paris"})' in lines[3]
    assert behaviour.requests[-1]["tools"][0]["function"]["name"] == "get_weather"
    assert behaviour.requests[1]["stream"] is True


def test_tool_call_step_follows_the_environment_config(capsys):
    with fake_openai_server(Behaviour()) as url:
        code, lines = run(capsys, "--url", url, "--env", "dev", environ={"VLLM_API_KEY": "test-key"})
    assert code == 0, lines
    assert lines[-1].startswith("OK   tool call:"), "dev ships with tool calling on: agents call tools"


def test_a_model_with_tool_calling_off_says_so_and_how_to_turn_it_on(capsys, tmp_path):
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["models"][0]["tool_calling"] = False
    (tmp_path / "notools.yaml").write_text(yaml.safe_dump(data))
    with fake_openai_server(Behaviour()) as url:
        code, lines = run(
            capsys,
            "--url",
            url,
            "--env",
            "notools",
            "--config-dir",
            str(tmp_path),
            environ={"VLLM_API_KEY": "test-key"},
        )
    assert code == 0, lines
    assert lines[-1].startswith("SKIP tool call: tool calling is off for llama3-8b (models[0].tool_calling in")
    assert "set it to true and deploy" in lines[-1]


def test_a_model_that_answers_in_text_fails_the_tool_step(capsys):
    with fake_openai_server(Behaviour(answer_tools=False)) as url:
        code, lines = run(capsys, "--url", url, "--api-key", "test-key", "--tools")
    assert code == 1
    assert lines[-1].startswith("FAIL tool call:") and "answered in text" in lines[-1]


def test_wrong_key_is_a_clear_401(capsys):
    with fake_openai_server(Behaviour()) as url:
        code, lines = run(capsys, "--url", url, "--api-key", "wrong")
    assert code == 1
    assert lines == [lines[0]] and lines[0].startswith("FAIL models:")
    assert "refused the api key (401)" in lines[0]
    assert "wrong" not in lines[0], "the key itself is never printed"


def test_timeout_names_the_step_and_the_limit(capsys):
    with fake_openai_server(Behaviour(delay_seconds=1.5)) as url:
        code, lines = run(capsys, "--url", url, "--api-key", "test-key", "--timeout", "0.3")
    assert code == 1
    assert lines[-1].startswith("FAIL models:") and "no answer within 0.3 s" in lines[-1]


def test_wrong_url_is_a_clear_connection_error(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, lines = run(capsys, "--url", f"http://127.0.0.1:{port}", "--api-key", "k", "--timeout", "2")
    assert code == 1
    assert lines[-1].startswith("FAIL models:") and "cannot connect to" in lines[-1]


def test_not_a_vllm_endpoint_is_a_clear_404(capsys):
    with fake_openai_server(Behaviour()) as url:
        code, lines = run(capsys, "--url", f"{url}/elsewhere", "--api-key", "test-key")
    assert code == 1
    assert "answered 404" in lines[-1]


def test_unknown_model_is_reported(capsys):
    with fake_openai_server(Behaviour()) as url:
        code, lines = run(capsys, "--url", url, "--api-key", "test-key", "--model", "other")
    assert code == 1
    assert "model 'other' is not served" in lines[-1]


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "--url", "llm.example.com", "--api-key", "k")[0] == 2
    code, lines = run(capsys, "--url", "http://127.0.0.1:9")
    assert code == 2 and "no api key" in lines[0]
    code, lines = run(capsys, "--url", "http://127.0.0.1:9", "--env", "nope")
    assert code == 2 and "no environment named 'nope'" in " ".join(lines)


def test_api_key_is_read_from_the_environments_secret(capsys, aws_credentials):
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="vllm-dev/api-key", SecretString="from-secrets-manager"
        )
        with fake_openai_server(Behaviour(api_key="from-secrets-manager")) as url:
            code, lines = run(capsys, "--url", url, "--env", "dev")
    assert code == 0, lines
    assert "from-secrets-manager" not in " ".join(lines)


def test_missing_secret_is_a_usage_error(capsys, aws_credentials):
    with mock_aws():
        code, lines = run(capsys, "--url", "http://127.0.0.1:9", "--env", "dev")
    assert code == 2
    assert "cannot read the api key secret vllm-dev/api-key" in " ".join(lines)


def test_no_aws_credentials_is_a_usage_error(capsys, no_aws_credentials):
    code, lines = run(capsys, "--url", "http://127.0.0.1:9", "--env", "dev")
    assert code == 2
    assert "no AWS credentials" in " ".join(lines) and "--api-key" in " ".join(lines)
