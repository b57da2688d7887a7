#!/usr/bin/env python3
"""Lock time, uv against pip-tools, cold and warm caches, and the no-op run.

    .venv/bin/python bench/lock_resolvers.py [--all-with-pip-tools]

Cold runs get fresh, empty resolver caches; warm runs reuse them. pip-tools is timed on
keystone alone unless asked (all twelve services take it many minutes).
"""

import sys
import tempfile

from common import scratch_project, timed


def lock_times(resolver: str, services: list[str] | None) -> tuple[float, float]:
    project = scratch_project(services)
    caches = tempfile.mkdtemp(prefix="stackdeb-bench-cache-")
    env = {"STACKDEB_PROJECT_DIR": str(project), "UV_CACHE_DIR": f"{caches}/uv",
           "PIP_CACHE_DIR": f"{caches}/pip", "XDG_CACHE_HOME": caches}
    args = ["lock", "--force", "--resolver", resolver]
    return timed(args, **env), timed(args, **env)


def main() -> None:
    keystone = ["keystone"]
    rows = [("uv", "keystone", *lock_times("uv", keystone)),
            ("pip-tools", "keystone", *lock_times("pip-tools", keystone)),
            ("uv", "all 12 services", *lock_times("uv", None))]
    if "--all-with-pip-tools" in sys.argv:
        rows.append(("pip-tools", "all 12 services", *lock_times("pip-tools", None)))
    print(f"{'resolver':10} {'services':16} {'cold s':>8} {'warm s':>8}")
    for resolver, what, cold, warm in rows:
        print(f"{resolver:10} {what:16} {cold:8.1f} {warm:8.1f}")
    print(f"pip-tools / uv on keystone: cold {rows[1][2] / rows[0][2]:.0f}x, warm {rows[1][3] / rows[0][3]:.0f}x")
    project = scratch_project()
    noop = timed(["lock"], STACKDEB_PROJECT_DIR=str(project))
    print(f"no-op lock (committed lock, inputs unchanged): {noop:.2f} s")


if __name__ == "__main__":
    main()
