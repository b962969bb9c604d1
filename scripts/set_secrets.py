"""Put the values only a person can supply (Hugging Face token, Docker Hub credentials) into Secrets Manager.

    make secrets ENV=dev                     # deploys the secrets stack first, then runs this
    HF_TOKEN=hf_... python -m scripts.set_secrets --env dev
    python -m scripts.set_secrets --env prod --force

Values come from environment variables (HF_TOKEN; DOCKERHUB_USERNAME and DOCKERHUB_TOKEN) or, on a
terminal, from prompts that do not echo the token; never from the command line, which shell history
and the process list would keep. A secret that already holds a valid value is left alone unless
--force. Before it is stored, the Hugging Face token is checked against every gated model of the
environment at $HF_ENDPOINT (default https://huggingface.co); --no-verify skips that. No value is
ever printed. Exit 0: done; 2: a usage, credentials or token problem (that secret was not written).
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import getpass
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from rich.console import Console
from rich.markup import escape

from config import EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from config.secrets import human_secrets
from functions.guards.secrets import DOCKER_HUB, HF_TOKEN, OK, SecretSpec, check_secret, value_problem
from scripts.aws_access import USAGE_PROBLEMS, ClientFactory, UsageError, signed_in, usage_problem

HF_TOKEN_VAR = "HF_TOKEN"
DOCKERHUB_USERNAME_VAR, DOCKERHUB_TOKEN_VAR = "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"
HF_ENDPOINT_VAR = "HF_ENDPOINT"  # the variable huggingface_hub (and so vLLM) honours
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
HF_TIMEOUT_SECONDS = 10
HF_TOKENS_PAGE = "https://huggingface.co/settings/tokens"


@dataclass(frozen=True)
class Terminal:
    """Where values come from when no environment variable holds them; injectable so tests need no TTY."""

    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    hidden: Callable[[str], str] = getpass.getpass
    visible: Callable[[str], str] = input


def require_deployed(client: Any, specs: list[SecretSpec], config: EnvironmentConfig) -> None:
    """Every secret must exist before a value is asked for: the stacks create them, this script only fills them."""
    for spec in specs:
        try:
            client.describe_secret(SecretId=spec.name)
        except client.exceptions.ResourceNotFoundException:
            raise UsageError(
                f"secret {spec.name} does not exist in {config.region}, so the secrets stack is not deployed: "
                f"run `make secrets ENV={config.name}`, which deploys it first"
            ) from None


def already_set(client: Any, spec: SecretSpec) -> bool:
    try:
        return check_secret(client, spec).status == OK
    except client.exceptions.ResourceNotFoundException:  # exists, but has no current value at all
        return False


def read_hf_token(environ: Mapping[str, str], terminal: Terminal, spec: SecretSpec) -> str:
    token = environ.get(HF_TOKEN_VAR, "").strip()
    if token:
        return token
    if not terminal.interactive:
        raise UsageError(
            f"no value for {spec.name}: set {HF_TOKEN_VAR} to a Hugging Face read token "
            f"({HF_TOKENS_PAGE}), or run this on a terminal to be prompted"
        )
    return terminal.hidden(f"Hugging Face token for {spec.name} (input hidden): ").strip()


def read_docker_hub(environ: Mapping[str, str], terminal: Terminal, spec: SecretSpec) -> str:
    username = environ.get(DOCKERHUB_USERNAME_VAR, "").strip()
    token = environ.get(DOCKERHUB_TOKEN_VAR, "").strip()
    if not (username and token):
        if not terminal.interactive:
            raise UsageError(
                f"no value for {spec.name}: set {DOCKERHUB_USERNAME_VAR} and {DOCKERHUB_TOKEN_VAR} (a Docker Hub "
                "personal access token with read access), or run this on a terminal to be prompted"
            )
        username = username or terminal.visible("Docker Hub username: ").strip()
        token = token or terminal.hidden("Docker Hub access token (input hidden): ").strip()
    if not (username and token):
        raise UsageError(f"{spec.name} needs both a Docker Hub username and an access token; nothing was stored")
    return json.dumps({"username": username, "accessToken": token})


READERS: dict[str, Callable[[Mapping[str, str], Terminal, SecretSpec], str]] = {
    HF_TOKEN: read_hf_token,
    DOCKER_HUB: read_docker_hub,
}


class SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow the Hub's redirects (a renamed repo), but never carry the token to another host."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def verify_hf_token(token: str, config: EnvironmentConfig, environ: Mapping[str, str], console: Console) -> None:
    """Ask Hugging Face whether the token may download each gated model, before vLLM finds out at startup.

    Uses the Hub's auth-check route, the one `huggingface_hub.auth_check` calls: the plain model-info
    route answers 200 for a gated model even when the license was never accepted.
    """
    endpoint = environ.get(HF_ENDPOINT_VAR, "").strip().rstrip("/") or DEFAULT_HF_ENDPOINT
    model_ids = list(dict.fromkeys(model.model_id for model in config.models if model.gated))
    opener = urllib.request.build_opener(SameHostRedirects)
    for model_id in model_ids:
        url = f"{endpoint}/api/models/{urllib.parse.quote(model_id, safe='/')}/auth-check"
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            with opener.open(request, timeout=HF_TIMEOUT_SECONDS):
                pass
        except ValueError:
            raise UsageError(
                f"{HF_ENDPOINT_VAR}={endpoint} is not a URL; unset it or give one like {DEFAULT_HF_ENDPOINT}"
            ) from None
        except urllib.error.HTTPError as error:
            if error.code == 401:
                raise UsageError(
                    f"the token was refused by Hugging Face (401): create a read token at {HF_TOKENS_PAGE}"
                ) from None
            if error.code == 403:
                raise UsageError(
                    f"the token cannot read {model_id} (403): accept the model's license on its Hugging Face "
                    "page with the account that owns the token"
                ) from None
            console.print(
                f"[yellow]warning:[/yellow] Hugging Face answered {error.code} for {escape(model_id)}, so the token "
                f"was not checked against it (is model_id right in {escape(config.source_file)}?); storing it anyway"
            )
            continue
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            console.print(
                f"[yellow]warning:[/yellow] could not reach Hugging Face at {escape(endpoint)} ({escape(str(reason))}), "
                "so the token was not checked; storing it anyway. The deploy checks that it is set, and vLLM's "
                "log names a token Hugging Face refuses."
            )
            return
        console.print(f"Hugging Face: the token can read {escape(model_id)}")


def set_secrets(
    config: EnvironmentConfig,
    client: Any,
    *,
    force: bool,
    verify: bool,
    environ: Mapping[str, str],
    terminal: Terminal,
    console: Console,
) -> None:
    specs = human_secrets(config)
    if not specs:
        console.print(f"{escape(config.name)} has no secret a person must set (no gated model, no image mirror)")
        return
    require_deployed(client, specs, config)
    for spec in specs:
        name = escape(spec.name)
        if not force and already_set(client, spec):
            console.print(f"{escape(name)}: already set (--force replaces it)")
            continue
        value = READERS[spec.kind](environ, terminal, spec)
        if not value.strip():
            raise UsageError(f"no value given for {spec.name}; nothing was stored")
        problem = value_problem(spec.kind, value)
        if problem:
            raise UsageError(f"the value given for {spec.name} {problem}; nothing was stored")
        if spec.kind == HF_TOKEN and verify:
            verify_hf_token(value, config, environ, console)
        client.put_secret_value(SecretId=spec.name, SecretString=value)
        console.print(f"set {escape(name)} (value not shown)")


def main(
    argv: list[str] | None = None,
    clients: ClientFactory | None = None,
    console: Console | None = None,
    environ: Mapping[str, str] | None = None,
    terminal: Terminal | None = None,
) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    parser = argparse.ArgumentParser(prog="secrets", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--env", required=True, help="environment whose secrets to set (config/ENV.yaml)")
    parser.add_argument("--force", action="store_true", help="replace values that are already set")
    parser.add_argument("--no-verify", action="store_true", help="do not check the Hugging Face token online")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
        if clients is None:
            clients = boto3.session.Session(region_name=config.region).client
        signed_in(clients, config)
        set_secrets(
            config,
            clients("secretsmanager"),
            force=args.force,
            verify=not args.no_verify,
            environ=os.environ if environ is None else environ,
            terminal=terminal or Terminal(),
            console=console,
        )
    except USAGE_PROBLEMS as error:
        console.print(f"[red]error:[/red] {escape(usage_problem(error))}")
        return 2
    except (EOFError, KeyboardInterrupt):
        console.print("\n[red]error:[/red] cancelled; secrets already reported as set were stored")
        return 2
    console.print(f"next: make deploy ENV={escape(config.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
