#!/usr/bin/env python3
"""Time to publish a build set of the twelve venv packages plus the bundle, and to roll back.

    .venv/bin/python bench/publish_rollback.py

Uses the packages in build/packages/2026.1-bookworm/ and the bundle (stackdeb package --all
and stackdeb bundle first), into a scratch repository with a fresh signing key.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builders.project import Project  # noqa: E402
from builders.repository import publish_build_set, rollback  # noqa: E402


def main() -> None:
    project = Project.from_env()
    debs = sorted((project.build_dir / "packages/2026.1-bookworm").glob("*/venv-*.deb"))
    bundle = sorted(project.bundle_dir("2026.1", "bookworm").glob("openstack-wheels-*.deb"))
    if len(debs) < 12 or not bundle:
        sys.exit("build the bundle and all twelve packages first")
    root = Path(tempfile.mkdtemp(prefix="stackdeb-bench-repo-"))
    size = sum(p.stat().st_size for p in debs + bundle) / 1e6
    publish_build_set(root, "2026.1", "bookworm", bundle)     # an earlier state to return to
    started = time.monotonic()
    publish_build_set(root, "2026.1", "bookworm", debs + bundle)
    first = time.monotonic() - started
    started = time.monotonic()
    publish_build_set(root, "2026.1", "bookworm", debs + bundle)   # nothing new: a no-op
    noop = time.monotonic() - started
    started = time.monotonic()
    rollback(root, "2026.1", "bookworm")
    back = time.monotonic() - started
    print(f"publish {len(debs)} venv packages + the bundle ({size:.0f} MB): {first:.1f} s "
          f"onto a repository holding the bundle")
    print(f"publish again with nothing new: {noop:.2f} s   rollback: {back:.3f} s")


if __name__ == "__main__":
    main()
