"""Digests of a stage's inputs and outputs, and atomic writes.

Every stage writes manifest.json beside its outputs: the digests of what went in and of what
came out. Run again with the same inputs and intact outputs, it does nothing and says so.
"""

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data) -> str:
    return sha256_text(json.dumps(data, sort_keys=True))


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict | None:
    """The JSON in `path`, or None when there is none: missing, not UTF-8 or not JSON (a reader
    says what it expected; never a traceback)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):     # JSONDecodeError and UnicodeDecodeError alike
        return None


def outputs_intact(directory: Path, outputs: dict[str, str]) -> bool:
    """True when every recorded output file exists with its recorded digest."""
    return all((directory / name).is_file() and sha256_file(directory / name) == digest
               for name, digest in outputs.items())


def is_current(directory: Path, digest: str, files: list[str] = (), outputs: dict[str, str] | None = None) -> bool:
    """The one up-to-date check of every stage: `directory` holds what inputs of `digest`
    make when its build record (manifest.json) names that digest, every file in `files`
    (relative to it) is there, and every output in `outputs` has its recorded digest."""
    record = read_json(directory / "manifest.json") or {}
    return (record.get("inputs_digest") == digest and all((directory / name).is_file() for name in files)
            and outputs_intact(directory, outputs or {}))


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when on the same filesystem (free), copy otherwise."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)
