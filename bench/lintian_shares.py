#!/usr/bin/env python3
"""lintian on built venv packages two ways, in the same chroot, one package after the other:

  plain    one `lintian` process, as Debian runs it (the reference)
  shares   stackdeb's way: two processes side by side, each with its share of the checks
           (builders/tools/lintian.SHARES)

and proof that both report the same tags (every E:, W: and N: line) for every package.

    .venv/bin/python bench/lintian_shares.py [--release R] [--suite S] [SERVICE ...]

Uses the packages in the build directory (stackdeb package); default: every built one.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builders.chroot import build_chroot  # noqa: E402
from builders.lint import run_shares as shared_run  # noqa: E402
from builders.lint import lintian_counts  # noqa: E402
from builders.project import Project  # noqa: E402
from builders.targets import Target, get_suite  # noqa: E402
from builders.tools import lintian  # noqa: E402
from builders.tools.namespace import Bind, run_in_chroot  # noqa: E402


def plain(chroot, deb: Path, report: Path) -> None:
    script = lintian.command(f"/judge/{deb.name}", f"/judge/{report.name}") + " || true\n"
    run_in_chroot(chroot.rootfs, chroot.scratch, script, network=False,
                  binds=[Bind(deb.parent, "/judge", read_only=False)], what=deb.name, fix="")


def tags(report: Path) -> list[str]:
    return sorted(line for line in report.read_text().splitlines() if line[1:3] == ": " and line[0] in "EWN")


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
    totals, same = {"plain": 0.0, "shares": 0.0}, True
    print(f"{'package':22} {'plain':>8} {'shares':>8}  ratio  tags")
    for deb in debs:
        with tempfile.TemporaryDirectory() as work:
            copy = Path(work) / deb.name
            shutil.copy(deb, copy)
            times = {}
            for way, run in (("plain", plain), ("shares", shared_run)):
                started = time.monotonic()
                run(chroot, copy, Path(work) / f"{way}.txt")
                times[way] = time.monotonic() - started
                totals[way] += times[way]
            a, b = tags(Path(work) / "plain.txt"), tags(Path(work) / "shares.txt")
            same &= a == b
            counts = lintian_counts("\n".join(a))
            print(f"{deb.parent.name:22} {times['plain']:7.1f}s {times['shares']:7.1f}s  "
                  f"{times['plain'] / times['shares']:4.2f}x  {'same' if a == b else 'DIFFERENT'} "
                  f"({counts.get('errors', 0)} E, {counts.get('warnings', 0)} W)")
    print(f"{'all':22} {totals['plain']:7.1f}s {totals['shares']:7.1f}s  {totals['plain'] / totals['shares']:4.2f}x  "
          f"{'same tags for every package' if same else 'TAGS DIFFER'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
