"""By-hash indexes, so an apt client never sees a repository half-switched.

apt reads InRelease first and the indexes it names afterwards. With `Acquire-By-Hash: yes`
it fetches each index as `<dir>/by-hash/SHA256/<sha256>` instead of by name: a client that
read the InRelease of one generation and fetches its indexes after the switch to the next
still finds exactly the bytes it expects. reprepro 5.3 writes no by-hash indexes, so they
are added here after each export, the Release file gains the field and is signed again.
An old index stays as long as a generation that names it is kept for rollback.
"""

import os
from pathlib import Path

from builders.tools import gpg

HASH_FIELDS = {"SHA256": "SHA256", "SHA512": "SHA512"}     # Release field -> by-hash folder
FIELD = "Acquire-By-Hash: yes"


def release_hashes(release: Path) -> dict[str, list[tuple[str, str]]]:
    """folder name -> [(digest, relative path)] for the strong hash sections of a Release file."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in release.read_text().splitlines():
        if not line.startswith(" "):
            name = line.split(":", 1)[0]
            current = HASH_FIELDS.get(name)
            continue
        if current:
            digest, _size, path = line.split()
            sections.setdefault(current, []).append((digest, path))
    return sections


def add_by_hash(dists: Path, home: Path, key: str, keep_named_by: list[Path], suites: list[str]) -> None:
    """For each of `suites` in `dists`: link each index into by-hash, keep old ones that a
    Release in `keep_named_by` (the generations kept) still names, add the field, sign again."""
    kept = {digest for other in keep_named_by if other.is_file()
            for entries in release_hashes(other).values() for digest, _ in entries}
    for release in sorted(dists / suite / "Release" for suite in suites):
        suite = release.parent
        hashes = release_hashes(release)
        current = set()
        for folder, entries in hashes.items():
            for digest, path in entries:
                index = suite / path
                if not index.is_file() or index.name == "Release":
                    continue
                current.add(digest)
                target = index.parent / "by-hash" / folder / digest
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(index, target)
        for old in suite.glob("**/by-hash/*/*"):
            if old.name not in current and old.name not in kept:
                old.unlink()
        _mark_and_sign(release, home, key)


def _mark_and_sign(release: Path, home: Path, key: str) -> None:
    lines = release.read_text().splitlines()
    if FIELD not in lines:
        at = next((i for i, line in enumerate(lines) if line.rstrip(":") in ("MD5Sum", "SHA1", "SHA256")),
                  len(lines))
        lines.insert(at, FIELD)
        release.write_text("\n".join(lines) + "\n")
    gpg.clear_sign(home, key, release, release.with_name("InRelease"))
    gpg.detach_sign(home, key, release, release.with_name("Release.gpg"))
