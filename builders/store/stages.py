"""What each stage hands the next through the artifact store, and how a worker puts it back
in place, so that workers share nothing but the master (builders/store/__init__.py).

    export bundle     the target's lock (its three files) and bundle (its build record and
                      the openstack-wheels .deb); the wheelhouse is not sent: it is inside
                      that .deb, and a worker unpacks it from there
    export SERVICE    every file of the service's package output (the .deb, its build record,
                      .buildinfo, logs, lintian's report)
    import            the entries an export printed, each fetched by sha256, checked, and put
                      in place with builders/outputs.py (whole or not at all)

An entry is {"kind": "lock" | "bundle" | "package", "service": ..., "file", "sha256", "size"}:
the small manifest that travels through Buildbot as a build property. A file a worker has
already (same name, same sha256) is taken from where it is, not fetched again.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

from builders import log
from builders.bundle import built_from, bundle_inputs_digest, read_lock, is_up_to_date
from builders.debpackage import install_dir
from builders.errors import StackdebError
from builders.manifest import read_json, sha256_file
from builders.outputs import replacing, using
from builders.project import Project
from builders.tools import dpkg_deb
from builders.store.client import StoreClient
from builders.targets import Target

KINDS = ("lock", "bundle", "package")
LOCK_FILES = {"lock.txt", "closures.json", "manifest.json"}
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class _AlreadyHere(Exception):
    """Raised inside `replacing` when, under the writers' lock, the outputs turn out to be the
    wanted ones already (another import put them there meanwhile): nothing is switched."""


def _lock_dir(project: Project, target: Target) -> Path:
    return project.lock_dir(target.release, target.suite.codename)


def _package_dir(project: Project, target: Target, service: str) -> Path:
    return project.target_dir("packages", target) / service


def _files(directory: Path, names: list[str] | None = None) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and (names is None or p.name in names))


def _put(client: StoreClient, kind: str, paths: list[Path], service: str | None = None) -> list[dict]:
    entries = []
    for path in paths:
        entry = {"kind": kind, **client.put(path)}
        if service:
            entry["service"] = service
        entries.append(entry)
    return entries


def export_bundle(project: Project, target: Target, client: StoreClient) -> list[dict]:
    """The target's lock and bundle as this worker has them; nothing for what it lacks (a
    worker that never locked the target exports nothing, and the next lock starts afresh)."""
    lock_dir, bundle_dir = _lock_dir(project, target), project.target_dir("bundles", target)
    if not (lock_dir / "lock.txt").is_file():
        return []
    with using(lock_dir):
        entries = _put(client, "lock", _files(lock_dir, sorted(LOCK_FILES)))
    if bundle_dir.is_dir():
        with using(bundle_dir):
            locked = read_lock(project, target.release, target.suite.codename)
            if is_up_to_date(bundle_dir, bundle_inputs_digest(locked, project.catalog())):
                entries += _put(client, "bundle", [bundle_dir / "manifest.json",
                                                   *bundle_dir.glob("openstack-wheels-*.deb")])
    return entries


def export_packages(project: Project, target: Target, services: list[str], client: StoreClient) -> list[dict]:
    entries = []
    for service in project.catalog().select(services):
        out = _package_dir(project, target, service.name)
        if not (out / "manifest.json").is_file():
            raise StackdebError(f"{service.package_name} has not been built for {target.label}: nothing to upload",
                                hint=f"run: stackdeb package --release {target.release} "
                                     f"--suite {target.suite.codename} {service.name}")
        with using(out):
            entries += _put(client, "package", _files(out), service.name)
    return entries


def import_artifacts(project: Project, target: Target, entries: list[dict], client: StoreClient) -> dict:
    """Put every entry in place; return what was fetched and what was here already."""
    groups = _grouped(entries)
    done = {"fetched": 0, "kept": 0}
    if "lock" in groups:
        lock = groups.pop("lock")
        if {entry["file"] for entry in lock} != LOCK_FILES:
            raise StackdebError(f"--artifacts: a lock is {', '.join(sorted(LOCK_FILES))}, got "
                                f"{', '.join(sorted(entry['file'] for entry in lock))}")
        _replace_if_changed(_lock_dir(project, target), lock, client, done)
    if "bundle" in groups:
        _import_bundle(project, target, groups.pop("bundle"), client, done)
    for (_, service), group in sorted(groups.items(), key=lambda item: str(item[0])):
        project.catalog().select([service])             # an unknown service is refused by name
        _replace_if_changed(_package_dir(project, target, service), group, client, done)
    return done


def _grouped(entries) -> dict:
    if not isinstance(entries, list):
        raise StackdebError("--artifacts: expected the JSON list an export printed")
    groups: dict = {}
    for entry in entries:
        if (not isinstance(entry, dict) or entry.get("kind") not in KINDS
                or not isinstance(entry.get("file"), str) or not isinstance(entry.get("sha256"), str)):
            raise StackdebError(f"--artifacts: not an artifact entry: {str(entry)[:120]}")
        name = entry["file"]
        if not FILE_NAME.fullmatch(name):
            raise StackdebError(f"--artifacts: the file name {name[:80]!r} is refused")
        if not SHA256.fullmatch(entry["sha256"]):
            raise StackdebError(f"--artifacts: {name}'s sha256 {entry['sha256'][:80]!r} is not 64 hex digits")
        if entry["kind"] == "package":
            if not isinstance(entry.get("service"), str):
                raise StackdebError(f"--artifacts: the package file {name} names no service")
            key = ("package", entry["service"])
        else:
            key = entry["kind"]
        if any(other["file"] == name for other in groups.get(key, [])):
            raise StackdebError(f"--artifacts: {name} is named twice")
        groups.setdefault(key, []).append(entry)
    return groups


def _holds(directory: Path, entries: list[dict]) -> bool:
    """Whether `directory` has exactly these files with these bytes already."""
    if not directory.is_dir():
        return False
    present = {p.name for p in directory.iterdir() if p.is_file()}
    wanted = {entry["file"] for entry in entries}
    return present >= wanted and all(sha256_file(directory / e["file"]) == e["sha256"] for e in entries)


def _fetch(client: StoreClient, entry: dict, into: Path, have: Path, done: dict) -> Path:
    """The entry's bytes at into/FILE: linked from `have` when it holds them, else fetched."""
    dest, old = into / entry["file"], have / entry["file"]
    if old.is_file() and sha256_file(old) == entry["sha256"]:
        os.link(old, dest)
        done["kept"] += 1
    else:
        client.get(entry["sha256"], dest)
        done["fetched"] += 1
    return dest


