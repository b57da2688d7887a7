"""`stackdeb gc`: what grows with every run, kept to a bound, never what is still needed.

    cluster runs   build/cluster/<target>/<time>-<pid>/: logs, consoles, Tempest's output
                   (tens of MB each once torn down). Kept: the newest `keep_runs` of each
                   target, the one `latest` names, and every run whose process still lives.
    proofs         build/proofs/<sha256>.json and its lintian report. Kept: the proof of every
                   package a kept repository generation holds (any suite, any target) and of
                   every package in build/packages now (built, not yet published).

The repository prunes its own generations at each change (builders/repository); the stages
replace their outputs whole and remove their own leftovers; the chroot, image and wheel
caches are keyed by content and replaced, not added to.
"""

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from builders import log
from builders.manifest import read_json
from builders.project import Project
from builders.repository.generations import Repository
from builders.repository.indexes import suite_index

KEEP_RUNS = 10
RUN_DIR = re.compile(r"^\d{8}T\d{6}Z-(\d+)$")
PROOF = re.compile(r"^([0-9a-f]{64})(\.json|\.lintian\.txt)$")


@dataclass
class Collected:
    removed: dict[str, list[str]] = field(default_factory=lambda: {"cluster_runs": [], "proofs": []})
    freed_bytes: int = 0

    def as_dict(self) -> dict:
        return {"removed": self.removed, "freed_bytes": self.freed_bytes}


def size_of(path: Path) -> int:
    """Bytes a file or tree takes (hard links counted once per tree, symlinks not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def process_lives(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_to_remove(target_dir: Path, keep: int, lives=process_lives) -> list[Path]:
    """A target's cluster runs beyond the newest `keep`, but never the one `latest` names nor
    one whose process still lives (a run in progress)."""
    runs = sorted((p for p in target_dir.iterdir() if p.is_dir() and not p.is_symlink() and RUN_DIR.match(p.name)),
                  key=lambda p: p.name, reverse=True)
    latest = target_dir / "latest"
    named = os.readlink(latest) if latest.is_symlink() else None
    return [run for run in runs[keep:] if run.name != named and not lives(int(RUN_DIR.match(run.name)[1]))]


def needed_packages(project: Project) -> set[tuple[str, str]]:
    """(package, version) of everything a kept generation's suites hold, and of every package
    the build directory holds now."""
    needed = set()
    repo = Repository(project.repo_dir)
    for number in repo.generations():
        base = repo.generation_dir(number)
        for dist in sorted((base / "dists").glob("*")) if (base / "dists").is_dir() else ():
            needed |= set(suite_index(base, dist.name).items())
    for manifest in project.build_dir.glob("packages/*/*/manifest.json"):
        record = read_json(manifest) or {}
        if record.get("package") and record.get("version"):
            needed.add((record["package"], record["version"]))
    return needed


def proofs_to_remove(proofs_dir: Path, needed: set[tuple[str, str]]) -> list[Path]:
    """Proof files (and lintian reports) of packages nothing needs any more. A proof whose
    record cannot be read is kept: gc never guesses."""
    if not proofs_dir.is_dir():
        return []
    unneeded = set()
    for path in proofs_dir.glob("*.json"):
        match = PROOF.match(path.name)
        record = read_json(path) if match else None
        if record and record.get("sha256") == match[1] and \
                (record.get("package"), record.get("version")) not in needed:
            unneeded.add(match[1])
    return sorted(p for p in proofs_dir.iterdir() if PROOF.match(p.name) and PROOF.match(p.name)[1] in unneeded)


def collect(project: Project, keep_runs: int = KEEP_RUNS, dry_run: bool = False) -> Collected:
    done = Collected()
    found = {"cluster_runs": [run for target in sorted((project.build_dir / "cluster").glob("*"))
                              if target.is_dir() for run in runs_to_remove(target, keep_runs)],
             "proofs": proofs_to_remove(project.build_dir / "proofs", needed_packages(project))}
    for kind, paths in found.items():
        for path in paths:
            done.freed_bytes += size_of(path)
            done.removed[kind].append(str(path))
            if not dry_run:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    verb = "would free" if dry_run else "freed"
    log.info(f"gc: {verb} {done.freed_bytes / 2**20:.1f} MiB: {len(found['cluster_runs'])} cluster runs, "
             f"{len(found['proofs'])} proof files")
    return done

