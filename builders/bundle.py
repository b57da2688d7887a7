"""Stage 2, bundle: every locked artifact, fetched or compiled once, as one wheelhouse and .deb.

    build/bundles/<release>-<suite>/           (replaced whole: builders/outputs.py)
        wheelhouse/wheels/*.whl                 every wheel of the lock, for the target
        wheelhouse/simple/                      a PEP 503 index of them (relative links)
        wheelhouse/requirements/<service>.txt   hash-pinned install list per service
        wheelhouse/manifest.json                name, version, sha256, downloaded or compiled
        openstack-wheels-<release>_<version>_amd64.deb
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from builders import log
from builders.catalog import Catalog
from builders.debpackage import build_wheels_deb
from builders.errors import StackdebError
from builders.index import IndexFile, PackageIndex, download
from builders.lockfile import Lock, Pin, read_lock
from builders.manifest import is_current, read_json, sha256_file, sha256_json, write_json
from builders.outputs import replacing
from builders.pipconfig import configured_index_url
from builders.project import Project
from builders.targets import Suite
from builders.compiler import Compiler
from builders.wheelcache import WheelCache, copy_verified
from builders.wheelcheck import check_service_wheels

FORMAT = 1  # bump when the wheelhouse layout changes, so old bundles are rebuilt


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    filename: str
    sha256: str
    origin: str                    # downloaded or compiled
    source_sha256: str | None      # the sdist a compiled wheel came from
    path: Path


def supported_tags(suite: Suite) -> list[Tag]:
    """Tags a wheel may carry for this suite, best first (linux_x86_64: compiled here)."""
    version = tuple(int(p) for p in suite.python.split("."))
    platforms = suite.manylinux_platforms + ["linux_x86_64"]
    return [*cpython_tags(version, abis=[suite.python_tag, "abi3", "none"], platforms=platforms),
            *compatible_tags(version, interpreter=suite.python_tag, platforms=platforms)]


def wheel_rank(filename: str, ranks: dict[Tag, int]) -> int | None:
    _, _, _, tags = parse_wheel_filename(filename)
    found = [ranks[t] for t in tags if t in ranks]
    return min(found) if found else None


def choose_file(pin: Pin, files: list[IndexFile], ranks: dict[Tag, int]) -> IndexFile:
    """The best wheel for the target among the locked files, else the locked sdist."""
    locked = [f for f in files if f.sha256 in pin.hashes]
    wheels = [(wheel_rank(f.filename, ranks), f) for f in locked if f.filename.endswith(".whl")]
    wheels = sorted((r, f.filename, f) for r, f in wheels if r is not None)
    if wheels:
        return wheels[0][2]
    sdists = [f for f in locked if f.filename.endswith((".tar.gz", ".zip"))]
    if sdists:
        return sdists[0]
    raise StackdebError(f"{pin.line}: none of its {len(pin.hashes)} locked files fits the target "
                        f"and there is no sdist to compile",
                        hint="the lock was made for another python or platform: re-run stackdeb lock")


class Fetcher:
    """Brings each pin's chosen file into the cache; index listings are cached per version."""

    def __init__(self, project: Project, index_url: str, ranks: dict[Tag, int]):
        self.cache = WheelCache(project.cache_dir)
        self.listings = project.cache_dir / "listings"
        self.index = PackageIndex(index_url)
        self.ranks = ranks

    def listing(self, pin: Pin) -> list[IndexFile]:
        path = self.listings / pin.name / f"{pin.version}.json"
        cached = read_json(path)
        if cached and set(pin.hashes) <= {f["sha256"] for f in cached["files"]}:
            return [IndexFile(**f) for f in cached["files"]]
        files = [f for f in self.index.files(pin.name) if f.sha256 in pin.hashes]
        write_json(path, {"files": [asdict(f) for f in files]})
        return files

    def fetch(self, pin: Pin) -> tuple[IndexFile, Path, bool]:
        """(chosen file, its path in the cache, whether it was downloaded now)."""
        chosen = choose_file(pin, self.listing(pin), self.ranks)
        cached = self.cache.lookup(chosen.sha256)
        if cached:
            return chosen, cached, False
        tmp, actual = download(chosen.url, self.cache.incoming, chosen.filename)
        return chosen, self.cache.store(tmp, actual, chosen.filename, chosen.sha256), True


def build_backends(target: Lock, fetched: dict[str, tuple[IndexFile, Path]]) -> dict[str, Path]:
    """The lock's build requirements (manifest `build_backends`), each as its fetched wheel."""
    backends = {}
    for line in target.manifest.get("build_backends", []):
        name = line.split("==", 1)[0]
        chosen, path = fetched[name]
        if not chosen.filename.endswith(".whl"):
            raise StackdebError(f"the build requirement {line} has no wheel for {target.suite.codename}",
                                hint="a build backend must come as a wheel: pin a version that has one in overrides.yaml")
        backends[line] = path
    return backends


