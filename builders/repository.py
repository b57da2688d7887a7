"""Stage 4, publish: a signed reprepro repository kept in generations, switched atomically.

    <repo>/generations/<n>/     a whole reprepro base directory (conf, db, dists, pool) with
                                every target's two suites, build-set.json (each target's
                                packages) and tested.json (each target's promoted build set);
                                complete once renamed from <n>.partial
    <repo>/live -> generations/<n>
    <repo>/public/              what is served, all through live: dists (with by-hash indexes),
                                pool, the public key and the deb822 .sources snippets; never
                                conf or db
    <repo>/gnupg/               the signing key, created on first use ($STACKDEB_SIGNING_HOME
                                points at an existing GnuPG home instead)
    <repo>/live/history.json    every publish, promotion, rollback and key rotation: who,
                                when, what (inside the generation, so that it changes in the
                                same rename as what it tells; <repo>/history.json before)
    <repo>/live/signing.json    the signing key set, likewise (builders/signing.py)

A publish copies the live generation (pool files hard-linked, the rest copied), adds the
build set with reprepro, signs, verifies the signature, and only then replaces the `live`
symlink: killed at any point, the live repository is the old one or the new one, whole.
Publishers are serialized by a lock file.

Several targets (release x suite) share the repository, its pool and its key, each with a
staging and a tested suite. A change to one target (publish, promote, rollback) re-exports and
re-signs that target's suites only: every other target's files are carried into the new
generation byte for byte. Rollback is per target too: a new generation in which that target's
suites hold an earlier state again.
"""

import getpass
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

from builders import PROJECT_DIR, log, tools
from builders.byhash import add_by_hash
from builders.errors import StackdebError
from builders.filelock import exclusive
from builders.manifest import read_json, sha256_file, write_json
from builders.outputs import fsync_directory, make_durable
from builders.signing import STATE_FILE, KeySet, load_keys, next_keys, save_keys
from builders.statuspage import write_status_page
from builders.targets import Suite, Target, get_suite, get_target
from builders.tools import dpkg_deb, gpg, reprepro

KEEP_GENERATIONS = 5         # the newest generations, and for each target its newest states
HISTORY_FILE = "history.json"
KEYRING_PACKAGE = "stackdeb-archive-keyring"
KEYRING_FILE = f"{KEYRING_PACKAGE}.gpg"


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
                                "says otherwise", hint=f"a package's file is NAME_VERSION_ARCH.deb; nothing was "
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


def _read_whole_by_lintian(deb: Deb) -> bool:
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
        fsync_directory(self.root)
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

    def history(self) -> list[dict]:
        """Every change so far, oldest first: the live generation's record (or, in a repository
        an older stackdeb made, the one beside the generations)."""
        for path in (self.live / HISTORY_FILE, self.root / HISTORY_FILE):
            if path.is_file():
                return json.loads(path.read_text())
        return []

    @staticmethod
    def stamp(event: dict) -> dict:
        """An event with who made it and when, before it is recorded."""
        return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "by": os.environ.get("STACKDEB_USER") or getpass.getuser(), **event}


def signing_keys(repo: Repository) -> KeySet:
    """The key that signs and the keys the keyring publishes (builders/signing.py)."""
    state = repo.live if (repo.live / STATE_FILE).is_file() else repo.root     # root: an older stackdeb's
    return load_keys(state, repo.gnupg, configured=bool(os.environ.get("STACKDEB_SIGNING_HOME")))


def targets_state(base: Path) -> dict[str, dict]:
    """Per target name, what a generation's staging suite holds and since when: release,
    suite, packages and `state_from` (the generation that made this state)."""
    data = read_json(base / "build-set.json") or {}
    if "targets" in data:
        return data["targets"]
    if data.get("release"):          # a generation written before targets shared a repository
        name = f"{data['release']}-{data['suite']}"
        return {name: {"release": data["release"], "suite": data["suite"],
                       "packages": data.get("packages", {}), "state_from": data.get("generation")}}
    return {}


def tested_state(base: Path) -> dict[str, dict]:
    """Per target name, the build set its tested suite holds (generation, InRelease, verdict)."""
    data = read_json(base / "tested.json") or {}
    if "build_set_generation" in data:     # the single-target form
        names = list(targets_state(base))
        return {names[0]: data} if names else {}
    return data


