"""Workers that share nothing (issue 12): a real master, its local worker (the master's side: it
holds the repository) and a second worker, `far`, with its own checkout, build directory and
cache, started as another machine's worker would be. The stages hand each other their outputs
through the artifact store (`stackdeb store serve`), by sha256, never through a shared path.

The master first runs alone (mini_master: one worker, no store), which gives the one-worker
build set to compare with. Then master.yaml gains `far` and the store, the master restarts,
and the tests force rebuilds: spread over both workers, with `far` killed mid-build, with the
store down, with a damaged object in the store.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from builders.chroot import build_chroot
from builders.buildmaster.embedded import wait_for_worker
from builders.manifest import sha256_file
from builders.targets import get_suite
from minimaster import STACKDEB, free_port, mini_master

FAR_PASSWORD = "second-machine-secret-8c1e"
BUILDBOT_WORKER = str(Path(STACKDEB).parent / "buildbot-worker")


def start_store(base: Path, settings: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([STACKDEB, "store", "serve", "--dir", str(base / "store"), "--listen",
                               f"127.0.0.1:{port}", "--workers", str(settings)],
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the store did not start"
            time.sleep(0.2)


def far_machine(base: Path, mini, shared_env: dict) -> dict:
    """Another machine's worker: a checkout of its own (without the target's lock: it comes
    from the store), its own build directory and cache. The cache is seeded with the build
    chroot's tarball, as a provisioned builder would be, so that the test does not run
    mmdebstrap a second time; it is a copy, not a shared path."""
    far = base / "far"
    shutil.copytree(mini.root, far / "project", ignore=shutil.ignore_patterns("2026.1"))
    chroot = build_chroot(Path(shared_env["STACKDEB_CHROOT_DIR"]), get_suite("bookworm"))
    (far / "cache/chroots").mkdir(parents=True)
    shutil.copy(chroot.tarball, far / "cache/chroots" / chroot.tarball.name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("STACKDEB_")}
    env.update(STACKDEB_PROJECT_DIR=str(far / "project"), STACKDEB_BUILD_DIR=str(far / "build"),
               STACKDEB_CACHE_DIR=str(far / "cache"), STACKDEB_STORE_USER="far",
               STACKDEB_STORE_PASSWORD=FAR_PASSWORD)
    return {"dir": far, "env": env}


def add_far_worker_and_store(master_yaml: Path, store_url: str) -> int:
    settings = yaml.safe_load(master_yaml.read_text())
    settings["workers"].append({"name": "far", "password": FAR_PASSWORD, "max_builds": 3, "stackdeb": STACKDEB})
    settings["store"] = {"url": store_url, "worker": "local"}
    master_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    return int(settings["worker_port"].split(":")[1])


def start_worker(far: dict, worker_port: int) -> None:
    worker = far["dir"] / "worker"
    if not worker.exists():
        subprocess.run([BUILDBOT_WORKER, "create-worker", "--umask=0o022", str(worker),
                        f"127.0.0.1:{worker_port}", "far", FAR_PASSWORD], check=True, capture_output=True)
    subprocess.run([BUILDBOT_WORKER, "start", str(worker)], env=far["env"], capture_output=True)


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (a lost machine loses them all)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def kill_machine(far: dict) -> None:
    pid = int((far["dir"] / "worker/twistd.pid").read_text())
    for process in process_tree(pid):
        try:
            os.kill(process, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("workers")
    with mini_master(base) as master:
        one_worker = published(master)
        master_yaml = master.mini.build / "master/master.yaml"
        port = free_port()
        worker_port = add_far_worker_and_store(master_yaml, f"http://127.0.0.1:{port}/")
        store = start_store(base, master_yaml, port)
        far = far_machine(base, master.mini, master.env)
        try:
            assert master.stackdeb("master", "stop").returncode == 0
            again = master.stackdeb("master", "start", "--no-kick-off")
            assert again.returncode == 0, again.stderr
            start_worker(far, worker_port)
            wait_for_worker(master.url, "far")
            state = type("Cluster", (), {"master": master, "far": far, "base": base, "store": store, "port": port,
                                         "master_yaml": master_yaml, "one_worker": one_worker})
            yield state
        finally:
            subprocess.run([BUILDBOT_WORKER, "stop", str(far["dir"] / "worker")], capture_output=True)
            os.killpg(state.store.pid, signal.SIGTERM)     # a test may have restarted it


def published(master) -> dict[str, str]:
    """deb name -> sha256 of what the last publish put in staging."""
    return {p["deb"]: p["sha256"] for p in master.builds("publish")[-1]["properties"]["published"][0]}


def force(master, **params) -> None:
    status, body = master.engineer.call("forceschedulers/build", "force", builderid=None, reason="test",
                                        target="2026.1-bookworm", services=[], rebuild=params.get("rebuild", True),
                                        publish=True)
    assert status == 200, body


def worker_of(master, build: dict) -> str:
    return master.anonymous.get(f"workers/{build['workerid']}")["workers"][0]["name"]


def step_logs(master, build: dict) -> str:
    texts = []
    for step in master.engineer.get(f"builds/{build['buildid']}/steps")["steps"]:
        for log in master.engineer.get(f"steps/{step['stepid']}/logs")["logs"]:
            chunks = master.engineer.get(f"logs/{log['logid']}/contents")["logchunks"]
            texts.append("".join(chunk["content"] for chunk in chunks))
    return "\n".join(texts)


def test_a_run_spreads_over_workers_that_share_nothing_and_lands_the_same_bytes(cluster):
    master = cluster.master
    before = len(master.builds("pipeline"))
    force(master)
    build = master.wait_idle(before + 1)
    assert build["results"] == 0, master.step_summaries(build)
    builders = {name: worker_of(master, master.builds(name)[-1]) for name in ("package-alpha", "package-beta")}
    assert sorted(builders.values()) == ["far", "local"], builders
    # publish ran once, on the master's side, and staging holds the one-worker run's bytes
    assert worker_of(master, master.builds("publish")[-1]) == "local"
    assert worker_of(master, build) == "local"
    assert published(master) == cluster.one_worker
    # far has no repository and no shared path; what it made travelled by hash
    far_build = cluster.far["dir"] / "build"
    assert not (far_build / "repo").exists() and not (far_build / "master").exists()
    far_service = next(name.split("-")[1] for name, worker in builders.items() if worker == "far")
    far_debs = list((far_build / f"packages/2026.1-bookworm/{far_service}").glob("venv-*.deb"))
    assert len(far_debs) == 1 and published(master)[far_debs[0].name] == sha256_file(far_debs[0])
    for digest in published(master).values():
        assert (cluster.base / "store/objects" / digest[:2] / digest).is_file()
    artifacts = master.builds(f"package-{far_service}")[-1]["properties"]["package_artifacts"][0]
    assert {a["sha256"] for a in artifacts} >= {sha256_file(far_debs[0])}
    # far fetched the lock and bundle it built from; its checkout's lock is the master side's
    lock = "requirements-bundles/2026.1/bookworm/lock.txt"
    assert sha256_file(cluster.far["dir"] / "project" / lock) == sha256_file(master.mini.root / lock)
    summaries = master.step_summaries(build)
    assert "fetch packages: 2026.1/bookworm:" in summaries, summaries


def test_a_damaged_object_in_the_store_is_replaced_not_used(cluster):
    master = cluster.master
    bundle = next(name for name in cluster.one_worker if name.startswith("openstack-wheels"))
    digest = cluster.one_worker[bundle]
    stored = cluster.base / "store/objects" / digest[:2] / digest
    status = stored.stat()                                        # rot: same size, same mtime
    stored.write_bytes(b"not the bundle" + stored.read_bytes()[14:])
    os.utime(stored, ns=(status.st_atime_ns, status.st_mtime_ns))
    shutil.rmtree(cluster.far["dir"] / "build/bundles")          # far must fetch it again
    before = len(master.builds("pipeline"))
    force(master)
    build = master.wait_idle(before + 1)
    assert build["results"] == 0, master.step_summaries(build)
    assert (cluster.base / "store/damaged" / digest).read_bytes()[:14] == b"not the bundle"
    assert sha256_file(stored) == digest
    far_bundle = list((cluster.far["dir"] / "build/bundles/2026.1-bookworm").glob("*.deb"))
    assert [sha256_file(p) for p in far_bundle] == [digest]
    assert published(master) == cluster.one_worker


def test_an_unreachable_store_fails_the_build_in_one_line_and_nothing_lands(cluster):
    master = cluster.master
    generation = master.builds("publish")[-1]["properties"]["generation"][0]
    publishes = len(master.builds("publish"))
    os.killpg(cluster.store.pid, signal.SIGTERM)
    cluster.store.wait(timeout=10)
    try:
        before = len(master.builds("pipeline"))
        force(master, rebuild=False)
        build = master.wait_idle(before + 1)
        assert build["results"] == 2
        summaries = master.step_summaries(build)
        assert f"the artifact store at http://127.0.0.1:{cluster.port}/ cannot be reached" in summaries, summaries
        assert "Traceback" not in step_logs(master, build)
        assert len(master.builds("publish")) == publishes
        assert master.builds("publish")[-1]["properties"]["generation"][0] == generation
    finally:
        cluster.store = start_store(cluster.base, cluster.master_yaml, cluster.port)


def test_a_worker_lost_mid_build_is_retried_elsewhere_and_the_set_lands_whole(cluster):
    master = cluster.master
    before = len(master.builds("pipeline"))
    force(master)
    deadline = time.monotonic() + 600
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "no package build started on far"
        for build in master.anonymous.get("builds?complete=false")["builds"]:
            if worker_of(master, build) != "far":
                continue
            steps = master.anonymous.get(f"builds/{build['buildid']}/steps")["steps"]
            if any(s["name"] == "package" and s["started_at"] and not s["complete"] for s in steps):
                victim = build
        time.sleep(0.5)
    kill_machine(cluster.far)
    build = master.wait_idle(before + 1)
    assert build["results"] == 0, master.step_summaries(build)
    builder = master.anonymous.get(f"builders/{victim['builderid']}")["builders"][0]["name"]
    attempts = [b for b in master.builds(builder) if b["buildrequestid"] == victim["buildrequestid"]]
    assert [(worker_of(master, b), b["results"]) for b in attempts] == [("far", 5), ("local", 0)], attempts
    # the build set landed whole: every package, the one-worker run's bytes
    assert published(master) == cluster.one_worker
    status = master.stackdeb("repo", "status").stdout
    assert "venv-alpha" in status and "venv-beta" in status


def test_no_step_log_shows_a_workers_store_credentials(cluster):
    """Both workers log in to the store with their own password, from their environment:
    after every run above, no log or build property shows either, nor the variable's name."""
    master = cluster.master
    local = yaml.safe_load(cluster.master_yaml.read_text())["workers"][0]["password"]
    builds = master.engineer.get("builds?property=*")["builds"]
    served = "\n".join([json.dumps(builds), *(step_logs(master, build) for build in builds)])
    assert "fetched from the store" in served and "uploaded to the store" in served
    for secret in (FAR_PASSWORD, local, "STACKDEB_STORE_PASSWORD"):
        assert secret not in served
