"""Stage 4, publish: a signed reprepro repository kept in generations, switched atomically.

    <repo>/generations/<n>/     a whole reprepro base directory (conf, db, dists, pool) and
                                build-set.json; complete once renamed from <n>.partial
    <repo>/live -> generations/<n>
    <repo>/public/              what is served, all through live: dists (with by-hash indexes),
                                pool, the public key and the deb822 .sources snippets; never
                                conf or db
    <repo>/gnupg/               the signing key, created on first use ($STACKDEB_SIGNING_HOME
                                points at an existing GnuPG home instead)
    <repo>/history.json         every publish, promotion and rollback: who, when, what

A publish copies the live generation (pool files hard-linked, the rest copied), adds the
build set with reprepro, signs, verifies the signature, and only then replaces the `live`
symlink: killed at any point, the live repository is the old one or the new one, whole.
Publishers are serialized by a lock file.
"""

import getpass
import json
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

from builders import PROJECT_DIR, log, tools
from builders.byhash import add_by_hash
from builders.errors import StackdebError
from builders.filelock import exclusive
from builders.manifest import read_json, sha256_file, write_json
from builders.signing import KeySet, load_keys, next_keys, save_keys
from builders.statuspage import write_status_page
from builders.targets import Suite, get_suite
from builders.tools import gpg, reprepro

KEEP_GENERATIONS = 5
KEYRING_PACKAGE = "stackdeb-archive-keyring"
KEYRING_FILE = f"{KEYRING_PACKAGE}.gpg"


@dataclass(frozen=True)
class Deb:
    path: Path
    name: str
    version: str
    architecture: str
    sha256: str


def staging_suite(suite: Suite, release: str) -> str:
    return f"{suite.codename}-{release}-staging"


def tested_suite(suite: Suite, release: str) -> str:
    return f"{suite.codename}-{release}"


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


def validate_build_set(debs: list[Deb], suite: Suite, release: str) -> None:
    """Everything is checked before anything is written."""
    names = [d.name for d in debs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StackdebError(f"the build set has more than one version of {', '.join(twice)}")
    for deb in debs:
        if deb.architecture not in ("amd64", "all"):
            raise StackdebError(f"{deb.path.name} is for {deb.architecture}, not amd64")
        if not suite.built_for(deb.version) and deb.name != KEYRING_PACKAGE:
            raise StackdebError(f"{deb.path.name} was not built for {suite.codename} (its version "
                                f"{deb.version} does not end in {suite.version_marker}.<generation>)",
                                hint="publish each suite's packages to that suite")
        if release not in deb.version and deb.name != KEYRING_PACKAGE:
            raise StackdebError(f"{deb.path.name} was not built for release {release}")
        check_changes(deb)


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


class Repository:
    def __init__(self, root: Path, signing_home: Path | None = None):
        self.root = root
        self.generations_dir = root / "generations"
        self.live = root / "live"
        self.public = root / "public"
        self.gnupg = signing_home or Path(os.environ.get("STACKDEB_SIGNING_HOME") or root / "gnupg")

    @contextmanager
    def locked(self):
        """Serialize publishers: a second one waits for the first."""
        with exclusive(self.root / "publish.lock"):
            yield

    def generations(self) -> list[int]:
        if not self.generations_dir.exists():
            return []
        return sorted(int(p.name) for p in self.generations_dir.iterdir() if p.name.isdigit())

    def live_generation(self) -> int | None:
        return int(os.readlink(self.live).rsplit("/", 1)[1]) if self.live.is_symlink() else None

    def generation_dir(self, number: int) -> Path:
        return self.generations_dir / str(number)

    def keyring(self) -> Path:
        return self.public / KEYRING_FILE

    def switch_to(self, number: int) -> None:
        """Make a generation live in one rename. Everything served (indexes, pool, keyring,
        .sources) is reached through `live`, so it all changes in that same step."""
        tmp = self.root / ".live.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"generations/{number}")
        os.replace(tmp, self.live)
        self.public.mkdir(exist_ok=True)
        for entry in sorted(self.generation_dir(number).iterdir()):
            if entry.name in ("dists", "pool") or entry.suffix in (".gpg", ".sources", ".html"):
                self._link_public(entry.name)

    def _link_public(self, name: str) -> None:
        link = self.public / name
        if link.is_symlink() and os.readlink(link) == f"../live/{name}":
            return
        tmp = self.public / f".{name}.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"../live/{name}")
        os.replace(tmp, link)           # also over a file an older stackdeb wrote there

    def remove_partial(self) -> None:
        """A publish killed half-way leaves a .partial generation: never live, removed here."""
        for partial in self.generations_dir.glob("*.partial") if self.generations_dir.exists() else ():
            shutil.rmtree(partial, ignore_errors=True)

    def prune(self, keep: int) -> None:
        live = self.live_generation()
        for number in self.generations()[:-keep]:
            if number != live:
                shutil.rmtree(self.generation_dir(number), ignore_errors=True)

    @property
    def history_file(self) -> Path:
        return self.root / "history.json"

    @staticmethod
    def stamp(event: dict) -> dict:
        """An event with who made it and when, before it is recorded."""
        return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "by": os.environ.get("STACKDEB_USER") or getpass.getuser(), **event}

    def record(self, event: dict) -> None:
        entries = json.loads(self.history_file.read_text()) if self.history_file.exists() else []
        entries.append(event if "at" in event else self.stamp(event))
        write_json(self.history_file, entries)