def _target_of(entry: dict) -> Target:
    return Target(entry["release"], get_suite(entry["suite"]))


def _new_generation(repo: Repository, keys: KeySet, adding: Target | None = None) -> tuple[int, Path, list[Target]]:
    """A new generation, a copy of the live one, configured for every target it holds (and
    `adding`); returns its number, its directory and those targets."""
    number = max(repo.generations(), default=0) + 1
    work = repo.generations_dir / f"{number}.partial"
    work.mkdir(parents=True)
    live = repo.live_generation()
    targets = {}
    if live is not None:
        source = repo.generation_dir(live)
        for name in ("db", "dists"):
            if (source / name).exists():
                shutil.copytree(source / name, work / name, symlinks=True)
        for name in ("tested.json", "build-set.json", STATE_FILE):
            if (source / name).exists():
                shutil.copy(source / name, work / name)
        if (source / "pool").exists():
            shutil.copytree(source / "pool", work / "pool", copy_function=os.link)
        for sources in source.glob("*.sources"):
            shutil.copy(sources, work / sources.name)
        targets = {name: _target_of(entry) for name, entry in targets_state(source).items()}
    if adding is not None:
        targets[adding.name] = adding
    ordered = [targets[name] for name in sorted(targets)]
    gpg.export_public(repo.gnupg, keys.published, work / KEYRING_FILE)
    (work / "conf").mkdir()
    template = Template((PROJECT_DIR / "repos/distributions").read_text())
    (work / "conf/distributions").write_text("\n".join(
        template.substitute(suite=t.suite.codename, release=t.release, key=keys.sign_with,
                            staging=t.staging_suite, tested=t.tested_suite) for t in ordered))
    return number, work, ordered


def _check_against_live(repo: Repository, debs: list[Deb], codename: str) -> list[Deb]:
    """Drop packages already published with the same content; refuse a version reused for
    other content."""
    live = repo.live_generation()
    if live is None or not (repo.generation_dir(live) / "dists" / codename).is_dir():
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


def _include_keyring(repo: Repository, work: Path, keys: KeySet, targets: list[Target]) -> None:
    """The archive keyring package, the same file in every target's two suites."""
    keyring = _keyring_deb(keys, work)
    for target in targets:
        for codename in target.repo_suites:
            reprepro.includedeb(work, codename, [keyring], repo.gnupg)
    keyring.unlink()
    shutil.rmtree(work / "keyring-root")


def _write_sources(work: Path, target: Target) -> None:
    for codename in target.repo_suites:
        (work / f"stackdeb-{codename}.sources").write_text(
            f"Types: deb\nURIs: http://REPOSITORY-HOST/\nSuites: {codename}\nComponents: main\n"
            f"Signed-By: /usr/share/keyrings/{KEYRING_PACKAGE}.gpg\n")


def _make_live(repo: Repository, work: Path, number: int, changed: list[Target], key: str,
               targets: dict[str, dict], event: dict, keep: int = KEEP_GENERATIONS) -> None:
    """Export and sign the changed targets' suites (the others are carried over untouched),
    verify their signatures, and only then make the generation live: the one way every change
    reaches the served repository."""
    codenames = [codename for target in changed for codename in target.repo_suites]
    reprepro.export(work, repo.gnupg, codenames)
    kept = [repo.generation_dir(n) / "dists" / codename / "Release" for n in repo.generations()
            for codename in codenames]
    add_by_hash(work / "dists", repo.gnupg, key, kept, codenames)
    for target in changed:
        _write_sources(work, target)
    for codename in codenames:
        dist = work / "dists" / codename
        if not (gpg.verify(work / KEYRING_FILE, dist / "InRelease")
                and gpg.verify_detached(work / KEYRING_FILE, dist / "Release.gpg", dist / "Release")):
            raise StackdebError(f"the new {codename} InRelease does not verify with the archive key")
    write_json(work / "build-set.json", {"generation": number, "targets": targets})
    history = [*repo.history(), event]
    write_json(work / HISTORY_FILE, history)
    write_status_page(work, number, history, repo.gnupg)
    make_durable(work)
    os.rename(work, repo.generation_dir(number))
    repo.switch_to(number)
    _prune(repo, keep)


