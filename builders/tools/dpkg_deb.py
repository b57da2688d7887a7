"""dpkg-deb: build a binary package from a staged tree, and read one back."""

import subprocess
from pathlib import Path

from builders import tools
from builders.errors import StackdebError

PARTS = {"control": "--ctrl-tarfile", "data": "--fsys-tarfile"}


def build(root: Path, output: Path, *, source_date_epoch: int, compression: str = "xz",
          level: int = 0) -> None:
    tools.run("dpkg-deb", [
        "--root-owner-group", f"-Z{compression}", f"-z{level}", "--build", str(root), str(output),
    ], env={"SOURCE_DATE_EPOCH": str(source_date_epoch)}, what=str(output),
        fix="check free disk space in the build directory")



def tar_of(deb: Path, part: str) -> bytes:
    """The control or data part of a .deb, as the tar stream dpkg-deb reads from it."""
    result = subprocess.run([tools.find("dpkg-deb"), PARTS[part], str(deb)], capture_output=True)
    if result.returncode:
        raise StackdebError(f"{deb.name}: dpkg-deb cannot read its {part} part: "
                            f"{result.stderr.decode(errors='replace').strip()[-200:]}")
    return result.stdout


def unreadable(deb: Path) -> str | None:
    """Why dpkg-deb cannot read every member of both parts (a truncated or corrupt payload), or None."""
    for option in PARTS.values():
        result = subprocess.run([tools.find("dpkg-deb"), option, str(deb)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace")
        if result.returncode:
            return (result.stderr.strip().splitlines() or ["unreadable"])[-1]
    return None


def extract(deb: Path, destination: Path) -> None:
    result = subprocess.run([tools.find("dpkg-deb"), "--extract", str(deb), str(destination)],
                            capture_output=True, text=True, errors="replace")
    if result.returncode:
        raise StackdebError(f"{deb.name} cannot be unpacked: {result.stderr.strip()[:200]}")
