"""`stackdeb prove`: prove the packages built for a target (builders/proof)."""

import os

from builders import log
from builders.bundle import read_lock
from builders.errors import StackdebError
from builders.lint import lintian_version, summary_of
from builders.manifest import read_json, sha256_file
from builders.outputs import scratch, using
from builders.package import inputs_digest, package_target, prepare, prove
from builders.project import Project
from builders.proof import read_proof, record_proof, report_path


def prove_services(project: Project, release: str, suite: str, names: list[str] | None,
                   force: bool = False) -> list[dict]:
    """The proof of each named service's package (or, without names, of every package built
    for the target): kept from before for the same bytes, else made now."""
    project.catalog().select(names)
    with using(project.bundle_dir(read_lock(project, release, suite).release, suite)):
        target, services, bundle, chroot, root = prepare(project, release, suite, names)
        if names is None:
            services = [s for s in services if (root / s.name / "manifest.json").exists()]
            if not services:
                raise StackdebError(f"no package is built for {release}/{suite}",
                                    hint=f"run: stackdeb package --release {release} --suite {suite} --all")
        chroot.ensure()
        proofs = []
        for number, service in enumerate(services, 1):
            with using(root / service.name):
                proofs.append(_prove_one(project, number, len(services), (target, service, bundle, chroot, root),
                                         force))
        fresh = sum(1 for proof in proofs if not proof.get("kept"))
        log.info(f"{len(proofs)} package(s) proven reproducible and lintian-clean"
                 f" ({fresh} now, {len(proofs) - fresh} kept from before)")
        return proofs


def _prove_one(project: Project, number: int, total: int, prepared, force: bool) -> dict:
    target, service, bundle, chroot, root = prepared
    out = root / service.name
    manifest = read_json(out / "manifest.json")
    if not manifest:
        raise StackdebError(f"{service.package_name} has not been built for {target.release}/{target.suite.codename}",
                            hint=f"run: stackdeb package --release {target.release} "
                                 f"--suite {target.suite.codename} {service.name}")
    kept = None if force else read_proof(project, manifest["sha256"])
    if kept:
        log.progress(number, total, f"{service.package_name} {manifest['version']}: proven before (same sha256)")
        return kept | {"kept": True}
    ptarget = package_target(target, service, bundle)
    if manifest["inputs_digest"] != inputs_digest(service, ptarget, chroot):
        raise StackdebError(f"{manifest['deb']} was built from other inputs than the current lock, bundle "
                            "and catalog: a second build could not match it",
                            hint=f"rebuild it first: stackdeb package --release {target.release} "
                                 f"--suite {target.suite.codename} {service.name}")
    deb = out / manifest["deb"]
    if sha256_file(deb) != manifest["sha256"]:
        raise StackdebError(f"{deb} is not the file its build recorded (sha256 differs)",
                            hint=f"rebuild it: stackdeb package --force {service.name}")
    log.progress(number, total, f"{service.package_name} {manifest['version']}: building again in another "
                                "directory beside lintian")
    with scratch(root, f".{service.name}-proof-") as work_dir:
        # lintian writes beside the .deb it judges: a link in the work directory, so that the
        # published outputs stay as they were built
        (work_dir / "a").mkdir()
        os.link(deb, work_dir / "a" / deb.name)
        counts = prove(project, chroot, service, ptarget, bundle, work_dir / "a" / deb.name, manifest["sha256"],
                       work_dir,
                       lint=True, reproducible=True, report=report_path(project, manifest["sha256"]))
    proof = record_proof(project, manifest, target.suite.codename, lintian_version(chroot), counts)
    log.info(f"{service.package_name}: bit-identical rebuild, lintian {summary_of(counts)}")
    return proof