def _prune(repo: Repository, keep: int) -> None:
    """Keep the newest `keep` generations, and for each target a generation of each of its
    newest `keep` states (what its rollback can return to); remove the rest."""
    numbers = repo.generations()
    needed = set(numbers[-keep:]) | {repo.live_generation()}
    seen: dict[str, list] = {}
    for number in reversed(numbers):
        for name, entry in targets_state(repo.generation_dir(number)).items():
            states = seen.setdefault(name, [])
            if entry.get("state_from") not in states and len(states) < keep:
                states.append(entry.get("state_from"))
                needed.add(number)
    for number in numbers:
        if number not in needed:
            shutil.rmtree(repo.generation_dir(number), ignore_errors=True)


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
                      keep: int = KEEP_GENERATIONS, foreign: list[Path] = ()) -> int:
    """Land a build set in the target's staging suite, whole or not at all; return the live
    generation. Other targets' suites are not touched. `paths` are stackdeb builds (checked
    against their build records); `foreign` ones come from elsewhere and are checked whole."""
    target = get_target(release, suite_name)
    debs = [read_deb(p) for p in [*paths, *foreign]]
    validate_build_set(debs, target)
    vouched = {Path(p).resolve() for p in foreign}
    check_provenance(debs, vouched)
    repo = Repository(root)
    with repo.locked():
        repo.remove_partial()
        keys = signing_keys(repo)
        repo.public.mkdir(parents=True, exist_ok=True)
        fresh = _check_against_live(repo, debs, target.staging_suite)
        for deb in fresh:
            if deb.path.resolve() not in vouched and not _read_whole_by_lintian(deb):
                check_whole(deb)
        if not fresh:
            log.info(f"every package of the build set is already in {target.staging_suite}: nothing to do")
            return repo.live_generation()
        number, work, _ = _new_generation(repo, keys, adding=target)
        _include_keyring(repo, work, keys, [target])
        reprepro.includedeb(work, target.staging_suite, [d.path for d in fresh], repo.gnupg)
        packages = {d.name: d.version for d in debs}
        event = repo.stamp({"action": "publish", "target": target.name, "generation": number,
                            "suite": target.staging_suite, "packages": packages})
        state = targets_state(work)
        state[target.name] = {"release": target.release, "suite": target.suite.codename,
                              "packages": {**(state.get(target.name) or {}).get("packages", {}), **packages},
                              "state_from": number}
        _make_live(repo, work, number, [target], keys.sign_with, state, event, keep)
    log.info(f"published {len(fresh)} packages to {target.staging_suite}: generation {number} is live")
    return number


def _earlier_state(repo: Repository, target: Target, current_from: int) -> int | None:
    """The newest kept generation holding a state of `target` older than the live one."""
    for number in reversed(repo.generations()):
        entry = targets_state(repo.generation_dir(number)).get(target.name)
        if entry and entry.get("state_from") is not None and entry["state_from"] < current_from:
            return number
    return None


def rollback(root: Path, release: str, suite_name: str, *, keep: int = KEEP_GENERATIONS) -> int:
    """Give one target's two suites the state they had before its last change, in a new
    generation signed by the current key; other targets keep their bytes. Returns the new
    live generation."""
    target = get_target(release, suite_name)
    repo = Repository(root)
    with repo.locked():
        repo.remove_partial()
        live = repo.live_generation()
        current = targets_state(repo.generation_dir(live)).get(target.name) if live is not None else None
        if not current:
            raise StackdebError(f"the repository holds nothing for {target.label}",
                                hint=f"stackdeb publish --release {release} --suite {suite_name}")
        source = _earlier_state(repo, target, current["state_from"])
        if source is None:
            raise StackdebError(f"there is no earlier state of {target.label} to roll back to",
                                hint="the generations kept hold none (see stackdeb repo status)")
        keys = signing_keys(repo)
        number, work, _ = _new_generation(repo, keys)
        old = repo.generation_dir(source)
        for codename in target.repo_suites:
            reprepro.remove_all(work, codename, repo.gnupg)
            files = [old / p["file"] for p in _suite_packages(repo, old, codename)
                     if p["name"] != KEYRING_PACKAGE]
            if files:
                reprepro.includedeb(work, codename, files, repo.gnupg)
        _include_keyring(repo, work, keys, [target])
        tested = tested_state(work)
        tested.pop(target.name, None)
        if target.name in tested_state(old):
            tested[target.name] = tested_state(old)[target.name]
        write_json(work / "tested.json", tested)
        restored = targets_state(old)[target.name]
        state = {**targets_state(work), target.name: restored}
        event = repo.stamp({"action": "rollback", "target": target.name, "generation": number,
                            "from": live, "to": source, "state_from": restored["state_from"]})
        _make_live(repo, work, number, [target], keys.sign_with, state, event, keep)
    log.info(f"rolled back {target.label} to its state of generation {restored['state_from']}: "
             f"generation {number} is live (was {live})")
    return number


