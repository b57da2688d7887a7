"""SIGKILL at 20 random points spread over whole runs of the lock, bundle and package stages: each
stage's outputs are always the old ones or the new ones, whole (builders/outputs.py); no
version is ever given to two different contents; the next run converges to the bytes of an
uninterrupted run and leaves nothing behind. And two stages of one target run side by side."""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from builders.manifest import outputs_intact, read_json, sha256_file

KILLS = 20
# a new draw each run; a failure names its seed, and STACKDEB_KILL_SEED=<seed> repeats it
SEED = int(os.environ.get("STACKDEB_KILL_SEED") or random.SystemRandom().randrange(2**32))


def start(mini, *args) -> subprocess.Popen:
    index = ["--index-url", mini.index.url] if args[0] in ("lock", "bundle") else []
    # a session of its own, to find whatever it started (tools do not call setsid); verbose:
    # the tests follow a run by the commands it says it runs
    return subprocess.Popen([sys.executable, "-m", "builders.cli", *args, *index], start_new_session=True,
                            env={**os.environ, "STACKDEB_VERBOSE": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def finish(mini, *args) -> float:
    started = time.monotonic()
    process = start(mini, *args)
    assert process.wait() == 0, process.stderr.read()
    return time.monotonic() - started


@pytest.fixture(autouse=True)
def say_the_seed():
    print(f"kill points drawn with STACKDEB_KILL_SEED={SEED}")     # shown with a failure


def kill_points(duration: float, last: float = 1.3) -> list[float]:
    """Random, from early in a run to after its end: one point drawn in each of KILLS equal
    slices of that span, so that chance cannot put them all on one side of the switch."""
    draw = random.Random(SEED)
    width = (last - 0.02) / KILLS
    return [duration * (0.02 + width * (i + draw.random())) for i in range(KILLS)]


def test_kill_points_are_random_and_spread():
    points = kill_points(10.0)
    assert len(points) == KILLS and points == sorted(points) and len(set(points)) == KILLS
    assert points[0] < 0.02 * 10 + 0.7 and points[-1] > 10.0, f"seed {SEED}: {points}"


def killed_at(mini, delay: float, *args) -> None:
    """SIGKILL stackdeb alone, as the OOM killer would: what it started must die with it."""
    process = start(mini, *args)
    time.sleep(delay)
    process.kill()
    process.wait()
    # the kernel delivers the kill at once; exiting (unmounting a build's overlay) takes a
    # moment, seconds on a machine loaded with other work
    deadline = time.monotonic() + 15
    while session_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_members(process.pid) == [], "a killed stage left processes running"


def session_members(session: int) -> list[str]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(f"{stat.parent.name} {name}")
    return members


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*") if not p.name.endswith(".lock"))


def age(paths) -> None:
    """Work directories of killed runs are removed once old enough that their owner cannot be
    between making and locking them (builders/outputs.scratch)."""
    for path in paths:
        os.utime(path, (time.time() - 600, time.time() - 600))


def set_libone(mini, version: str) -> None:
    (mini.requirements / "2026.1/upper-constraints.txt").write_text(f"libone==={version}\nlibtwo===0.5.0\n")


def lock_state(mini) -> tuple[int, str]:
    """(generation, digest of lock.txt) of a whole lock: its three files agree."""
    manifest = read_json(mini.lock_dir / "manifest.json")
    assert manifest and outputs_intact(mini.lock_dir, manifest["outputs"]), "lock files from different runs"
    return manifest["generation"], sha256_file(mini.lock_dir / "lock.txt")


def bundle_state(mini) -> tuple[str, str]:
    """(.deb name, its sha256) of a whole bundle: wheels, manifest, .deb and record agree."""
    wheelhouse = mini.bundle / "wheelhouse"
    manifest = read_json(wheelhouse / "manifest.json")
    for artifact in manifest["artifacts"]:
        assert sha256_file(wheelhouse / "wheels" / artifact["filename"]) == artifact["sha256"]
    debs = list(mini.bundle.glob("*.deb"))
    assert [d.name for d in debs] == [f"openstack-wheels-2026.1_2026.1+deb12.{manifest['lock_generation']}_amd64.deb"]
    record = read_json(mini.bundle / "manifest.json")
    assert record["deb"] == debs[0].name and record["sha256"] == sha256_file(debs[0])
    return debs[0].name, record["sha256"]


def one_content_per_version(states) -> None:
    """No version (a lock generation) names two different contents."""
    contents = {}
    for version, digest in states:
        assert contents.setdefault(version, digest) == digest, f"{version} was given to two contents"


def test_a_killed_lock_never_leaves_files_of_two_runs(mini_project):
    mini = mini_project
    in_tmp = set(Path(tempfile.gettempdir()).glob("stackdeb-lock-*"))
    duration = finish(mini, "lock")
    states, outcomes = [lock_state(mini)], set()
    for number, delay in enumerate(kill_points(duration)):
        set_libone(mini, "1.1.0" if number % 2 == 0 else "1.0.0")
        killed_at(mini, delay, "lock")
        states.append(lock_state(mini))
        outcomes.add("new" if states[-1] != states[-2] else "old")
    assert outcomes == {"old", "new"}, outcomes
    one_content_per_version(states)
    # the killed runs' work directories are the build directory's, removed by the next run
    assert set(Path(tempfile.gettempdir()).glob("stackdeb-lock-*")) == in_tmp
    age((mini.build / "scratch").glob("lock-*"))
    finish(mini, "lock", "--force")         # the next run that resolves removes them
    assert list((mini.build / "scratch").glob("lock-*")) == []
    converged = (mini.lock_dir / "lock.txt").read_bytes(), (mini.lock_dir / "closures.json").read_bytes()
    # an uninterrupted lock of the same inputs
    shutil.rmtree(mini.lock_dir)
    finish(mini, "lock")
    assert converged == ((mini.lock_dir / "lock.txt").read_bytes(), (mini.lock_dir / "closures.json").read_bytes())
    assert leftovers(mini.lock_dir.parent) == []


def use_lock(mini, saved: Path) -> None:
    shutil.rmtree(mini.lock_dir)
    shutil.copytree(saved, mini.lock_dir)


def test_a_killed_bundle_never_leaves_a_mixed_wheelhouse(mini_project, tmp_path):
    mini = mini_project
    locks = {}
    for version in ("1.0.0", "1.1.0"):        # two locks to alternate between, made once
        set_libone(mini, version)
        finish(mini, "lock")
        locks[version] = tmp_path / f"lock-{version}"
        shutil.copytree(mini.lock_dir, locks[version])
    uninterrupted = {}
    for version, saved in locks.items():
        use_lock(mini, saved)
        duration = finish(mini, "bundle")
        uninterrupted[version] = bundle_state(mini)
    states, outcomes = [bundle_state(mini)], set()
    for number, delay in enumerate(kill_points(duration)):
        use_lock(mini, locks["1.0.0" if number % 2 == 0 else "1.1.0"])
        killed_at(mini, delay, "bundle")
        states.append(bundle_state(mini))
        outcomes.add("new" if states[-1] != states[-2] else "old")
    assert outcomes == {"old", "new"}, outcomes
    # every state seen is, byte for byte, what an uninterrupted bundle of one of the locks made
    assert set(states) <= set(uninterrupted.values())
    finish(mini, "bundle")
    assert bundle_state(mini) == uninterrupted["1.0.0" if (KILLS - 1) % 2 == 0 else "1.1.0"]
    assert leftovers(mini.bundle.parent) == []


def test_a_killed_package_build_keeps_a_whole_package_and_converges(mini_project):
    mini = mini_project
    finish(mini, "lock")
    finish(mini, "bundle")
    duration = finish(mini, "package", "alpha", "--no-lintian")
    out = mini.build / "packages/2026.1-bookworm/alpha"
    built = read_json(out / "manifest.json")
    for delay in kill_points(duration, last=1.1):
        killed_at(mini, delay, "package", "alpha", "--no-lintian", "--force")
        manifest = read_json(out / "manifest.json")
        # the same version, and (the build is reproducible) always the same bytes
        assert (manifest["deb"], manifest["sha256"]) == (built["deb"], built["sha256"])
        assert sha256_file(out / manifest["deb"]) == manifest["sha256"]
        assert sorted(p.name for p in out.glob("*.deb")) == [manifest["deb"]]
    left = [out.parent / name for name in leftovers(out.parent)]
    assert left                                 # kills landed mid-build
    age(left)
    finish(mini, "package", "alpha", "--no-lintian", "--force")
    assert read_json(out / "manifest.json")["sha256"] == built["sha256"]
    assert leftovers(out.parent) == []


def said_until(process: subprocess.Popen, text: str) -> str:
    """What `process` wrote to stderr up to the line holding `text` (or all of it, when it
    ended without saying it)."""
    said = ""
    for line in process.stderr:
        said += line
        if text in line:
            break
    return said


def start_while_held(mini, held: subprocess.Popen, *args) -> tuple[subprocess.Popen, str]:
    """Start `stackdeb ARGS` while `held` is stopped (SIGSTOP), and let `held` go on once the
    new run says it waits for it (or ends): on a fast machine `held` would otherwise be done
    before the new run got to wait, and nothing would be tested. Returns the new run and what
    it said up to then."""
    os.killpg(held.pid, signal.SIGSTOP)
    try:
        process = start(mini, *args)
        return process, said_until(process, "is in use:")
    finally:
        os.killpg(held.pid, signal.SIGCONT)


def test_a_package_build_started_first_holds_its_bundle_and_a_new_bundle_waits(mini_project):
    mini = mini_project
    finish(mini, "lock")
    finish(mini, "bundle")
    before = bundle_state(mini)
    package = start(mini, "package", "alpha", "--no-lintian", "--force")
    said_first = said_until(package, "building in a clean")    # it holds its bundle now
    bundle, said = start_while_held(mini, package, "bundle", "--force")
    assert package.wait() == 0, said_first + package.stderr.read()
    assert bundle.wait() == 0, said + bundle.stderr.read()
    assert "is in use: waiting until the stages reading it finish" in said, said
    assert bundle_state(mini) == before          # same lock: the same bytes, whole


def test_a_bundle_started_first_and_a_package_build_both_succeed(mini_project):
    mini = mini_project
    set_libone(mini, "1.0.0")
    finish(mini, "lock")
    finish(mini, "bundle")
    set_libone(mini, "1.1.0")
    finish(mini, "lock")                          # a new lock: the bundle replaces its wheels
    bundle = start(mini, "bundle")
    said_first = said_until(bundle, "$ dpkg-deb")        # it writes its new outputs now
    package, said = start_while_held(mini, bundle, "package", "alpha", "--no-lintian", "--force")
    assert bundle.wait() == 0, said_first + bundle.stderr.read()
    assert package.wait() == 0, said + package.stderr.read()
    assert "bundles/2026.1-bookworm is in use: waiting until the run replacing it finishes" in said, said
    assert bundle_state(mini)[0].endswith("+deb12.2_amd64.deb")     # the new lock's, whole
    # the package build waited for the new bundle and was built against it
    buildinfo = next((mini.build / "packages/2026.1-bookworm/alpha").glob("*.buildinfo")).read_text()
    assert "openstack-wheels-2026.1 (= 2026.1+deb12.2)" in buildinfo, buildinfo
