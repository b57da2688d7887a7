"""Stage 1, lock: one hash-pinned lock per target, plus each service's closure.

Inputs: the catalog (services and their extra requirements), the service versions of the
series (openstack/releases), upper-constraints (openstack/requirements) and the release's
overrides. Outputs, in requirements-bundles/<release>/<suite>/: lock.txt, closures.json and
manifest.json. The no-op check hashes exactly what the resolver would be given.
"""

import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from builders import log
from builders.constraints import Constraints, load_overrides
from builders.errors import StackdebError
from builders.index import PackageIndex, file_version
from builders.lockfile import closures, parse_lock, unhashed
from builders.manifest import (is_current, read_json, sha256_file, sha256_json, sha256_text, write_atomic,
                              write_json)
from builders.outputs import replacing, scratch
from builders.pipconfig import configured_index_url
from builders.project import Project
from builders.releases import Series, Source, find_series, service_version, upper_constraints
from builders.targets import Suite, get_suite
from builders.tools import piptools, uv

RESOLVERS = {"uv": uv.pip_compile, "pip-tools": piptools.pip_compile}

# Locked and bundled with the services but in no service's closure: the venv packages are
# built with the bundle's uv (packaging/templates/uv-pip).
BUILD_TOOLS = ["uv"]
BUILD_TOOLS_INPUT = "tools/build.in"
# What compiling sdists may install (setuptools, pbr, ...): locked like everything else, so the
# bundle compiles offline from hash-checked wheels (requirements-bundles/build-backends.txt).
BUILD_BACKENDS = "build-backends"
BUILD_BACKENDS_INPUT = f"tools/{BUILD_BACKENDS}.in"


def build_backend_lines(project: Project) -> list[str]:
    path = project.root / "requirements-bundles" / "build-backends.txt"
    if not path.exists():
        return []
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    for number, line in enumerate(lines, 1):
        if line and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", line):
            raise StackdebError(f"{path} line {number}: expected a project name, got '{line}'")
    return [line for line in lines if line]


@dataclass
class LockInputs:
    series: Series
    suite: Suite
    versions: dict[str, str]          # service -> version
    service_inputs: dict[str, str]    # "services/<name>.in" and the build tools -> requirement lines
    constraints: str
    constraints_origin: str
    overrides: list[str]
    resolver: str
    pinned: frozenset[str] = frozenset()    # services an override pins to a version

    def digest(self) -> str:
        return sha256_json({
            "services": self.service_inputs, "constraints": self.constraints,
            "python": self.suite.python, "platform": self.platform, "resolver": self.resolver,
        })

    @property
    def platform(self) -> str:
        return uv.resolver_platform(self.suite.glibc)


@dataclass
class LockResult:
    directory: Path
    changed: bool
    pins: int
    touched_services: list[str]
    generation: int          # what this run found or wrote, not what a later run may have
    sha256: str              # of lock.txt


def gather_inputs(project: Project, release: str, suite_name: str, releases: Source,
                  requirements: Source, resolver: str) -> LockInputs:
    if resolver not in RESOLVERS:
        raise StackdebError(f"unknown resolver '{resolver}'", hint=f"one of: {', '.join(RESOLVERS)}")
    suite = get_suite(suite_name)
    catalog = project.catalog()
    series = find_series(releases, release)
    overrides = load_overrides(project.release_dir(series.release_id) / "overrides.yaml")
    for pin in overrides.services:
        catalog.get(pin.service)
    versions = {svc.name: service_version(releases, series, svc.deliverable,
                                          overrides.service_version(svc.name)) for svc in catalog}
    uc = upper_constraints(requirements, series)
    constraints = Constraints(uc.text, f"upper-constraints.txt ({uc.origin})")
    applied = overrides.apply(constraints)
    service_inputs = {f"services/{svc.name}.in": "".join(
        line + "\n" for line in svc.requirement_lines(versions[svc.name])) for svc in catalog}
    service_inputs[BUILD_TOOLS_INPUT] = "".join(f"{tool}\n" for tool in BUILD_TOOLS)
    backends = build_backend_lines(project)
    if backends:
        service_inputs[BUILD_BACKENDS_INPUT] = "".join(f"{line}\n" for line in backends)
    return LockInputs(series, suite, versions, service_inputs, constraints.text(), uc.origin,
                      applied, resolver, frozenset(pin.service for pin in overrides.services))


def _header(inputs: LockInputs) -> str:
    lines = [
        f"stackdeb lock for {inputs.series.release_id} ({inputs.series.codename}) on "
        f"{inputs.suite.codename} (python {inputs.suite.python}), resolved with {inputs.resolver}",
        f"upper-constraints: {inputs.constraints_origin}",
        "services: " + ", ".join(f"{s} {v}" for s, v in inputs.versions.items()),
        *(f"override: {o}" for o in inputs.overrides),
        f"regenerate: stackdeb lock --release {inputs.series.release_id} --suite {inputs.suite.codename}",
    ]
    return "".join(f"# {line}\n" for line in lines)


