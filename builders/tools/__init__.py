"""One door to every external program: find it, log the exact command, explain failures.

Each tool has its own small module beside this one that builds its command lines; the rest
of stackdeb never assembles a command line itself.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from builders import log
from builders.errors import StackdebError

# Tools installed with stackdeb itself (uv, pip-compile, bindep) live beside the interpreter.
_OWN_BIN = str(Path(sys.executable).parent)

# What to install when a tool is missing.
INSTALL_HINTS = {
    "uv": "pip install uv (it is a stackdeb dependency: reinstall stackdeb)",
    "pip-compile": "pip install pip-tools (a stackdeb dependency: reinstall stackdeb)",
    "bindep": "pip install bindep (a stackdeb dependency: reinstall stackdeb)",
    "dpkg-deb": "apt-get install dpkg",
    "git": "apt-get install git",
    "apt-get": "run on a Debian system",
    "unshare": "apt-get install util-linux",
    "mmdebstrap": "apt-get install mmdebstrap",
    "lintian": "apt-get install lintian",
    "diffoscope": "apt-get install diffoscope",
    "tar": "apt-get install tar",
    "socat": "apt-get install socat",
    "qemu-system-x86_64": "apt-get install qemu-system-x86 ipxe-qemu",
    "mksquashfs": "apt-get install squashfs-tools",
    "sudo": "apt-get install sudo (diskimage-builder calls it even as root)",
    "disk-image-create": "pip install diskimage-builder (a stackdeb dependency: reinstall stackdeb)",
    "chroot": "apt-get install coreutils",
    "buildbot": "pip install 'buildbot[bundle]' (a stackdeb dependency: reinstall stackdeb)",
    "ip": "apt-get install iproute2",
    "dnsmasq": "apt-get install dnsmasq-base",
    "apt-cacher-ng": "apt-get install apt-cacher-ng",
    "tempest": "pip install tempest (a stackdeb dependency: reinstall stackdeb)",
    "buildbot-worker": "pip install buildbot-worker (a stackdeb dependency: reinstall stackdeb)",
}


def find(tool: str) -> str:
    """Absolute path of `tool`, looked up on PATH and then beside the running interpreter."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + _OWN_BIN
    found = shutil.which(tool, path=path)
    if not found:
        raise StackdebError(
            f"required tool '{tool}' was not found on PATH",
            hint=INSTALL_HINTS.get(tool, f"install {tool}"),
        )
    return found


def dies_with_stackdeb(argv: list[str]) -> list[str]:
    """`argv` under setpriv, which has the kernel kill it when stackdeb dies, even by SIGKILL:
    a killed stage must not leave a build writing on into what the next run cleans up.
    (setpriv is in util-linux, which every Debian system has; without it, as it was.)"""
    setpriv = shutil.which("setpriv", path=os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/bin")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def run(
    tool: str,
    args: list[str],
    *,
    what: str,
    fix: str,
    cwd: Path | None = None,
    env: dict[str, str | None] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    quiet: bool = True,
    action: str | None = None,
    log_file: Path | None = None,
    secrets: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run `tool args`; on failure raise an error naming the tool, the input and the fix.

    `what` names the input being worked on ("the lock for 2026.1/bookworm"), `fix` says what
    the user can do about a failure. Output is captured and its tail shown on failure.
    In `env`, a value of None removes that variable. `action` names the failure when the
    tool is only a vehicle ("building venv-nova" rather than "unshare"). With `log_file`,
    all output goes there instead (long, chatty tools) and its tail is shown on failure.
    Arguments equal to one of `secrets` are logged as '***'.
    """
    argv = dies_with_stackdeb([find(tool), *args])
    shown = ["***" if a in secrets else a.split("\n", 1)[0] + " …" if "\n" in a else a for a in args]
    log.command(shlex.join([tool, *shown]))
    full_env = {**os.environ, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None unsets
    if log_file:
        log.command(f"  (output in {log_file})")
        with open(log_file, "w") as out:
            result = subprocess.run(argv, cwd=cwd, env=full_env, text=True, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        result.stderr = log_file.read_text(errors="replace")
    else:
        result = subprocess.run(
            argv, cwd=cwd, env=full_env, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE,
        )
    if result.returncode not in ok_codes:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-15:])
        for secret in secrets:
            tail = tail.replace(secret, "***")
        raise StackdebError(
            f"{action or tool} failed (exit {result.returncode}) on {what}:\n{tail}", hint=fix
        )
    return result
