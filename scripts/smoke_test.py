"""Smoke-test a deployed vLLM endpoint with the official OpenAI SDK, the way a client would call it.

    python -m scripts.smoke_test --url https://llm.internal.example.com --env prod
    make smoke URL=http://localhost:8080 ENV=dev

Steps: list models, one chat completion, one streamed completion (time to first token and
tokens/s), and one tool call when the model has tool calling on. One line per step; the exit code
is 0 when all pass, 1 when a step fails (named in the output), 2 for a usage or credentials problem.
The api key comes from --api-key, else $VLLM_API_KEY, else the environment's Secrets Manager secret.
"""

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.markup import escape

from config import ConfigError, EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.model import ModelConfig

if TYPE_CHECKING:  # the SDKs load only once the arguments are good: a usage error answers at once (~0.7 s less)
    import boto3
    import openai
    from openai.types.chat import ChatCompletionFunctionToolParam

API_KEY_ENV = "VLLM_API_KEY"
WEATHER_TOOL: "ChatCompletionFunctionToolParam" = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


class UsageError(Exception):
    """Bad arguments or no usable credentials: exit 2."""


class StepFailed(Exception):
    """The endpoint answered, but not as it should: exit 1."""


@dataclass
class SmokeTest:
    client: "openai.OpenAI"
    model: str | None
    tools: bool
    max_tokens: int = 64

    def models(self) -> str:
        served = [model.id for model in self.client.models.list().data]
        if not served:
            raise StepFailed("the server lists no models")
        if self.model and self.model not in served:
            raise StepFailed(f"model '{self.model}' is not served; the server has {served}")
        self.model = self.model or served[0]
        return f"{len(served)} served: {', '.join(served)}"

    def chat(self) -> str:
        response = self.client.chat.completions.create(
            model=self._model,
            messages=[{"role": "user", "content": "Say hello in five words."}],
            max_tokens=self.max_tokens,
        )
        text = (response.choices[0].message.content or "").strip()
        if not text:
            raise StepFailed("the completion came back empty")
        return f"{response.usage.completion_tokens if response.usage else '?'} tokens: {text[:60]!r}"

    def stream(self) -> str:
        start = time.perf_counter()
        first_token_at: float | None = None
        chunks, usage_tokens = 0, None
        stream = self.client.chat.completions.create(
            model=self._model,
            messages=[{"role": "user", "content": "Count from one to twenty in words."}],
            max_tokens=self.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage:
                usage_tokens = chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
                first_token_at = first_token_at or time.perf_counter()
        end = time.perf_counter()
        if first_token_at is None:
            raise StepFailed("the stream ended without a single token")
        tokens = usage_tokens or chunks
        decode_seconds = max(end - first_token_at, 1e-6)
        return (
            f"time to first token {(first_token_at - start) * 1000:.0f} ms, "
            f"{tokens} tokens at {max(tokens - 1, 0) / decode_seconds:.1f} tokens/s"
        )

    def tool_call(self) -> str:
        response = self.client.chat.completions.create(
            model=self._model,
            messages=[{"role": "user", "content": "What is the weather in Paris right now? Use the tool."}],
            tools=[WEATHER_TOOL],
            tool_choice="auto",
            max_tokens=self.max_tokens * 2,
        )
        calls = response.choices[0].message.tool_calls or []
        if not calls:
            raise StepFailed("the model answered in text instead of calling get_weather")
        call = calls[0]
        name = getattr(call, "function", None) and call.function.name  # type: ignore[union-attr]
        try:
            arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
        except (AttributeError, json.JSONDecodeError) as error:
            raise StepFailed(f"the tool call's arguments are not JSON: {error}") from None
        if name != "get_weather":
            raise StepFailed(f"the model called '{name}' instead of get_weather")
        return f"get_weather({json.dumps(arguments)})"

    @property
    def _model(self) -> str:
        if not self.model:
            raise StepFailed("no model chosen (the models step did not run)")
        return self.model

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        steps = [("models", self.models), ("chat", self.chat), ("stream", self.stream)]
        if self.tools:
            steps.append(("tool call", self.tool_call))
        return steps


def tools_off_reason(config: EnvironmentConfig | None, model: ModelConfig | None) -> str:
    """Why the tool-call step does not run, and how to turn it on."""
    if config and model:
        index = config.models.index(model)
        return (
            f"tool calling is off for {model.name} (models[{index}].tool_calling in {config.source_file}), so the "
            "server would refuse tools; set it to true and deploy, or pass --no-tools to silence this"
        )
    return "no environment given, so tool calling is not known to be on; pass --tools to test a tool call"


def explain(error: Exception, base_url: str, timeout: float) -> str:
    """One sentence for the person at the terminal: what went wrong and what to check."""
    import openai

    if isinstance(error, StepFailed):
        return str(error)
    if isinstance(error, openai.AuthenticationError):
        return "the server refused the api key (401): check --api-key, $VLLM_API_KEY or the Secrets Manager secret"
    if isinstance(error, openai.APITimeoutError):
        return f"no answer within {timeout:g} s from {base_url}: is the model still loading? (raise --timeout)"
    if isinstance(error, openai.APIConnectionError):
        return f"cannot connect to {base_url}: check the URL, DNS and that the load balancer is reachable"
    if isinstance(error, openai.NotFoundError):
        return f"{base_url} answered 404: the URL is not a vLLM OpenAI endpoint (it should end in /v1)"
    if isinstance(error, openai.APIStatusError):
        return f"the server answered {error.status_code}: {error.message}"
    return f"{type(error).__name__}: {error}"


def api_base(url: str) -> str:
    """The OpenAI base URL (ending in /v1) for an endpoint URL, or a usage error that says what is wrong."""
    shown = url[:120]
    parsed = urllib.parse.urlsplit(url.strip().rstrip("/"))
    if parsed.scheme not in ("http", "https"):
        raise UsageError(f"--url must start with http:// or https://, got '{shown}'")
    try:
        parsed.port  # noqa: B018 (urllib checks the port only when it is read)
    except ValueError:
        raise UsageError(f"--url has a port that is not a number from 0 to 65535: '{shown}'") from None
    host = parsed.hostname or ""
    if not host or any(character.isspace() for character in url) or parsed.query or parsed.fragment:
        raise UsageError(f"--url must be a plain http(s)://host[:port][/path] address, got '{shown}'")
    base = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
    return base if base.endswith("/v1") else f"{base}/v1"


def secret_api_key(config: EnvironmentConfig, session: "boto3.session.Session | None" = None) -> str:
    """The generated api key from Secrets Manager, read with the caller's AWS credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    session = session or boto3.session.Session()
    client = session.client("secretsmanager", region_name=config.region)
    try:
        return client.get_secret_value(SecretId=config.api_key_secret_name)["SecretString"]
    except NoCredentialsError:
        raise UsageError(
            f"no AWS credentials to read the api key from Secrets Manager ({config.api_key_secret_name}); "
            f"log in to AWS, or pass --api-key / set {API_KEY_ENV}"
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise UsageError(
            f"cannot read the api key secret {config.api_key_secret_name} in {config.region}: {error}; "
            f"is the {config.name} environment deployed? Or pass --api-key / set {API_KEY_ENV}"
        ) from None


def resolve_api_key(args: argparse.Namespace, config: EnvironmentConfig | None, environ: dict[str, str]) -> str:
    if args.api_key:
        return args.api_key
    if environ.get(API_KEY_ENV):
        return environ[API_KEY_ENV]
    if config is None:
        raise UsageError(f"no api key: pass --api-key, set {API_KEY_ENV}, or pass --env to read it from AWS")
    if not config.exposure.api_key:
        return "unused"  # the environment runs without auth (cluster-ip only)
    return secret_api_key(config)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smoke_test", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", required=True, help="base URL of the endpoint, e.g. https://llm.example.com")
    parser.add_argument("--env", help="environment whose config names the model, tool calling and api key secret")
    parser.add_argument("--api-key", help=f"api key (default: ${API_KEY_ENV}, then the environment's secret)")
    parser.add_argument(
        "--model", help="served model name to test (default: the environment's first, or the first listed)"
    )
    parser.add_argument("--tools", action=argparse.BooleanOptionalAction, default=None, help="test a tool call")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each request (default 60)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    console = Console(highlight=False, soft_wrap=True)
    environ = dict(os.environ if environ is None else environ)
    try:
        args = parse_args(argv)
        config = load_environment(args.env, config_dir=args.config_dir) if args.env else None
        model_config = config.models[0] if config else None
        tools = args.tools if args.tools is not None else bool(model_config and model_config.tool_calling)
        base_url = api_base(args.url)
        api_key = resolve_api_key(args, config, environ)
        import openai

        client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=args.timeout, max_retries=0)
    except (UsageError, ConfigError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    smoke = SmokeTest(
        client=client, model=args.model or (model_config.served_name if model_config else None), tools=tools
    )
    for name, step in smoke.steps():
        try:
            detail = step()
        except Exception as error:  # every failure is reported as the step's, never as a traceback
            console.print(f"[red]FAIL[/red] {name}: {escape(explain(error, base_url, args.timeout))}")
            return 1
        console.print(f"[green]OK[/green]   {name}: {escape(detail)}")
    if args.tools is None and not tools:
        console.print(f"[yellow]SKIP[/yellow] tool call: {escape(tools_off_reason(config, model_config))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
