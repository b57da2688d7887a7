"""Stage 3, package: one dh-virtualenv .deb per service, built offline in a clean chroot.

For each service: render debian/ from the catalog, then in an overlay of the target suite's
build chroot, with no network, install the target's openstack-wheels package (the only
source pip may use) and run dpkg-buildpackage. Then lintian judges the package (builders/lint)
while, with --check-reproducible, a second build runs beside it, and while the next services'
first builds run: several services keep both cores busy.

    build/packages/<release>-<suite>/<service>/
        venv-<service>_<version>_amd64.deb, .buildinfo, .changes
        build.log, lintian.txt, manifest.json
"""

import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from builders import log
from builders.bundle import Lock, built_from, bundle_inputs_digest, read_lock
from builders.catalog import Service
from builders.chroot import Chroot, build_chroot
from builders.debdiff import deb_differences
from builders.debian_dir import PackageTarget, render_source_tree, templates_digest
from builders.debpackage import wheels_package_version
from builders.errors import StackdebError
from builders.lint import judge, lintian_summary, lintian_version, summary_of
from builders.manifest import is_current, read_json, sha256_file, sha256_json, write_json
from builders.outputs import replacing, scratch, using
from builders.project import Project
from builders.proof import read_proof, record_proof
from builders.targets import Target, get_suite
from builders.tools.namespace import Bind, run_in_chroot

# Measured (docs/benchmarks.md): xz -0 is about ten times faster than the default xz -6
# for keystone, and bookworm's lintian accepts it (it rejects zstd).
COMPRESSION = ["-Zxz", "-z0"]

# lintian runs on one core and takes longer than the build it judges, so builds run ahead of
# their checks and two packages are judged at once: with the builds both cores stay busy, and
# once they are done both judge (docs/benchmarks.md, bench/package_all.py). A build waits while
# WAITING_BUILDS packages wait for or are in their checks: each holds its build tree.
JUDGES = 2
WAITING_BUILDS = 3


class Bundle:
    """The built bundle of a target, checked against the current lock."""

    def __init__(self, project: Project, target: Lock):
        self.dir = project.bundle_dir(target.release, target.suite.codename)
        label = f"{target.release}/{target.suite.codename}"
        self.manifest = read_json(self.dir / "wheelhouse/manifest.json")
        if not self.manifest:
            raise StackdebError(f"there is no bundle for {label}",
                                hint=f"run: stackdeb bundle --release {target.release} --suite {target.suite.codename}")
        if built_from(self.dir) != bundle_inputs_digest(target, project.catalog()):
            raise StackdebError(f"the bundle for {label} is older than its lock or the catalog",
                                hint=f"run: stackdeb bundle --release {target.release} --suite {target.suite.codename}")
        debs = list(self.dir.glob("openstack-wheels-*.deb"))
        if len(debs) != 1:
            raise StackdebError(f"the bundle for {label} has no openstack-wheels package",
                                hint="run stackdeb bundle --force")
        self.deb = debs[0]
        self.version = wheels_package_version(target.release, target.manifest["generation"],
                                              target.suite.version)
        self.artifacts = {f"{a['name']}=={a['version']}": a for a in self.manifest["artifacts"]}

    def requirements(self, service: str, closure: list[str]) -> str:
        """The service's closure, hash-pinned to the bundle's wheels; each must be there."""
        lines = []
        for pin in closure:
            art = self.artifacts.get(pin)
            if not art or not (self.dir / "wheelhouse/wheels" / art["filename"]).is_file():
                raise StackdebError(f"the bundle lacks {pin}, which {service} needs",
                                    hint="run: stackdeb bundle --force")
            lines.append(f"{pin} --hash=sha256:{art['sha256']}\n")
        return "".join(lines)


def package_target(target: Lock, service: Service, bundle: Bundle) -> PackageTarget:
    if service.name not in target.closures:
        raise StackdebError(f"the lock for {target.release}/{target.suite.codename} has no closure "
                            f"for {service.name}", hint="re-run stackdeb lock: the catalog changed")
    # Locks written before per-service builds were recorded: the lock's own generation.
    build = (target.manifest.get("service_builds") or {}).get(service.name) or target.manifest
    return PackageTarget(
        release=target.release, suite=target.suite,
        upstream_version=target.manifest["services"][service.name],
        lock_generation=build["generation"],
        source_date_epoch=build["source_date_epoch"],
        wheels_version=bundle.version,
        requirements=bundle.requirements(service.name, target.closures[service.name]),
        compression=COMPRESSION)


