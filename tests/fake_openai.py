"""A small OpenAI-compatible server on 127.0.0.1 with canned answers: the client is what is under test."""

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_server import serving

MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"
WORDS = ["one", " two", " three", " four", " five"]


@dataclass
class Behaviour:
    api_key: str = "test-key"
    delay_seconds: float = 0.0
    answer_tools: bool = True
    models: list[str] = field(default_factory=lambda: [MODEL])
    token_seconds: float = 0.01  # between streamed tokens
    requests: list[dict[str, Any]] = field(default_factory=list)


def _completion(body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "Hello there, nice to meet you."}
    finish = "stop"
    if body.get("tools") and behaviour.answer_tools:
        arguments = json.dumps({"city": "Paris"})
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call-1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }


def _chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
    for word in WORDS:
        yield {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": len(WORDS), "total_tokens": 14}}


def _completion_chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """/v1/completions streamed: exactly max_tokens tokens, then the usage chunk vLLM sends on request."""
    base = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body["model"]}
    tokens = int(body.get("max_tokens") or 16)
    for _ in range(tokens):
        yield {**base, "choices": [{"index": 0, "text": " tok", "finish_reason": None}]}
    usage = {"completion_tokens": tokens}
    if isinstance(body.get("prompt"), list):
        usage["prompt_tokens"] = len(body["prompt"])
    yield {**base, "choices": [], "usage": usage}


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
                super().handle()

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {behaviour.api_key}":
                return True
            self._send_json(401, {"error": "Unauthorized"})
            return False

        def do_GET(self) -> None:
            time.sleep(behaviour.delay_seconds)
            if self.path == "/health":
                self._send_json(200, {})
            elif self.path == "/v1/models" and self._authorized():
                data = [
                    {"id": model, "object": "model", "created": 0, "owned_by": "vllm"} for model in behaviour.models
                ]
                self._send_json(200, {"object": "list", "data": data})
            elif self.path != "/v1/models":
                self._send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            time.sleep(behaviour.delay_seconds)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            behaviour.requests.append(body)
            if self.path not in ("/v1/chat/completions", "/v1/completions"):
                self._send_json(404, {"error": "not found"})
                return
            if not self._authorized():
                return
            if not body.get("stream"):
                self._send_json(200, _completion(body, behaviour))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in _completion_chunks(body) if self.path == "/v1/completions" else _chunks(body):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(behaviour.token_seconds)
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@contextmanager
def fake_openai_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve on an ephemeral port of 127.0.0.1; yields the base URL and stops the server afterwards."""
    with serving(_handler(behaviour)) as url:
        yield url
