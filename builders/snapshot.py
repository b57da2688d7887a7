"""The upstream data snapshot inside the project (upstream/): what a plain clone, the tests and
the embedded master use when no source is given, and how it is refreshed from the real
repositories."""

from pathlib import Path

from builders import PROJECT_DIR, log
from builders.catalog import Catalog
from builders.errors import StackdebError
from builders.outputs import replacing
from builders.releases import Series, Source, deliverable_path, series_entries
from builders.tools import git

SNAPSHOT_DIR = PROJECT_DIR / "upstream"
RELEASES_SNAPSHOT = SNAPSHOT_DIR / "openstack-releases"
REQUIREMENTS_SNAPSHOT = SNAPSHOT_DIR / "openstack-requirements"


def default_source(what: str) -> str | None:
    """The snapshot's directory for 'releases' or 'requirements', when the checkout has it."""
    folder = RELEASES_SNAPSHOT if what == "releases" else REQUIREMENTS_SNAPSHOT
    return str(folder) if folder.is_dir() else None


def snapshot_series(destination: Path) -> list[str]:
    """The series (codenames) a snapshot holds, to refresh the same ones by default."""
    deliverables = destination / "openstack-releases" / "deliverables"
    return sorted(p.name for p in deliverables.iterdir() if p.is_dir()) if deliverables.is_dir() else []


def refresh_snapshot(releases: Source, requirements: Source, catalog: Catalog, destination: Path,
                     codenames: list[str]) -> None:
    """Rewrite `destination` from two git sources: series_status.yaml, the catalog's deliverable
    files for each series, and each series' upper-constraints.txt, each part with a SOURCE file
    naming the commit and its date. Built beside and switched in, so a failure loses nothing."""
    if not (releases.git_dir and requirements.git_dir):
        raise StackdebError("a snapshot is refreshed from the upstream git repositories",
                            hint="pass --releases and --requirements as git URLs or checkouts")
    series_data = series_entries(releases)
    by_name = {entry.get("name"): entry for entry in series_data}
    unknown = [name for name in codenames if name not in by_name]
    if unknown:
        raise StackdebError(f"unknown series: {', '.join(unknown)}",
                            hint=f"series upstream: {', '.join(str(n) for n in by_name)}")
    with replacing(destination) as staging:
        _write_releases(releases, catalog, codenames, staging / "openstack-releases")
        for name in codenames:
            entry = by_name[name]
            series = Series(str(entry["release-id"]), name, entry.get("status", ""))
            _write_requirements(requirements, series, staging / "openstack-requirements")
    log.info(f"snapshot of {len(codenames)} series and {len(catalog.services)} deliverables in {destination}")


def _write_releases(releases: Source, catalog: Catalog, codenames: list[str], target: Path) -> None:
    target.mkdir(parents=True)
    (target / "series_status.yaml").write_text(releases.read("series_status.yaml"))
    for name in codenames:
        folder = target / "deliverables" / name
        folder.mkdir(parents=True)
        for svc in catalog:
            path = deliverable_path(name, svc.deliverable)
            if releases.exists(path):
                (folder / f"{svc.deliverable}.yaml").write_text(releases.read(path))
            else:
                log.info(f"{path}: not upstream (the service is not part of {name})")
    (target / "SOURCE").write_text(_origin(releases, "HEAD"))


def _write_requirements(requirements: Source, series: Series, target: Path) -> None:
    branch = series.requirements_branch
    folder = target / ("master" if branch == "master" else series.release_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "upper-constraints.txt").write_text(requirements.read("upper-constraints.txt", branch))
    (folder / "SOURCE").write_text(_origin(requirements, branch))


def _origin(source: Source, ref: str) -> str:
    return f"{source.commit(ref)} {git.commit_date(source.git_dir, ref)}\n"