def inputs_digest(service: Service, target: PackageTarget, chroot: Chroot) -> str:
    """What the package's bytes depend on. Not the bundle's version: the same closure from a
    newer bundle gives the same venv, so a lock change rebuilds only the services it touches."""
    fields = asdict(target) | {"suite": target.suite.codename}
    del fields["wheels_version"]
    return sha256_json({"service": asdict(service), "target": fields,
                        "templates": templates_digest(), "chroot": chroot.name})


BUILD_SCRIPT = """\
cd {build_dir}/{source}
# The proof that the build is offline: the interfaces it can see, and their state.
echo "network interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')" > ../network.txt
dpkg -i /stackdeb/bundle/{wheels_deb} > /dev/null
if ! dpkg-buildpackage -b -us -uc > ../build.log 2>&1; then
    echo "dpkg-buildpackage failed; last lines of build.log:" >&2
    tail -n 40 ../build.log >&2
    exit 1
fi
"""


def build_once(project: Project, chroot: Chroot, service: Service, target: PackageTarget,
               bundle: Bundle, work: Path) -> Path:
    """Build the package in `work` (a fresh directory); return the .deb."""
    src = render_source_tree(service, target, work)
    # A build directory name of its own every time: reproducibility across paths is
    # exercised by every build, not only by the check.
    build_dir = f"/build/{work.name}"
    script = BUILD_SCRIPT.format(wheels_deb=bundle.deb.name, build_dir=build_dir, source=src.name)
    run_in_chroot(chroot.rootfs, chroot.scratch, script, network=False,
                  binds=[Bind(bundle.dir, "/stackdeb/bundle"), Bind(work, build_dir, read_only=False)],
                  what=f"{service.package_name} for {target.release}/{target.suite.codename}",
                  action="the build",
                  fix=f"read {work}/build.log; fix the catalog entry or the templates")
    debs = list(work.glob(f"{service.package_name}_*.deb"))
    if len(debs) != 1:
        raise StackdebError(f"the build of {service.package_name} produced {len(debs)} packages")
    return debs[0]