def check_python_support(inputs: LockInputs, catalog, index: PackageIndex) -> None:
    """Every service's release must declare the suite's Python supported (its Requires-Python),
    or the target cannot exist: said here, naming the service, rather than as a resolver
    failure about some dependency."""
    python = inputs.suite.python
    services = sorted(inputs.versions.items())
    distributions = [catalog.get(service).distribution for service, _ in services]
    with ThreadPoolExecutor(8) as pool:          # one index page per service: read them together
        pages = list(pool.map(index.files, distributions))
    for (service, version), distribution, files in zip(services, distributions, pages):
        ranges = {f.requires_python for f in files if file_version(f) == version and f.requires_python}
        for spec in sorted(ranges):
            try:
                supported = SpecifierSet(spec).contains(python, prereleases=True)
            except InvalidSpecifier:
                continue              # the resolver judges what the index garbled
            if not supported:
                raise StackdebError(
                    f"{inputs.series.release_id} cannot be built for {inputs.suite.codename}: {distribution} "
                    f"{version} ({service}) supports Python {spec}, and {inputs.suite.codename} has Python {python}",
                    hint="choose a suite whose Python the release supports (docs/targets.md)")


def run_resolver(inputs: LockInputs, index_url: str, work_parent: Path) -> str:
    """Resolve in a scratch directory under `work_parent` (the build directory: a killed run's
    is removed by the next run that resolves), so annotations name stable relative paths."""
    if inputs.resolver == "pip-tools" and sys.version_info[:2] != tuple(map(int, inputs.suite.python.split("."))):
        raise StackdebError(f"pip-tools resolves for the interpreter it runs on (python "
                            f"{sys.version_info.major}.{sys.version_info.minor}), not {inputs.suite.python} "
                            f"for {inputs.suite.codename}", hint="use --resolver uv for this suite")
    with scratch(work_parent, f"lock-{inputs.series.release_id}-{inputs.suite.codename}-") as work:
        write_atomic(work / "constraints.txt", inputs.constraints)
        for name, text in inputs.service_inputs.items():
            write_atomic(work / name, text)
        RESOLVERS[inputs.resolver](
            work, list(inputs.service_inputs), "constraints.txt", "lock.txt",
            python=inputs.suite.python, platform=inputs.platform, index_url=index_url,
            what=f"the lock for {inputs.series.release_id}/{inputs.suite.codename}")
        return (work / "lock.txt").read_text()


def resolve_supported(inputs: LockInputs, catalog, index_url: str, work_parent: Path) -> str:
    """The resolver's output, once the suite's Python is known to be supported. Both wait on the
    index, so they run together; an unsupported Python is the error named even when the
    resolver fails too, since it is the cause."""
    with ThreadPoolExecutor(1) as pool:
        support = pool.submit(check_python_support, inputs, catalog, PackageIndex(index_url))
        try:
            return run_resolver(inputs, index_url, work_parent)
        finally:
            support.result()          # raises instead of the resolver's error, or of its success


def check_lock(text: str, inputs: LockInputs, catalog_dists: dict[str, str]) -> dict:
    pins = parse_lock(text, "resolver output")
    missing_hashes = unhashed(pins)
    if missing_hashes:
        raise StackdebError(f"the resolver left pins without hashes: {', '.join(missing_hashes)}")
    for tool in BUILD_TOOLS:
        if canonicalize_name(tool) not in pins:
            raise StackdebError(f"the lock does not pin the build tool {tool}")
    for service, dist in catalog_dists.items():
        pin = pins.get(canonicalize_name(dist))
        if not pin or pin.version != inputs.versions[service]:
            raise StackdebError(f"the lock does not pin {dist}=={inputs.versions[service]} for {service}")
    return pins


def check_no_downgrade(locked: dict[str, str], inputs: LockInputs, label: str) -> None:
    """A service's version never goes backwards in a new lock unless an override pins it
    there (with its reason): upstream data that lost a release must not quietly downgrade."""
    for service, version in sorted(inputs.versions.items()):
        before = locked.get(service)
        if not before or service in inputs.pinned:
            continue
        try:
            older = Version(version) < Version(before)
        except InvalidVersion:
            continue
        if older:
            raise StackdebError(
                f"{service} would go back from {before} to {version} in the lock for {label}",
                hint=f"check the releases data; to downgrade on purpose, pin it in overrides.yaml: "
                     f"services: {{{service}: {{version: {version}, reason: why}}}}")


def touched(old: dict | None, new: dict) -> list[str]:
    """Services whose closure differs between two closures.json contents."""
    old = old or {}
    return sorted(s for s in new if old.get(s) != new[s])


