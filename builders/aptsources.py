"""The Debian mirrors this machine is configured with, read from its apt sources.

stackdeb never names a mirror: a chroot for any suite uses the archive and security URIs of
the machine's own apt configuration (deb822 .sources and one-line .list files).
"""

from dataclasses import dataclass
from pathlib import Path

from builders.errors import StackdebError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Mirrors:
    archive: str
    security: str | None

    def lines(self, suite: str, components: str = "main") -> list[str]:
        """One-line sources for `suite`: the archive, its updates, and security when known."""
        lines = [f"deb {self.archive} {suite} {components}",
                 f"deb {self.archive} {suite}-updates {components}"]
        if self.security:
            lines.append(f"deb {self.security} {suite}-security {components}")
        return lines


def _entries(apt_dir: Path):
    """(uri, suites) for every enabled deb entry."""
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    yield uri, fields.get("suites", "").split()
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb":
                    yield words[1], [words[2]]


def machine_mirrors(apt_dir: Path = APT_DIR) -> Mirrors:
    archive = security = None
    for uri, suites in _entries(apt_dir):
        if any(s.endswith("-security") for s in suites):
            security = security or uri.rstrip("/")
        elif any(s.split("-")[0] in ("bookworm", "trixie", "sid", "stable", "testing", "forky")
                 for s in suites) and "debian" in uri:
            archive = archive or uri.rstrip("/")
    if not archive:
        raise StackdebError("no Debian archive found in this machine's apt sources",
                            hint=f"configure one in {apt_dir}/sources.list.d/")
    return Mirrors(archive, security)
