"""The content-addressed artifact cache shared by every target.

    <cache>/artifacts/<sha256[:2]>/<sha256>/<filename>    every downloaded or compiled file
    <cache>/compiled/<python-tag>-<suite>/<sdist sha256>.json -> the wheel built from it
    <cache>/compiled/any/<sdist sha256>.json                 -> the same, for a pure-Python wheel

A file is stored under the digest of its bytes, so it is fetched once for all targets; a
wheel compiled from an sdist is recorded against that sdist and the suite it was built for, so
it is never built again; a pure-Python one (`*-none-any`) serves every suite.
Stored files are read-only; `copy_verified` finds one that was changed behind the cache's back.
"""

import hashlib
import json
import os
from pathlib import Path

from builders.errors import StackdebError
from builders.manifest import write_json


PURE = "any"


def is_pure(wheel_filename: str) -> bool:
    """A wheel for every Python 3 and platform: its tags end in -none-any."""
    return wheel_filename.removesuffix(".whl").endswith("-none-any")


class WheelCache:
    def __init__(self, root: Path):
        self.root = root / "artifacts"
        self.compiled_root = root / "compiled"
        self.incoming = root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str, filename: str) -> Path:
        return self.root / sha256[:2] / sha256 / filename

    def lookup(self, sha256: str) -> Path | None:
        folder = self.root / sha256[:2] / sha256
        found = list(folder.iterdir()) if folder.is_dir() else []
        return found[0] if found else None

    def store(self, tmp: Path, actual_sha256: str, filename: str, expected_sha256: str | None) -> Path:
        """Move a fetched or built file into the cache; a hash mismatch is an error."""
        if expected_sha256 and actual_sha256 != expected_sha256:
            tmp.unlink(missing_ok=True)
            raise StackdebError(
                f"hash mismatch for {filename}: the lock expects sha256 {expected_sha256}, "
                f"got {actual_sha256}",
                hint="the index served other bytes than were locked; nothing was stored. "
                     "If the upstream file really changed, re-run `stackdeb lock --force`")
        target = self.path(actual_sha256, filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
        return target

    def compiled(self, build_id: str, sdist_sha256: str) -> Path | None:
        """The wheel compiled from this sdist for this suite, or a pure-Python one from any."""
        for folder in (build_id, PURE):
            record = self.compiled_root / folder / f"{sdist_sha256}.json"
            if record.exists():
                data = json.loads(record.read_text())
                wheel = self.path(data["sha256"], data["filename"])
                if wheel.exists():
                    return wheel
        return None

    def record_compiled(self, build_id: str, sdist_sha256: str, wheel: Path) -> None:
        folder = PURE if is_pure(wheel.name) else build_id
        write_json(self.compiled_root / folder / f"{sdist_sha256}.json",
                   {"filename": wheel.name, "sha256": wheel.parent.name})


def copy_verified(path: Path, target: Path) -> str:
    """Copy a cached file, checking in the same pass that its bytes still match its address.

    A copy, not a link: a bundle must not change when the cache is damaged later.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as source, open(target, "wb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != path.parent.name:
        target.unlink()
        raise StackdebError(
            f"hash mismatch in the wheel cache: {path} has sha256 {digest.hexdigest()}",
            hint=f"the cached file was modified; delete {path.parent} and run again")
    return digest.hexdigest()
