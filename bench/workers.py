"""A pipeline run of every catalog service through Buildbot, with one worker and then with two
that share nothing (issue 12), on this machine; and what N machines would give, on paper.

Set-up (not timed): a scratch project (the whole catalog), the target's lock and bundle made
once with the CLI (wheels from the machine's cache), the embedded master on 2026.1/trixie
(cluster off), upstream from the project's snapshot as local git repositories.
Timed, each a forced rebuild of every service (build, reproducibility rebuild, lintian, report):
  1. the local worker alone, no store (the reference);
  2. the local worker and `far` (its own checkout, build directory and cache; the artifact
     store between them), as test_master_workers.py sets them up.
Each run starts with empty lintian verdict caches, so that neither reuses the other's verdicts.

    .venv/bin/python bench/workers.py [--services keystone,glance]

Two workers on one 2-core machine share the same two cores, so the second run cannot be
twice as fast: the figure to read is where the time goes, and the projection for N machines
from the per-service times measured in run 1.
"""

import argparse
import heapq
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DATA, scratch_project  # noqa: E402
from builders.buildmaster.embedded import WebClient, git_from_snapshot, wait_for_worker  # noqa: E402
from builders.project import Project  # noqa: E402

STACKDEB = str(Path(sys.executable).parent / "stackdeb")
BUILDBOT_WORKER = str(Path(sys.executable).parent / "buildbot-worker")
RELEASE, SUITE = "2026.1", "trixie"
FAR_PASSWORD = "bench-second-machine-4f2a"
# what a worker's cache may share with the machine's: wheels and chroots, never verdicts
SHARED_CACHE = ("artifacts", "compiled", "listings", "incoming", "chroots")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(env, *args) -> str:
    result = subprocess.run([STACKDEB, *args], env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"stackdeb {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def worker_cache(path: Path) -> Path:
    """A cache of its own whose wheels and chroots are the machine's, and no lintian verdicts."""
    machine = Project.from_env().cache_dir
    path.mkdir(parents=True, exist_ok=True)
    for name in SHARED_CACHE:
        if (machine / name).exists() and not (path / name).exists():
            (path / name).symlink_to(machine / name)
    return path


def forget_verdicts(*caches: Path) -> None:
    for cache in caches:
        shutil.rmtree(cache / "lintian", ignore_errors=True)


def forced_run(client: WebClient) -> tuple[float, list[dict]]:
    """Force a rebuild of every service; return its wall time and the builds it made."""
    before = max([b["buildid"] for b in client.get("builds")["builds"]] or [0])
    started = time.monotonic()
    status, body = client.call("forceschedulers/build", "force", builderid=None, reason="bench",
                               target=f"{RELEASE}-{SUITE}", services=[], rebuild=True, publish=True)
    if status != 200:
        sys.exit(f"forcing a build failed (HTTP {status}): {body}")
    buildset = body["result"][0]
    while not client.get(f"buildsets/{buildset}")["buildsets"][0]["complete"]:
        time.sleep(2)
    elapsed = time.monotonic() - started
    builds = [b for b in client.get("builds?order=buildid")["builds"] if b["buildid"] > before]
    if any(b["results"] not in (0, 5) for b in builds) or not builds:
        sys.exit("the run failed: " + ", ".join(f"{b['buildid']}:{b['state_string']}" for b in builds))
    return elapsed, builds


def describe(client: WebClient, builds: list[dict]) -> dict[str, tuple[float, str]]:
    names = {b["builderid"]: b["name"] for b in client.get("builders")["builders"]}
    workers = {w["workerid"]: w["name"] for w in client.get("workers")["workers"]}
    return {names[b["builderid"]]: (b["complete_at"] - b["started_at"], workers.get(b["workerid"], "?"))
            for b in builds if b["results"] == 0}


def step_seconds(client: WebClient, builds: list[dict], names: set[str]) -> float:
    total = 0.0
    for build in builds:
        for step in client.get(f"builds/{build['buildid']}/steps")["steps"]:
            if step["name"] in names and step["complete_at"]:
                total += step["complete_at"] - step["started_at"]
    return total


def schedule(durations: list[float], machines: int) -> float:
    """Longest-first onto the machine free soonest: the package phase on `machines` machines,
    each as fast as this one was for one build at a time."""
    free = [0.0] * machines
    for duration in sorted(durations, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def add_far(master_yaml: Path, store_url: str) -> int:
    settings = yaml.safe_load(master_yaml.read_text())
    settings["workers"].append({"name": "far", "password": FAR_PASSWORD, "max_builds": 3, "stackdeb": STACKDEB})
    settings["store"] = {"url": store_url, "worker": "local"}
    master_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    return int(settings["worker_port"].split(":")[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", help="comma-separated services (default: the whole catalog)")
    args = parser.parse_args()
    services = args.services.split(",") if args.services else None
    root = scratch_project(services)
    base = root / "bench"
    releases = git_from_snapshot(DATA / "openstack-releases", base / "releases.git", branch_dirs=False)
    requirements = git_from_snapshot(DATA / "openstack-requirements", base / "requirements.git", branch_dirs=True)
    local_cache = worker_cache(base / "cache-local")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKDEB_")},
           "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_BUILD_DIR": str(base / "build"),
           "STACKDEB_CACHE_DIR": str(local_cache), "STACKDEB_RELEASES": str(releases),
           "STACKDEB_REQUIREMENTS": str(requirements)}
    target = ["--release", RELEASE, "--suite", SUITE]
    print("set-up: lock and bundle (not timed)", flush=True)
    run(env, "lock", *target)
    run(env, "bundle", *target)
    url = run(env, "master", "start", "--nightly", "off", "--no-kick-off", *target, "--cluster-layout", "none",
              "--web-port", str(free_port()), "--worker-port", str(free_port())).strip()
    master_yaml = base / "build/master/master.yaml"
    admin = (base / "build/master/admin-password").read_text().strip()
    store = far_worker = None
    try:
        client = WebClient(url)
        client.login("admin", admin)
        forget_verdicts(local_cache)
        print("run 1: one worker", flush=True)
        one, builds_one = forced_run(client)
        per_one = describe(client, builds_one)

        port = free_port()
        worker_port = add_far(master_yaml, f"http://127.0.0.1:{port}/")
        store = subprocess.Popen([STACKDEB, "store", "serve", "--dir", str(base / "store"), "--listen",
                                  f"127.0.0.1:{port}", "--workers", str(master_yaml)],
                                 env=env, stderr=subprocess.DEVNULL, start_new_session=True)
        far = base / "far"
        shutil.copytree(root / "packaging", far / "project/packaging")
        shutil.copytree(root / "requirements-bundles", far / "project/requirements-bundles",
                        ignore=shutil.ignore_patterns(SUITE))
        far_cache = worker_cache(far / "cache")
        far_env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKDEB_")},
                   "STACKDEB_PROJECT_DIR": str(far / "project"), "STACKDEB_BUILD_DIR": str(far / "build"),
                   "STACKDEB_CACHE_DIR": str(far_cache), "STACKDEB_STORE_USER": "far",
                   "STACKDEB_STORE_PASSWORD": FAR_PASSWORD}
        run(env, "master", "stop")
        run(env, "master", "start", "--no-kick-off")
        subprocess.run([BUILDBOT_WORKER, "create-worker", "--umask=0o022", str(far / "worker"),
                        f"127.0.0.1:{worker_port}", "far", FAR_PASSWORD], check=True, capture_output=True)
        subprocess.run([BUILDBOT_WORKER, "start", str(far / "worker")], env=far_env, capture_output=True)
        far_worker = far / "worker"
        wait_for_worker(url, "far")
        client = WebClient(url)
        client.login("admin", admin)
        forget_verdicts(local_cache, far_cache)
        print("run 2: two workers that share nothing, through the store", flush=True)
        two, builds_two = forced_run(client)
        per_two = describe(client, builds_two)
        report(client, one, per_one, builds_one, two, per_two, builds_two)
    finally:
        if far_worker:
            subprocess.run([BUILDBOT_WORKER, "stop", str(far_worker)], capture_output=True)
        if store:
            os.killpg(store.pid, signal.SIGTERM)
        run(env, "master", "stop")
        shutil.rmtree(root, ignore_errors=True)


def report(client, one, per_one, builds_one, two, per_two, builds_two) -> None:
    packages_one = {name: seconds for name, (seconds, _) in per_one.items() if name.startswith("package-")}
    pipeline_one = [b for b in builds_one if b["builderid"] == builds_one[0]["builderid"]]
    phase_one = step_seconds(client, pipeline_one, {"packages"})
    fixed_one = one - phase_one
    transfer = step_seconds(client, builds_two, {"upload", "fetch bundle", "fetch packages", "fetch current"})
    print(f"\nrun 1, one worker:  {one:7.1f}s")
    print(f"run 2, two workers: {two:7.1f}s   ratio {one / two:.2f}x (two workers on one 2-core machine)")
    print("\nper builder (run 1 | run 2, worker):")
    for name in sorted(per_one, key=lambda n: (not n.startswith("package-"), n)):
        seconds, _ = per_one[name]
        second, worker = per_two.get(name, (0.0, "-"))
        print(f"  {name:22} {seconds:7.1f}s | {second:7.1f}s {worker}")
    spread = {}
    for name, (_, worker) in per_two.items():
        if name.startswith("package-"):
            spread[worker] = spread.get(worker, 0) + 1
    print(f"\nrun 2 package builds per worker: {spread}")
    print(f"run 2 time in the store's steps (upload, fetch), summed over builds: {transfer:.1f}s")
    contended = sum(packages_one.values())
    print(f"\nrun 1: the package phase took {phase_one:.0f}s of wall time for {contended:.0f}s of builder "
          f"time (builds overlap on 2 cores); the rest (lock, bundle, plan, publish) {fixed_one:.0f}s")
    # each service's share of what one machine delivered: its builder time scaled so that the
    # shares add up to the measured package phase
    share = {name: seconds * phase_one / contended for name, seconds in packages_one.items()}
    print("\nN machines like this one, the package phase scheduled longest first (on paper, from run 1):")
    for machines in (1, 2, 4, 6, 12):
        print(f"  {machines:2} machines: {fixed_one + schedule(list(share.values()), machines):7.0f}s")


if __name__ == "__main__":
    main()
