"""SIGKILL at points spread over a whole run of the lock, bundle and package stages: each
stage's outputs are always the old ones or the new ones, whole (builders/outputs.py), and
the next run cleans up what the killed one left."""

import os
import subprocess
import sys
import time
from pathlib import Path

from builders.manifest import outputs_intact, read_json, sha256_file


def start(mini, *args) -> subprocess.Popen:
    index = ["--index-url", mini.index.url] if args[0] in ("lock", "bundle") else []
    return subprocess.Popen([sys.executable, "-m", "builders.cli", *args, *index],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(mini, *args) -> float:
    started = time.monotonic()
    process = start(mini, *args)
    assert process.wait() == 0, process.stderr.read()
    return time.monotonic() - started


def kill_points(duration: float, count: int) -> list[float]:
    """From early in the run to well after its end: both outcomes happen."""
    return [duration * (0.1 + 1.4 * i / (count - 1)) for i in range(count)]


def killed_at(mini, delay: float, *args) -> None:
    process = start(mini, *args)
    time.sleep(delay)
    process.kill()
    process.wait()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*") if not p.name.endswith(".lock"))


def set_libone(mini, version: str) -> None:
    (mini.requirements / "2026.1/upper-constraints.txt").write_text(f"libone==={version}\nlibtwo===0.5.0\n")


def lock_state(mini) -> str:
    """The libone pin of a whole lock: manifest, lock.txt and closures.json agree."""
    manifest = read_json(mini.lock_dir / "manifest.json")
    assert manifest and outputs_intact(mini.lock_dir, manifest["outputs"]), "lock files from different runs"
    pins = [line for line in (mini.lock_dir / "lock.txt").read_text().splitlines() if line.startswith("libone==")]
    return f"{pins[0]} gen {manifest['generation']}"


def bundle_state(mini) -> str:
    wheelhouse = mini.bundle / "wheelhouse"
    manifest = read_json(wheelhouse / "manifest.json")
    for artifact in manifest["artifacts"]:
        assert sha256_file(wheelhouse / "wheels" / artifact["filename"]) == artifact["sha256"]
    debs = [p.name for p in mini.bundle.glob("*.deb")]
    assert debs == [f"openstack-wheels-2026.1_2026.1+deb12.{manifest['lock_generation']}_amd64.deb"], debs
    return f"lock generation {manifest['lock_generation']}"


def test_a_killed_lock_never_leaves_files_of_two_runs(mini_project):
    mini = mini_project
    duration = finish(mini, "lock")
    outcomes = set()
    for number, delay in enumerate(kill_points(duration, 8)):
        before = lock_state(mini)
        set_libone(mini, "1.1.0" if number % 2 == 0 else "1.0.0")
        killed_at(mini, delay, "lock")
        after = lock_state(mini)
        outcomes.add("old" if after == before else "new")
        if after == before:         # the kill won: the next lock still makes a new generation
            finish(mini, "lock")
            assert lock_state(mini) != before
    assert outcomes == {"old", "new"}, outcomes
    finish(mini, "lock", "--force")
    assert leftovers(mini.lock_dir.parent) == []


def test_a_killed_bundle_never_leaves_a_mixed_wheelhouse(mini_project):
    mini = mini_project
    finish(mini, "lock")
    duration = finish(mini, "bundle")
    outcomes = set()
    for number, delay in enumerate(kill_points(duration, 6)):
        before = bundle_state(mini)
        set_libone(mini, "1.1.0" if number % 2 == 0 else "1.0.0")
        finish(mini, "lock")
        killed_at(mini, delay, "bundle")
        outcomes.add("old" if bundle_state(mini) == before else "new")
        finish(mini, "bundle")
    assert outcomes == {"old", "new"}, outcomes
    assert leftovers(mini.bundle.parent) == []


def test_a_killed_package_build_keeps_a_whole_package(mini_project):
    mini = mini_project
    finish(mini, "lock")
    finish(mini, "bundle")
    duration = finish(mini, "package", "alpha", "--no-lintian")
    out = mini.build / "packages/2026.1-bookworm/alpha"
    for delay in kill_points(duration, 4):
        killed_at(mini, delay, "package", "alpha", "--no-lintian", "--force")
        manifest = read_json(out / "manifest.json")
        assert manifest and sha256_file(out / manifest["deb"]) == manifest["sha256"]
        assert sorted(p.name for p in out.glob("*.deb")) == [manifest["deb"]]
    # the killed builds' work directories are removed once they are old enough that their
    # owner cannot be between making and locking them (builders/outputs.scratch)
    left = [out.parent / name for name in leftovers(out.parent)]
    assert left
    for path in left:
        os.utime(path, (time.time() - 600, time.time() - 600))
    finish(mini, "package", "alpha", "--no-lintian", "--force")
    assert leftovers(out.parent) == []
