"""The embedded default: a Buildbot master on SQLite and one local worker, on 127.0.0.1.

    build/master/               the master's directory (buildbot.tac, state.sqlite, twistd.log)
        master.yaml             its settings (written once; edit it, then restart)
        users                   who may log in (an `admin` is created on first start)
        admin-password          that admin's password, readable by its owner only
        upstream/               local git repositories made from snapshot directories
        worker/                 the local worker

The master runs master.cfg from the project, which reads master.yaml. Nothing listens
beyond 127.0.0.1 unless master.yaml says so.
"""

import base64
import http.cookiejar
import json
import os
import secrets
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from builders import PROJECT_DIR, log, tools
from builders.errors import StackdebError
from builders.project import Project
from builders.releases import is_git_repository
from builders.targets import Target
from builders.tools import buildbot
from builders.users import add_user, read_users
from builders.yamlload import load_yaml

WORKER_NAME = "local"


class WebClient:
    """The master's REST API, as a logged-in user or anonymously."""

    def __init__(self, url: str, context: ssl.SSLContext | None = None):
        self.url = url.rstrip("/") + "/"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                  urllib.request.HTTPSHandler(context=context))

    def login(self, user: str, password: str) -> None:
        # Basic auth is honoured only on /auth/login, which answers with a session cookie.
        request = urllib.request.Request(self.url + "auth/login")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", "Basic " + token)
        try:
            self.opener.open(request, timeout=30).read()
        except urllib.error.HTTPError:
            pass    # a refused login answers 401; the check below says so clearly
        who = self.user()
        if who.get("anonymous") or not who.get("username"):
            raise StackdebError(f"logging in to {self.url} as {user} failed", hint="check the password")

    def user(self) -> dict:
        """Who the master thinks we are (anonymous or a user with roles)."""
        with self.opener.open(self.url + "config", timeout=30) as response:
            return json.load(response).get("user", {})

    def get(self, path: str) -> dict:
        with self.opener.open(self._api(path), timeout=30) as response:
            return json.load(response)

    def call(self, path: str, method: str, **params) -> tuple[int, dict]:
        """A JSON-RPC control call (force, stop, rebuild); returns the HTTP status and body."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
        request = urllib.request.Request(self._api(path), data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, {"error": exc.read().decode(errors="replace")}

    def _api(self, path: str) -> str:
        return self.url + "api/v2/" + path.lstrip("/")


def master_dir(project: Project) -> Path:
    return project.build_dir / "master"


def git_from_snapshot(snapshot: Path, repo: Path, branch_dirs: bool) -> Path:
    """A local git repository made from a snapshot directory, so the pollers have something
    to poll: the releases data on master, or (branch_dirs) one stable/<id> branch per
    <id>/ directory of a requirements snapshot."""
    if is_git_repository(repo):
        return repo
    work = repo.with_name(repo.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"GIT_AUTHOR_NAME": "stackdeb", "GIT_AUTHOR_EMAIL": "stackdeb@localhost",
           "GIT_COMMITTER_NAME": "stackdeb", "GIT_COMMITTER_EMAIL": "stackdeb@localhost"}

    def git(*args):
        tools.run("git", ["-C", str(work), *args], what=str(snapshot), fix="", env=env)

    git("init", "--quiet", "--initial-branch=master")
    if not branch_dirs:
        shutil.copytree(snapshot, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        git("add", "-A")
        git("commit", "--quiet", "-m", f"snapshot of {snapshot.name}")
    else:
        (work / "README").write_text(f"made from {snapshot}\n")
        git("add", "-A")
        git("commit", "--quiet", "-m", "root")
        folders = sorted(p for p in snapshot.iterdir() if (p / "upper-constraints.txt").is_file())
        # the development series lives on master itself, so it comes last
        for folder in sorted(folders, key=lambda p: p.name == "master"):
            branch = "master" if folder.name == "master" else f"stable/{folder.name}"
            git("checkout", "--quiet", "-B", branch, "master")
            shutil.copy(folder / "upper-constraints.txt", work / "upper-constraints.txt")
            git("add", "-A")
            git("commit", "--quiet", "-m", f"upper-constraints of {folder.name}")
        git("checkout", "--quiet", "master")
    tools.run("git", ["clone", "--quiet", "--bare", str(work), str(repo)], what=str(snapshot), fix="")
    shutil.rmtree(work)
    return repo


def _git_source(spec: str | None, what: str, basedir: Path, branch_dirs: bool) -> str:
    if not spec:
        raise StackdebError(f"no {what} source given",
                            hint=f"pass --{what} or set STACKDEB_{what.upper()} (a git URL or a directory)")
    local = Path(spec)
    if local.is_dir() and not is_git_repository(local):
        repo = git_from_snapshot(local.resolve(), basedir / "upstream" / f"{what}.git", branch_dirs)
        log.info(f"{what}: polling {repo}, a git repository made from the snapshot {local}")
        return str(repo)
    return str(local.resolve()) if local.is_dir() else spec


def write_settings(project: Project, basedir: Path, targets: list[Target], *, releases: str,
                   requirements: str, index_url: str | None, web_port: int, worker_port: int,
                   poll_interval: int, cluster_layout: str = "minimal",
                   database: str = "sqlite:///state.sqlite", url: str | None = None, nightly: str = "03:00") -> dict:
    password = secrets.token_urlsafe(16)
    environment = {key: value for key, value in os.environ.items()
                   if key.startswith("STACKDEB_") and key not in ("STACKDEB_RELEASES", "STACKDEB_REQUIREMENTS")}
    environment.update(STACKDEB_PROJECT_DIR=str(project.root), STACKDEB_BUILD_DIR=str(project.build_dir),
                       STACKDEB_CACHE_DIR=str(project.cache_dir))
    settings = {
        "title": "stackdeb",
        "url": url or f"http://127.0.0.1:{web_port}/",
        "web_port": f"tcp:{web_port}:interface=127.0.0.1",
        "worker_port": f"tcp:{worker_port}:interface=127.0.0.1",
        "database": database,
        "users_file": "users",
        "targets": [{"release": t.release, "suite": t.suite.codename} for t in targets],
        "sources": {"releases": releases, "requirements": requirements, "index_url": index_url},
        "poll_interval": poll_interval,
        "nightly": nightly,
        "watch": ["all"],
        "cluster": {"layout": cluster_layout, "promote": "auto"},
        "workers": [{"name": WORKER_NAME, "password": password, "max_builds": 3,
                     "stackdeb": str(Path(sys.executable).parent / "stackdeb"), "environment": environment}],
    }
    # the worker's password is in it: for the master's owner only
    fd = os.open(basedir / "master.yaml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# stackdeb master settings (docs/buildbot.md); restart the master after editing\n"
                  + yaml.safe_dump(settings, sort_keys=False))
    return settings


def _checked_settings(project: Project, basedir: Path):
    """master.yaml as the master will read it: a wrong one is one line here, before anything starts."""
    from builders.buildmaster.settings import SettingsError, load_settings
    try:
        return load_settings(basedir, project.catalog())
    except SettingsError as error:
        raise StackdebError(str(error), hint="fix it (docs/buildbot.md), or move it away and run master start "
                                             "again to write a new one") from None


def _checked_database(url: str) -> None:
    from builders.buildmaster.database import DatabaseError, check_database
    try:
        check_database(url)
    except DatabaseError as error:
        raise StackdebError(str(error), hint="docs/buildbot.md says how to give the master its PostgreSQL "
                                             "database") from None


def start(project: Project, targets: list[Target], *, releases: str | None, requirements: str | None,
          index_url: str | None, web_port: int = 8010, worker_port: int = 9989, poll_interval: int = 300,
          nightly: str = "03:00",
          kick_off: bool = True, wait: bool = False, cluster_layout: str = "minimal",
          database: str | None = None, url: str | None = None) -> str:
    """Create (once) and start the master and the local worker; return the web UI address.
    The first of `targets` is built at once; with `wait`, follow that run to its end.
    `database` (an SQLAlchemy URL) is checked before anything is written."""
    from builders.buildmaster.settings import url_problem
    basedir = master_dir(project)
    if url and url_problem(url):
        raise StackdebError(url_problem(url))
    if database:
        _checked_database(database)
    basedir.mkdir(parents=True, exist_ok=True)
    if not (basedir / "master.yaml").exists():
        write_settings(project, basedir, targets,
                       releases=_git_source(releases, "releases", basedir, branch_dirs=False),
                       requirements=_git_source(requirements, "requirements", basedir, branch_dirs=True),
                       index_url=index_url, web_port=web_port, worker_port=worker_port,
                       poll_interval=poll_interval, cluster_layout=cluster_layout, nightly=nightly,
                       database=database or "sqlite:///state.sqlite", url=url)
    made = _ensure_admin(basedir)    # before the check, which wants the users file to exist
    try:
        settings = _checked_settings(project, basedir)
    except StackdebError:
        for path in made:            # a start that fails leaves nothing of its own behind
            path.unlink(missing_ok=True)
        raise
    if database and database != settings.database:
        from builders.buildmaster.database import redacted
        raise StackdebError(f"{basedir / 'master.yaml'} already names the database {redacted(settings.database)}",
                            hint="to move the master to another database, follow docs/buildbot.md "
                                 "(buildbot copy-db), then edit master.yaml")
    if not database:
        _checked_database(settings.database)
    if not (basedir / "buildbot.tac").exists():
        buildbot.create_master(basedir, PROJECT_DIR / "master.cfg", settings.database)
    worker = settings.workers[0]
    worker_dir = basedir / "worker"
    if not (worker_dir / "buildbot.tac").exists():
        port = settings.worker_port.split(":")[1]
        buildbot.create_worker(worker_dir, f"127.0.0.1:{port}", worker.name, worker.password)
    log.info(f"starting the Buildbot master in {basedir}")
    buildbot.start_master(basedir)
    buildbot.start_worker(worker_dir, {**worker.environment, **_store_credentials(settings, worker)})
    url = settings.url
    wait_for_worker(url, worker.name)
    log.info(f"web UI: {url} (admin password in {basedir / 'admin-password'})")
    if kick_off:
        client = WebClient(url)
        client.login("admin", (basedir / "admin-password").read_text().strip())
        target = settings.targets[0]
        status, body = client.call("forceschedulers/build", "force", builderid=None,
                                   reason="first build of the embedded master",
                                   target=target.name, services=[],
                                   rebuild=False, publish=True)
        if status != 200:
            raise StackdebError(f"starting the first build failed (HTTP {status}): {body}")
        log.info(f"started the pipeline for {target.release}/{target.suite}: follow it at "
                 f"{url}#/builders")
        if wait:
            follow_pipeline(client, body["result"][0])
    return url


def _ensure_admin(basedir: Path) -> list[Path]:
    """The admin user, with a password of its own in a 0600 file, unless there is one, in the
    users file master.yaml names (a broken master.yaml is the settings check's to report)."""
    try:
        settings = load_yaml((basedir / "master.yaml").read_text())
    except (OSError, yaml.YAMLError):
        settings = None
    users = basedir / str((settings if isinstance(settings, dict) else {}).get("users_file", "users"))
    made = [] if users.exists() else [users, basedir / "admin-password"]
    if not users.exists() or "admin" not in read_users(users):
        admin_password = secrets.token_urlsafe(16)
        add_user(users, "admin", admin_password, ["admin", "release-engineer"])
        fd = os.open(basedir / "admin-password", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(admin_password + "\n")
    return made


def _store_credentials(settings, worker) -> dict[str, str]:
    """The local worker logs in to the artifact store as itself (master.yaml `store`); given
    to its process at start, never written anywhere else."""
    if not settings.store:
        return {}
    return {"STACKDEB_STORE_USER": worker.name, "STACKDEB_STORE_PASSWORD": worker.password}


def follow_pipeline(client: WebClient, buildset: int) -> None:
    """Print each build of a pipeline run as it starts and ends; fail if the run failed."""
    results = {0: "success", 1: "warnings", 2: "FAILED", 3: "skipped", 4: "exception", 5: "retry",
               6: "cancelled"}
    names = {b["builderid"]: b["name"] for b in client.get("builders")["builders"]}
    requests = {r["buildrequestid"] for r in client.get(f"buildrequests?buildsetid={buildset}")["buildrequests"]}
    seen: dict[int, bool] = {}
    first = pipeline = None
    while pipeline is None:
        builds = client.get("builds?order=buildid")["builds"]
        first = first or next((b["buildid"] for b in builds if b["buildrequestid"] in requests), None)
        for build in builds:
            if first is None or build["buildid"] < first or seen.get(build["buildid"]):
                continue
            name = names.get(build["builderid"], "?")
            if build["complete"]:
                seen[build["buildid"]] = True
                log.info(f"{name} #{build['number']}: {results.get(build['results'], '?')} "
                         f"({build['state_string']}) [{build['complete_at'] - build['started_at']}s]")
                if build["buildid"] == first:
                    pipeline = build
            elif build["buildid"] not in seen:
                seen[build["buildid"]] = False
                log.info(f"{name} #{build['number']}: started")
        if pipeline is None:
            time.sleep(5)
    if pipeline["results"] not in (0, 1):
        failed = failed_steps(client, [b for b in seen if b >= first])
        raise StackdebError(f"the pipeline failed: {pipeline['state_string']}"
                            + "".join(f"\n  {line}" for line in failed),
                            hint=f"read the failed step's log in the web UI ({client.url})")


def failed_steps(client: WebClient, buildids: list[int]) -> list[str]:
    """'builder #n, step: summary' for each failed step of these builds (what broke, in the
    steps' own words: each step says what it could not do or read)."""
    names = {b["builderid"]: b["name"] for b in client.get("builders")["builders"]}
    found = []
    for buildid in sorted(buildids):
        build = client.get(f"builds/{buildid}")["builds"][0]
        if build["results"] in (0, 1, 3):
            continue
        for step in client.get(f"builds/{buildid}/steps")["steps"]:
            if step["results"] not in (None, 0, 1, 3):
                found.append(f"{names.get(build['builderid'], '?')} #{build['number']}, {step['name']}: "
                             f"{step['state_string']}")
    return found


def wait_for_worker(url: str, name: str, timeout: float = 60) -> None:
    client = WebClient(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            workers = client.get(f"workers?name={name}").get("workers", [])
            if workers and workers[0].get("connected_to"):
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise StackdebError(f"the worker {name} did not connect to the master at {url} within {timeout:.0f}s",
                        hint="read twistd.log in the master and worker directories")


def stop(project: Project) -> None:
    basedir = master_dir(project)
    if not (basedir / "buildbot.tac").exists():
        raise StackdebError(f"there is no master in {basedir}", hint="start one: stackdeb master start")
    buildbot.stop_worker(basedir / "worker")
    buildbot.stop_master(basedir)
    log.info(f"stopped the master and the worker in {basedir}")
