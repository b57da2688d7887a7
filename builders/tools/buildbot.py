"""buildbot and buildbot-worker: create, check, start and stop a master and its workers."""

import os
from pathlib import Path

from builders import tools
from builders.errors import StackdebError

_FIX = "read twistd.log in {basedir}"


def create_master(basedir: Path, config: Path, db_url: str) -> None:
    tools.run("buildbot", ["create-master", "--quiet", "--config", str(config), "--db", db_url, str(basedir)],
              what=str(basedir), fix="check the directory is writable")


def checkconfig(basedir: Path) -> None:
    tools.run("buildbot", ["checkconfig", str(basedir)], what=f"the master configuration in {basedir}",
              fix="fix master.yaml or the users file as the message says", action="buildbot checkconfig")


def start_master(basedir: Path) -> None:
    tools.run("buildbot", ["start", str(basedir)], what=f"the master in {basedir}",
              fix=_FIX.format(basedir=basedir), action="starting the Buildbot master")


def stop_master(basedir: Path) -> None:
    tools.run("buildbot", ["stop", "--clean", str(basedir)], what=f"the master in {basedir}",
              fix=_FIX.format(basedir=basedir), ok_codes=(0, 1))


def create_worker(basedir: Path, master: str, name: str, password: str) -> None:
    tools.run("buildbot-worker", ["create-worker", "--umask=0o022", str(basedir), master, name, password],
              what=str(basedir), fix="check the directory is writable", secrets=(password,))
    # buildbot.tac holds the password: for the worker's owner only
    (basedir / "buildbot.tac").chmod(0o600)


def start_worker(basedir: Path, environment: dict[str, str] | None = None) -> None:
    """Start the worker daemon; `environment` becomes its own, inherited by every step.
    `buildbot-worker start` confirms the start by tailing twistd.log from its end, so a worker
    that connects before the tail begins is reported as failed (exit 1) although it runs: a
    running daemon is taken as started, and the caller waits for the master to see it."""
    started = tools.run("buildbot-worker", ["start", str(basedir)], what=f"the worker in {basedir}",
                        fix=_FIX.format(basedir=basedir), action="starting the Buildbot worker", env=environment,
                        ok_codes=(0, 1))
    if started.returncode != 0 and not _daemon_runs(basedir):
        raise StackdebError(f"starting the Buildbot worker in {basedir} failed: it is not running",
                            hint=_FIX.format(basedir=basedir))


def _daemon_runs(basedir: Path) -> bool:
    try:
        os.kill(int((basedir / "twistd.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop_worker(basedir: Path) -> None:
    tools.run("buildbot-worker", ["stop", str(basedir)], what=f"the worker in {basedir}",
              fix=_FIX.format(basedir=basedir), ok_codes=(0, 1))
