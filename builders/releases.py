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
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

from builders.errors import StackdebError
from builders.tools import git

FINAL_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


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
        return git.rev_parse(self.git_dir, ref) if self.git_dir else "snapshot"


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


def find_series(releases: Source, key: str) -> Series:
    """The series named by release id (2026.1) or codename (gazpacho)."""
    data = yaml.safe_load(releases.read("series_status.yaml"))
    for entry in data:
        if key in (str(entry.get("release-id")), entry.get("name")):
            return Series(str(entry["release-id"]), entry["name"], entry.get("status", ""))
    known = ", ".join(f"{e.get('release-id')} ({e['name']})" for e in data if e.get("release-id"))
    raise StackdebError(f"unknown release '{key}'", hint=f"releases known upstream: {known}")


def final_versions(releases: Source, series: Series, deliverable: str) -> list[Version]:
    """Every final (not rc, beta or alpha) version of a deliverable in a series, oldest first."""
    path = f"deliverables/{series.codename}/{deliverable}.yaml"
    if not releases.exists(path):
        raise StackdebError(f"deliverable '{deliverable}' has no file {path} in the releases data",
                            hint="check the catalog entry's 'deliverable' field")
    return final_versions_in(releases.read(path))


def final_versions_in(deliverable_yaml: str) -> list[Version]:
    """The final versions listed in one deliverable file's text, oldest first."""
    data = yaml.safe_load(deliverable_yaml) or {}
    versions = []
    for release in data.get("releases") or []:
        text = str(release.get("version", ""))
        if FINAL_VERSION_RE.match(text):
            versions.append(Version(text))
    return sorted(versions)


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
