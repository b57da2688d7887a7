"""Say which files differ between two .deb files (when they are not bit-identical)."""

import hashlib
import io
import tarfile
from pathlib import Path

from builders.tools import dpkg_deb


def _members(deb: Path, part: str) -> dict[str, str]:
    """name -> digest of content and metadata, for the control or data part of a .deb."""
    raw = dpkg_deb.tar_of(deb, part)
    members = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        for info in archive:
            data = archive.extractfile(info).read() if info.isfile() else info.linkname.encode()
            meta = f"{info.mode:o} {info.uid}:{info.gid} {info.mtime} {info.type!r}".encode()
            members[info.name] = hashlib.sha256(meta + b"\0" + data).hexdigest()
    return members


def deb_differences(first: Path, second: Path, limit: int = 40) -> list[str]:
    differences = []
    for part in ("control", "data"):
        a, b = _members(first, part), _members(second, part)
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                state = "only in first" if name not in b else "only in second" if name not in a else "differs"
                differences.append(f"{part}: {name} ({state})")
    return differences[:limit] or ["the archives differ only in their ar/tar framing"]
