"""A worker's side of the artifact store (builders/store/__init__.py): upload by hash, fetch by
hash and check the bytes before they are used, publish and read name records. A file already
here with the wanted hash is not fetched again; an object the store has is not sent again.
The worker's name and password come from its environment (STACKDEB_STORE_USER,
STACKDEB_STORE_PASSWORD), never from the command line."""

import base64
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.manifest import sha256_file

CHUNK = 1 << 20
TIMEOUT = 60
SHA256 = re.compile(r"[0-9a-f]{64}")
_password: str | None = None


def hold_password() -> None:
    """Take the store password out of the environment as stackdeb starts, so that no tool it
    runs (a resolver, a build backend) inherits the worker's secret."""
    global _password
    _password = os.environ.pop("STACKDEB_STORE_PASSWORD", None) or _password


class StoreClient:
    def __init__(self, url: str):
        if not url.startswith(("http://", "https://")):
            raise StackdebError(f"{url!r} is not a store address", hint="--store http(s)://HOST:PORT/")
        self.url = url.rstrip("/") + "/"
        self.user = os.environ.get("STACKDEB_STORE_USER")
        hold_password()
        password = _password
        if not self.user or not password:
            raise StackdebError("no worker credentials for the artifact store",
                                hint="set STACKDEB_STORE_USER and STACKDEB_STORE_PASSWORD in the worker's environment")
        self._auth = "Basic " + base64.b64encode(f"{self.user}:{password}".encode()).decode()

    def _open(self, path: str, method: str = "GET", data=None, length: int | None = None):
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", self._auth)
        if length is not None:
            request.add_header("Content-Length", str(length))
            request.add_header("Content-Type", "application/octet-stream")
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as error:
            if error.code == 404 and method in ("GET", "HEAD"):
                raise
            if error.code == 401:
                raise StackdebError(f"the artifact store at {self.url} does not know worker {self.user} with "
                                    "that password (HTTP 401)",
                                    hint="STACKDEB_STORE_USER and STACKDEB_STORE_PASSWORD: a worker of master.yaml") from None
            try:
                said = json.loads(error.read()).get("error", "")
            except ValueError:
                said = ""
            raise StackdebError(f"the artifact store refused {method} /{path} (HTTP {error.code}): "
                                f"{said or error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise StackdebError(f"the artifact store at {self.url} cannot be reached: {reason}",
                                hint="is `stackdeb store serve` running on the master's machine?") from None

    def has(self, digest: str) -> bool:
        try:
            self._open(f"objects/{digest}", "HEAD").close()
            return True
        except urllib.error.HTTPError:
            return False

    def put(self, path: Path) -> dict:
        """Upload `path` (unless the store has its bytes); return its name, sha256 and size."""
        digest, size = sha256_file(path), path.stat().st_size
        if self.has(digest):
            log.info(f"{path.name}: already in the store ({digest[:12]})")
        else:
            with path.open("rb") as data:
                self._open(f"objects/{digest}", "PUT", data=data, length=size).close()
            log.info(f"{path.name}: uploaded to the store ({digest[:12]}, {size / 1e6:.1f} MB)")
        return {"file": path.name, "sha256": digest, "size": size}

    def get(self, digest: str, dest: Path) -> Path:
        """`dest` with the bytes of `digest`, checked before they are put there."""
        if not SHA256.fullmatch(digest):
            raise StackdebError(f"{digest[:80]!r} is not a sha256 (64 lowercase hex digits)")
        if dest.is_file() and sha256_file(dest) == digest:
            log.info(f"{dest.name}: already here ({digest[:12]})")
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            response = self._open(f"objects/{digest}")
        except urllib.error.HTTPError:
            raise StackdebError(f"the artifact store has no object {digest}",
                                hint="the build that made it did not upload it, or it was removed") from None
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            hasher = hashlib.sha256()
            with response, os.fdopen(fd, "wb") as out:
                while chunk := response.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise StackdebError(f"{dest.name} arrived from the store with sha256 {hasher.hexdigest()}, "
                                    f"not {digest}: not used", hint="the store's copy is damaged; rebuild it")
            os.chmod(tmp, 0o644)          # build outputs, not secrets (mkstemp made it 0600)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info(f"{dest.name}: fetched from the store ({digest[:12]})")
        return dest

    def put_name(self, name: str, record: dict) -> str:
        body = json.dumps(record, sort_keys=True).encode()
        self._open(f"names/{self.user}/{name}", "PUT", data=body, length=len(body)).close()
        return f"{self.user}/{name}"

    def get_name(self, qualified: str) -> dict:
        try:
            with self._open(f"names/{qualified}") as response:
                return json.loads(response.read())
        except urllib.error.HTTPError:
            raise StackdebError(f"the artifact store has no name {qualified}") from None


def put_files(store: StoreClient, files: list[Path], name: str | None) -> dict:
    """Upload files; with `name`, record them under it (what a later stage fetches)."""
    entries = [store.put(path) for path in files]
    result = {"files": entries}
    if name:
        result["name"] = store.put_name(name, {"files": entries})
    return result


def get_files(store: StoreClient, into: Path, name: str | None = None, digests: list[str] = ()) -> dict:
    """Fetch a name record's files, or objects by hash, into `into`, each checked."""
    if name:
        entries = store.get_name(name).get("files", [])
    else:
        entries = [{"file": digest, "sha256": digest} for digest in digests]
    for entry in entries:
        if "/" in entry["file"] or entry["file"].startswith("."):
            raise StackdebError(f"the store record names a file {entry['file']!r}: refused")
        store.get(entry["sha256"], into / entry["file"])
    return {"files": entries, "into": str(into)}
