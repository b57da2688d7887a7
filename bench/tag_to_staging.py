"""Latency from a new release upstream to its package in the staging suite, through Buildbot.

A scratch project with keystone alone, upstream data from the project's snapshot as local git
repositories, keystone's newest release held back. Set-up (not timed): the embedded master
and worker, keystone's previous release built and published, the bundle's wheels warm.
Timed: commit the held-back release to openstack/releases; wait until staging has it, then
until its proof (a second build beside lintian) is done and the build set may be promoted.
Reference, from the same run: the time of stackdeb's own steps on the way (lock, bundle, plan,
package, publish); the rest is Buildbot's.

    .venv/bin/python bench/tag_to_staging.py [--poll-interval 10]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DATA, scratch_project  # noqa: E402
from builders.buildmaster.embedded import WebClient, git_from_snapshot  # noqa: E402

STACKDEB = str(Path(sys.executable).parent / "stackdeb")
SERVICE, CODENAME = "keystone", "gazpacho"


def run(env, *args) -> str:
    result = subprocess.run([STACKDEB, *args], env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"stackdeb {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def hold_back_newest(releases: Path) -> tuple[str, str]:
    """Drop the newest keystone release from a releases copy; return it and the full file."""
    path = releases / f"deliverables/{CODENAME}/{SERVICE}.yaml"
    full = path.read_text()
    data = yaml.safe_load(full)
    newest = data["releases"].pop()["version"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return newest, full


def push(bare: Path, relative: str, text: str) -> None:
    work = Path(tempfile.mkdtemp())
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@localhost",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@localhost"}
    subprocess.run(["git", "clone", "--quiet", str(bare), str(work)], check=True, env=env)
    (work / relative).write_text(text)
    subprocess.run(["git", "-C", str(work), "commit", "--quiet", "-am", "new release"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "--quiet"], check=True, env=env)
    shutil.rmtree(work)


# the stackdeb steps a new release passes through before it is in staging
STAGED_BY = {"bundle": {"lock", "bundle"}, "pipeline": {"plan"}, f"package-{SERVICE}": {"package"},
             "publish": {"publish"}}


def wait_for_proof(client: WebClient) -> float:
    """When the prove build after that publish finished (the build set is then promotable)."""
    while True:
        builders = {b["name"]: b["builderid"] for b in client.get("builders")["builders"]}
        done = [b for b in client.get(f"builders/{builders['prove']}/builds")["builds"] if b.get("complete")]
        if done:
            if done[-1]["results"] != 0:
                sys.exit("the prove build failed: see the web UI")
            return time.monotonic()
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poll-interval", type=int, default=10)
    args = parser.parse_args()
    root = scratch_project([SERVICE])
    # the committed lock already has the newest release: the set-up locks without it
    shutil.rmtree(root / "requirements-bundles/2026.1/trixie")
    base = root / "bench"
    releases_copy = base / "releases-snapshot"
    shutil.copytree(DATA / "openstack-releases", releases_copy)
    newest, full = hold_back_newest(releases_copy)
    releases = git_from_snapshot(releases_copy, base / "releases.git", branch_dirs=False)
    requirements = git_from_snapshot(DATA / "openstack-requirements", base / "requirements.git", branch_dirs=True)
    env = {**os.environ, "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_BUILD_DIR": str(base / "build"),
           "STACKDEB_RELEASES": str(releases), "STACKDEB_REQUIREMENTS": str(requirements)}
    print(f"set-up: {SERVICE} before {newest} built and published (not timed)", flush=True)
    started = time.monotonic()
    for step in (["lock"], ["bundle"], ["package", SERVICE], ["publish"]):
        run(env, *step)
    print(f"  set-up took {time.monotonic() - started:.0f}s", flush=True)
    url = run(env, "master", "start", "--no-kick-off", "--web-port", "8719", "--worker-port", "9719",
              "--poll-interval", str(args.poll_interval)).strip()
    client = WebClient(url)
    try:
        time.sleep(args.poll_interval + 2)          # the pollers' first poll records what exists
        pushed = time.monotonic()
        push(releases, f"deliverables/{CODENAME}/{SERVICE}.yaml", full)
        while f"{newest}-" not in run(env, "repo", "status"):
            time.sleep(1)
        latency = time.monotonic() - pushed
        proven = wait_for_proof(client)
        names = {b["builderid"]: b["name"] for b in client.get("builders")["builders"]}
        print(f"\n{SERVICE} {newest}: new release upstream -> in staging: {latency:.1f}s "
              f"(poll interval {args.poll_interval}s; {latency - args.poll_interval:.1f}s beyond it)")
        print(f"  -> proven reproducible and lintian-clean (promotable): {proven - pushed:.1f}s")
        stackdeb_time = 0.0
        for build in client.get("builds?order=buildid")["builds"]:
            if build.get("complete_at"):
                name = names[build["builderid"]]
                print(f"  {name:18} {build['complete_at'] - build['started_at']:6.1f}s")
                for step in client.get(f"builds/{build['buildid']}/steps")["steps"]:
                    if step.get("complete_at") and step.get("started_at"):
                        seconds = step["complete_at"] - step["started_at"]
                        stackdeb_time += seconds if name in STAGED_BY and step["name"] in STAGED_BY[name] else 0
                        print(f"      {step['name']:14} {seconds:6.1f}s")
        beyond = latency - args.poll_interval
        print(f"stackdeb's own steps on the way to staging: {stackdeb_time:.1f}s; "
              f"latency beyond the poll / those steps: {beyond / stackdeb_time:.2f}x (the rest is Buildbot)")
        print(f"goal: at most 30s beyond the poll interval -> {'met' if beyond <= 30 else 'NOT met'}")
    finally:
        run(env, "master", "stop")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
