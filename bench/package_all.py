#!/usr/bin/env python3
"""`stackdeb package` for many services in one run, with lintian (builders/package.py: builds
run ahead, the built packages are judged two at a time), against the reference measured in
the same invocation: the same run without lintian, the builds alone, which the run with
lintian cannot beat. The run with lintian starts with nothing of lintian's kept; it is then run
again with file(1)'s verdicts on the files kept (builders/lintian-include), as after any
earlier run of the release, but without the verdicts on whole packages. Each figure has the
CPU time of every process it started, so a run that leaves a core idle shows. --per-service
adds one run per service, one after the other (each package judged before the next build
starts), as stackdeb ran several services before 2026-12-04.

    .venv/bin/python bench/package_all.py [--release 2026.1] [--suite trixie] [--per-service]
                                          [--keep] [SERVICE ...]

Warm: the suite's build chroot and the wheel cache are the machine's; lock and bundle are made
first (not timed) in a scratch build directory. Every run starts without lintian verdicts (a
scratch cache that links everything of the machine's cache but lintian's), so lintian judges
every package each time.
"""

import argparse
import os
import resource
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


def forget_verdicts(lintian_cache: Path) -> None:
    """Drop lintian's verdicts on whole packages, keep file(1)'s verdicts on their files."""
    for judge in lintian_cache.glob("*/*"):
        if judge.name != "file-types":
            shutil.rmtree(judge)


def cpu_timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process it started)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="2026.1")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch build directory (the packages, for bench/lintian_include.py)")
    parser.add_argument("--per-service", action="store_true",
                        help="also one `stackdeb package SERVICE` per service, one after the other (slow)")
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
        if args.per_service:
            shutil.rmtree(cache / "lintian", ignore_errors=True)
            figures["one run per service"] = cpu_timed(
                lambda: sum(timed(["package", *target, name, "--force"], **env) for name in names))
        figures["the builds alone, no lintian (reference)"] = cpu_timed(
            lambda: timed(["package", *target, *names, "--force", "--no-lintian"], **env))
        shutil.rmtree(cache / "lintian", ignore_errors=True)
        figures["one run for all, with lintian"] = cpu_timed(
            lambda: timed(["package", *target, *names, "--force"], **env))
        forget_verdicts(cache / "lintian")
        figures["again, file(1)'s verdicts kept"] = cpu_timed(
            lambda: timed(["package", *target, *names, "--force"], **env))
        reference = figures["the builds alone, no lintian (reference)"][0]
        print(f"\n{len(names)} services, {args.release}/{args.suite}, {os.cpu_count()} cores")
        for name, (seconds, cpu) in figures.items():
            print(f"  {name:42} {seconds:7.1f}s  {seconds / reference:5.2f}x the reference's time  "
                  f"(CPU {cpu:6.1f}s, {cpu / seconds:4.2f} cores busy)")
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
