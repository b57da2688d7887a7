#!/usr/bin/env python3
"""lintian on built venv packages two ways, in the same chroot, one package after the other:

  plain      one `lintian` process, as Debian runs it (the reference)
  included   stackdeb's way: the same process with builders/lintian-include: three checks
             asked only about the names their patterns can match, and file(1)'s verdicts kept
             by content (empty at the start, so each package reuses the ones before it)

and proof that both report the same tags, at every level (errors to pedantic, experimental
and overridden ones too), for every package.

    .venv/bin/python bench/lintian_include.py [--release R] [--suite S] [SERVICE ...]

Uses the packages in the build directory (STACKDEB_BUILD_DIR: the project's, or the one
bench/package_all.py --keep printed); default: every built one.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builders.chroot import build_chroot  # noqa: E402
from builders.lint import include_binds, lintian_counts  # noqa: E402
from builders.project import Project  # noqa: E402
from builders.targets import Target, get_suite  # noqa: E402
from builders.tools import lintian  # noqa: E402
from builders.tools.namespace import Bind, run_in_chroot  # noqa: E402

EVERY_LEVEL = "--tag-display-limit 0 --display-level '>=pedantic' -I -E --pedantic --show-overrides"


def run(chroot, deb: Path, report: Path, file_types: Path | None) -> None:
    """lintian on `deb`; with `file_types`, with builders/lintian-include keeping file(1)'s
    verdicts there."""
    binds = [Bind(deb.parent, "/judge", read_only=False)] + (include_binds(file_types) if file_types else [])
    script = lintian.command(f"/judge/{deb.name}", f"/judge/{report.name}", bool(file_types), EVERY_LEVEL) + "\n"
    run_in_chroot(chroot.rootfs, chroot.scratch, script, network=False, binds=binds, what=deb.name, fix="")
    status = (report.parent / f"{report.name}.status").read_text().strip()
    if status not in ("0", "2"):
        sys.exit(f"lintian failed on {deb.name} (exit {status}): see {report}")


def tags(report: Path) -> list[str]:
    return sorted(line for line in report.read_text().splitlines() if line[1:3] == ": ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="2026.1")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("services", nargs="*")
    args = parser.parse_args()
    project = Project.from_env()
    root = project.target_dir("packages", Target(args.release, get_suite(args.suite)))
    debs = sorted(d for d in root.glob("*/venv-*.deb") if not args.services or d.parent.name in args.services)
    if not debs:
        sys.exit(f"no packages built in {root}: run stackdeb package first")
    chroot = build_chroot(project.chroot_dir, get_suite(args.suite))
    chroot.ensure()
    if not lintian.include_applies(chroot.rootfs):
        sys.exit(f"the {args.suite} chroot's lintian is not the one builders/lintian-include was read from")
    file_types = Path(tempfile.mkdtemp(prefix="stackdeb-bench-file-types-"))      # none kept at first
    totals, same = {"plain": 0.0, "included": 0.0}, True
    print(f"{'package':22} {'plain':>8} {'included':>9}  ratio  tags", flush=True)
    for deb in debs:
        with tempfile.TemporaryDirectory() as work:
            copy = Path(work) / deb.name
            shutil.copy(deb, copy)
            times = {}
            for way in ("plain", "included"):
                started = time.monotonic()
                run(chroot, copy, Path(work) / f"{way}.txt", file_types if way == "included" else None)
                times[way] = time.monotonic() - started
                totals[way] += times[way]
            a, b = tags(Path(work) / "plain.txt"), tags(Path(work) / "included.txt")
            same &= a == b
            counts = lintian_counts("\n".join(a))
            print(f"{deb.parent.name:22} {times['plain']:7.1f}s {times['included']:8.1f}s  "
                  f"{times['included'] / times['plain']:4.2f}x  {'same' if a == b else 'DIFFERENT'} "
                  f"({len(a)} lines: {', '.join(f'{n} {k}' for k, n in counts.items())})", flush=True)
    print(f"{'all':22} {totals['plain']:7.1f}s {totals['included']:8.1f}s  "
          f"{totals['included'] / totals['plain']:4.2f}x  "
          f"{'same tags for every package' if same else 'TAGS DIFFER'}")
    shutil.rmtree(file_types)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
