"""`buildbot checkconfig` on master.cfg: a good configuration passes, a bad one fails with one
clear message (real buildbot, no master started)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builders import PROJECT_DIR
from builders.users import add_user

BIN = Path(sys.executable).parent


@pytest.fixture
def master_dir(tmp_path):
    basedir = tmp_path / "master"
    subprocess.run([BIN / "buildbot", "create-master", "--quiet", "--config", PROJECT_DIR / "master.cfg",
                    basedir], check=True)
    add_user(basedir / "users", "alice", "correct-horse-staple", ["release-engineer"])
    settings = {"targets": [{"release": "2026.1", "suite": "bookworm"}],
                "sources": {"releases": str(tmp_path / "releases.git"),
                            "requirements": str(tmp_path / "requirements.git")},
                "workers": [{"name": "local", "password": "wk-7Qe2-ZtLp-91xA", "max_builds": 3}]}
    (basedir / "master.yaml").write_text(yaml.safe_dump(settings))
    (basedir / "master.yaml").chmod(0o600)
    return basedir


def checkconfig(basedir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "buildbot", "checkconfig", basedir], capture_output=True, text=True)


def test_the_project_configuration_passes(master_dir):
    result = checkconfig(master_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config file is good" in result.stdout


def test_an_unknown_service_in_a_scheduler_fails_checkconfig(master_dir):
    settings = yaml.safe_load((master_dir / "master.yaml").read_text())
    (master_dir / "master.yaml").write_text(yaml.safe_dump(settings | {"watch": ["keystone", "nosuch"]}))
    result = checkconfig(master_dir)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "watch: unknown service nosuch" in output and "Traceback" not in output


def test_a_missing_users_file_fails_checkconfig(master_dir):
    (master_dir / "users").unlink()
    result = checkconfig(master_dir)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"the users file {master_dir / 'users'} does not exist" in output and "Traceback" not in output


def test_a_settings_file_others_can_read_fails_checkconfig(master_dir):
    (master_dir / "master.yaml").chmod(0o644)
    result = checkconfig(master_dir)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "readable by others: chmod 600" in output and "Traceback" not in output


def test_a_weak_worker_password_fails_checkconfig_without_showing_it(master_dir):
    settings = yaml.safe_load((master_dir / "master.yaml").read_text())
    settings["workers"] = [{"name": "local", "password": "hunter2"}]
    (master_dir / "master.yaml").write_text(yaml.safe_dump(settings))
    result = checkconfig(master_dir)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "local's password is shorter than 16 characters" in output
    assert "hunter2" not in output
    settings["workers"] = [{"password": "a-long-secret-password-1"}]
    (master_dir / "master.yaml").write_text(yaml.safe_dump(settings))
    result = checkconfig(master_dir)
    output = result.stdout + result.stderr
    assert "each entry needs name and password" in output and "a-long-secret-password-1" not in output


def test_a_first_start_with_no_user_added_starts_and_makes_the_admin(tmp_path, fake_index):
    """What bootstrap.sh runs on a fresh machine: `master start` with no users file yet (the
    settings it checks name that file, so the admin is made before the check)."""
    import os
    from conftest import make_mini_project
    from minimaster import STACKDEB, free_port
    mini, mini_env = make_mini_project(tmp_path, fake_index)
    env = {**os.environ, **mini_env}
    start = subprocess.run([STACKDEB, "master", "start", "--nightly", "off", "--no-kick-off", "--cluster-layout", "none",
                            "--web-port", str(free_port()), "--worker-port", str(free_port())],
                           env=env, capture_output=True, text=True)
    try:
        assert start.returncode == 0, start.stderr
        basedir = mini.build / "master"
        assert (basedir / "admin-password").stat().st_mode & 0o777 == 0o600
        assert "admin:" in (basedir / "users").read_text()
    finally:
        subprocess.run([STACKDEB, "master", "stop"], env=env, capture_output=True)