def _replace_if_changed(out: Path, entries: list[dict], client: StoreClient, done: dict) -> None:
    if _holds(out, entries):
        done["kept"] += len(entries)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(out) as staged:
            if _holds(out, entries):
                raise _AlreadyHere
            for entry in entries:
                _fetch(client, entry, staged, out, done)
    except _AlreadyHere:
        done["kept"] += len(entries)


def _import_bundle(project: Project, target: Target, entries: list[dict], client: StoreClient, done: dict) -> None:
    out = project.target_dir("bundles", target)
    debs = [e for e in entries if e["file"].endswith(".deb")]
    if len(debs) != 1 or not any(e["file"] == "manifest.json" for e in entries):
        raise StackdebError("--artifacts: a bundle is its manifest.json and one openstack-wheels .deb")
    locked = read_lock(project, target.release, target.suite.codename)
    digest = bundle_inputs_digest(locked, project.catalog())
    if _holds(out, entries) and is_up_to_date(out, digest):
        done["kept"] += len(entries)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(out) as staged:
            if _holds(out, entries) and is_up_to_date(out, digest):
                raise _AlreadyHere
            for entry in entries:
                _fetch(client, entry, staged, out, done)
            _check_bundle(staged, debs[0], digest, target)
            _unpack_wheelhouse(staged / debs[0]["file"], staged / "wheelhouse", target.release)
            if not is_up_to_date(staged, digest):
                raise StackdebError(f"the bundle's .deb for {target.label} does not hold its wheelhouse whole: "
                                    "not used")
    except _AlreadyHere:
        done["kept"] += len(entries)


def _check_bundle(staged: Path, deb: dict, digest: str, target: Target) -> None:
    """The bundle's record names this .deb and these bytes, and was made from this lock."""
    record = read_json(staged / "manifest.json") or {}
    if record.get("deb") != deb["file"] or record.get("sha256") != deb["sha256"]:
        raise StackdebError(f"the bundle record for {target.label} names {record.get('deb')} "
                            f"({str(record.get('sha256'))[:12]}), not {deb['file']} ({deb['sha256'][:12]}): not used")
    if built_from(staged) != digest:
        raise StackdebError(f"the bundle in the store for {target.label} was not built from this lock: not used",
                            hint="the export that named it mixed a lock and a bundle of different runs")


def _unpack_wheelhouse(deb: Path, wheelhouse: Path, release: str) -> None:
    """The wheelhouse the .deb ships, where a bundle keeps it (its bytes are the .deb's, whose
    sha256 was checked on arrival)."""
    with tempfile.TemporaryDirectory(dir=wheelhouse.parent, prefix=".unpack-") as scratch:
        dpkg_deb.extract(deb, Path(scratch))
        shutil.move(str(Path(scratch) / install_dir(release)), wheelhouse)
    log.info(f"{deb.name}: wheelhouse unpacked")