def service_builds(old_manifest: dict, old_closures: dict | None, new_closures: dict, tools: list[str],
                   generation: int, epoch: int) -> dict:
    """Per service, the lock generation and SOURCE_DATE_EPOCH its package is built with.

    They move only when what goes into that service's venv changes (its closure or the build
    tools), so a lock change rebuilds the services it touches and leaves the others at their
    version. A locked state not recorded yet (an older manifest) counts as unchanged when the
    closure is the same."""
    old_builds = old_manifest.get("service_builds") or {}
    old_closures = old_closures or {}
    builds = {}
    for service, closure in sorted(new_closures.items()):
        state = sha256_json({"closure": closure, "tools": tools})
        previous = old_builds.get(service) or (
            {"generation": old_manifest.get("generation"), "source_date_epoch": old_manifest.get("source_date_epoch"),
             "state": state} if old_closures.get(service) == closure and old_manifest.get("generation") else None)
        if previous and previous["state"] == state:
            builds[service] = previous
        else:
            builds[service] = {"generation": generation, "source_date_epoch": epoch, "state": state}
    return builds


def write_lock_files(directory: Path, lock_text: str, closures_: dict, manifest: dict) -> None:
    """lock.txt, closures.json and manifest.json (which records the other two's digests)."""
    write_atomic(directory / "lock.txt", lock_text)
    write_json(directory / "closures.json", closures_)
    outputs = {n: sha256_file(directory / n) for n in ("lock.txt", "closures.json")}
    write_json(directory / "manifest.json", {**manifest, "outputs": outputs})


def resolve_lock(project: Project, release: str, suite: str, releases: Source, requirements: Source,
                 *, resolver: str = "uv", force: bool = False, index_url: str | None = None) -> LockResult:
    started = time.monotonic()
    inputs = gather_inputs(project, release, suite, releases, requirements, resolver)
    out = project.lock_dir(inputs.series.release_id, suite)
    manifest = read_json(out / "manifest.json") or {}
    label = f"{inputs.series.release_id}/{suite}"
    for line in inputs.overrides:
        log.info(f"override: {line}")
    if not force and is_current(out, inputs.digest(), outputs=manifest.get("outputs", {})):
        log.info(f"lock {label} is up to date (inputs unchanged): nothing to do "
                 f"[{time.monotonic() - started:.2f}s]")
        return LockResult(out, False, manifest.get("pins", 0), [], manifest.get("generation", 0),
                          manifest["outputs"]["lock.txt"])

    check_no_downgrade(manifest.get("services") or {}, inputs, label)     # early: before minutes of resolving
    log.info(f"resolving {len(inputs.versions)} services for {label} with {resolver}")
    body = resolve_supported(inputs, project.catalog(), index_url or configured_index_url(),
                             project.build_dir / "scratch")
    catalog = project.catalog()
    pins = check_lock(body, inputs, {s.name: s.distribution for s in catalog})
    new_closures = closures(pins, list(inputs.versions))
    lock_text = _header(inputs) + body
    tools = sorted(pin.line for pin in pins.values() if pin.name in BUILD_TOOLS)
    with replacing(out) as staged:
        # Under the writers' lock, from what is there now: another run may have written since
        # this one began. Never backwards, and a generation number never names two locks.
        manifest = read_json(out / "manifest.json") or {}
        check_no_downgrade(manifest.get("services") or {}, inputs, label)
        old_closures = read_json(out / "closures.json")
        previous = out / "lock.txt"
        changed = not previous.exists() or previous.read_text() != lock_text
        generation = manifest.get("generation", 0) + (1 if changed else 0)
        epoch = int(time.time()) if changed else manifest.get("source_date_epoch")
        write_lock_files(staged, lock_text, new_closures, {
            "release": inputs.series.release_id, "codename": inputs.series.codename, "suite": suite,
            "resolver": resolver, "inputs_digest": inputs.digest(), "pins": len(pins),
            "services": inputs.versions, "upper_constraints": inputs.constraints_origin,
            "sources": {"releases": releases.commit(), "requirements": inputs.constraints_origin},
            "overrides": inputs.overrides, "generation": generation,
            "build_backends": closures(pins, [BUILD_BACKENDS])[BUILD_BACKENDS],
            "source_date_epoch": epoch,
            "service_builds": service_builds(manifest, old_closures, new_closures, tools, generation, epoch),
        })
    touched_services = touched(old_closures, new_closures)
    log.info(f"wrote {out}/lock.txt: {len(pins)} pins, generation {generation}; "
             f"services touched: {', '.join(touched_services) or 'none'} "
             f"[{time.monotonic() - started:.1f}s]")
    return LockResult(out, changed, len(pins), touched_services, generation, sha256_text(lock_text))
