"""A PostgreSQL server of the test's own: Debian's server binaries, a fresh cluster in a
temporary directory, on 127.0.0.1 and a free port, password authentication (scram) only.

    with PostgresServer() as pg:
        pg.url        postgresql://stackdeb@127.0.0.1:PORT/buildbot (no password in it)
        pg.pgpass     a 0600 file with the password, for PGPASSFILE
        pg.query(sql) psql's output
"""

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER, DATABASE = "stackdeb", "buildbot"


def server_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server here: apt-get install postgresql (bootstrap.sh does)")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = server_bin()
        self.password = "pg-" + secrets.token_hex(12)
        self.port = free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"
        # not under pytest's 0700 directories: the server runs as `postgres` when we are root
        self.home = Path(tempfile.mkdtemp(prefix="stackdeb-pg-"))
        self.data = self.home / "data"
        self.pgpass = self.home / "pgpass"
        self.owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _as_owner(self, tool: str, *args: str) -> None:
        subprocess.run([*self.owner, str(self.bin / tool), *args], check=True, capture_output=True, text=True)

    def __enter__(self):
        password_file = self.home / "initial-password"
        password_file.write_text(self.password + "\n")
        if self.owner:
            shutil.chown(self.home, "postgres")
            shutil.chown(password_file, "postgres")
        self.home.chmod(0o700)
        self._as_owner("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(password_file),
                       "--auth=scram-sha-256", "-E", "UTF8")
        password_file.unlink()
        self._as_owner("pg_ctl", "-D", str(self.data), "-l", str(self.home / "server.log"), "-w", "-o",
                       f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1", "start")
        self.pgpass.write_text(f"127.0.0.1:{self.port}:*:{USER}:{self.password}\n")
        self.pgpass.chmod(0o600)
        self.query(f"CREATE DATABASE {DATABASE}", database="postgres")
        return self

    def env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.pgpass)}

    def query(self, sql: str, database: str = DATABASE) -> str:
        done = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1",
                               "-p", str(self.port), "-U", USER, "-d", database, "-At", "-c", sql],
                              env={**os.environ, **self.env()}, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def __exit__(self, *exc):
        subprocess.run([*self.owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)
