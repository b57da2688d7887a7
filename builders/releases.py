"""Series data: which service versions belong to a release, and its upper-constraints.

Both inputs come from upstream repositories given as options, never from a built-in path:
- openstack/releases: series_status.yaml and deliverables/<codename>/<deliverable>.yaml
- openstack/requirements: upper-constraints.txt on stable/<id> (master for the series in
  development)
Each may be a git URL, a local git checkout, or a plain directory (a snapshot: for
requirements, one sub-directory per release id holding upper-constraints.txt and SOURCE).
"""

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from packaging.version import InvalidVersion, Version

from builders.errors import StackdebError
from builders.tools import git
from builders.yamlload import load_yaml

FINAL_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")
RELEASE_VERSION_RE = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class Source:
    """A directory or git repository holding upstream data; `ref` is ignored for directories."""

    def __init__(self, spec: str, cache_dir: Path):
        self.spec = spec
        local = Path(spec)
        self.directory = local if local.is_dir() and not is_git_repository(local) else None
        self.git_dir = None if self.directory else git.mirror(
            str(local.resolve()) if local.is_dir() else spec, cache_dir)

    def read(self, path: str, ref: str = "HEAD") -> str:
        if self.directory:
            try:
                return (self.directory / path).read_text()
            except FileNotFoundError:
                raise StackdebError(f"{path} does not exist in {self.directory}") from None
        return git.show(self.git_dir, ref, path)

    def exists(self, path: str, ref: str = "HEAD") -> bool:
        try:
            self.read(path, ref)
            return True
        except StackdebError:
            return False

    def commit(self, ref: str = "HEAD") -> str:
        """The commit the data comes from; for a snapshot directory, the one its SOURCE names."""
        if self.git_dir:
            return git.rev_parse(self.git_dir, ref)
        source = self.directory / "SOURCE"
        words = source.read_text().split() if source.is_file() else []
        return f"snapshot@{words[0]}" if words else "snapshot"


def is_git_repository(path: Path) -> bool:
    """A checkout (with .git) or a bare repository."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def open_source(spec: str | None, what: str, option: str, cache_dir: Path) -> Source:
    if not spec:
        raise StackdebError(f"no {what} source given",
                            hint=f"pass {option} DIR_OR_GIT_URL (or set its environment variable)")
    if not Path(spec).exists() and "://" not in spec and not spec.startswith("git@"):
        raise StackdebError(f"{what} source '{spec}' is neither a directory nor a git URL")
    return Source(spec, cache_dir)


@dataclass(frozen=True)
class Series:
    release_id: str     # 2026.1
    codename: str       # gazpacho
    status: str         # development, maintained, ...

    @property
    def requirements_branch(self) -> str:
        return "master" if self.status in ("development", "future") else f"stable/{self.release_id}"


SERIES_STATUS = "series_status.yaml"


def series_entries(releases: Source) -> list[dict]:
    """series_status.yaml, checked: a list of mappings, each with a name."""
    return parse_series_status(releases.read(SERIES_STATUS))


def parse_series_status(text: str) -> list[dict]:
    """series_status.yaml's text, checked: a list of mappings, each with a name."""
    where = SERIES_STATUS
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise StackdebError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, list):
        raise StackdebError(f"{where}: expected a list of series, got {type(data).__name__}")
    for number, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise StackdebError(f"{where}, entry #{number}: expected a mapping with a 'name', got {entry!r}"[:300])
    return data


def release_ids(series_status: str) -> dict[str, str]:
    """codename -> release id (gazpacho -> 2026.1), from series_status.yaml's text."""
    return {entry["name"]: str(entry["release-id"]) for entry in parse_series_status(series_status)
            if entry.get("release-id")}


def deliverable_path(codename: str, deliverable: str) -> str:
    return f"deliverables/{codename}/{deliverable}.yaml"


def parse_deliverable_path(path: str) -> tuple[str, str] | None:
    """(codename, deliverable) of a path in openstack/releases, or None for any other file."""
    parts = PurePosixPath(path).parts
    if len(parts) == 3 and parts[0] == "deliverables" and parts[2].endswith(".yaml"):
        return parts[1], parts[2][:-len(".yaml")]
    return None


def find_series(releases: Source, key: str) -> Series:
    """The series named by release id (2026.1) or codename (gazpacho)."""
    data = series_entries(releases)
    for entry in data:
        if key in (str(entry.get("release-id")), entry.get("name")):
            return Series(str(entry["release-id"]), entry["name"], entry.get("status", ""))
    known = ", ".join(f"{e.get('release-id')} ({e['name']})" for e in data if e.get("release-id"))
    raise StackdebError(f"unknown release '{key}'", hint=f"releases known upstream: {known}")


