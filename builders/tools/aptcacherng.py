"""apt-cacher-ng: a private caching proxy that forwards only to the machine's own mirrors."""

import os
import subprocess
import tempfile
from pathlib import Path

from builders import log, tools


def config(cache: Path, state: Path, port: int, mirrors: list[str]) -> str:
    """ForceManaged: only URLs under `mirrors` are fetched; anything else is refused (403).
    Its admin socket goes in the temporary directory: a unix socket path has 107 bytes at most."""
    socket_path = Path(tempfile.gettempdir()) / f"stackdeb-acng-{os.getpid()}.socket"
    lines = [f"CacheDir: {cache}", f"LogDir: {state}", f"Port: {port}", "BindAddress: 127.0.0.1",
             f"PidFile: {state / 'apt-cacher-ng.pid'}", f"SocketPath: {socket_path}",
             "ForceManaged: 1", "ExThreshold: 14"]
    lines += [f"Remap-mirror{n}: {url} ; {url}" for n, url in enumerate(mirrors)]
    return "\n".join(lines) + "\n"


def start(conf_dir: Path) -> subprocess.Popen:
    binary = tools.find("apt-cacher-ng")
    log.command(f"apt-cacher-ng -c {conf_dir} ForeGround=1")
    return subprocess.Popen([binary, "-c", str(conf_dir), "ForeGround=1"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
