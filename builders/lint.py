"""lintian's verdict on a built package, by the target suite's own lintian in its build chroot.

A verdict is kept by the .deb's sha256 and the lintian version that gave it
(<cache>/lintian/<suite>/<lintian version>/<sha256>.txt), so the same bytes are never judged
twice: a forced rebuild of unchanged inputs, a reproducibility rebuild, a pipeline retried.
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
    kept = verdict_path(project, chroot, sha256)
    if kept.exists():
        shutil.copyfile(kept, report)
        log.info(f"{deb.name}: lintian judged these exact bytes before; its verdict is reused ({kept})")
    else:
        run_shares(chroot, deb, report)
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


def verdict_path(project: Project, chroot: Chroot, sha256: str) -> Path:
    return project.cache_dir / "lintian" / chroot.suite.codename / lintian_version(chroot) / f"{sha256}.txt"


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


def run_shares(chroot: Chroot, deb: Path, report: Path) -> None:
    """lintian in an overlay of the build chroot, no network, in two processes that share the
    checks (tools/lintian.SHARES); their exit statuses are kept apart from their tags, so that
    lintian failing is never read as a clean verdict."""
    prefix = f"/judge/.{report.name}"
    script = "".join(f"( {line} ) &\n" for line in lintian.shared_commands(f"/judge/{deb.name}", prefix))
    run_in_chroot(chroot.rootfs, chroot.scratch, script + "wait\n", network=False,
                  binds=[Bind(deb.parent, "/judge", read_only=False)],
                  what=deb.name, action="lintian", fix="read the report beside the package")
    reports = []
    for number in range(len(lintian.SHARES)):
        part = deb.parent / f".{report.name}.{number}"
        status_file = part.with_name(part.name + ".status")
        text, status = part.read_text(errors="replace"), status_file.read_text().strip()
        part.unlink()
        status_file.unlink()
        if status not in ("0", "1") or (status == "1" and not lintian_counts(text).get("errors")):
            tail = "\n".join(text.splitlines()[-ERROR_LINES_SHOWN:])
            raise StackdebError(f"lintian did not finish on {deb.name} (exit {status}):\n{tail}",
                                hint="read the report beside the package")
        reports.append(text)
    report.write_text(merge_reports(reports))


def merge_reports(reports: list[str]) -> str:
    """One report from the shares': their tags, by severity, then lintian's other lines once."""
    order = "EWIPXON"
    lines = {line for text in reports for line in text.splitlines() if line}
    tags = sorted((line for line in lines if line[1:3] == ": " and line[0] in order),
                  key=lambda line: (order.index(line[0]), line))
    return "".join(f"{line}\n" for line in sorted(lines - set(tags)) + tags)


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
