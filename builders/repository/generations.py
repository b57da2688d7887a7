"""The repository's generations: each a whole reprepro base directory, made from the live one,
signed, verified, then switched to in one rename (the one way every change reaches what is
served); the targets' states and what their suites hold."""

import getpass
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from string import Template

from builders import PROJECT_DIR
from builders.byhash import add_by_hash
from builders.errors import StackdebError
from builders.filelock import exclusive
from builders.manifest import read_json, sha256_file, write_json
from builders.outputs import fsync_directory, make_durable
from builders.signing import STATE_FILE, KeySet, load_keys
from builders.repository.indexes import suite_index
from builders.repository.page import write_status_page
from builders.targets import Suite, Target, get_suite
from builders.tools import gpg, reprepro


KEEP_GENERATIONS = 5         # the newest generations, and for each target its newest states
HISTORY_FILE = "history.json"
KEYRING_PACKAGE = "stackdeb-archive-keyring"
KEYRING_FILE = f"{KEYRING_PACKAGE}.gpg"




class Repository:
    def __init__(self, root: Path, signing_home: Path | None = None):
        self.root = root
        self.generations_dir = root / "generations"
        self.live = root / "live"
        self.public = root / "public"
        self.gnupg = signing_home or Path(os.environ.get("STACKDEB_SIGNING_HOME") or root / "gnupg")

    @contextmanager
    def locked(self):
        """Serialize publishers: a second one waits for the first. Generations are made only
        under this lock, so a .partial one found here is a killed writer's, and one left when
        the holder fails (a full disk, an error) is its own: both removed, never left to the
        next run."""
        with exclusive(self.root / "publish.lock"):
            self.remove_partial()
            try:
                yield
            except BaseException:
                self.remove_partial()
                raise

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


def new_generation(repo: Repository, keys: KeySet, adding: Target | None = None) -> tuple[int, Path, list[Target]]:
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


def no_epoch(version: str) -> str:
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


def include_keyring(repo: Repository, work: Path, keys: KeySet, targets: list[Target]) -> None:
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


def make_live(repo: Repository, work: Path, number: int, changed: list[Target], key: str,
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


def suite_packages(repo: Repository, base: Path, codename: str) -> list[dict]:
    """Every package of one suite in a generation: name, version, pool file, sha256."""
    packages = []
    for name, version in sorted(suite_index(base, codename).items()):
        pooled = sorted(base.glob(f"pool/main/*/*/{name}_{no_epoch(version)}_*.deb"))
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
            "packages": suite_packages(repo, base, staging)}


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
        held = suite_packages(repo, base, tested) if (base / "dists" / tested / "InRelease").is_file() else []
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
