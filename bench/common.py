"""Helpers for the benchmark scripts: a scratch copy of the project and a timed CLI call."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("STACKDEB_SHARED_DATA", ROOT / "upstream"))


def scratch_project(services: list[str] | None = None) -> Path:
    """A temporary copy of the project's data, optionally with only some catalog services."""
    import yaml
    root = Path(tempfile.mkdtemp(prefix="stackdeb-bench-"))
    for folder in ("packaging", "requirements-bundles"):
        shutil.copytree(ROOT / folder, root / folder)
    if services:
        catalog = root / "packaging/services.yaml"
        entries = yaml.safe_load(catalog.read_text())
        catalog.write_text(yaml.safe_dump({s: entries[s] for s in services}))
    return root


def timed(args: list[str], **env: str) -> float:
    full_env = {**os.environ, "STACKDEB_RELEASES": str(DATA / "openstack-releases"),
                "STACKDEB_REQUIREMENTS": str(DATA / "openstack-requirements"), **env}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "builders.cli", *args], env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - started
    if result.returncode:
        sys.exit(f"benchmark step failed: stackdeb {' '.join(args)}\n{result.stderr[-2000:]}")
    return elapsed
