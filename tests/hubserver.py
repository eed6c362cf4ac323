"""A Hugging Face-compatible file server on loopback, so weight fetches are tested offline.

No package on PyPI does this without a binary of its own (``hf-local-hub`` needs a Go server;
``olah`` is a caching proxy of the real hub), so this serves the two requests huggingface_hub's
``hf_hub_download`` makes, as the hub answers them:

- ``HEAD /{org}/{repo}/resolve/{revision}/{file}``: ``X-Repo-Commit``, ``ETag`` and
  ``X-Linked-Etag`` (the file's SHA-256, as for git-LFS files), ``X-Linked-Size``,
  ``Content-Length``; unknown repos and files get 404 with the hub's ``X-Error-Code``.
- ``GET`` of the same path, honouring ``Range: bytes=N-`` (206 with ``Content-Range``).

Faults a test can switch on: ``cut_first_get_after = N`` sends the first full GET's headers
and N bytes, then drops the connection; ``tamper(repo, file)`` serves other bytes than the
ETag promises. Every request is recorded (method, path, Range) in ``requests``.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>[^?]+)")
_RANGE = re.compile(r"^bytes=(\d+)-$")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
_FLIP = bytes(255 - b for b in range(256))  # every byte inverted: same size, other content


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class LocalHub:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    tampered: set[tuple[str, str]] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    cut_first_get_after: int | None = None
    _server: ThreadingHTTPServer | None = None

    def publish(self, repo: str, filename: str, data: bytes) -> str:
        """Serve ``data`` as ``repo``'s ``filename``; returns its SHA-256 (the ETag)."""
        self.files[(repo, filename)] = data
        return hashlib.sha256(data).hexdigest()

    def tamper(self, repo: str, filename: str) -> None:
        """From now on serve the file with its bytes flipped (same size, same promised ETag)."""
        self.tampered.add((repo, filename))

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]

    def __enter__(self) -> LocalHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def body(self, repo: str, filename: str) -> bytes:
        data = self.files[(repo, filename)]
        return data.translate(_FLIP) if (repo, filename) in self.tampered else data


@contextmanager
def online_hub(monkeypatch, files: dict[tuple[str, str], bytes]) -> Iterator[LocalHub]:
    """A running hub serving ``files``, with huggingface_hub online and HF_ENDPOINT at it."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # tests/conftest.py sets it
    with LocalHub() as hub:
        for (repo, name), data in files.items():
            hub.publish(repo, name, data)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub


def _handler_for(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            return None

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, *, send_body: bool) -> None:
            hub.requests.append(Request(self.command, self.path, self.headers.get("Range")))
            found = _RESOLVE.match(self.path)
            if not found:
                return self._error(404, "RepoNotFound")
            repo, name = found["repo"], found["file"]
            if (repo, name) not in hub.files:
                known_repo = any(r == repo for r, _ in hub.files)
                return self._error(404, "EntryNotFound" if known_repo else "RepoNotFound")
            data = hub.body(repo, name)
            start = self._range_start(len(data))
            self.send_response(206 if start else 200)
            self._file_headers(repo, name, len(data), start)
            self.end_headers()
            if send_body:
                self._send(data[start:], first_full_get=start == 0)

        def _file_headers(self, repo: str, name: str, size: int, start: int) -> None:
            etag = hashlib.sha256(hub.files[(repo, name)]).hexdigest()  # what the hub promises
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")

        def _range_start(self, size: int) -> int:
            found = _RANGE.match(self.headers.get("Range") or "")
            return min(int(found[1]), size) if found else 0

        def _send(self, payload: bytes, *, first_full_get: bool) -> None:
            cut = hub.cut_first_get_after
            if first_full_get and cut is not None:
                hub.cut_first_get_after = None
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
                return
            self.wfile.write(payload)

        def _error(self, status: int, code: str) -> None:
            body = f'{{"error": "{code}"}}'.encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
