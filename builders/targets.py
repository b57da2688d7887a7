"""Debian suites stackdeb builds for, and a target: one release on one suite."""

import re
from dataclasses import dataclass

from builders.errors import StackdebError


@dataclass(frozen=True)
class Suite:
    codename: str
    version: str          # Debian major version, used in package versions (deb12)
    python: str           # the suite's python3 (wheels are chosen and compiled for it)
    glibc: tuple[int, int]

    @property
    def version_marker(self) -> str:
        """In every package version stackdeb makes for this suite, before the lock generation
        (deb12 < deb13: a dist-upgrade moves to the newer suite's build)."""
        return f"deb{self.version}"

    def built_for(self, version: str) -> bool:
        return re.search(rf"[+.]{self.version_marker}\.\d+$", version) is not None

    @property
    def python_tag(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def manylinux_platforms(self) -> list[str]:
        """Platform tags a wheel may carry to run on this suite (x86_64), best first."""
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
        legacy = {17: "manylinux2014_x86_64", 12: "manylinux2010_x86_64", 5: "manylinux1_x86_64"}
        return tags + [tag for m, tag in legacy.items() if m <= minor]


SUITES = {
    "bookworm": Suite("bookworm", "12", "3.11", (2, 36)),
    "trixie": Suite("trixie", "13", "3.13", (2, 41)),
}
# What every command builds when not told: Debian's stable release, and the newest OpenStack
# release that every stage, the test cluster included, has proven on it (docs/targets.md).
DEFAULT_RELEASE = "2026.1"
DEFAULT_SUITE = "trixie"


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise StackdebError(f"unknown suite '{name}'",
                            hint=f"supported suites: {', '.join(SUITES)}") from None


RELEASE_ID_RE = re.compile(r"^20\d\d\.[12]$")


@dataclass(frozen=True)
class Target:
    """One release on one suite: the unit every stage works on. Stages take their names and
    places from here, never from the raw options."""
    release: str          # the series id, 2026.1
    suite: Suite

    @property
    def name(self) -> str:
        return f"{self.release}-{self.suite.codename}"

    @property
    def label(self) -> str:
        return f"{self.release}/{self.suite.codename}"

    @property
    def staging_suite(self) -> str:
        """The repository suite a build set lands in before the test cluster passes it."""
        return f"{self.suite.codename}-{self.release}-staging"

    @property
    def tested_suite(self) -> str:
        """The repository suite a build set is promoted to once a cluster verdict passes it."""
        return f"{self.suite.codename}-{self.release}"

    @property
    def repo_suites(self) -> tuple[str, str]:
        return self.staging_suite, self.tested_suite


def get_target(release: str, suite_name: str) -> Target:
    """A target from a series id and a suite name, both checked (a codename is resolved to
    its id by the stages that read series data, before they get here)."""
    suite = get_suite(suite_name)
    if not RELEASE_ID_RE.match(release or ""):
        raise StackdebError(f"'{release}' is not an OpenStack series id",
                            hint="name the release by its id, such as 2026.1")
    return Target(release, suite)