def rotate_key(root: Path, release: str, suite_name: str, step: str) -> int:
    """One step of a signing key rotation (builders/signing.py), as a generation of its own:
    every target's suites are signed again (the key is the archive's, not one target's)."""
    get_target(release, suite_name)
    repo = Repository(root)
    with repo.locked():
        repo.remove_partial()
        live = repo.live_generation()
        if live is None:
            raise StackdebError("the repository is empty: publish a build set first")
        keys = next_keys(signing_keys(repo), step, repo.gnupg)
        number, work, targets = _new_generation(repo, keys)
        save_keys(work, keys)     # goes live with the generation signed by them
        if step != "switch":      # the keyring package changes with the keys it carries
            _include_keyring(repo, work, keys, targets)
        event = repo.stamp({"action": "rotate-key", "step": step, "generation": number,
                            "sign_with": keys.sign_with, "published": keys.published})
        _make_live(repo, work, number, targets, keys.sign_with, targets_state(work), event)
    log.info(f"key rotation, {step}: generation {number} is live, signed by {keys.sign_with[-16:]}, "
             f"keyring {keys.keyring_package_version}")
    return number


def _suite_packages(repo: Repository, base: Path, codename: str) -> list[dict]:
    """Every package of one suite in a generation: name, version, pool file, sha256."""
    packages = []
    for name, version in sorted(reprepro.list_packages(base, codename, repo.gnupg).items()):
        pooled = sorted(base.glob(f"pool/main/*/*/{name}_{_no_epoch(version)}_*.deb"))
        if len(pooled) != 1:
            raise StackdebError(f"{base.name}: {name} {version} is not in the pool once")
        packages.append({"name": name, "version": version, "file": str(pooled[0].relative_to(base)),
                         "sha256": sha256_file(pooled[0])})
    return packages


def build_set_of(repo: Repository, number: int, suite: Suite, release: str) -> dict:
    """Exactly what a generation's staging suite holds: its InRelease sha256 and every
    package's name, version, pool file and sha256 (what a verdict names, and promotion checks)."""
    base = repo.generation_dir(number)
    staging = Target(release, suite).staging_suite
    inrelease = base / "dists" / staging / "InRelease"
    if not inrelease.is_file():
        raise StackdebError(f"generation {number} has no {staging} suite",
                            hint=f"publish a build set for {release}/{suite.codename} first")
    return {"generation": number, "suite": staging, "inrelease_sha256": sha256_file(inrelease),
            "packages": _suite_packages(repo, base, staging)}


def live_suites(root: Path, release: str, suite_name: str) -> tuple[dict, list[dict]]:
    """The live generation's build set (staging) and what its tested suite holds (each package's
    name, version, pool file and sha256; none before a first promotion), read together under
    the publishers' lock: one generation, both suites."""
    suite = get_suite(suite_name)
    repo = Repository(root)
    with repo.locked():
        live = repo.live_generation()
        if live is None:
            raise StackdebError("there is no build set in staging: the repository is empty",
                                hint=f"stackdeb publish --release {release} --suite {suite.codename}")
        build_set = build_set_of(repo, live, suite, release)
        base, tested = repo.generation_dir(live), Target(release, suite).tested_suite
        held = _suite_packages(repo, base, tested) if (base / "dists" / tested / "InRelease").is_file() else []
        return build_set, held


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


def _promoted_generation(repo: Repository, target: Target) -> int | None:
    live = repo.live_generation()
    state = tested_state(repo.generation_dir(live)).get(target.name) if live is not None else None
    return (state or {}).get("build_set_generation")


@dataclass(frozen=True)
class Promotion:
    generation: int                 # the live generation after it
    promoted: list[str]             # the packages copied to the tested suite
    not_covered: dict[str, str]     # the build set's venv packages left as they were, and why


