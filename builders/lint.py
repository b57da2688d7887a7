"""lintian's verdict on a built package, by the target suite's own lintian in its build chroot.

A verdict is kept by the .deb's sha256 and the lintian that gave it, with builders/lintian-include
or not (<cache>/lintian/<suite>/<lintian version>[+include-<digest>]/<sha256>.txt), so the same
bytes are never judged twice: a forced rebuild of unchanged inputs, a reproducibility rebuild,
a pipeline retried.
"""

import os
import shutil
from pathlib import Path

from builders import log
from builders.chroot import Chroot
from builders.errors import StackdebError
from builders.outputs import fsync_directory
from builders.project import Project
from builders.tools import lintian
from builders.tools.namespace import Bind, run_in_chroot

ERROR_LINES_SHOWN = 15


def judge(project: Project, chroot: Chroot, deb: Path, sha256: str, report: Path) -> dict[str, int]:
    """Write lintian's report on `deb` (whose sha256 the caller has) to `report`; return the
    tags per severity. Errors are raised, naming the first ones."""
    included = lintian.include_applies(chroot.rootfs)     # read once: it hashes lintian's sources
    kept = verdict_path(project, chroot, sha256, included)
    if kept.exists():
        shutil.copyfile(kept, report)
        log.info(f"{deb.name}: lintian judged these exact bytes before; its verdict is reused ({kept})")
    else:
        run_lintian(project, chroot, deb, report, included)
        _keep(report, kept)
    text = report.read_text(errors="replace")
    counts = lintian_counts(text)
    if counts.get("errors"):
        errors = [line for line in text.splitlines() if line.startswith("E: ")]
        raise StackdebError(f"lintian found {counts['errors']} errors in {deb.name}:\n  "
                            + "\n  ".join(errors[:ERROR_LINES_SHOWN]),
                            hint="fix the package, or override a tag with its reason in "
                                 "packaging/templates/lintian-overrides")
    return counts


def verdict_path(project: Project, chroot: Chroot, sha256: str, included: bool) -> Path:
    """Kept by the lintian that judged, and by builders/lintian-include when it ran."""
    judge = lintian_version(chroot)
    if included:
        judge += f"+include-{lintian.include_digest()}"
    return project.cache_dir / "lintian" / chroot.suite.codename / judge / f"{sha256}.txt"


def include_binds(file_types: Path) -> list[Bind]:
    """builders/lintian-include and the directory of file(1)'s kept verdicts, for lintian."""
    file_types.mkdir(parents=True, exist_ok=True)
    return [Bind(lintian.INCLUDE_SOURCE, lintian.INCLUDE_DIR), Bind(file_types, lintian.FILE_TYPES, read_only=False)]


def file_types_dir(project: Project, chroot: Chroot) -> Path:
    """file(1)'s kept verdicts, by the file and magic versions that gave them."""
    versions = "+".join(installed_version(chroot.rootfs, name) or "none" for name in ("file", "libmagic-mgc"))
    return project.cache_dir / "lintian" / chroot.suite.codename / "file-types" / versions.replace(":", "_")


def lintian_version(chroot: Chroot) -> str:
    return installed_version(chroot.rootfs, "lintian") or "unknown"


def installed_version(rootfs: Path, package: str) -> str | None:
    """The version of `package` in the chroot's dpkg database."""
    status = (rootfs / "var/lib/dpkg/status").read_text(errors="replace")
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == package and "installed" in fields.get("Status", ""):
            return fields.get("Version")
    return None


def run_lintian(project: Project, chroot: Chroot, deb: Path, report: Path, included: bool) -> None:
    """lintian in an overlay of the build chroot, no network, with builders/lintian-include
    when `included` (the chroot's lintian is the one it was read from: lintian.include_applies);
    its exit status is kept apart from its tags, so that lintian failing is never read as a
    clean verdict."""
    inside = f"/judge/.{report.name}"
    binds = [Bind(deb.parent, "/judge", read_only=False)]
    if included:
        binds += include_binds(file_types_dir(project, chroot))
    else:
        log.info(f"{deb.name}: lintian {lintian_version(chroot)} is not the one builders/lintian-include "
                 f"was read from; lintian runs without it")
    run_in_chroot(chroot.rootfs, chroot.scratch, lintian.command(f"/judge/{deb.name}", inside, included) + "\n",
                  network=False, binds=binds, what=deb.name, action="lintian",
                  fix="read the report beside the package")
    written = deb.parent / f".{report.name}"
    status_file = written.with_name(written.name + ".status")
    text, status = written.read_text(errors="replace"), status_file.read_text().strip()
    status_file.unlink()
    written.replace(report)
    # 2: it found errors (--fail-on error); 1: it could not judge (a check died, a bad .deb)
    if not (status == "0" or status == "2" and lintian_counts(text).get("errors")):
        tail = "\n".join(text.splitlines()[-ERROR_LINES_SHOWN:])
        raise StackdebError(f"lintian did not finish on {deb.name} (exit {status}):\n{tail}",
                            hint="read the report beside the package")


def _keep(report: Path, kept: Path) -> None:
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_name(f".{kept.name}.partial")
    shutil.copyfile(report, partial)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    partial.replace(kept)
    fsync_directory(kept.parent)


def lintian_counts(report: str) -> dict[str, int]:
    """Tags per severity in a lintian report (lines like `W: package: tag ...`)."""
    names = {"E": "errors", "W": "warnings", "I": "info", "P": "pedantic", "X": "experimental",
             "O": "overridden"}
    counts: dict[str, int] = {}
    for line in report.splitlines():
        kind = names.get(line[:1]) if line[1:3] == ": " else None
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def lintian_summary(report: Path) -> str:
    """"0 errors, 0 warnings": what lintian said, told as it is."""
    return summary_of(lintian_counts(report.read_text() if report.exists() else ""))


def summary_of(counts: dict[str, int]) -> str:
    counts = {"errors": 0, "warnings": 0} | counts
    return ", ".join(f"{count} {kind}" for kind, count in counts.items())