def signing_keys(repo: Repository) -> KeySet:
    """The key that signs and the keys the keyring publishes (builders/signing.py)."""
    return load_keys(repo.root, repo.gnupg, configured=bool(os.environ.get("STACKDEB_SIGNING_HOME")))


def _new_generation(repo: Repository, suite: Suite, release: str, keys: KeySet) -> tuple[int, Path]:
    number = max(repo.generations(), default=0) + 1
    work = repo.generations_dir / f"{number}.partial"
    work.mkdir(parents=True)
    live = repo.live_generation()
    if live is not None:
        source = repo.generation_dir(live)
        for name in ("db", "dists"):
            if (source / name).exists():
                shutil.copytree(source / name, work / name, symlinks=True)
        if (source / "tested.json").exists():      # which build set the tested suite holds
            shutil.copy(source / "tested.json", work / "tested.json")
        if (source / "pool").exists():
            shutil.copytree(source / "pool", work / "pool", copy_function=os.link)
        for sources in source.glob("*.sources"):
            shutil.copy(sources, work / sources.name)
    gpg.export_public(repo.gnupg, keys.published, work / KEYRING_FILE)
    (work / "conf").mkdir()
    (work / "conf/distributions").write_text(Template((PROJECT_DIR / "repos/distributions").read_text())
                                              .substitute(suite=suite.codename, release=release, key=keys.sign_with,
                                                          staging=staging_suite(suite, release),
                                                          tested=tested_suite(suite, release)))
    return number, work


def _check_against_live(repo: Repository, debs: list[Deb], codename: str) -> list[Deb]:
    """Drop packages already published with the same content; refuse a version reused for
    other content."""
    live = repo.live_generation()
    if live is None:
        return debs
    listed = reprepro.list_packages(repo.generation_dir(live), codename, repo.gnupg)
    fresh = []
    for deb in debs:
        if listed.get(deb.name) == deb.version:
            pooled = next(repo.generation_dir(live).glob(f"pool/main/*/*/{deb.name}_{_no_epoch(deb.version)}_*.deb"), None)
            if pooled and sha256_file(pooled) != deb.sha256:
                raise StackdebError(f"{deb.name} {deb.version} is already published with other content",
                                    hint="a new build needs a new version (a new lock generation or catalog revision)")
            continue
        fresh.append(deb)
    return fresh


def _no_epoch(version: str) -> str:
    return re.sub(r"^\d+:", "", version)


def _keyring_deb(keys: KeySet, out_dir: Path) -> Path:
    """stackdeb-archive-keyring: the public keys for apt's Signed-By (two during a rotation)."""
    from builders.debpackage import MAINTAINER
    from builders.tools import dpkg_deb
    root = out_dir / "keyring-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/keyrings").mkdir(parents=True)
    shutil.copy(out_dir / KEYRING_FILE, root / f"usr/share/keyrings/{KEYRING_FILE}")
    version = keys.keyring_package_version
    (root / "DEBIAN/control").write_text(
        f"Package: {KEYRING_PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: {MAINTAINER}\n"
        f"Section: misc\nPriority: optional\nDescription: stackdeb archive signing key\n"
        f" The public key that signs the stackdeb repositories, for apt's Signed-By.\n")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (0, 0))
    deb = out_dir / f"{KEYRING_PACKAGE}_{version}_all.deb"
    dpkg_deb.build(root, deb, source_date_epoch=0)
    return deb


