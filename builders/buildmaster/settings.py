"""The master's settings: one YAML file in the master's directory (master.yaml).

Everything specific to a site lives there: the targets, where upstream data comes from, the
workers, the web port, the users file. `stackdeb master start` writes one for the embedded
default; docs/buildbot.md documents every key.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from builders.catalog import Catalog
from builders.cluster.layout import find_layout
from builders.errors import StackdebError
from builders.targets import get_target
from builders.users import WORKER_PASSWORD_MINIMUM, password_problem
from builders.yamlload import load_yaml

FILE_NAME = "master.yaml"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Target:
    release: str
    suite: str
    requirements_branch: str = ""     # where its upper-constraints live; default stable/<release>

    @property
    def constraints_branch(self) -> str:
        return self.requirements_branch or f"stable/{self.release}"

    @property
    def name(self) -> str:
        return f"{self.release}-{self.suite}"


@dataclass(frozen=True)
class WorkerSettings:
    name: str
    password: str
    max_builds: int
    stackdeb: str                       # the stackdeb command on that worker
    environment: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    basedir: Path
    title: str
    url: str
    web_port: str                       # a Twisted endpoint string
    worker_port: str
    database: str
    users_file: Path
    targets: list[Target]
    releases_url: str
    requirements_url: str
    index_url: str | None
    poll_interval: int
    nightly: tuple[int, int] | None     # hour, minute
    watched: list[str]                  # services whose new releases start builds
    workers: list[WorkerSettings]
    cluster_layout: str = "changed"     # the layout the cluster builder runs (changed: derived)
    promote: str = "auto"               # auto: a passing cluster run promotes; manual: engineers do
    store: "StoreSettings | None" = None    # workers that share nothing hand artifacts over through it


@dataclass(frozen=True)
class StoreSettings:
    url: str                            # where workers reach `stackdeb store serve`
    worker: str                         # the worker on the master's side: it holds the repository


def url_problem(url: str) -> str | None:
    """What is wrong with a web UI address (Buildbot needs the scheme, the host and a final /)."""
    if re.fullmatch(r"https?://[^/\s]+/(\S*/)?", url):
        return None
    return f"url: the address users reach the web UI at, http(s)://HOST[:PORT]/ ending in /, got {url!r:.80}"


KNOWN_KEYS = {"title", "url", "web_port", "worker_port", "database", "users_file", "targets",
              "sources", "poll_interval", "nightly", "watch", "workers", "cluster", "store"}


def load_settings(basedir: Path, catalog: Catalog) -> Settings:
    path = basedir / FILE_NAME
    if not path.is_file():
        raise SettingsError(f"{path} does not exist: run `stackdeb master start` to create one, "
                            "or write it (docs/buildbot.md)")
    if path.stat().st_mode & 0o077:
        raise SettingsError(f"{path} holds the workers' passwords and is readable by others: "
                            f"chmod 600 {path}")
    try:
        data = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from None
    return parse_settings(data, basedir, catalog, str(path))


def parse_settings(data: dict, basedir: Path, catalog: Catalog, where: str) -> Settings:
    def fail(message: str):
        raise SettingsError(f"{where}: {message}")

    if not isinstance(data, dict):
        fail(f"expected a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        fail(f"unknown key {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})")
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        fail(f"sources: expected a mapping with releases, requirements and index_url, got {sources!r:.80}")
    for key in ("releases", "requirements"):
        if not sources.get(key):
            fail(f"sources.{key} is missing: the openstack/{key} git repository to poll")
    targets = []
    for entry in data.get("targets") or fail("targets is missing: list release and suite pairs"):
        try:
            targets.append(Target(str(entry["release"]), str(entry["suite"]),
                                  str(entry.get("requirements_branch") or "")))
            get_target(targets[-1].release, targets[-1].suite)
        except (KeyError, TypeError):
            fail(f"targets: each entry needs release and suite, got {entry!r}")
        except StackdebError as exc:   # an unknown suite, a release that is no series id
            fail(f"targets: {exc.message}")
        if targets[-1].name in [t.name for t in targets[:-1]]:
            fail(f"targets: {targets[-1].name} is listed twice")
    users_file = basedir / str(data.get("users_file", "users"))
    if not users_file.is_file():
        fail(f"the users file {users_file} does not exist "
             "(create it: stackdeb master adduser NAME --role release-engineer)")
    watched = data.get("watch") or ["all"]
    if not isinstance(watched, list) or not all(isinstance(name, str) for name in watched):
        fail(f"watch: expected a list of service names (or [all]), got {watched!r:.80}")
    names = [svc.name for svc in catalog]
    if watched == ["all"]:
        watched = names
    bad = sorted(set(watched) - set(names))
    if bad:
        fail(f"watch: unknown service {', '.join(bad)} (catalog services: {', '.join(names)})")
    entries = data.get("workers") or fail("workers is missing")
    if not isinstance(entries, list):
        fail(f"workers: expected a list of workers, got {type(entries).__name__}")
    workers = [_worker(entry, fail) for entry in entries]
    cluster = data.get("cluster") or {}
    if not isinstance(cluster, dict) or set(cluster) - {"layout", "promote"}:
        fail(f"cluster: expected layout and promote, got {cluster!r}")
    layout = str(cluster.get("layout", "changed"))
    if layout not in ("none", "changed"):
        try:
            find_layout(layout)
        except StackdebError as exc:
            fail(f"cluster.layout: {exc.message}")
    promote = str(cluster.get("promote", "auto"))
    if promote not in ("auto", "manual"):
        fail(f"cluster.promote: auto or manual, got {promote!r}")
    store = _store(data.get("store"), [w.name for w in workers], fail)
    _enough_slots(workers, store, 3 if layout != "none" else 2, fail)
    url = str(data.get("url", "http://127.0.0.1:8010/"))
    if url_problem(url):
        fail(url_problem(url))
    return Settings(
        basedir=basedir, title=str(data.get("title", "stackdeb")),
        url=url,
        web_port=str(data.get("web_port", "tcp:8010:interface=127.0.0.1")),
        worker_port=str(data.get("worker_port", "tcp:9989:interface=127.0.0.1")),
        database=str(data.get("database", "sqlite:///state.sqlite")),
        users_file=users_file, targets=targets,
        releases_url=str(sources["releases"]), requirements_url=str(sources["requirements"]),
        index_url=sources.get("index_url"), poll_interval=_whole(data.get("poll_interval", 300), "poll_interval", 1, fail),
        nightly=_nightly(data.get("nightly", "03:00"), fail), watched=list(watched), workers=workers,
        cluster_layout=layout, promote=promote, store=store)


def _enough_slots(workers: list[WorkerSettings], store, needed: int, fail) -> None:
    """A pipeline build waits for the builds it triggers where the repository is (the store's
    worker alone, when there is a store): prove beside images, then cluster, which waits for
    promote; three at once, or two (publish, then prove) with no cluster."""
    where = [w for w in workers if not store or w.name == store.worker]
    if sum(w.max_builds for w in where) < needed:
        names = " and ".join(w.name for w in where)
        waits = "prove and images, or cluster and promote" if needed == 3 else "publish or prove"
        fail(f"workers: {names} {'has' if len(where) == 1 else 'have'} room for "
             f"{sum(w.max_builds for w in where)} builds; the pipeline build waits there for {waits} "
             f"(max_builds: {needed} at least)")


def _store(value, workers: list[str], fail) -> StoreSettings | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"url", "worker"}:
        fail(f"store: expected url and worker, got {sorted(value) if isinstance(value, dict) else value!r:.80}")
    url, worker = str(value["url"]), str(value["worker"])
    if not re.fullmatch(r"https?://[^/\s]+/?", url):
        fail(f"store.url: the artifact store's address, http(s)://HOST:PORT/, got {url!r:.80}")
    if worker not in workers:
        fail(f"store.worker: {worker} is not one of the workers ({', '.join(workers)})")
    return StoreSettings(url.rstrip("/") + "/", worker)


def _worker(entry, fail) -> WorkerSettings:
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("password"):
        # never the entry itself in the message: it holds the password
        shown = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        fail(f"workers: each entry needs name and password, got {shown}")
    problem = password_problem(str(entry["password"]), str(entry["name"]), minimum=WORKER_PASSWORD_MINIMUM)
    if problem:
        fail(f"workers: {entry['name']}'s password {problem}")
    max_builds = _whole(entry.get("max_builds", 3), f"workers: {entry['name']}'s max_builds", 0, fail)
    environment = entry.get("environment") or {}
    if not isinstance(environment, dict):
        fail(f"workers: {entry['name']}'s environment must be a mapping of variables")
    if max_builds < 2:
        # A pipeline build keeps its slot while it waits for the stages it triggered.
        fail(f"workers: {entry['name']} has max_builds {max_builds}; at least 2 are needed")
    return WorkerSettings(entry["name"], str(entry["password"]), max_builds,
                          str(entry.get("stackdeb", "stackdeb")),
                          {str(key): str(value) for key, value in environment.items()})


def _whole(value, key: str, minimum: int, fail) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        fail(f"{key}: expected a whole number, got {value!r:.40}")
    if int(value) < minimum:
        fail(f"{key}: at least {minimum}, got {value}")
    return int(value)


def _nightly(value, fail) -> tuple[int, int] | None:
    if value in (None, False, "off"):
        return None
    try:
        hour, minute = (int(part) for part in str(value).split(":"))
        if 0 <= hour < 24 and 0 <= minute < 60:
            return hour, minute
    except ValueError:
        pass
    fail(f"nightly: expected HH:MM or off, got {value!r}")
