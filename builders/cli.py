"""The `stackdeb` command: parses options and calls the stages; no pipeline logic here."""

import argparse
import json
import os
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.manifest import read_json
from builders.project import Project
from builders.results import (RESULT_TYPES, Bundled, ClusterReport, Collected, Exported, Fetched, Imported,
                              ImageBuilt, Locked, PackagePlan, PackageReports, PackagesBuilt, Promoted, Proven,
                              Published, RepoStatus, Result, RolledBack, Uploaded)

DESCRIPTION = """\
stackdeb turns an OpenStack release into Debian packages that carry their own virtualenv.

stages, in pipeline order:
  lock      resolve every catalog service of a release against its upper-constraints
            into one hash-pinned lock (plus each service's closure)
  bundle    fetch or compile every locked artifact once into the shared wheel cache, lay out
            the target's wheelhouse (PEP 503 index, manifest) and package it as
            openstack-wheels-<release>
  package   build venv-<service> packages with dh-virtualenv from the bundle alone, in a
            clean chroot of the suite with no network; lintian; --check-reproducible
  prove     build each package again elsewhere and run lintian: the proof promotion requires
  publish   land a build set (the packages and the bundle of one run) in the signed staging
            suite, whole or not at all; rollback returns one target to its previous state
  cluster   prove the staged build set on a throwaway cluster of VMs; a signed verdict
  promote   copy the build set a signed, passing verdict names to the tested suite
other commands:
  image     the node image (diskimage-builder) or the discovery live system
  repo      status of the repository, or serve it on 127.0.0.1
  inventory serve the endpoint the discovery agent reports to; machines lists them
  services  list the catalog's services and their versions in a release
  store     the artifact store: serve it, put and get files by sha256
  snapshot  refresh the upstream data snapshot (upstream/) from the git repositories
  master    start or stop the embedded Buildbot master and worker; add web UI users

Every stage records its inputs' digests; run again with nothing changed, it does nothing.
"""


def _at_least(minimum: int):
    """An argparse type: an integer no smaller than `minimum` (argparse prints one line)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _time_of_day(text: str) -> str:
    """HH:MM (UTC) or off, as master.yaml's `nightly` takes it."""
    hour, _, minute = text.partition(":")
    if text == "off" or (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60
                         and len(minute) == 2):
        return text
    raise argparse.ArgumentTypeError(f"expected HH:MM or off, got {text!r}")


def _port(text: str) -> int:
    value = _at_least(1)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _add_target(parser: argparse.ArgumentParser) -> None:
    from builders.targets import DEFAULT_RELEASE, DEFAULT_SUITE
    parser.add_argument("--release", default=os.environ.get("STACKDEB_RELEASE", DEFAULT_RELEASE),
                        help="OpenStack series id or codename (default: %(default)s)")
    parser.add_argument("--suite", default=os.environ.get("STACKDEB_SUITE", DEFAULT_SUITE),
                        help="Debian suite (default: %(default)s)")


def _add_sources(parser: argparse.ArgumentParser, requirements: bool = True) -> None:
    from builders.snapshot import default_source
    parser.add_argument("--releases", default=os.environ.get("STACKDEB_RELEASES") or default_source("releases"),
                        help="openstack/releases: directory or git URL ($STACKDEB_RELEASES; "
                             "default: the project's snapshot in upstream/)")
    if requirements:
        parser.add_argument("--requirements",
                            default=os.environ.get("STACKDEB_REQUIREMENTS") or default_source("requirements"),
                            help="openstack/requirements: git URL, checkout, or snapshot directory "
                                 "with <release>/upper-constraints.txt ($STACKDEB_REQUIREMENTS; "
                                 "default: the project's snapshot in upstream/)")


def _add_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-url", default=None,
                        help="package index (default: pip's configured index-url)")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON object on stdout saying what was done, or the error; "
                             "progress stays on stderr")
    parser.add_argument("--result-file", metavar="FILE", default=None,
                        help="write that JSON object to FILE, whole, even when the command fails (what "
                             "Buildbot reads: a master cuts a step's output into lines of 4096 characters)")


