"""dpkg-deb: build a binary package from a staged tree."""

from pathlib import Path

from builders import tools


def build(root: Path, output: Path, *, source_date_epoch: int, compression: str = "xz",
          level: int = 0) -> None:
    tools.run("dpkg-deb", [
        "--root-owner-group", f"-Z{compression}", f"-z{level}", "--build", str(root), str(output),
    ], env={"SOURCE_DATE_EPOCH": str(source_date_epoch)}, what=str(output),
        fix="check free disk space in the build directory")

