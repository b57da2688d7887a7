"""A real Buildbot master and its local worker on the mini project, for the master's tests:
upstream is local git repositories made from the mini project's data, polled every 2 seconds;
the index is the fake one on 127.0.0.1; the cluster is off (the mini project's services are
not a cloud: tests/e2e/test_cluster.py proves that stage on the real ones).

    with mini_master(base, users=..., start_args=[...]) as master:
        master.wait_idle(1)
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from builders.buildmaster.embedded import WebClient, git_from_snapshot
from conftest import make_mini_project, populate_index
from helpers import passing_verdict
from fakeindex import FakeIndex

STACKDEB = str(Path(sys.executable).parent / "stackdeb")
ENGINEER = ("relen", "engineer-password")
BUILD_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Master:
    def __init__(self, url, env, mini, releases, requirements, index, context=None):
        self.url, self.env, self.mini, self.context = url, env, mini, context
        self.releases, self.requirements, self.index = releases, requirements, index
        self.anonymous = WebClient(url, context)
        self.engineer = WebClient(url, context)
        self.engineer.login(*ENGINEER)

    def stackdeb(self, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([STACKDEB, *args], env=self.env, input=stdin, capture_output=True, text=True)

    def builds(self, builder: str) -> list[dict]:
        builderid = self.anonymous.get(f"builders?name={builder}")["builders"][0]["builderid"]
        return self.anonymous.get(f"builders/{builderid}/builds?order=number&property=*")["builds"]

    def wait_idle(self, pipelines: int) -> dict:
        """Wait until the pipeline builder has `pipelines` finished builds and nothing runs or
        waits; return the newest pipeline build."""
        deadline = time.monotonic() + BUILD_TIMEOUT
        while time.monotonic() < deadline:
            done = [b for b in self.builds("pipeline") if b["complete"]]
            busy = (self.anonymous.get("builds?complete=false")["builds"]
                    or self.anonymous.get("buildrequests?claimed=false")["buildrequests"])
            if len(done) >= pipelines and not busy:
                return done[-1]
            time.sleep(2)
        raise AssertionError(f"the pipeline did not reach {pipelines} finished builds in {BUILD_TIMEOUT}s")

    def counts(self) -> dict[str, int]:
        return {name: len(self.builds(name)) for name in
                ("pipeline", "bundle", "package-alpha", "package-beta", "publish", "promote")}

    def step_summaries(self, build: dict) -> list[str]:
        """The build's step summaries, and those of every failed build (for failure messages)."""
        summaries = [s["state_string"] for s in self.anonymous.get(f"builds/{build['buildid']}/steps")["steps"]]
        for failed in self.anonymous.get("builds?results__gt=0")["builds"]:
            summaries += [s["state_string"] for s in
                          self.anonymous.get(f"builds/{failed['buildid']}/steps")["steps"]]
        return "\n".join(summaries)


def commit(bare: Path, branch: str, files: dict[str, str], message: str) -> None:
    """Commit files to a branch of a bare upstream repository, as upstream would."""
    work = bare.with_name(bare.name + ".clone")
    shutil.rmtree(work, ignore_errors=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "up", "GIT_AUTHOR_EMAIL": "up@localhost",
           "GIT_COMMITTER_NAME": "up", "GIT_COMMITTER_EMAIL": "up@localhost"}
    subprocess.run(["git", "clone", "--quiet", "--branch", branch, str(bare), str(work)], check=True, env=env)
    for path, text in files.items():
        (work / path).write_text(text)
    subprocess.run(["git", "-C", str(work), "commit", "--quiet", "-am", message], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "--quiet", "origin", branch], check=True, env=env)


@contextmanager
def mini_master(base: Path, *, users=((ENGINEER, ["release-engineer"]),), env=None, start_args=(), prepare=None,
                web_port: int | None = None, url: str | None = None, context=None):
    """Start the master on the mini project (its first pipeline run followed to a success);
    stop it, its gpg agents and the index at the end. `prepare(mini)` edits upstream first;
    `url` is where users reach the web UI (a proxy in front of `web_port`), `context` the SSL
    context the test's clients use there."""
    index = FakeIndex(base / "index")
    populate_index(index)
    index.url, server = index.serve()
    mini, mini_env = make_mini_project(base, index)
    if prepare:
        prepare(mini)
    releases = git_from_snapshot(mini.releases, base / "upstream/releases.git", branch_dirs=False)
    requirements = git_from_snapshot(mini.requirements, base / "upstream/requirements.git", branch_dirs=True)
    env = {**os.environ, **mini_env, "STACKDEB_RELEASES": str(releases), "STACKDEB_REQUIREMENTS": str(requirements),
           **(env or {})}
    for (user, password), roles in users:
        add = subprocess.run([STACKDEB, "master", "adduser", user, *(f"--role={r}" for r in roles)],
                             env=env, input=password + "\n", capture_output=True, text=True)
        assert add.returncode == 0, add.stderr
    web_port = web_port or free_port()
    url = url or f"http://127.0.0.1:{web_port}/"
    start = subprocess.run([STACKDEB, "master", "start", "--nightly", "off", "--index-url", index.url, "--web-port", str(web_port),
                            "--worker-port", str(free_port()), "--poll-interval", "2", "--wait",
                            "--cluster-layout", "none", "--url", url, *start_args],
                           env=env, capture_output=True, text=True)
    try:
        assert start.returncode == 0, start.stderr
        assert start.stdout.strip() == url
        assert "pipeline #1: success" in start.stderr and "package-beta #1: success" in start.stderr
        yield Master(url, env, mini, releases, requirements, index, context)
    finally:
        subprocess.run([STACKDEB, "master", "stop"], env=env, capture_output=True)
        # the repository's signing key started an agent: do not leave it behind
        for home in ("repo/gnupg", "cluster/gnupg"):
            subprocess.run(["gpgconf", "--homedir", str(mini.build / home), "--kill", "all"], capture_output=True)
        server.shutdown()


def signed_verdict(master) -> Path:
    """A passing verdict for the live staged build set (the mini project's services cannot run
    a cluster)."""
    return passing_verdict(master.mini.build)
