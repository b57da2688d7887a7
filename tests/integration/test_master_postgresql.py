"""The master on PostgreSQL, for real: Debian's server (one of the test's own,
tests/pgserver.py), the master created on it by `stackdeb master start --db URL`, and a whole
pipeline run on the mini project. The URL carries no password: the master reads it from a
pgpass file, and no file the master writes shows it. (tests/integration/test_master.py runs
the embedded default, SQLite.)
"""

import subprocess

import pytest
import yaml

from minimaster import STACKDEB, mini_master
from pgserver import PostgresServer


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


def test_a_whole_pipeline_run_on_postgresql_and_a_restart_keeps_its_history(postgres, tmp_path_factory):
    base = tmp_path_factory.mktemp("buildbot-pg")
    with mini_master(base, env=postgres.env(), start_args=["--db", postgres.url]) as master:
        build = master.wait_idle(1)
        assert build["results"] == 0, master.step_summaries(build)
        assert "venv-alpha" in master.stackdeb("repo", "status").stdout

        # the master's state is in PostgreSQL, not in a SQLite file beside it
        basedir = master.mini.build / "master"
        assert yaml.safe_load((basedir / "master.yaml").read_text())["database"] == postgres.url
        assert not (basedir / "state.sqlite").exists()
        builders = set(postgres.query("SELECT name FROM builders").split())
        assert {"pipeline", "bundle", "package-alpha", "package-beta", "publish"} <= builders, builders
        assert int(postgres.query("SELECT count(*) FROM builds WHERE complete_at IS NOT NULL")) >= 5

        # the password is in the pgpass file only
        for path in basedir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert postgres.password.encode() not in path.read_bytes(), path

        # stopped and started again, the master finds its builds where it left them
        assert master.stackdeb("master", "stop").returncode == 0
        again = master.stackdeb("master", "start", "--no-kick-off")
        assert again.returncode == 0, again.stderr
        assert [b["number"] for b in master.builds("pipeline") if b["complete"]] == [1]


def test_a_wrong_password_is_one_line_and_nothing_is_created(postgres, tmp_path):
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"127.0.0.1:{postgres.port}:*:*:not-the-password\n")
    wrong.chmod(0o600)
    build = tmp_path / "build"
    started = subprocess.run([STACKDEB, "master", "start", "--no-kick-off", "--db", postgres.url],
                             env={"PATH": "/usr/bin:/bin", "PGPASSFILE": str(wrong), "STACKDEB_BUILD_DIR": str(build),
                                  "STACKDEB_CACHE_DIR": str(tmp_path / "cache")},
                             capture_output=True, text=True)
    assert started.returncode == 1, started.stderr
    assert f"the master's database {postgres.url} cannot be reached: " in started.stderr, started.stderr
    assert "password authentication failed" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr and not build.exists()
