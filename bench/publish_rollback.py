#!/usr/bin/env python3
"""Time to publish a build set of venv packages plus the bundle, and to roll it back.

    .venv/bin/python bench/publish_rollback.py [RELEASE SUITE]     (default: 2026.1 bookworm)

Uses the target's packages in build/packages/<release>-<suite>/ and its bundle (stackdeb
bundle and stackdeb package first), into a scratch repository with a fresh signing key.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builders.project import Project  # noqa: E402
from builders.repository.publish import publish_build_set, rollback  # noqa: E402
from builders.targets import get_target  # noqa: E402


def main() -> None:
    release, suite = sys.argv[1:3] if len(sys.argv) == 3 else ("2026.1", "bookworm")
    project = Project.from_env()
    debs = sorted(project.target_dir("packages", get_target(release, suite)).glob("*/venv-*.deb"))
    bundle = sorted(project.bundle_dir(release, suite).glob("openstack-wheels-*.deb"))
    if not debs or not bundle:
        sys.exit(f"build the {release}/{suite} bundle and packages first")
    root = Path(tempfile.mkdtemp(prefix="stackdeb-bench-repo-"))
    size = sum(p.stat().st_size for p in debs + bundle) / 1e6
    publish_build_set(root, release, suite, bundle)     # an earlier state to return to
    started = time.monotonic()
    publish_build_set(root, release, suite, debs + bundle)
    first = time.monotonic() - started
    started = time.monotonic()
    publish_build_set(root, release, suite, debs + bundle)   # nothing new: a no-op
    noop = time.monotonic() - started
    started = time.monotonic()
    rollback(root, release, suite)
    back = time.monotonic() - started
    print(f"publish {len(debs)} venv packages + the bundle ({size:.0f} MB): {first:.1f} s "
          f"onto a repository holding the bundle")
    print(f"publish again with nothing new: {noop:.2f} s   rollback (a new generation): {back:.2f} s "
          f"= {back / first:.2f}x the publish")


if __name__ == "__main__":
    main()