def final_versions(releases: Source, series: Series, deliverable: str) -> list[Version]:
    """Every final (not rc, beta or alpha) version of a deliverable in a series, oldest first."""
    path = deliverable_path(series.codename, deliverable)
    if not releases.exists(path):
        raise StackdebError(f"deliverable '{deliverable}' has no file {path} in the releases data",
                            hint="check the catalog entry's 'deliverable' field")
    return final_versions_in(releases.read(path), path)


def final_versions_in(deliverable_yaml: str, where: str = "deliverable") -> list[Version]:
    """The final versions listed in one deliverable file's text, oldest first. The file is
    checked first: a malformed entry is an error naming the file and the entry, never a
    version silently skipped (which could lock an older one)."""
    versions = [Version(e["version"]) for e in releases_in(deliverable_yaml, where)
                if FINAL_VERSION_RE.match(e["version"])]
    return sorted(versions)


def releases_in(deliverable_yaml: str, where: str) -> list[dict]:
    """The `releases` entries of a deliverable file, each checked: a version string that is a
    release or pre-release version, listed once, with the commit of every project."""
    try:
        data = load_yaml(deliverable_yaml)
    except yaml.YAMLError as exc:
        raise StackdebError(f"{where} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StackdebError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    entries = data.get("releases") or []
    if not isinstance(entries, list):
        raise StackdebError(f"{where}: 'releases' must be a list, got {type(entries).__name__}")
    seen = set()
    for number, entry in enumerate(entries, 1):
        label = f"{where}, release #{number}"
        if not isinstance(entry, dict):
            raise StackdebError(f"{label}: expected a mapping with 'version', got {entry!r:.60}")
        version = entry.get("version")
        if not isinstance(version, str):
            raise StackdebError(f"{label}: 'version' must be a string, got {version!r:.60}",
                                hint="a version such as 29.0.2, quoted if YAML would read it as a number")
        if not RELEASE_VERSION_RE.match(version):
            raise StackdebError(f"{label}: '{version:.60}' is not a release version",
                                hint="expected N.N.N, or a pre-release such as N.N.N.0rc1")
        if version in seen:
            raise StackdebError(f"{label}: version {version} is listed twice")
        seen.add(version)
        for project in entry.get("projects") or []:
            if not isinstance(project, dict) or not isinstance(project.get("repo"), str) \
                    or not COMMIT_RE.match(str(project.get("hash", ""))):
                raise StackdebError(f"{label} ({version}): each project needs a repo and a 40-hex commit hash, "
                                    f"got {project!r:.80}")
    return entries


def service_version(releases: Source, series: Series, deliverable: str,
                    pinned: str | None = None) -> str:
    """The newest final version of a deliverable in the series, or the pinned one if final."""
    versions = final_versions(releases, series, deliverable)
    if pinned:
        try:
            wanted = Version(pinned)
        except InvalidVersion:
            raise StackdebError(f"pinned version '{pinned}' of {deliverable} is not a version") from None
        if wanted not in versions:
            raise StackdebError(
                f"{deliverable} {pinned} is not a final release of {series.codename}",
                hint=f"final releases: {', '.join(map(str, versions)) or 'none'}")
        return pinned
    if not versions:
        raise StackdebError(f"{deliverable} has no final release in {series.codename} yet")
    return str(versions[-1])


@dataclass(frozen=True)
class UpperConstraints:
    text: str
    origin: str     # where it came from: branch and commit


def upper_constraints(requirements: Source, series: Series) -> UpperConstraints:
    if requirements.directory:
        for folder in (series.release_id, series.requirements_branch.replace("stable/", "")):
            base = requirements.directory / folder
            if (base / "upper-constraints.txt").exists():
                source = base / "SOURCE"
                commit = source.read_text().split()[0] if source.exists() else "unknown"
                return UpperConstraints((base / "upper-constraints.txt").read_text(),
                                        f"{series.requirements_branch}@{commit}")
        raise StackdebError(f"no upper-constraints.txt for {series.release_id} in {requirements.directory}",
                            hint=f"expected {requirements.directory}/{series.release_id}/upper-constraints.txt")
    branch = series.requirements_branch
    text = requirements.read("upper-constraints.txt", branch)
    return UpperConstraints(text, f"{branch}@{requirements.commit(branch)}")
