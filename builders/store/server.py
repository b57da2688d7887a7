"""The store's HTTP side (see builders/store/__init__.py). Uploads are written beside their
final place, hashed while they arrive, and renamed into place only when the hash matches: a
store never holds bytes under a hash they do not have, and a killed upload leaves nothing."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import tempfile
from pathlib import Path

CHUNK = 1 << 20
HASH = re.compile(r"[0-9a-f]{64}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME_RECORD = 1 << 20


class Store:
    def __init__(self, root: Path, workers: dict[str, str]):
        self.root, self.workers = root, workers
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "names").mkdir(exist_ok=True)

    def object_path(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def open_object(self, digest: str):
        """The object's file, open, or None when there is none."""
        try:
            return self.object_path(digest).open("rb")
        except FileNotFoundError:
            return None

    def quarantine(self, digest: str, data) -> None:
        """Move a damaged object aside (to damaged/), so that it is missing and the next upload
        of its bytes replaces it; only if the file is still the one found damaged (an upload
        may have replaced it meanwhile)."""
        path = self.object_path(digest)
        try:
            if os.stat(path).st_ino != os.fstat(data.fileno()).st_ino:
                return
            (self.root / "damaged").mkdir(exist_ok=True)
            os.replace(path, self.root / "damaged" / digest)
        except FileNotFoundError:
            pass

    def intact(self, digest: str) -> bool:
        """Whether the object is there with bytes that still have its hash (a disk can damage
        them after the upload was checked: rot changes no size or mtime, so every answer
        reads them). A damaged object is quarantined."""
        data = self.open_object(digest)
        if data is None:
            return False
        with data:
            hasher = hashlib.sha256()
            while chunk := data.read(CHUNK):
                hasher.update(chunk)
            if hasher.hexdigest() == digest:
                return True
            self.quarantine(digest, data)
            return False

    def name_path(self, owner: str, name: str) -> Path:
        return self.root / "names" / owner / name

    def who(self, header: str | None) -> str | None:
        """The worker a basic-auth header proves to be, or None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        known = self.workers.get(user)
        return user if known is not None and hmac.compare_digest(known.encode(), password.encode()) else None


def make_handler(store: Store):
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 60
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self._serve(send_body=True)

        def do_HEAD(self):
            self._serve(send_body=False)

        def do_PUT(self):
            user = self._user()
            if user is None:
                return
            kind, key = self._route()
            length = self._length()
            if kind is None or length is None:
                return
            if kind == "objects":
                self._receive_object(key, length)
            else:
                owner, name = key
                if owner != user:
                    return self._reply(403, {"error": f"{user} may not write names of {owner}"})
                if length > MAX_NAME_RECORD:
                    return self._reply(413, {"error": "a name record is at most 1 MiB"})
                body = self.rfile.read(length)
                try:
                    json.loads(body)
                except ValueError:
                    return self._reply(400, {"error": "a name record is JSON"})
                _write_atomically(store.name_path(owner, name), body)
                self._reply(201, {"name": f"{owner}/{name}"})

        def _serve(self, send_body: bool):
            if self._user() is None:
                return
            kind, key = self._route()
            if kind is None:
                return
            if kind == "objects":
                return self._serve_object(key, send_body)
            path = store.name_path(*key)
            if not path.is_file():
                return self._reply(404, {"error": "no such name"})
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if send_body:
                with path.open("rb") as data:
                    while chunk := data.read(CHUNK):
                        self.wfile.write(chunk)

        def _serve_object(self, digest: str, send_body: bool):
            """HEAD reads the whole object first (what `put` asks before it skips an upload);
            GET hashes while it sends, and a mismatch found at the end quarantines the object
            (the worker, which hashes what arrives, refuses those bytes)."""
            if not send_body:
                if not store.intact(digest):
                    return self._reply(404, {"error": "no such object (or its bytes were damaged: gone now)"})
                self.send_response(200)
                self.send_header("Content-Length", str(store.object_path(digest).stat().st_size))
                self.end_headers()
                return
            data = store.open_object(digest)
            if data is None:
                return self._reply(404, {"error": "no such object"})
            with data:
                self.send_response(200)
                self.send_header("Content-Length", str(os.fstat(data.fileno()).st_size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                hasher = hashlib.sha256()
                while chunk := data.read(CHUNK):
                    hasher.update(chunk)
                    self.wfile.write(chunk)
                if hasher.hexdigest() != digest:
                    store.quarantine(digest, data)

        def _receive_object(self, digest: str, length: int):
            # the answer goes after the upload's temporary file is gone or in place: a client
            # that hears "refused" finds nothing of it in the store
            status, body, close = self._store_upload(digest, length)
            self._reply(status, body, close=close)

        def _store_upload(self, digest: str, length: int) -> tuple[int, dict, bool]:
            final = store.object_path(digest)
            final.parent.mkdir(exist_ok=True)
            hasher = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    left = length
                    while left:
                        chunk = self.rfile.read(min(CHUNK, left))
                        if not chunk:
                            return 400, {"error": "the upload ended early"}, True
                        hasher.update(chunk)
                        out.write(chunk)
                        left -= len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if hasher.hexdigest() != digest:
                    return 422, {"error": f"the bytes sent have sha256 {hasher.hexdigest()}, not {digest}: "
                                          "nothing stored"}, False
                existed = final.exists()
                os.replace(tmp, final)
                return (200 if existed else 201), {"sha256": digest, "size": length}, False
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

        def _user(self) -> str | None:
            user = store.who(self.headers.get("Authorization"))
            if user is None:
                self._reply(401, {"error": "a worker's name and password are needed"}, close=True)
            return user

        def _route(self):
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) == 2 and parts[0] == "objects" and HASH.fullmatch(parts[1]):
                return "objects", parts[1]
            if len(parts) == 3 and parts[0] == "names" and all(NAME.fullmatch(p) for p in parts[1:]):
                return "names", (parts[1], parts[2])
            self._reply(404, {"error": "not a store address: /objects/<sha256> or /names/<worker>/<name>"}, close=True)
            return None, None

        def _length(self) -> int | None:
            try:
                length = int(self.headers.get("Content-Length", ""))
                if length < 0:
                    raise ValueError
                return length
            except ValueError:
                self._reply(411, {"error": "a Content-Length is needed"}, close=True)
                return None

        def _reply(self, status: int, body: dict, close: bool = False):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".name-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def make_server(store: Store, host: str, port: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, port), make_handler(store))
    server.daemon_threads = True
    return server