def promote(root: Path, release: str, suite_name: str, verdict_path: Path, verdict_keyring: Path,
            proven: Callable[[list[dict]], None] | None = None,
            needs: dict[str, list[str]] | None = None) -> Promotion:
    """Copy to the tested suite, from the build set a signed, passing verdict names (even if
    staging has moved on since the run), exactly the venv packages that run installed and
    tested (builders/cluster/verdict.coverage), each beside the versions of the services it
    `needs` that the tested suite will hold (builders/cluster/needs), with the build set's
    bundle and keyring; every other service keeps the version already promoted. Never from a
    build set older than the one last promoted. `proven` refuses packages without their
    reproducibility and lintian proof (builders/proof)."""
    from builders.cluster.needs import with_their_needs
    from builders.cluster.verdict import VENV_PREFIX, coverage, disagreements, read_verified
    target = get_target(release, suite_name)
    suite = target.suite
    repo = Repository(root)
    verdict = read_verified(verdict_path, verdict_keyring)
    if verdict.get("result") != "pass":
        failure = (verdict.get("failure") or {}).get("message", "")
        raise StackdebError(f"{verdict_path} is not a passing verdict (result: {verdict.get('result')}"
                            f"{': ' + failure if failure else ''})",
                            hint="only a build set whose cluster tests passed is promoted")
    named_target = verdict.get("target") or {}
    if (named_target.get("release"), named_target.get("suite")) != (release, suite.codename):
        raise StackdebError(f"the verdict is for {named_target.get('release')}/{named_target.get('suite')}, "
                            f"not {target.label}")
    named = verdict["build_set"]
    number = named["generation"]
    wrong = disagreements(verdict)
    if wrong:
        raise StackdebError(f"the verdict disagrees with its own build set: {wrong[0]}"
                            f"{f' (and {len(wrong) - 1} more)' if len(wrong) > 1 else ''}",
                            hint="nothing was promoted; the run did not test the build set it names")
    covered, not_covered = coverage(verdict)
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
        promoted = _promoted_generation(repo, target)
        if promoted is not None and number < promoted:
            raise StackdebError(f"the verdict's build set (generation {number}) is older than the one "
                                f"already promoted (generation {promoted})", hint="nothing was promoted")
        tested = target.tested_suite
        live = repo.live_generation()
        already = reprepro.list_packages(repo.generation_dir(live), tested, repo.gnupg) if live is not None else {}
        covered, unmet = with_their_needs(covered, verdict, needs or {}, already)
        not_covered = {**not_covered, **unmet}
        if not covered:
            raise StackdebError(f"the verdict installed and tested none of its build set's services "
                                f"({len(not_covered)} not covered): nothing to promote",
                                hint="run the cluster on a layout that installs the services to promote "
                                     "and those they need")
        # the bundle and the keyring are no service: they go with the services built and signed with them
        chosen = covered + [p for p in named["packages"] if not p["name"].startswith(VENV_PREFIX)]
        if proven:
            proven(chosen)
        if all(already.get(p["name"]) == p["version"] for p in chosen):
            log.info("the tested suite already holds what this verdict covers: nothing to do")
            return Promotion(live, [], not_covered)
        keys = signing_keys(repo)
        new, work, _ = _new_generation(repo, keys)
        reprepro.includedeb(work, tested, [repo.generation_dir(number) / p["file"] for p in chosen], repo.gnupg)
        before = tested_state(work).get(target.name) or {}
        verdict_sha256 = sha256_file(verdict_path)
        write_json(work / "tested.json", {**tested_state(work), target.name: {
            "build_set_generation": number, "inrelease_sha256": named["inrelease_sha256"],
            "verdict_sha256": verdict_sha256,
            "packages": {**before.get("packages", {}), **{
                p["name"]: {"version": p["version"], "sha256": p["sha256"], "build_set_generation": number,
                            "tested_by": verdict_sha256} for p in chosen}}}})
        state = targets_state(work)
        state[target.name] = {**state[target.name], "state_from": new}
        event = repo.stamp({"action": "promote", "target": target.name, "generation": new,
                            "from": named["suite"], "to": tested,
                            "build_set_generation": number, "promoted": [p["name"] for p in chosen],
                            "not_covered": not_covered, "verdict": {
                                "sha256": verdict_sha256, "tests": len(verdict.get("tests", [])),
                                "tempest": verdict.get("tempest"),
                                "layout": (verdict.get("layout") or {}).get("name")}})
        _make_live(repo, work, new, [target], keys.sign_with, state, event)
    log.info(f"promoted {len(covered)} service(s) of generation {number} from {named['suite']} to {tested}: "
             f"{', '.join(p['name'] for p in chosen)}; generation {new} is live")
    if not_covered:
        log.info("left at their tested version (not covered by this run): "
                 + "; ".join(f"{name} ({why})" for name, why in sorted(not_covered.items())))
    return Promotion(new, [p["name"] for p in chosen], not_covered)