def prove(project: Project, chroot: Chroot, service: Service, target: PackageTarget, bundle: Bundle,
          deb: Path, sha256: str, work_dir: Path, lint: bool, reproducible: bool,
          report: Path | None = None) -> dict[str, int] | None:
    """lintian's verdict on `deb` (to `report`, by default beside it) and, with `reproducible`,
    a second build in another directory to compare: side by side, since lintian keeps one core
    busy and the build the other. Returns lintian's tags per severity, if it ran."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        again, counts = None, None
        if reproducible:
            (work_dir / "b").mkdir()
            log.info(f"{service.package_name}: building again in another directory to compare")
            again = pool.submit(build_once, project, chroot, service, target, bundle, work_dir / "b")
        if lint:
            counts = judge(project, chroot, deb, sha256, report or deb.parent / "lintian.txt")
        if again:
            check_reproducible(deb, sha256, again.result())
    return counts


def check_reproducible(first: Path, first_sha256: str, second: Path) -> None:
    if first_sha256 == sha256_file(second):
        return
    if shutil.which("diffoscope"):
        log.info(f"diffoscope {first.name}: run `diffoscope {first} {second}` for the full report")
    differences = deb_differences(first, second)
    raise StackdebError(f"{first.name} is not reproducible: two builds differ in\n  "
                        + "\n  ".join(differences),
                        hint="something in the build depends on the build path or time")


def publish_outputs(work: Path, out: Path) -> None:
    """Move the build outputs into place, replacing the previous ones in one step."""
    with replacing(out) as staged:
        for path in work.iterdir():
            if path.is_file():
                shutil.move(str(path), staged / path.name)


def package_services(project: Project, release: str, suite: str, names: list[str] | None, *,
                     reproducible: bool = False, lint: bool = True, force: bool = False) -> list[Path]:
    # the bundle stays as it is while its packages are built from it (a new one waits)
    project.catalog().select(names)
    with using(project.bundle_dir(read_lock(project, release, suite).release, suite)):
        return _package_services(project, release, suite, names, reproducible, lint, force)


def _package_services(project: Project, release: str, suite: str, names: list[str] | None,
                      reproducible: bool, lint: bool, force: bool) -> list[Path]:
    """Build each service in turn; the built ones are judged (lintian, and with `reproducible`
    their second build) and put in place meanwhile, so that both cores work."""
    target, services, bundle, chroot, root = prepare(project, release, suite, names)
    chroot.ensure()
    checks = Checks(project, chroot, bundle, root, lint, reproducible)
    debs: list[Path | None] = []
    finishing: list[tuple[int, Built, Future]] = []         # (its place in debs, the build, its checks)
    with ThreadPoolExecutor(max_workers=JUDGES) as judging:
        try:
            for number, service in enumerate(services, 1):
                started = time.monotonic()
                ptarget = package_target(target, service, bundle)
                digest = inputs_digest(service, ptarget, chroot)
                out = root / service.name
                deb_name = f"{service.package_name}_{ptarget.package_version(service)}_amd64.deb"
                if not force and is_current(out, digest, [deb_name]):
                    log.progress(number, len(services), f"{service.package_name}: up to date (inputs unchanged)")
                    debs.append(out / deb_name)
                    continue
                _wait_for_room(finishing)
                log.progress(number, len(services), f"{service.package_name} {ptarget.package_version(service)}: "
                                                    f"building in a clean {suite} chroot, no network")
                built = checks.build(service, ptarget, digest, started)
                finishing.append((len(debs), built, judging.submit(checks.finish, built)))
                debs.append(None)
            for place, _, checked in finishing:
                debs[place] = checked.result()
        except BaseException:
            for _, built, checked in finishing:
                if checked.cancel():                # never started: its scratch directory goes now
                    built.held.close()
            raise
    return debs


def _wait_for_room(finishing: list[tuple[int, "Built", Future]]) -> None:
    """Raise the first failed check; wait while WAITING_BUILDS builds wait for their checks
    (each holds its build tree, hundreds of MB)."""
    while True:
        for _, _, checked in finishing:
            if checked.done() and checked.exception():
                checked.result()
        unchecked = [checked for _, _, checked in finishing if not checked.done()]
        if len(unchecked) <= WAITING_BUILDS:
            return
        wait(unchecked, return_when=FIRST_COMPLETED)


@dataclass
class Built:
    """A first build waiting for its checks; `held` keeps its scratch directory until then."""
    service: Service
    target: PackageTarget
    digest: str
    work_dir: Path
    deb: Path
    started: float
    held: ExitStack

    @property
    def work(self) -> Path:
        return self.work_dir / "a"


class Checks:
    """One package's build, then its checks and its place among the outputs."""

    def __init__(self, project: Project, chroot: Chroot, bundle: Bundle, root: Path, lint: bool, reproducible: bool):
        self.project, self.chroot, self.bundle, self.root = project, chroot, bundle, root
        self.lint, self.reproducible = lint, reproducible

    def build(self, service: Service, ptarget: PackageTarget, digest: str, started: float) -> Built:
        """The first build, in a scratch directory that `finish` removes."""
        held = ExitStack()
        work_dir = held.enter_context(scratch(self.root, f".{service.name}-"))
        (work_dir / "a").mkdir()
        try:
            deb = build_once(self.project, self.chroot, service, ptarget, self.bundle, work_dir / "a")
        except StackdebError as error:
            with held:                  # the logs are saved before the scratch directory goes
                raise keep_failure_logs(error, work_dir / "a", self.root / f"{service.name}.failed") from None
        except BaseException:
            held.close()
            raise
        return Built(service, ptarget, digest, work_dir, deb, started, held)

    def finish(self, built: Built) -> Path:
        with built.held:
            return self._finish(built)

    def _finish(self, built: Built) -> Path:
        service, target, work, deb = built.service, built.target, built.work, built.deb
        project, lint, reproducible = self.project, self.lint, self.reproducible
        out = self.root / service.name
        try:
            deb_sha256 = sha256_file(deb)        # read once: the lint verdict's key, the proof, the record
            counts = prove(project, self.chroot, service, target, self.bundle, deb, deb_sha256, built.work_dir,
                           lint, reproducible)
        except StackdebError as error:
            raise keep_failure_logs(error, work, self.root / f"{service.name}.failed") from None
        manifest = {
            "service": service.name, "package": service.package_name,
            "version": target.package_version(service), "inputs_digest": built.digest,
            "deb": deb.name, "sha256": deb_sha256, "reproducible": reproducible or None,
            "lintian": "clean" if lint else "not run",
            "network_interfaces": network_interfaces(work)}
        write_json(work / "manifest.json", manifest)
        if lint and reproducible:      # both checks passed: these bytes may be promoted
            record_proof(project, manifest, target.suite.codename, lintian_version(self.chroot), counts)
        publish_outputs(work, out)
        size = (out / deb.name).stat().st_size / 1e6
        log.info(f"{service.package_name}: {deb.name} ({size:.1f} MB)"
                 f"{', bit-identical rebuild' if reproducible else ''}"
                 f"{', lintian ' + lintian_summary(out / 'lintian.txt') if lint else ''}"
                 f" [{time.monotonic() - built.started:.1f}s]")
        return out / deb.name


