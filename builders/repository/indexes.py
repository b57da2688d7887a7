"""What a generation's suites hold, read from their exported indexes."""

from pathlib import Path

from debian.deb822 import Packages


def suite_index(base: Path, codename: str) -> dict[str, str]:
    """package -> version of one suite in a generation, as its exported index lists it (what
    apt reads, signed by InRelease). A plain read: `reprepro list` would write its database's
    version file into the generation, fail on a full disk, and take reprepro's lock, so that
    two readers at once fail."""
    index = base / "dists" / codename / "main" / "binary-amd64" / "Packages"
    if not index.is_file():
        return {}
    with open(index, encoding="utf-8") as text:
        return {entry["Package"]: entry["Version"] for entry in Packages.iter_paragraphs(text, use_apt_pkg=False)}