def collect_artifacts(project: Project, target: Lock, index_url: str, jobs: int) -> list[Artifact]:
    ranks = {tag: i for i, tag in enumerate(supported_tags(target.suite))}
    fetcher = Fetcher(project, index_url, ranks)
    pins = sorted(target.pins.values(), key=lambda p: p.name)
    fetched: dict[str, tuple[IndexFile, Path]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done, (pin, (chosen, path, new)) in enumerate(
                zip(pins, pool.map(fetcher.fetch, pins)), 1):
            fetched[pin.name] = (chosen, path)
            kind = "sdist" if not chosen.filename.endswith(".whl") else "wheel"
            log.progress(done, len(pins), f"{pin.line}: {kind} {'downloaded' if new else 'cached'}")

    compiler = Compiler(project, target.suite, target.build_id, target.manifest["source_date_epoch"],
                        build_backends(target, fetched))
    to_compile = [p for p in pins if not fetched[p.name][0].filename.endswith(".whl")
                  and not fetcher.cache.compiled(target.build_id, fetched[p.name][0].sha256)]
    if to_compile:
        compiler.prepare([p.name for p in to_compile])
    artifacts = []
    for pin in pins:
        chosen, path = fetched[pin.name]
        if chosen.filename.endswith(".whl"):
            artifacts.append(Artifact(pin.name, pin.version, chosen.filename, chosen.sha256,
                                      "downloaded", None, path))
            continue
        wheel = fetcher.cache.compiled(target.build_id, chosen.sha256)
        if wheel is None:
            log.info(f"compiling {chosen.filename} for {target.suite.codename}")
            wheel = compiler.compile(path, fetcher.cache)
        artifacts.append(Artifact(pin.name, pin.version, wheel.name, wheel.parent.name,
                                  "compiled", chosen.sha256, wheel))
    return artifacts


def write_simple_index(wheelhouse: Path, artifacts: list[Artifact]) -> None:
    simple = wheelhouse / "simple"
    names = []
    for art in artifacts:
        page = simple / art.name / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(f'<!DOCTYPE html>\n<html><body>\n<a href="../../wheels/{art.filename}'
                        f'#sha256={art.sha256}">{art.filename}</a>\n</body></html>\n')
        names.append(art.name)
    links = "".join(f'<a href="{n}/">{n}</a>\n' for n in sorted(names))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")


def write_service_requirements(wheelhouse: Path, target: Lock, artifacts: list[Artifact]) -> None:
    by_line = {f"{a.name}=={a.version}": a for a in artifacts}
    folder = wheelhouse / "requirements"
    folder.mkdir()
    for service, lines in sorted(target.closures.items()):
        text = "".join(f"{line} --hash=sha256:{by_line[line].sha256}\n" for line in lines)
        (folder / f"{service}.txt").write_text(text)


def lay_out_wheelhouse(wheelhouse: Path, target: Lock, artifacts: list[Artifact]) -> None:
    """The wheelhouse the .deb ships: its bytes follow from the lock alone, as its version does
    (the lock generation). What the build was made from goes in the build record beside it."""
    wheels = wheelhouse / "wheels"
    wheels.mkdir(parents=True)
    for art in artifacts:
        copy_verified(art.path, wheels / art.filename)
    write_simple_index(wheelhouse, artifacts)
    write_service_requirements(wheelhouse, target, artifacts)
    write_json(wheelhouse / "manifest.json", {
        "release": target.release, "suite": target.suite.codename, "python": target.suite.python,
        "lock_generation": target.manifest.get("generation"),
        "artifacts": [{"name": a.name, "version": a.version, "filename": a.filename,
                       "sha256": a.sha256, "origin": a.origin, "source_sha256": a.source_sha256}
                      for a in artifacts],
    })


def bundle_inputs_digest(target: Lock, catalog: Catalog) -> str:
    """What the bundle is made from: the lock, and from the catalog only which distribution
    each service is (the bundle must hold its wheel); a packaging revision changes no wheel."""
    return sha256_json({
        "format": FORMAT, "lock": target.manifest.get("outputs"), "suite": target.suite.codename,
        "generation": target.manifest.get("generation"),
        "services": {service.name: service.distribution for service in catalog},
    })


def built_from(bundle_dir: Path) -> str | None:
    """The inputs digest in the bundle's build record."""
    return (read_json(bundle_dir / "manifest.json") or {}).get("inputs_digest")


def is_up_to_date(current: Path, digest: str) -> bool:
    """The bundle of `digest`'s inputs, with its .deb and every wheel its wheelhouse lists."""
    wheelhouse = read_json(current / "wheelhouse" / "manifest.json")
    record = read_json(current / "manifest.json") or {}
    if not wheelhouse or not record.get("deb"):
        return False
    return is_current(current, digest, [record["deb"], *(f"wheelhouse/wheels/{a['filename']}"
                                                          for a in wheelhouse["artifacts"])])


def build_bundle(project: Project, release: str, suite: str, *, index_url: str | None = None,
                 jobs: int = 4, force: bool = False) -> Path:
    started = time.monotonic()
    target = read_lock(project, release, suite)
    catalog = project.catalog()
    link = project.bundle_dir(target.release, suite)
    digest = bundle_inputs_digest(target, catalog)
    label = f"{target.release}/{suite}"
    if not force and link.exists() and is_up_to_date(link, digest):
        log.info(f"bundle {label} is up to date (lock unchanged): nothing to do "
                 f"[{time.monotonic() - started:.2f}s]")
        return link

    artifacts = collect_artifacts(project, target, index_url or configured_index_url(), jobs)
    check_service_wheels(catalog, target.manifest["services"], artifacts)
    link.parent.mkdir(parents=True, exist_ok=True)
    with replacing(link) as work:
        lay_out_wheelhouse(work / "wheelhouse", target, artifacts)
        deb = build_wheels_deb(work / "wheelhouse", work, target)
        # the build record publish checks the package against
        write_json(work / "manifest.json", {"deb": deb.name, "sha256": sha256_file(deb),
                                            "inputs_digest": digest})
    compiled = sum(a.origin == "compiled" for a in artifacts)
    size = sum(a.path.stat().st_size for a in artifacts) / 1e6
    log.info(f"bundle {label}: {len(artifacts)} wheels ({compiled} compiled), {size:.1f} MB "
             f"-> {link} [{time.monotonic() - started:.1f}s]")
    return link
