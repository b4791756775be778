"""A stand-in for the Hugging Face Hub on 127.0.0.1 that serves local model folders.

It answers the requests ``app.download`` makes, the way huggingface.co does:

* ``GET /api/models/{repo}?blobs=true`` - the repo's commit and files with size, git blob id and
  LFS sha256 (what ``HfApi.model_info(files_metadata=True)`` reads);
* ``GET|HEAD /{repo}/resolve/{revision}/{path}`` - the file, with ``Range`` support; LFS files
  (``*.safetensors``, ``*.bin``) are redirected to a "CDN" on another host name (``localhost``)
  that, like the real storage, refuses requests carrying an ``Authorization`` header;
* gated repos: 401 without a token, 403 with the wrong one.

Each repo also lists files Seesay must not fetch (a pickle, ``original/``, a README). Every
request is logged (method, path, Range, bytes sent) so tests can see what went over the wire.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "5f0e2b1c9d8a7f6e5d4c3b2a19081726354a3b2c"
UNWANTED = {
    "pytorch_model.bin": b"pickle bytes Seesay never loads",
    "original/params.json": b'{"dim": 64}',
    "README.md": b"# a model card\n",
    ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
}
_LFS = (".safetensors", ".bin")


@dataclass
class Served:
    method: str
    path: str  # repo file path for resolve/cdn requests, else the URL path
    kind: str  # "api" | "resolve" | "cdn"
    range: str | None
    authorization: str | None
    status: int
    sent: int  # body bytes written


class HubImitation:
    """Serve ``repos`` ({repo id: folder}) on a free loopback port; use as a context manager."""

    def __init__(self, repos: dict[str, Path], token: str | None = None):
        self.files = {repo: _files_of(Path(folder)) for repo, folder in repos.items()}
        self.token = token  # set: the repos are gated and need this token
        self.commit = COMMIT
        self.drop_after: int | None = None  # cut the next longer file body after this many bytes
        self.corrupt: set[str] = set()  # paths whose bytes are served altered (listing unchanged)
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubImitation:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def served(self, path: str, kind: str = "cdn") -> list[Served]:
        with self._lock:
            return [s for s in self.log if s.path == path and s.kind == kind]

    def record(self, entry: Served) -> None:
        with self._lock:
            self.log.append(entry)

    def listing(self, repo: str) -> dict:
        siblings = []
        for path, data in sorted(self.files[repo].items()):
            entry = {"rfilename": path, "size": len(data), "blobId": _git_blob_id(data)}
            if path.endswith(_LFS):
                entry["blobId"] = hashlib.sha1(path.encode()).hexdigest()  # the pointer's id
                entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(entry)
        return {"id": repo, "modelId": repo, "sha": self.commit, "private": False,
                "gated": "manual" if self.token else False, "siblings": siblings}


def closed_port_url() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _files_of(folder: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files.update(UNWANTED)
    return files


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler_for(hub: HubImitation):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_HEAD(self):
            self._route()

        def do_GET(self):
            self._route()

        def _route(self):
            url = urlparse(self.path)
            path = unquote(url.path)
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)", path):
                return self._api(m[1])
            if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                return self._resolve(m[1], m[2], m[3])
            if m := re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", path):
                return self._cdn(m[1], m[2])
            self._status(404, "api", path)

        def _api(self, repo):
            if repo not in hub.files:
                return self._status(404, "api", self.path)
            body = json.dumps(hub.listing(repo)).encode()
            self._send(200, "api", self.path, body, {"Content-Type": "application/json"})

        def _resolve(self, repo, revision, file):
            if repo not in hub.files or file not in hub.files[repo] or revision not in (hub.commit, "main"):
                return self._status(404, "resolve", file)
            if hub.token:
                auth = self.headers.get("Authorization")
                if auth != f"Bearer {hub.token}":
                    return self._status(403 if auth else 401, "resolve", file, {"X-Error-Code": "GatedRepo"})
            if file.endswith(_LFS):
                where = f"http://localhost:{hub.port}/cdn/{repo}/{file}"
                return self._status(302, "resolve", file, {"Location": where})
            self._file(hub.files[repo][file], "resolve", file)

        def _cdn(self, repo, file):
            if self.headers.get("Authorization"):  # S3 refuses a second auth mechanism
                return self._status(400, "cdn", file)
            if repo not in hub.files or file not in hub.files[repo]:
                return self._status(404, "cdn", file)
            self._file(hub.files[repo][file], "cdn", file)

        def _file(self, data: bytes, kind: str, file: str):
            if file in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if m:
                start = int(m[1])
                end = int(m[2]) + 1 if m[2] else len(data)
                if start >= len(data):
                    return self._status(416, kind, file, {"Content-Range": f"bytes */{len(data)}"})
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
                return self._send(206, kind, file, data[start:end], headers)
            self._send(200, kind, file, data, headers)

        def _status(self, code: int, kind: str, path: str, headers: dict | None = None):
            self._send(code, kind, path, b"", headers or {})

        def _send(self, code: int, kind: str, path: str, body: bytes, headers: dict):
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                body = b""
            elif hub.drop_after is not None and kind != "api" and len(body) > hub.drop_after:
                body, hub.drop_after = body[:hub.drop_after], None
            # Logged before the body goes out, so the log is complete once the client has read it.
            hub.record(Served(self.command, path, kind, self.headers.get("Range"),
                              self.headers.get("Authorization"), code, len(body)))
            if body:
                try:
                    self.wfile.write(body)
                except ConnectionError:  # the client stopped reading (pause, cancel)
                    pass

    return Handler
