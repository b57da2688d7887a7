"""mmdebstrap: a minimal Debian tree for a suite, as a tarball."""

from pathlib import Path

from builders import tools


def create_tarball(suite: str, output: Path, packages: list[str], mirror_lines: list[str], *,
                   options: list[str] = (), source_date_epoch: int | None = None) -> None:
    """With `source_date_epoch`, mmdebstrap makes the tree reproducible (times, machine-id)."""
    env = {"SOURCE_DATE_EPOCH": str(source_date_epoch)} if source_date_epoch else None
    tools.run("mmdebstrap", [
        "--quiet", "--variant=minbase", "--mode=root", f"--include={','.join(packages)}",
        '--aptopt=Acquire::Retries "3"', *options, suite, str(output), *mirror_lines,
    ], what=f"a {suite} tree", fix="check the machine's apt sources and free disk space", env=env)
