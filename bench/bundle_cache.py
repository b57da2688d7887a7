#!/usr/bin/env python3
"""Bundle time for the committed 2026.1/bookworm lock: cold cache, warm cache, and no-op.

    .venv/bin/python bench/bundle_cache.py

Cold: an empty wheel cache (every file downloaded, every sdist compiled). Warm: the same
cache, bundle rebuilt with --force (nothing fetched or compiled). No-op: nothing changed.
"""

import tempfile

from common import timed


def main() -> None:
    cache = tempfile.mkdtemp(prefix="stackdeb-bench-wheels-")
    build = tempfile.mkdtemp(prefix="stackdeb-bench-build-")
    env = {"STACKDEB_CACHE_DIR": cache, "STACKDEB_BUILD_DIR": build}
    args = ["bundle", "--release", "2026.1", "--suite", "bookworm"]
    cold = timed(args, **env)
    warm = timed([*args, "--force"], **env)
    noop = timed(args, **env)
    print(f"bundle 2026.1/bookworm   cold {cold:6.1f} s   warm {warm:6.1f} s   no-op {noop:5.2f} s")
    print(f"cold / warm: {cold / warm:.1f}x   warm / no-op: {warm / noop:.0f}x")


if __name__ == "__main__":
    main()