def status_data(root: Path, release: str, suite_name: str, verdict: Path | None = None) -> dict:
    """What the repository holds for a target, as data (`repo status --json`): per package its
    staging and tested versions, the verdict that installed its tested one (`tested_by`: its
    sha256; `proven`: with its layout and when it was promoted) and, for a package waiting in
    staging, why (`waiting`, from the target's last cluster run, `verdict`)."""
    from builders.cluster.report import waiting_reasons
    target = get_target(release, suite_name)
    repo = Repository(root)
    live = repo.live_generation()
    staging, tested = target.repo_suites
    data = {"target": target.label, "staging_suite": staging, "tested_suite": tested, "live_generation": live,
            "kept": repo.generations(), "published": False, "other_targets": [], "packages": {}, "history": []}
    if live is None:
        return data
    base = repo.generation_dir(live)
    data["other_targets"] = sorted(set(targets_state(base)) - {target.name})
    if target.name not in targets_state(base):
        return data
    staged = reprepro.list_packages(base, staging, repo.gnupg)
    promoted = reprepro.list_packages(base, tested, repo.gnupg)
    tested_by = {name: entry.get("tested_by") for name, entry in
                 ((tested_state(base).get(target.name) or {}).get("packages") or {}).items()}
    history = repo.history()
    promotions = {(e.get("verdict") or {}).get("sha256"): e for e in history
                  if e.get("action") == "promote" and e.get("target") == target.name}
    data["published"] = True
    data["packages"] = {name: {"staging": staged.get(name), "tested": promoted.get(name),
                               "tested_by": tested_by.get(name) if promoted.get(name) else None}
                        for name in sorted(set(staged) | set(promoted))}
    for name, entry in data["packages"].items():
        event = promotions.get(entry["tested_by"]) if entry["tested_by"] else None
        entry["proven"] = {"verdict": entry["tested_by"], "layout": event["verdict"].get("layout"),
                           "promoted_at": event["at"]} if event else None
    for name, why in waiting_reasons(data["packages"], verdict).items():
        data["packages"][name]["waiting"] = why
    data["history"] = [e for e in history if e.get("target") == target.name or e.get("action") == "rotate-key"][-5:]
    return data


def status(root: Path, release: str, suite_name: str, verdict: Path | None = None) -> str:
    data = status_data(root, release, suite_name, verdict)
    live, others = data["live_generation"], data["other_targets"]
    if live is None:
        return "the repository is empty"
    if not data["published"]:
        return (f"live generation: {live}; nothing published for {data['target']}"
                f"{' (targets: ' + ', '.join(others) + ')' if others else ''}")
    lines = [f"target {data['target']}: {data['staging_suite']} and {data['tested_suite']}",
             f"live generation: {live} (kept: {', '.join(map(str, data['kept']))})"
             f"{'; other targets: ' + ', '.join(others) if others else ''}"]
    for name, entry in data["packages"].items():
        mark = "" if entry["staging"] == entry["tested"] else "   <- differs"
        proof = f"  (verdict {entry['tested_by'][:12]})" if entry["tested_by"] else ""
        lines.append(f"  {name:32} staging {entry['staging'] or '-':32} tested {entry['tested'] or '-'}{proof}{mark}")
        if entry.get("waiting"):
            lines.append(f"  {'':32} waiting: {entry['waiting']}")
    if data["history"]:
        lines.append("history (newest last):")
        lines += [f"  {e['at']} {e['action']}{' ' + e['step'] if e.get('step') else ''} -> generation "
                  f"{e.get('generation')} by {e.get('by')}" for e in data["history"]]
    return "\n".join(lines)