def _actions(parser: argparse.ArgumentParser, dest: str = "action"):
    """A command's own subcommands (`repo status`), each with its own options."""
    return parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackdeb", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show every command a stage runs ($STACKDEB_VERBOSE=1 does the same)")
    parser.add_argument("--cache-dir", help="shared cache (default: $STACKDEB_CACHE_DIR or ~/.cache/stackdeb)")
    parser.add_argument("--build-dir", help="outputs (default: $STACKDEB_BUILD_DIR or ./build)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lock = commands.add_parser("lock", help="resolve a target into a hash-pinned lock",
                               description="Resolve every catalog service of a release, constrained by "
                                           "its upper-constraints and overrides, into "
                                           "requirements-bundles/<release>/<suite>/lock.txt.")
    _add_target(lock)
    _add_json(lock)
    _add_sources(lock)
    _add_index(lock)
    lock.add_argument("--resolver", default="uv", choices=["uv", "pip-tools"],
                      help="uv (fast, default) or pip-tools (the reference)")
    lock.add_argument("--force", action="store_true", help="resolve even if the inputs did not change")

    bundle = commands.add_parser("bundle", help="build the target's wheelhouse and its .deb",
                                 description="Fetch every locked artifact into the shared wheel cache "
                                             "(sdists are compiled in a clean chroot of the suite), lay out "
                                             "the wheelhouse with a PEP 503 index and a manifest, and "
                                             "package it as openstack-wheels-<release>.")
    _add_target(bundle)
    _add_json(bundle)
    _add_index(bundle)
    bundle.add_argument("--jobs", type=_at_least(1), default=4, help="parallel downloads (default: %(default)s)")
    bundle.add_argument("--force", action="store_true", help="rebuild even if the lock did not change")

    package = commands.add_parser("package", help="build venv-<service> packages",
                                  description="Build one dh-virtualenv package per service from the "
                                              "target's bundle, offline, in a clean chroot of the suite. "
                                              "Only services whose inputs changed are rebuilt.")
    _add_target(package)
    _add_json(package)
    package.add_argument("services", nargs="*", metavar="SERVICE", help="services to build")
    package.add_argument("--all", action="store_true", help="build every catalog service")
    package.add_argument("--check-reproducible", action="store_true",
                         help="build twice in different directories and require identical .debs")
    package.add_argument("--no-lintian", action="store_true", help="skip lintian")
    package.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    package.add_argument("--plan", action="store_true",
                         help="build nothing: print the services that would be built, one per line")
    package.add_argument("--report", action="store_true",
                         help="build nothing: print what the last build of each named service produced")

    prove = commands.add_parser("prove", help="prove built packages reproducible and lintian-clean",
                                description="Build each named service's package again in another directory "
                                            "and require the same bytes, with lintian beside it; keep the "
                                            "proof by the .deb's sha256. promote requires one for every "
                                            "venv package of the build set. Bytes proven before are not "
                                            "proven again.")
    _add_target(prove)
    _add_json(prove)
    prove.add_argument("services", nargs="*", metavar="SERVICE", help="services whose package to prove")
    prove.add_argument("--all", action="store_true", help="every package built for the target")
    prove.add_argument("--force", action="store_true", help="prove again even bytes proven before")

    publish = commands.add_parser("publish", help="land a build set in the staging suite",
                                  description="Validate the build set, add it to a new generation of the "
                                              "repository, sign, verify, and switch to it atomically. Without "
                                              "DEB arguments: the target's bundle and built packages.")
    _add_target(publish)
    _add_json(publish)
    publish.add_argument("debs", nargs="*", metavar="DEB", help="packages of the build set")
    publish.add_argument("--keep", type=_at_least(1), default=5, help="generations kept for rollback (default: %(default)s)")
    publish.add_argument("--foreign", action="append", default=[], metavar="DEB",
                         help="a package no stackdeb build produced, published because you vouch for where it "
                              "comes from (checked whole; repeatable)")
    rollback = commands.add_parser("rollback", help="give one target's suites their state before its last change",
                                   description="Return one target's staging and tested suites to the state "
                                               "they had before its last publish, promotion or rollback, in a "
                                               "new generation signed by the current key. Other targets in the "
                                               "repository keep their bytes.")
    _add_target(rollback)
    _add_json(rollback)
    cluster = commands.add_parser("cluster", help="prove the staged build set on a test cluster",
                                  description="Provision a throwaway cluster of VMs (discovery over iPXE, roles "
                                              "from a layout, the node image written to each disk), install the "
                                              "live staged build set, configure it, run the smoke tests (Tempest "
                                              "and stackdeb's checks), write a signed verdict, tear it all down. "
                                              "Needs root. Exit 0 only when the verdict passes.")
    _add_target(cluster)
    cluster.add_argument("--layout", default="changed",
                         help="'changed' (the default): the services whose staged package differs from the "
                              "tested suite's, with the services they need from the tested suite, on a layout "
                              "derived from them; or a layout name (layouts/NAME.yaml) or a YAML file")
    cluster.add_argument("--keep", action="store_true",
                         help="leave the cluster running after the verdict, until interrupted")
    _add_json(cluster)
    cluster.add_argument("--report", action="store_true",
                         help="run nothing: say the last run's result, phases, counts and where its logs are")
    gc = commands.add_parser("gc", help="remove what no stage needs any more (old cluster runs, stale proofs)",
                             description="Remove the cluster runs beyond the newest of each target (never the "
                                         "latest, never a running one) and the proofs of packages that no kept "
                                         "repository generation and no build output holds; say what was freed.")
    gc.add_argument("--keep-runs", type=_at_least(1), default=10,
                    help="cluster runs kept per target (default: %(default)s)")
    gc.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    _add_json(gc)
    promote = commands.add_parser("promote", help="copy a tested build set to the tested suite",
                                  description="Copy to the tested suite exactly the build set a verdict of "
                                              "`stackdeb cluster` names, when it passed, its signature verifies "
                                              "and the build set still exists unchanged and is not older than "
                                              "the one already promoted.")
    _add_target(promote)
    _add_json(promote)
    promote.add_argument("--verdict", required=True, help="the verdict (verdict.json, signed beside it)")
    promote.add_argument("--verdict-keyring", default=None,
                         help="keyring that verdicts must verify against (default: $STACKDEB_VERDICT_KEYRING "
                              "or the cluster stage's own key)")
    repo = _actions(commands.add_parser("repo", help="repository status, serve it, or rotate its signing key",
                                        description="What staging and tested hold, serving them, and the "
                                                    "signing key's rotation (docs/repository.md)."))
    status = repo.add_parser("status", help="what the target's staging and tested suites hold, and why "
                                            "what waits in staging waits")
    _add_target(status)
    _add_json(status)
    serve = repo.add_parser("serve", help="serve the repository's public/ on 127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080, help="port on 127.0.0.1 (default: %(default)s)")
    rotate = repo.add_parser("rotate-key", help="one step of a signing key rotation, each a generation of its own")
    _add_target(rotate)
    rotate.add_argument("--step", required=True, choices=["add", "switch", "retire"], help="the step to take")
    _add_json(rotate)

    image = _actions(commands.add_parser("image", help="build the node image or the discovery live system",
                                         description="The images the test cluster boots (docs/images.md)."),
                     dest="kind")
    node = image.add_parser("node", help="a diskimage-builder image wired to the target's staging suite "
                                         "(qcow2, kernel, initrd)")
    _add_target(node)
    _add_json(node)
    node.add_argument("--repo-url", help="the repository URL as the nodes reach it (required)")
    node.add_argument("--build-repo-url", help="the repository URL as this machine reaches it "
                                               "(for --preinstall; default: --repo-url)")
    node.add_argument("--keyring", help="the archive keyring (default: the repository's)")
    node.add_argument("--preinstall", action="append", default=[], metavar="PACKAGE",
                      help="a package to install from staging into the image (repeatable)")
    node.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    discovery = image.add_parser("discovery", help="the live system whose agent reports the hardware (kernel, "
                                                   "initrd, squashfs, iPXE script)")
    _add_target(discovery)
    _add_json(discovery)
    discovery.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    inventory = _actions(commands.add_parser("inventory", help="serve the inventory that receives hardware reports"))
    serve = inventory.add_parser("serve", help="receive the discovery agent's reports",
                                 description="Receive the discovery agent's reports on POST /v1/reports: "
                                             "validated against the schema, only from trusted networks, "
                                             "stored in SQLite.")
    serve.add_argument("--listen", default="127.0.0.1:8700", help="address:port (default: %(default)s)")
    serve.add_argument("--trust", action="append", metavar="CIDR",
                       help="a network reports are accepted from (repeatable; default: the loopback)")
    serve.add_argument("--reader", action="append", metavar="CIDR",
                       help="a network that may read the machine list (repeatable; default: the loopback)")
    machines = commands.add_parser("machines", help="list the machines that reported to the inventory")
    machines.add_argument("--json", action="store_true", help="the full reports, as JSON")

    master = _actions(commands.add_parser("master", help="the embedded Buildbot master and worker",
                                          description="The Buildbot master and its local worker "
                                                      "(docs/buildbot.md)."))
    start = master.add_parser("start", help="create (once) and start the master and a local worker on "
                                            "127.0.0.1, and start the default target's pipeline")
    _add_target(start)
    _add_sources(start)
    _add_index(start)
    start.add_argument("--web-port", type=_port, default=8010, help="web UI port on 127.0.0.1 (default: %(default)s)")
    start.add_argument("--worker-port", type=_port, default=9989, help="worker port on 127.0.0.1 (default: %(default)s)")
    start.add_argument("--poll-interval", type=_at_least(1), default=300, help="seconds between polls (default: %(default)s)")
    start.add_argument("--no-kick-off", action="store_true", help="start without building")
    start.add_argument("--nightly", default="03:00", metavar="HH:MM|off", type=_time_of_day,
                       help="when every target is built each day, UTC, or off (written to master.yaml on first "
                            "start; default: %(default)s)")
    start.add_argument("--cluster-layout", default="minimal",
                       help="the layout the cluster builder runs: changed (what differs from the tested suite, "
                            "with what it needs), a layout name, or none to stop at staging (written to "
                            "master.yaml on first start; default: %(default)s, which the main job tests in "
                            "minutes where the twelve services take over an hour)")
    start.add_argument("--also-target", action="append", default=[], metavar="RELEASE/SUITE",
                       help="another target the master builds (repeatable; written to master.yaml on first "
                            "start), e.g. 2026.1/trixie")
    start.add_argument("--db", metavar="URL",
                       help="the master's database, written to master.yaml on first start (default: SQLite in "
                            "build/master); PostgreSQL: postgresql://USER@HOST[:PORT]/NAME with the password "
                            "in ~/.pgpass (docs/buildbot.md)")
    start.add_argument("--url", help="the address users reach the web UI at, e.g. https://ci.example.org/ behind "
                                     "a TLS proxy (written to master.yaml on first start; default: "
                                     "http://127.0.0.1:WEB_PORT/)")
    start.add_argument("--wait", action="store_true", help="follow the first build to its end")
    master.add_parser("stop", help="stop the master and its worker")
    adduser = master.add_parser("adduser", help="add a web UI user (the password is read from stdin or asked)")
    adduser.add_argument("user", help="the user name")
    adduser.add_argument("--role", action="append", choices=["release-engineer", "admin"],
                         help="a role (repeatable; default: release-engineer)")

    store = _actions(commands.add_parser(
        "store", help="the artifact store: serve it, put and get files by sha256, export and import a stage's outputs",
        description="The artifact store between workers that share nothing (docs/buildbot.md). Credentials: "
                    "STACKDEB_STORE_USER and STACKDEB_STORE_PASSWORD."))
    serve = store.add_parser("serve", help="the artifact store on the master's machine (the workers of "
                                           "master.yaml log in with their name and password)")
    serve.add_argument("--dir", help="where the store keeps its objects (default: BUILD_DIR/store)")
    serve.add_argument("--listen", default="127.0.0.1:8701", help="address:port (default: %(default)s)")
    serve.add_argument("--workers", help="the master.yaml whose workers may log in (default: the embedded master's)")
    put = store.add_parser("put", help="upload files; with --name, record them under WORKER/NAME")
    put.add_argument("items", nargs="+", metavar="FILE", help="the files")
    put.add_argument("--name", help="record the files under this name")
    get = store.add_parser("get", help="fetch a record's files (--name WORKER/NAME) or objects by sha256, "
                                       "each checked against its hash")
    get.add_argument("items", nargs="*", metavar="SHA256", help="objects to fetch")
    get.add_argument("--name", help="WORKER/NAME: the record whose files to fetch")
    get.add_argument("--into", default=".", help="the directory to put the files in (default: .)")
    export = store.add_parser("export", help="upload a target's lock and bundle (`bundle`) or packages (service "
                                             "names) and print their entries")
    export.add_argument("items", nargs="+", metavar="WHAT", help="bundle, or service names")
    _add_target(export)
    imports = store.add_parser("import", help="put the entries an export printed in place, each checked")
    imports.add_argument("--artifacts", required=True,
                         help="the JSON list of entries an export printed (its `artifacts`), or @FILE holding it")
    _add_target(imports)
    for action in (put, get, export, imports):
        action.add_argument("--store", default=os.environ.get("STACKDEB_STORE_URL"),
                            help="the store's address ($STACKDEB_STORE_URL; no default)")
        _add_json(action)

    snapshot = commands.add_parser(
        "snapshot", help="refresh the upstream data snapshot in upstream/ from the git repositories",
        description="Rewrite upstream/ from the openstack/releases and openstack/requirements git "
                    "repositories: series_status.yaml, the catalog's deliverables and the "
                    "upper-constraints of each series, with the commits they came from.")
    snapshot.add_argument("--releases", required=True, help="openstack/releases: git URL or checkout")
    snapshot.add_argument("--requirements", required=True, help="openstack/requirements: git URL or checkout")
    snapshot.add_argument("--series", nargs="+", default=None,
                          help="codenames to keep (default: those in the snapshot now)")
    snapshot.add_argument("--output", default=None, help="where to write it (default: upstream/ of the checkout)")
    services = commands.add_parser("services", help="list the catalog's services",
                                   description="List the catalog's services; with --releases, also "
                                               "their newest final version in the release.")
    _add_target(services)
    _add_sources(services, requirements=False)
    return parser


def _source(project: Project, spec, what: str, option: str):
    from builders.releases import open_source
    return open_source(spec, what, option, project.cache_dir)


def cmd_lock(args, project: Project) -> Result | None:
    from builders.lock import resolve_lock
    releases = _source(project, args.releases, "openstack/releases", "--releases")
    requirements = _source(project, args.requirements, "openstack/requirements", "--requirements")
    done = resolve_lock(project, args.release, args.suite, releases, requirements,
                        resolver=args.resolver, force=args.force, index_url=args.index_url)
    return Locked(lock=str(done.directory / "lock.txt"), changed=done.changed, pins=done.pins,
                  generation=done.generation, services_changed=done.touched_services, sha256=done.sha256)


def cmd_bundle(args, project: Project) -> Result | None:
    from builders.bundle import build_bundle
    bundle = build_bundle(project, args.release, args.suite, index_url=args.index_url, jobs=args.jobs,
                          force=args.force)
    manifest = read_json(bundle / "manifest.json")
    return Bundled(deb=str(bundle / manifest["deb"]), sha256=manifest["sha256"])


def cmd_package(args, project: Project) -> Result | None:
    from builders.package import built_package, format_report, package_report, package_services, plan_services
    if not args.services and not args.all:
        raise StackdebError("name the services to build, or pass --all",
                            hint="stackdeb services lists them")
    names = None if args.all else args.services
    if args.plan:
        planned = plan_services(project, args.release, args.suite, names, force=args.force)
        if not args.json:
            print("\n".join(planned))
        return PackagePlan(services=planned)
    if args.report:
        reports = [package_report(project, args.release, args.suite, name)
                   for name in names or [svc.name for svc in project.catalog()]]
        if not args.json:
            print("\n".join(format_report(report) for report in reports))
        return PackageReports(reports=reports)
    debs = package_services(project, args.release, args.suite, names,
                            reproducible=args.check_reproducible, lint=not args.no_lintian, force=args.force)
    return PackagesBuilt(packages=[built_package(deb) for deb in debs])


def cmd_prove(args, project: Project) -> Result | None:
    from builders.proof.run import prove_services
    if not args.services and not args.all:
        raise StackdebError("name the services whose package to prove, or pass --all",
                            hint="stackdeb services lists them")
    return Proven(proofs=prove_services(project, args.release, args.suite, None if args.all else args.services,
                                        force=args.force))


def cmd_publish(args, project: Project) -> Result | None:
    from contextlib import ExitStack
    from builders.outputs import using
    from builders.repository.publish import publish_build_set
    from builders.targets import get_target
    target = get_target(args.release, args.suite)
    debs = [Path(d) for d in args.debs]
    foreign = [Path(d) for d in args.foreign]
    with ExitStack() as held:
        if not debs and not args.foreign:
            # the bundle and every package stay as they are until the build set is published
            bundle = project.target_dir("bundles", target)
            debs = sorted(held.enter_context(using(bundle)).glob("openstack-wheels-*.deb"))
            for out in sorted(p for p in project.target_dir("packages", target).glob("*") if p.is_dir()):
                debs += sorted(held.enter_context(using(out)).glob("venv-*.deb"))
        if not debs and not args.foreign:
            raise StackdebError(f"nothing to publish for {target.label}",
                                hint="run stackdeb bundle and stackdeb package first, or name the .deb files")
        generation = publish_build_set(project.repo_dir, args.release, args.suite, debs, keep=args.keep,
                                       foreign=foreign)
    return Published(suite=target.staging_suite, generation=generation,
                     packages=[{"deb": deb.name, "sha256": _recorded_sha256(deb)} for deb in debs + foreign])


def _recorded_sha256(deb) -> str:
    """A deb's sha256 from the build record beside it (publish has just checked the two agree),
    or read from the file when there is none."""
    from builders.manifest import sha256_file
    record = read_json(deb.parent / "manifest.json") or {}
    return record["sha256"] if record.get("deb") == deb.name and record.get("sha256") else sha256_file(deb)


def cmd_rollback(args, project: Project) -> Result | None:
    from builders.repository.publish import rollback
    return RolledBack(generation=rollback(project.repo_dir, args.release, args.suite))


def cmd_cluster(args, project: Project) -> Result:
    """A run's result (or, with --report, the last run's) is its verdict summarised: the result,
    phases, counts, the failure and where the logs are; the logs themselves stay files."""
    from builders.cluster.report import describe, latest_verdict, report
    from builders.targets import get_target
    if args.report:
        summary = report(latest_verdict(project, get_target(args.release, args.suite)))
    else:
        from builders.cluster.changeset import NothingToTest
        from builders.cluster.run import run_cluster
        try:
            passed, verdict = run_cluster(project, args.release, args.suite, args.layout, keep=args.keep)
        except NothingToTest as nothing:
            log.info(f"cluster: {nothing.message}: {nothing.hint}")
            return ClusterReport(result="nothing-to-test")
        if not passed:
            raise StackdebError(f"the cluster tests failed: see {verdict}",
                                hint="the build set stays in staging; nothing was promoted")
        summary = report(verdict)
    if args.report and not args.json:
        print(describe(summary))
    log.info(f"cluster: {summary['result']}, {summary['tests']['passed']} passed, "
             f"{summary['tests']['failed']} failed: {summary['verdict']}")
    return ClusterReport(**summary)


def cmd_gc(args, project: Project) -> Result:
    from builders.gc import collect
    return Collected(**collect(project, keep_runs=args.keep_runs, dry_run=args.dry_run).as_dict())


def cmd_promote(args, project: Project) -> Result | None:
    from builders.cluster.verdict import verdict_keyring
    from builders.repository.promote import promote
    from functools import partial
    from builders.proof import require_proven
    keyring = Path(args.verdict_keyring) if args.verdict_keyring else verdict_keyring(project.build_dir)
    from builders.cluster.configure import SERVICE_CONFIG, load_recipes
    from builders.cluster.needs import service_needs
    needs = service_needs(load_recipes(), SERVICE_CONFIG.name)
    done = promote(project.repo_dir, args.release, args.suite, Path(args.verdict), keyring,
                   proven=partial(require_proven, project, args.release, args.suite), needs=needs)
    return Promoted(generation=done.generation, promoted=done.promoted, not_covered=done.not_covered)


def cmd_repo(args, project: Project) -> Result | None:
    from builders.repository.keys import rotate_key
    from builders.repository.serve import serve
    from builders.repository.status import status, status_data
    if args.action == "status":
        from builders.targets import get_target
        # the target's last cluster run says why what waits in staging waits
        verdict = project.target_dir("cluster", get_target(args.release, args.suite)) / "latest" / "verdict.json"
        if args.json or args.result_file:
            return RepoStatus(**status_data(project.repo_dir, args.release, args.suite, verdict))
        print(status(project.repo_dir, args.release, args.suite, verdict))
    elif args.action == "rotate-key":
        rotate_key(project.repo_dir, args.release, args.suite, args.step)
    else:
        serve(project.repo_dir, args.port)


def cmd_services(args, project: Project) -> None:
    from builders.releases import find_series, service_version
    catalog = project.catalog()
    if not args.releases:
        for svc in catalog:
            print(f"{svc.name:12} {svc.distribution:22} {svc.summary}")
        return
    releases = _source(project, args.releases, "openstack/releases", "--releases")
    series = find_series(releases, args.release)
    for svc in catalog:
        print(f"{svc.name:12} {svc.distribution:22} {service_version(releases, series, svc.deliverable)}")


def cmd_snapshot(args, project: Project) -> None:
    from builders.snapshot import SNAPSHOT_DIR, refresh_snapshot, snapshot_series
    destination = Path(args.output) if args.output else SNAPSHOT_DIR
    codenames = args.series or snapshot_series(destination)
    if not codenames:
        raise StackdebError(f"{destination} holds no series to refresh", hint="name them with --series")
    releases = _source(project, args.releases, "openstack/releases", "--releases")
    requirements = _source(project, args.requirements, "openstack/requirements", "--requirements")
    refresh_snapshot(releases, requirements, project.catalog(), destination, codenames)


def cmd_master(args, project: Project) -> None:
    from builders.buildmaster import embedded
    if args.action == "start":
        from builders.targets import get_target
        targets = [get_target(args.release, args.suite)]
        for spec in args.also_target:
            release, _, suite = spec.partition("/")
            targets.append(get_target(release, suite))
        url = embedded.start(project, targets, releases=args.releases,
                             requirements=args.requirements, index_url=args.index_url,
                             web_port=args.web_port, worker_port=args.worker_port,
                             poll_interval=args.poll_interval, nightly=args.nightly, kick_off=not args.no_kick_off,
                             cluster_layout=args.cluster_layout, database=args.db, url=args.url,
                             wait=args.wait)
        print(url)
    elif args.action == "stop":
        embedded.stop(project)
    else:
        import getpass
        from builders.users import add_user
        password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass()
        users = embedded.master_dir(project) / "users"
        add_user(users, args.user, password, args.role or ["release-engineer"])
        log.info(f"{args.user} can log in ({', '.join(args.role or ['release-engineer'])}); "
                 "restart the master to apply")


def cmd_store(args, project: Project) -> Result | None:
    if args.action == "serve":
        from builders.store.serve import serve
        from builders.buildmaster import embedded
        workers = Path(args.workers) if args.workers else embedded.master_dir(project) / "master.yaml"
        serve(Path(args.dir) if args.dir else project.build_dir / "store", args.listen, workers)
        return None
    from builders.store.client import StoreClient, get_files, put_files
    if not args.store:
        raise StackdebError("no artifact store given", hint="--store URL or STACKDEB_STORE_URL")
    client = StoreClient(args.store)
    if args.action in ("export", "import"):
        return _store_stage(args, project, client)
    if args.action == "put":
        return Uploaded(**put_files(client, [Path(item) for item in args.items], args.name))
    if not args.name and not args.items:
        raise StackdebError("get needs --name WORKER/NAME or the sha256s to fetch")
    return Fetched(**get_files(client, Path(args.into), name=args.name, digests=args.items))


def _store_stage(args, project: Project, client) -> Result:
    import json
    from builders.store.stages import export_bundle, export_packages, import_artifacts
    from builders.targets import get_target
    target = get_target(args.release, args.suite)
    if args.action == "export":
        if args.items == ["bundle"]:
            entries = export_bundle(project, target, client)
        else:
            entries = export_packages(project, target, args.items, client)
        log.info(f"{target.label}: {len(entries)} files in the store")
        return Exported(artifacts=entries)
    text = args.artifacts
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except UnicodeDecodeError:
            raise StackdebError(f"--artifacts {text}: not a UTF-8 text file") from None
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise StackdebError(f"--artifacts is not JSON: {error}") from None
    done = import_artifacts(project, target, entries, client)
    log.info(f"{target.label}: {done['fetched']} files fetched from the store, {done['kept']} already here")
    return Imported(**done)


def cmd_image(args, project: Project) -> Result | None:
    from builders.images import build_discovery, build_node
    if args.kind == "discovery":
        built = build_discovery(project, args.suite, force=args.force)
    else:
        built = build_node(project, args.release, args.suite, repo_url=args.repo_url,
                           build_repo_url=args.build_repo_url, keyring=Path(args.keyring) if args.keyring else None,
                           packages=args.preinstall, force=args.force)
    return ImageBuilt(image=str(built))


def cmd_inventory(args, project: Project) -> None:
    from builders.inventory import DEFAULT_TRUSTED, serve
    serve(project.inventory_db, args.listen, args.trust or list(DEFAULT_TRUSTED),
          args.reader or list(DEFAULT_TRUSTED))


def cmd_machines(args, project: Project) -> None:
    import json
    from builders.inventory import Inventory, format_machines
    machines = Inventory(project.inventory_db).machines()
    print(json.dumps(machines, indent=2) if args.json else format_machines(machines))


# the commands whose --json is a result (machines --json is the list of machines itself)
RESULT_COMMANDS = set(RESULT_TYPES)
COMMANDS = {"lock": cmd_lock, "bundle": cmd_bundle, "package": cmd_package, "prove": cmd_prove, "publish": cmd_publish,
            "rollback": cmd_rollback, "cluster": cmd_cluster, "promote": cmd_promote, "repo": cmd_repo, "services": cmd_services,
            "snapshot": cmd_snapshot, "master": cmd_master, "image": cmd_image, "inventory": cmd_inventory, "machines": cmd_machines,
            "store": cmd_store, "gc": cmd_gc}


@contextmanager
def _stdout_to_stderr(wanted: bool):
    """With --json, stdout carries the result alone: whatever the command or the tools it
    runs would print there goes to stderr, with the progress."""
    if not wanted:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _resolve_release(args, project: Project) -> None:
    """A release named by its codename (gazpacho) becomes its series id (2026.1) once, before
    any command runs: every command then reads and writes the same places for both names."""
    from builders.releases import find_series, open_source
    from builders.snapshot import default_source
    from builders.targets import RELEASE_ID_RE
    release = getattr(args, "release", None)
    if not release or RELEASE_ID_RE.match(release):
        return
    spec = getattr(args, "releases", None) or os.environ.get("STACKDEB_RELEASES") or default_source("releases")
    args.release = find_series(open_source(spec, "releases", "--releases", project.cache_dir), release).release_id


def _run(args) -> tuple[int, dict]:
    try:
        project = Project.from_env(cache_dir=args.cache_dir, build_dir=args.build_dir)
        _resolve_release(args, project)
        done = COMMANDS[args.command](args, project)
        if done is not None and not isinstance(done, RESULT_TYPES.get(args.command, ())):
            raise TypeError(f"stackdeb {args.command} gave a {type(done).__name__}, not one of its result types")
    except StackdebError as exc:
        print(f"stackdeb: error: {exc}", file=sys.stderr)
        return 1, {"error": exc.message, "hint": exc.hint}
    except OSError as exc:   # a full disk, a permission problem: name the file, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"stackdeb: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1, {"error": f"{exc.strerror or exc}{where}", "hint": None}
    except KeyboardInterrupt:
        log.info("interrupted; outputs are left as they were")
        return 130, {"error": "interrupted", "hint": None}
    return 0, {"summary": log.last_message(), **(done.as_dict() if done else {})}


def main(argv: list[str] | None = None) -> int:
    from builders.store.client import hold_password
    hold_password()
    args = build_parser().parse_args(argv)
    log.set_verbose(args.verbose)
    as_json = args.command in RESULT_COMMANDS and getattr(args, "json", False)
    result_file = getattr(args, "result_file", None) if args.command in RESULT_COMMANDS else None
    with _stdout_to_stderr(as_json):
        code, outcome = _run(args)
    result = json.dumps({"command": args.command, "ok": code == 0, **outcome}, sort_keys=True)
    if result_file:
        code = _write_result(Path(result_file), result) or code
    if as_json:
        print(result, flush=True)
    return code


def _write_result(path: Path, result: str) -> int:
    """The result as one ASCII file, replaced whole (a reader sees the old one or the new one);
    0, or 1 when it could not be written (said on stderr: the reader then finds none)."""
    from builders.manifest import write_atomic
    try:
        write_atomic(path, result + "\n")
    except OSError as exc:
        print(f"stackdeb: error: writing the result to {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
