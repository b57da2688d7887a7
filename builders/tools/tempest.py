"""tempest: a workspace per run and its smoke tests, as a subunit stream."""

import subprocess
from pathlib import Path

from builders import log, tools


def init(workdir: Path) -> None:
    tools.run("tempest", ["init", "--workspace-path", str(workdir / "workspaces.yaml"), str(workdir)],
              what=str(workdir), fix="check the tempest installation (pip install tempest)")


def run(workdir: Path, regex: str, prefix: list[str], log_file: Path) -> bytes:
    """The subunit stream of `tempest run --regex`; its human log (stderr) goes to `log_file`.
    Failing tests are results, not an error: the exit code is not checked."""
    argv = [*prefix, tools.find("tempest"), "run", "--regex", regex, "--concurrency", "2", "--subunit"]
    log.command(f"tempest run --regex '{regex}' --concurrency 2 --subunit   (in {workdir})")
    with open(log_file, "wb") as err:
        result = subprocess.run(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    return result.stdout


def subunit_to_csv(stream: bytes) -> str:
    result = subprocess.run([tools.find("subunit2csv")], input=stream, capture_output=True)
    return result.stdout.decode(errors="replace")
