#!/usr/bin/env python3
"""`stackdeb package` for many services: one service per run, as before 2026-12-04 (the
reference: each package judged by lintian before the next build starts), against one run for
them all, in which lintian judges a package while the next one builds (builders/package.py).
Then the builds alone, without lintian, for where the time goes.

    .venv/bin/python bench/package_all.py [--release 2026.1] [--suite trixie] [SERVICE ...]

Warm: the suite's build chroot and the wheel cache are the machine's; lock and bundle are made
first (not timed) in a scratch build directory. Every run starts without lintian verdicts (a
scratch cache that links everything of the machine's cache but them), so lintian judges every
package each time.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import timed  # noqa: E402
from builders.project import Project  # noqa: E402


def scratch_cache(real: Path, into: Path) -> Path:
    """A cache directory with everything of `real` but the lintian verdicts."""
    into.mkdir()
    for entry in real.iterdir():
        if entry.name != "lintian":
            (into / entry.name).symlink_to(entry)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="2026.1")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch build directory (the packages, for bench/lintian_shares.py)")
    parser.add_argument("services", nargs="*")
    args = parser.parse_args()
    names = args.services or [service.name for service in Project.from_env().catalog()]
    work = Path(tempfile.mkdtemp(prefix="stackdeb-bench-package-"))
    cache = scratch_cache(Project.from_env().cache_dir, work / "cache")
    env = {"STACKDEB_BUILD_DIR": str(work / "build"), "STACKDEB_CACHE_DIR": str(cache)}
    target = ["--release", args.release, "--suite", args.suite]
    try:
        print(f"set-up (not timed): lock and bundle for {args.release}/{args.suite}", flush=True)
        timed(["lock", *target], **env)
        timed(["bundle", *target], **env)
        timed(["package", *target, names[0], "--no-lintian"], **env)   # the chroot made, if it was not
        figures = {}
        shutil.rmtree(cache / "lintian", ignore_errors=True)
        figures["one run per service (reference)"] = sum(
            timed(["package", *target, name, "--force"], **env) for name in names)
        shutil.rmtree(cache / "lintian", ignore_errors=True)
        figures["one run for all"] = timed(["package", *target, *names, "--force"], **env)
        figures["one run for all, no lintian"] = timed(["package", *target, *names, "--force", "--no-lintian"],
                                                       **env)
        reference = figures["one run per service (reference)"]
        print(f"\n{len(names)} services, {args.release}/{args.suite}, {os.cpu_count()} cores")
        for name, seconds in figures.items():
            print(f"  {name:34} {seconds:7.1f}s  {reference / seconds:5.2f}x the reference's speed")
    finally:
        if args.keep:
            print(f"kept: STACKDEB_BUILD_DIR={work / 'build'}")
            shutil.rmtree(cache)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(the bench took {time.monotonic() - started:.0f}s)")
