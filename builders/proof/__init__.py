"""The proof of a built package: a second build in another directory gives the same bytes,
and the suite's lintian finds no error in them. It is what promotion requires, not what
staging waits for: a package step builds once and publishes; the proof runs beside the later
stages (the images, the cluster) on the repository's side (builders/proof/run.py).

A proof is kept by the .deb's sha256 (<build>/proofs/<sha256>.json, lintian's report beside
it), so the same bytes are proven once, whoever built them: `stackdeb package
--check-reproducible` proves as it builds, `stackdeb prove` proves what was built without.
"""

from pathlib import Path

from builders.errors import StackdebError
from builders.manifest import read_json, write_json
from builders.project import Project


def proofs_dir(project: Project) -> Path:
    return project.build_dir / "proofs"


def report_path(project: Project, sha256: str) -> Path:
    """Where lintian's report on these bytes goes when they are proven."""
    proofs_dir(project).mkdir(parents=True, exist_ok=True)
    return proofs_dir(project) / f"{sha256}.lintian.txt"


def read_proof(project: Project, sha256: str) -> dict | None:
    proof = read_json(proofs_dir(project) / f"{sha256}.json")
    return proof if proof and proof.get("sha256") == sha256 and sound(proof) else None


def sound(proof: dict) -> bool:
    """A proof that allows promotion: a bit-identical rebuild and no lintian error."""
    lintian = proof.get("lintian") or {}
    return proof.get("reproducible") is True and lintian.get("errors") == 0 and "warnings" in lintian


def record_proof(project: Project, manifest: dict, suite: str, lintian_version: str,
                 counts: dict[str, int]) -> dict:
    """Keep the proof of the package a build `manifest` describes (both checks passed)."""
    proof = {"package": manifest["package"], "version": manifest["version"], "sha256": manifest["sha256"],
             "suite": suite, "reproducible": True,
             "lintian": {"version": lintian_version, "errors": 0, "warnings": 0, **counts}}
    proofs_dir(project).mkdir(parents=True, exist_ok=True)
    write_json(proofs_dir(project) / f"{manifest['sha256']}.json", proof)
    return proof


def require_proven(project: Project, release: str, suite: str, packages: list[dict]) -> None:
    """Refuse a build set any of whose venv packages (name, version, sha256) lacks a sound proof."""
    ours = {service.package_name for service in project.catalog()}
    unproven = [p for p in packages if p["name"] in ours and not read_proof(project, p["sha256"])]
    if unproven:
        raise StackdebError(
            f"{len(unproven)} package(s) of the build set are not proven reproducible and lintian-clean: "
            + ", ".join(f"{p['name']} {p['version']}" for p in unproven),
            hint=f"run: stackdeb prove --release {release} --suite {suite} --all; nothing was promoted")
