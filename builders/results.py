"""What each command gives back, as types: the contract between the CLI and whoever reads its
results (master/ through `--result-file`, people and scripts through `--json`).

Every result goes out in one envelope: {"command", "ok", "summary", ...the result's fields},
or, when the command failed, {"command", "ok": false, "error", "hint"}. master/ names the
fields it reads through these types (`Result.field`), so a renamed field fails when the
master loads, not in the middle of a build.
"""

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class Result:
    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def field(cls, name: str) -> str:
        """`name`, checked to be one of this result's fields (what a reader may ask for)."""
        if name not in cls.field_names():
            raise KeyError(f"{cls.__name__} has no field {name!r} (it has {', '.join(sorted(cls.field_names()))})")
        return name


@dataclass(frozen=True)
class Locked(Result):
    lock: str
    changed: bool
    pins: int
    generation: int
    services_changed: list[str]
    sha256: str


@dataclass(frozen=True)
class Bundled(Result):
    deb: str
    sha256: str


@dataclass(frozen=True)
class PackagePlan(Result):
    services: list[str]           # what `package` would build: the rest is up to date


@dataclass(frozen=True)
class PackageReports(Result):
    reports: list[dict]


@dataclass(frozen=True)
class PackagesBuilt(Result):
    packages: list[dict]          # each built package: its .deb, version, sha256


@dataclass(frozen=True)
class Proven(Result):
    proofs: list[dict]


@dataclass(frozen=True)
class Published(Result):
    suite: str
    generation: int
    packages: list[dict]          # each: deb, sha256


@dataclass(frozen=True)
class RolledBack(Result):
    generation: int


@dataclass(frozen=True)
class ClusterReport(Result):
    """A cluster run's verdict summarised (a run, or `cluster --report` for the last one);
    `result` is pass, fail or nothing-to-test (then there is no verdict)."""
    result: str
    verdict: str | None = None
    generation: int | None = None
    layout: str | None = None
    phases: list[dict] = field(default_factory=list)
    tempest: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    failure: dict | None = None
    logs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Promoted(Result):
    generation: int
    promoted: list
    not_covered: dict


@dataclass(frozen=True)
class RepoStatus(Result):
    target: str
    staging_suite: str
    tested_suite: str
    live_generation: int | None
    kept: list
    published: bool
    other_targets: list[str]
    packages: dict
    history: list


@dataclass(frozen=True)
class ImageBuilt(Result):
    image: str


@dataclass(frozen=True)
class Exported(Result):
    artifacts: list[dict]         # what `store import --artifacts` takes


@dataclass(frozen=True)
class Imported(Result):
    fetched: int
    kept: int


@dataclass(frozen=True)
class Uploaded(Result):
    files: list[dict]
    name: str | None = None


@dataclass(frozen=True)
class Fetched(Result):
    files: list[dict]
    into: str


@dataclass(frozen=True)
class Collected(Result):
    removed: dict
    freed_bytes: int


# what each command that has a result may give back
RESULT_TYPES: dict[str, tuple[type[Result], ...]] = {
    "lock": (Locked,), "bundle": (Bundled,), "package": (PackagePlan, PackageReports, PackagesBuilt),
    "prove": (Proven,), "publish": (Published,), "rollback": (RolledBack,), "cluster": (ClusterReport,),
    "promote": (Promoted,), "repo": (RepoStatus,), "image": (ImageBuilt,),
    "store": (Exported, Imported, Uploaded, Fetched), "gc": (Collected,),
}
