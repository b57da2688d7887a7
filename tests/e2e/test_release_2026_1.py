"""The real thing: 2026.1 on bookworm, from the upstream snapshots and the real package index."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.lockfile import parse_lock

pytestmark = [pytest.mark.network, pytest.mark.slow]

COMMITTED = PROJECT_DIR / "requirements-bundles/2026.1/bookworm"


def test_the_committed_lock_is_up_to_date_with_its_inputs(stackdeb, real_project):
    code, err = stackdeb("lock", "--release", "2026.1", "--suite", "bookworm")
    assert code == 0, err
    assert "lock 2026.1/bookworm is up to date (inputs unchanged): nothing to do" in err


@pytest.fixture
def own_resolver_caches(tmp_path, monkeypatch):
    """uv's, pip-tools' and pip's caches of this test alone: what the resolvers find must not
    depend on what earlier tests (or an earlier run on this machine) left in the machine's
    caches. stackdeb's own cache stays the machine's (it holds no resolver state)."""
    from builders.project import Project
    monkeypatch.setenv("STACKDEB_CACHE_DIR", str(Project.from_env().cache_dir))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))     # pip-tools' and pip's
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))


@pytest.mark.usefixtures("own_resolver_caches")
def test_regenerating_the_lock_resolves_every_service_to_the_committed_pins(stackdeb, real_project):
    code, err = stackdeb("lock", "--release", "gazpacho", "--suite", "bookworm", "--force")
    assert code == 0, err
    fresh = parse_lock((real_project / "requirements-bundles/2026.1/bookworm/lock.txt").read_text())
    committed = parse_lock((COMMITTED / "lock.txt").read_text())
    assert {p.line for p in fresh.values()} == {p.line for p in committed.values()}
    assert all(p.hashes for p in committed.values())
    pin_lines = [line for line in (COMMITTED / "lock.txt").read_text().splitlines()
                 if line and not line[0].isspace() and not line.startswith("#")]
    assert len(pin_lines) == len(committed) > 200   # every pin line was parsed, with its hashes
    closures = json.loads((COMMITTED / "closures.json").read_text())
    assert set(closures) == {"keystone", "glance", "placement", "nova", "neutron", "cinder", "heat",
                             "barbican", "aodh", "ceilometer", "swift", "cloudkitty"}
    assert "keystone==29.0.2" in closures["keystone"] and "uwsgi==2.0.31" in closures["keystone"]


@pytest.mark.usefixtures("own_resolver_caches")
def test_uv_and_pip_tools_agree_on_keystone(stackdeb, real_project):
    """pip-tools is the reference; one service keeps this at about a minute cold."""
    catalog = real_project / "packaging/services.yaml"
    entries = yaml.safe_load(catalog.read_text())
    catalog.write_text(yaml.safe_dump({"keystone": entries["keystone"]}))
    lock = real_project / "requirements-bundles/2026.1/bookworm/lock.txt"
    code, err = stackdeb("lock", "--force")
    assert code == 0, err
    by_uv = {p.line: sorted(p.hashes) for p in parse_lock(lock.read_text()).values()}
    code, err = stackdeb("lock", "--force", "--resolver", "pip-tools")
    assert code == 0, err
    by_pip_tools = {p.line: sorted(p.hashes) for p in parse_lock(lock.read_text()).values()}
    assert by_uv == by_pip_tools
    assert len(by_uv) > 90


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory):
    """The committed 2026.1/bookworm lock bundled for real (once for this module)."""
    build = tmp_path_factory.mktemp("build")
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(build)}
    result = subprocess.run([sys.executable, "-m", "builders.cli", "bundle", "--release", "2026.1",
                             "--suite", "bookworm"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return build / "bundles/2026.1-bookworm"


def test_the_bundle_holds_every_locked_pin_and_compiled_uwsgi(real_bundle):
    manifest = json.loads((real_bundle / "wheelhouse/manifest.json").read_text())
    committed = parse_lock((COMMITTED / "lock.txt").read_text())
    assert {f"{a['name']}=={a['version']}" for a in manifest["artifacts"]} == {p.line for p in committed.values()}
    uwsgi = next(a for a in manifest["artifacts"] if a["name"] == "uwsgi")
    assert uwsgi["origin"] == "compiled" and uwsgi["filename"].endswith("-cp311-cp311-linux_x86_64.whl")
    debs = list(real_bundle.glob("openstack-wheels-2026.1_*_amd64.deb"))
    assert len(debs) == 1


@pytest.mark.parametrize("service", ["keystone", "placement", "glance"])
def test_a_service_installs_from_the_bundle_with_no_network(real_bundle, tmp_path, service):
    svc = load_catalog(PROJECT_DIR / "packaging/services.yaml").get(service)
    wheelhouse = real_bundle / "wheelhouse"
    venv = tmp_path / "venv"
    scripts = " ".join(f"{venv}/bin/{name}" for name in svc.console_scripts)
    # WSGI modules build the app on import (it needs configuration): find them, don't run them.
    check = (f"import {svc.import_name}, pymysql, memcache, importlib.util as u; "
             f"assert all(u.find_spec(m) for m in {[app.module for app in svc.wsgi_apps]!r})")
    script = (f"/usr/bin/python3 -m venv {venv} && "
              f"{venv}/bin/pip install -q --no-index --find-links {wheelhouse}/wheels "
              f"--require-hashes -r {wheelhouse}/requirements/{service}.txt && "
              f"{venv}/bin/pip check && ls {scripts} >/dev/null && "
              f"{venv}/bin/python -c \"{check}\" && {venv}/bin/uwsgi --version")
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": ""}
    result = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("2.0.31")
