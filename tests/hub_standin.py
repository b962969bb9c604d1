"""A local stand-in for the Hugging Face Hub: the two endpoints huggingface_hub calls to list a commit's files
and download one, with the Hub's error headers for a refused token and an unknown commit."""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.local_server import serving


@contextmanager
def hub(repo: str, revision: str, files: dict[str, bytes], *, token: str | None) -> Iterator[tuple[str, list[str]]]:
    """Serve `files` as `repo` at `revision`; `token` (if set) is the only one accepted. Yields (url, requests)."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _refuse(self, status: int, code: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _authorized(self) -> bool:
            return token is None or self.headers.get("Authorization") == f"Bearer {token}"

        def _serve(self, body: bool) -> None:
            requests.append(f"{self.command} {self.path}")
            path = self.path.split("?")[0]
            if not self._authorized():
                return self._refuse(401, "GatedRepo")
            if path == f"/api/models/{repo}/revision/{revision}":
                siblings = [{"rfilename": name, "size": len(data)} for name, data in files.items()]
                payload = json.dumps({"id": repo, "sha": revision, "siblings": siblings}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload if body else b"")
                return None
            if path.startswith(f"/api/models/{repo}/revision/"):
                return self._refuse(404, "RevisionNotFound")
            prefix = f"/{repo}/resolve/{revision}/"
            if path.startswith(prefix) and path[len(prefix) :] in files:
                data = files[path[len(prefix) :]]
                self.send_response(200)
                self.send_header("X-Repo-Commit", revision)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)
                return None
            return self._refuse(404, "EntryNotFound")

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

    with serving(Handler) as url:
        yield url, requests