def _write_sources(work: Path, suite: Suite, release: str) -> None:
    for codename in (staging_suite(suite, release), tested_suite(suite, release)):
        (work / f"stackdeb-{codename}.sources").write_text(
            f"Types: deb\nURIs: http://REPOSITORY-HOST/\nSuites: {codename}\nComponents: main\n"
            f"Signed-By: /usr/share/keyrings/{KEYRING_PACKAGE}.gpg\n")


def _make_live(repo: Repository, work: Path, number: int, suite: Suite, release: str, key: str,
               build_set: dict, event: dict) -> None:
    """Export and sign the new generation, verify both suites' signatures, and only then
    make it live: the one way every change reaches the served repository."""
    reprepro.export(work, repo.gnupg)
    kept = [repo.generation_dir(n) / "dists" / codename / "Release" for n in repo.generations()
            for codename in (staging_suite(suite, release), tested_suite(suite, release))]
    add_by_hash(work / "dists", repo.gnupg, key, kept)
    _write_sources(work, suite, release)
    for codename in (staging_suite(suite, release), tested_suite(suite, release)):
        dist = work / "dists" / codename
        if not (gpg.verify(work / KEYRING_FILE, dist / "InRelease")
                and gpg.verify_detached(work / KEYRING_FILE, dist / "Release.gpg", dist / "Release")):
            raise StackdebError(f"the new {codename} InRelease does not verify with the archive key")
    write_json(work / "build-set.json", build_set)
    write_status_page(work, number, repo.history_file, event, repo.gnupg)
    os.sync()
    os.rename(work, repo.generation_dir(number))
    repo.switch_to(number)


