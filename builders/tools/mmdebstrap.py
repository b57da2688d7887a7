"""mmdebstrap: a minimal Debian tree for a suite, as a tarball."""

from pathlib import Path

from builders import tools


def create_tarball(suite: str, output: Path, packages: list[str], mirror_lines: list[str]) -> None:
    tools.run("mmdebstrap", [
        "--quiet", "--variant=minbase", "--mode=root", f"--include={','.join(packages)}",
        '--aptopt=Acquire::Retries "3"', suite, str(output), *mirror_lines,
    ], what=f"a {suite} chroot", fix="check the machine's apt sources and free disk space")
