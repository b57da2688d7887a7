"""The packages a publish is given, checked before anything is written: what they are, that
they are whole, built by stackdeb for this target (or vouched for), and new."""

import os
from dataclasses import dataclass
from pathlib import Path

from builders import tools
from builders.errors import StackdebError
from builders.manifest import read_json, sha256_file
from builders.targets import Target
from builders.tools import dpkg_deb, gpg
from builders.repository.indexes import suite_index
from builders.repository.generations import KEYRING_PACKAGE, Repository, no_epoch




@dataclass(frozen=True)
class Deb:
    path: Path
    name: str
    version: str
    architecture: str
    sha256: str


def read_deb(path: Path) -> Deb:
    if not path.is_file():
        raise StackdebError(f"{path} does not exist")
    wanted = ["Package", "Version", "Architecture", "Section", "Priority"]
    result = tools.run("dpkg-deb", ["--field", str(path), *wanted], what=str(path), fix="",
                       ok_codes=(0, 1, 2))
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    if result.returncode or not {"Package", "Version", "Architecture"} <= set(fields):
        raise StackdebError(f"{path.name} is not a valid Debian package (dpkg-deb cannot read it)",
                            hint="rebuild it; nothing was published")
    missing = [f for f in wanted if f not in fields]
    if missing:
        raise StackdebError(f"{path.name} has no {' or '.join(missing)} field, which the repository needs")
    return Deb(path, fields["Package"], fields["Version"], fields["Architecture"], sha256_file(path))


def validate_build_set(debs: list[Deb], target: Target) -> None:
    """Everything is checked before anything is written."""
    suite, release = target.suite, target.release
    names = [d.name for d in debs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StackdebError(f"the build set has more than one version of {', '.join(twice)}")
    for deb in debs:
        named = deb.path.name.split("_")
        if named[0] != deb.name or named[1:2] != [deb.version.split(":", 1)[-1]]:
            raise StackdebError(f"{deb.path.name}: its control file says {deb.name} {deb.version}, its file name "
                                "says otherwise", hint="a package's file is NAME_VERSION_ARCH.deb; nothing was "
                                                       "published")
        if deb.architecture not in ("amd64", "all"):
            raise StackdebError(f"{deb.path.name} is for {deb.architecture}, not amd64")
        if not suite.built_for(deb.version) and deb.name != KEYRING_PACKAGE:
            raise StackdebError(f"{deb.path.name} was not built for {suite.codename} (its version "
                                f"{deb.version} does not end in {suite.version_marker}.<generation>)",
                                hint="publish each suite's packages to that suite")
        if release not in deb.version and deb.name != KEYRING_PACKAGE:
            raise StackdebError(f"{deb.path.name} was not built for release {release}")
        check_changes(deb)


def check_provenance(debs: list[Deb], foreign: set[Path]) -> None:
    """Every package is what a stackdeb build produced: its build record (the manifest.json
    the bundle or package stage writes beside it) names it with this sha256. A package that
    no build recorded is taken only when the caller vouches for it (`foreign`), and only
    whole: every member of the archive readable. (Recorded packages are read whole too,
    before they are written into a generation, unless lintian already did: publish_build_set.)"""
    for deb in debs:
        if deb.path.resolve() in foreign:
            check_whole(deb)
            continue
        record = read_json(deb.path.parent / "manifest.json") or {}
        if record.get("deb") != deb.path.name:
            raise StackdebError(f"{deb.path.name} was not produced by a stackdeb build (no build record "
                                f"names it in {deb.path.parent})",
                                hint="build it with stackdeb bundle or package, or pass it with --foreign "
                                     "if you vouch for where it comes from")
        if record.get("sha256") != deb.sha256:
            raise StackdebError(f"{deb.path.name} is not what its build recorded (sha256 {deb.sha256[:16]}..., "
                                f"recorded {str(record.get('sha256'))[:16]}...): it changed after the build",
                                hint="rebuild it; nothing was published")


def read_whole_by_lintian(deb: Deb) -> bool:
    """lintian judged these very bytes clean (the sha256 was checked against the same record),
    and it unpacks every member to do so: reading them all again would prove nothing more."""
    return (read_json(deb.path.parent / "manifest.json") or {}).get("lintian") == "clean"


def check_whole(deb: Deb) -> None:
    """Read every member of the archive: a truncated or corrupt payload fails here, before
    anything is written."""
    detail = dpkg_deb.unreadable(deb.path)
    if detail:
        raise StackdebError(f"{deb.path.name} is not whole: {detail}", hint="rebuild it; nothing was published")


def check_changes(deb: Deb) -> None:
    """The .changes dpkg-buildpackage wrote beside a package, when there is one: it must list
    the package and its .buildinfo with their sha256, and when it is signed, the signature
    must verify against the uploaders' keyring ($STACKDEB_UPLOADERS_KEYRING)."""
    from debian.deb822 import Changes
    upstream_version = deb.version.split(":", 1)[-1]
    for path in sorted(deb.path.parent.glob(f"{deb.name}_{upstream_version}_*.changes")):
        text = path.read_text(errors="replace")
        if text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
            keyring = os.environ.get("STACKDEB_UPLOADERS_KEYRING")
            if not keyring:
                raise StackdebError(f"{path.name} is signed but no uploaders' keyring is configured",
                                    hint="set STACKDEB_UPLOADERS_KEYRING to the keyring of who may upload")
            if not gpg.verify(Path(keyring), path):
                raise StackdebError(f"{path.name}: the signature does not verify against {keyring}",
                                    hint="a build set is published only as its builder signed it")
        listed = {entry["name"]: entry["sha256"] for entry in Changes(text).get("Checksums-Sha256", [])}
        if deb.path.name not in listed:
            raise StackdebError(f"{path.name} does not list {deb.path.name}")
        for name, expected in listed.items():
            member = path.parent / name
            if (name == deb.path.name or name.endswith(".buildinfo")) and member.exists() \
                    and sha256_file(member) != expected:
                raise StackdebError(f"{name} does not match its checksum in {path.name}: it changed after the build",
                                    hint="rebuild the package; nothing was published")


def check_against_live(repo: Repository, debs: list[Deb], codename: str) -> list[Deb]:
    """Drop packages already published with the same content; refuse a version reused for
    other content."""
    live = repo.live_generation()
    if live is None or not (repo.generation_dir(live) / "dists" / codename).is_dir():
        return debs
    listed = suite_index(repo.generation_dir(live), codename)
    fresh = []
    for deb in debs:
        if listed.get(deb.name) == deb.version:
            pattern = f"pool/main/*/*/{deb.name}_{no_epoch(deb.version)}_*.deb"
            pooled = next(repo.generation_dir(live).glob(pattern), None)
            if pooled and sha256_file(pooled) != deb.sha256:
                raise StackdebError(f"{deb.name} {deb.version} is already published with other content",
                                    hint="a new build needs a new version (a new lock generation or catalog revision)")
            continue
        fresh.append(deb)
    return fresh