def serve(root: Path, port: int) -> None:
    """Serve public/ (dists, pool, the key, .sources) on 127.0.0.1 until interrupted."""
    from builders.fileserver import start_file_server
    public = Repository(root).public
    if not public.exists():
        raise StackdebError("the repository is empty: publish a build set first")
    server = start_file_server(public, port)
    log.info(f"serving {public} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


def publish_build_set(root: Path, release: str, suite_name: str, paths: list[Path], *,
                      keep: int = KEEP_GENERATIONS) -> int:
    """Land a build set in the staging suite, whole or not at all; return the live generation."""
    suite = get_suite(suite_name)
    debs = [read_deb(p) for p in paths]
    validate_build_set(debs, suite, release)
    repo = Repository(root)
    with repo.locked():
        repo.remove_partial()
        keys = signing_keys(repo)
        repo.public.mkdir(parents=True, exist_ok=True)
        staging = staging_suite(suite, release)
        fresh = _check_against_live(repo, debs, staging)
        if not fresh:
            log.info(f"every package of the build set is already in {staging}: nothing to do")
            return repo.live_generation()
        number, work = _new_generation(repo, suite, release, keys)
        keyring = _keyring_deb(keys, work)
        reprepro.includedeb(work, staging, [d.path for d in fresh] + [keyring], repo.gnupg)
        reprepro.includedeb(work, tested_suite(suite, release), [keyring], repo.gnupg)
        keyring.unlink()
        shutil.rmtree(work / "keyring-root")
        event = repo.stamp({"action": "publish", "generation": number, "suite": staging,
                            "packages": {d.name: d.version for d in debs}})
        _make_live(repo, work, number, suite, release, keys.sign_with, {
            "release": release, "suite": suite.codename, "generation": number,
            "packages": {d.name: d.version for d in debs}}, event)
        repo.record(event)
        repo.prune(keep)
    log.info(f"published {len(fresh)} packages to {staging}: generation {number} is live")
    return number


def rollback(root: Path) -> int:
    repo = Repository(root)
    with repo.locked():
        live = repo.live_generation()
        older = [n for n in repo.generations() if live is not None and n < live]
        if not older:
            raise StackdebError("there is no earlier generation to roll back to")
        _check_signed_by_published_keys(repo, older[-1])
        repo.switch_to(older[-1])
        repo.record({"action": "rollback", "from": live, "to": older[-1]})
    log.info(f"rolled back: generation {older[-1]} is live (was {live})")
    return older[-1]


def _check_signed_by_published_keys(repo: Repository, number: int) -> None:
    """A generation signed by a retired key would fail every client that dropped that key."""
    with tempfile.TemporaryDirectory(prefix="stackdeb-keys-") as scratch:
        published = Path(scratch) / "published.gpg"
        gpg.export_public(repo.gnupg, signing_keys(repo).published, published)
        unsigned = [p for p in sorted(repo.generation_dir(number).glob("dists/*/InRelease"))
                    if not gpg.verify(published, p)]
    if unsigned:
        raise StackdebError(f"generation {number} is signed by a key the archive keyring no longer "
                            f"carries ({unsigned[0].parent.name})",
                            hint="rolling back across a key rotation would break apt clients; "
                                 "publish the build set again instead")


def rotate_key(root: Path, release: str, suite_name: str, step: str) -> int:
    """One step of a signing key rotation (builders/signing.py), as a generation of its own."""
    suite = get_suite(suite_name)
    repo = Repository(root)
    with repo.locked():
        repo.remove_partial()
        live = repo.live_generation()
        if live is None:
            raise StackdebError("the repository is empty: publish a build set first")
        keys = next_keys(signing_keys(repo), step, repo.gnupg)
        number, work = _new_generation(repo, suite, release, keys)
        if step != "switch":      # the keyring package changes with the keys it carries
            keyring = _keyring_deb(keys, work)
            for codename in (staging_suite(suite, release), tested_suite(suite, release)):
                reprepro.includedeb(work, codename, [keyring], repo.gnupg)
            keyring.unlink()
            shutil.rmtree(work / "keyring-root")
        live_set = read_json(repo.generation_dir(live) / "build-set.json") or {}
        event = repo.stamp({"action": "rotate-key", "step": step, "generation": number,
                            "sign_with": keys.sign_with, "published": keys.published})
        _make_live(repo, work, number, suite, release, keys.sign_with, {**live_set, "generation": number}, event)
        save_keys(repo.root, keys)
        repo.record(event)
    log.info(f"key rotation, {step}: generation {number} is live, signed by {keys.sign_with[-16:]}, "
             f"keyring {keys.keyring_package_version}")
    return number


def build_set_of(repo: Repository, number: int, suite: Suite, release: str) -> dict:
    """Exactly what a generation's staging suite holds: its InRelease sha256 and every
    package's name, version, pool file and sha256 (what a verdict names, and promotion checks)."""
    base = repo.generation_dir(number)
    staging = staging_suite(suite, release)
    inrelease = base / "dists" / staging / "InRelease"
    if not inrelease.is_file():
        raise StackdebError(f"generation {number} has no {staging} suite",
                            hint=f"publish a build set for {release}/{suite.codename} first")
    packages = []
    for name, version in sorted(reprepro.list_packages(base, staging, repo.gnupg).items()):
        pooled = sorted(base.glob(f"pool/main/*/*/{name}_{_no_epoch(version)}_*.deb"))
        if len(pooled) != 1:
            raise StackdebError(f"generation {number}: {name} {version} is not in the pool once")
        packages.append({"name": name, "version": version, "file": str(pooled[0].relative_to(base)),
                         "sha256": sha256_file(pooled[0])})
    return {"generation": number, "suite": staging, "inrelease_sha256": sha256_file(inrelease),
            "packages": packages}


def live_build_set(root: Path, release: str, suite_name: str) -> dict:
    suite = get_suite(suite_name)
    repo = Repository(root)
    with repo.locked():
        live = repo.live_generation()
        if live is None:
            raise StackdebError("there is no build set in staging: the repository is empty",
                                hint=f"stackdeb publish --release {release} --suite {suite.codename}")
        return build_set_of(repo, live, suite, release)


def export_generation(root: Path, number: int, dest: Path) -> None:
    """A generation's dists and pool (hard links), never its conf or db: what a test cluster
    installs from, at a URL of its own that a later publish cannot change."""
    repo = Repository(root)
    with repo.locked():
        base = repo.generation_dir(number)
        if not base.is_dir():
            raise StackdebError(f"generation {number} no longer exists")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copytree(base / "dists", dest / "dists")
        shutil.copytree(base / "pool", dest / "pool", copy_function=os.link)
        shutil.copy(repo.keyring(), dest / repo.keyring().name)


def _promoted_generation(repo: Repository) -> int | None:
    live = repo.live_generation()
    state = read_json(repo.generation_dir(live) / "tested.json") if live is not None else None
    return (state or {}).get("build_set_generation")


def promote(root: Path, release: str, suite_name: str, verdict_path: Path, verdict_keyring: Path) -> int:
    """Copy to the tested suite exactly the build set a signed, passing verdict names, even if
    staging has moved on since the run; never one older than what is already promoted."""
    from builders.cluster.verdict import read_verified
    suite = get_suite(suite_name)
    repo = Repository(root)
    verdict = read_verified(verdict_path, verdict_keyring)
    if verdict.get("result") != "pass":
        failure = (verdict.get("failure") or {}).get("message", "")
        raise StackdebError(f"{verdict_path} is not a passing verdict (result: {verdict.get('result')}"
                            f"{': ' + failure if failure else ''})",
                            hint="only a build set whose cluster tests passed is promoted")
    target = verdict.get("target") or {}
    if (target.get("release"), target.get("suite")) != (release, suite.codename):
        raise StackdebError(f"the verdict is for {target.get('release')}/{target.get('suite')}, "
                            f"not {release}/{suite.codename}")
    named = verdict["build_set"]
    number = named["generation"]
    with repo.locked():
        if not repo.generation_dir(number).is_dir():
            raise StackdebError(f"the verdict's build set (generation {number}) no longer exists "
                                f"(kept: {', '.join(map(str, repo.generations()))})",
                                hint="run the cluster stage on the live build set")
        actual = build_set_of(repo, number, suite, release)
        if actual["inrelease_sha256"] != named["inrelease_sha256"] or \
                [(p["name"], p["version"], p["sha256"]) for p in actual["packages"]] != \
                [(p["name"], p["version"], p["sha256"]) for p in named["packages"]]:
            raise StackdebError(f"generation {number} is not the build set the verdict names: it changed "
                                "after the run", hint="nothing was promoted; test it again")
        promoted = _promoted_generation(repo)
        if promoted is not None and number < promoted:
            raise StackdebError(f"the verdict's build set (generation {number}) is older than the one "
                                f"already promoted (generation {promoted})", hint="nothing was promoted")
        if promoted == number:
            log.info(f"generation {number} is already the tested build set: nothing to do")
            return repo.live_generation()
        keys = signing_keys(repo)
        new, work = _new_generation(repo, suite, release, keys)
        tested = tested_suite(suite, release)
        reprepro.includedeb(work, tested, [repo.generation_dir(number) / p["file"] for p in named["packages"]],
                            repo.gnupg)
        live_set = read_json(repo.generation_dir(repo.live_generation()) / "build-set.json") or {}
        write_json(work / "tested.json", {"build_set_generation": number,
                                          "inrelease_sha256": named["inrelease_sha256"],
                                          "verdict_sha256": sha256_file(verdict_path)})
        event = repo.stamp({"action": "promote", "generation": new, "from": named["suite"], "to": tested,
                            "build_set_generation": number, "verdict": {
                                "sha256": sha256_file(verdict_path), "tests": len(verdict.get("tests", [])),
                                "tempest": verdict.get("tempest"),
                                "layout": (verdict.get("layout") or {}).get("name")}})
        _make_live(repo, work, new, suite, release, keys.sign_with, {**live_set, "generation": new}, event)
        repo.record(event)
    log.info(f"promoted the build set of generation {number} ({len(named['packages'])} packages) from "
             f"{named['suite']} to {tested}: generation {new} is live")
    return new


def status(root: Path, release: str, suite_name: str) -> str:
    suite = get_suite(suite_name)
    repo = Repository(root)
    live = repo.live_generation()
    if live is None:
        return "the repository is empty"
    base = repo.generation_dir(live)
    staging, tested = staging_suite(suite, release), tested_suite(suite, release)
    staged = reprepro.list_packages(base, staging, repo.gnupg)
    promoted = reprepro.list_packages(base, tested, repo.gnupg)
    lines = [f"live generation: {live} (kept: {', '.join(map(str, repo.generations()))})"]
    for name in sorted(set(staged) | set(promoted)):
        mark = "" if staged.get(name) == promoted.get(name) else "   <- differs"
        lines.append(f"  {name:32} staging {staged.get(name, '-'):32} tested {promoted.get(name, '-')}{mark}")
    return "\n".join(lines)