def prepare(project: Project, release: str, suite: str, names: list[str] | None):
    services = project.catalog().select(names)      # an unknown service is named before anything else
    target = read_lock(project, release, suite)
    chroot = build_chroot(project.chroot_dir, target.suite)
    root = project.target_dir("packages", Target(target.release, target.suite))
    root.mkdir(parents=True, exist_ok=True)
    return target, services, Bundle(project, target), chroot, root


def plan_services(project: Project, release: str, suite: str, names: list[str] | None,
                  force: bool = False) -> list[str]:
    """The services `package` would build: those whose package is missing or out of date,
    or with `force` all of them."""
    target, services, bundle, chroot, root = prepare(project, release, suite, names)
    if force:
        return [service.name for service in services]
    stale = []
    for service in services:
        ptarget = package_target(target, service, bundle)
        deb_name = f"{service.package_name}_{ptarget.package_version(service)}_amd64.deb"
        if not is_current(root / service.name, inputs_digest(service, ptarget, chroot), [deb_name]):
            stale.append(service.name)
    return stale


def package_report(project: Project, release: str, suite: str, name: str) -> dict:
    """What the last build of a service produced: the package, its digest, the
    reproducibility check and the lintian summary."""
    service = project.catalog().select([name])[0]
    out = project.target_dir("packages", Target(release, get_suite(suite))) / service.name
    manifest = read_json(out / "manifest.json")
    if not manifest:
        raise StackdebError(f"{service.package_name} has not been built for {release}/{suite}",
                            hint=f"run: stackdeb package --release {release} --suite {suite} {name}")
    # errors first, and always: a published package has none
    lint = "not run" if manifest["lintian"] == "not run" else lintian_summary(out / "lintian.txt")
    checked = {True: "bit-identical rebuild", None: "not checked"}[manifest.get("reproducible")]
    proof = read_proof(project, manifest["sha256"])
    if proof:      # proven after the build (stackdeb prove): what the proof found
        lint = summary_of({k: v for k, v in proof["lintian"].items() if k != "version"})
        checked = "bit-identical rebuild"
    return {"service": service.name, "package": manifest["package"], "version": manifest["version"],
            "deb": str(out / manifest["deb"]), "sha256": manifest["sha256"], "reproducible": checked,
            "lintian": lint, "network": manifest["network_interfaces"]}


def format_report(report: dict) -> str:
    """A report as `key: value` lines, for people."""
    return "\n".join([f"package: {report['package']} {report['version']}", f"deb: {report['deb']}",
                      f"sha256: {report['sha256']}", f"reproducible: {report['reproducible']}",
                      f"lintian: {report['lintian']}",
                      f"network during build: {' '.join(report['network'])} only"])


def built_package(deb: Path) -> dict:
    """A package `package` built (or found up to date), from its build record."""
    record = read_json(deb.parent / "manifest.json")
    return {key: record[key] for key in ("service", "package", "version", "sha256", "reproducible", "lintian")} | {
        "deb": str(deb)}


def network_interfaces(work: Path) -> list[str]:
    """The interfaces the build saw (only a loopback, down, in a new network namespace)."""
    line = (work / "network.txt").read_text().strip()
    interfaces = line.split(":", 1)[1].split()
    if interfaces != ["lo"]:
        raise StackdebError(f"the build could see network interfaces {interfaces}: it was not offline")
    return interfaces


def keep_failure_logs(error: StackdebError, work: Path, failed: Path) -> StackdebError:
    """Save the logs of a failed build where the user can read them; the outputs of the
    previous good build stay where they were."""
    shutil.rmtree(failed, ignore_errors=True)
    failed.mkdir(parents=True)
    for name in ("build.log", "lintian.txt", "network.txt"):
        if (work / name).exists():
            shutil.copy(work / name, failed / name)
    return StackdebError(error.message, hint=f"the logs are in {failed}/")
