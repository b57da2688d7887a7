"""The real services as venv packages: built offline and reproducibly, then installed with
apt into a clean chroot of the suite from a local repository, and used there."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from builders.chroot import runtime_chroot
from builders.project import Project
from builders.targets import get_suite
from builders.tools.namespace import Bind, run_in_chroot
from helpers import KEYSTONE

pytestmark = [pytest.mark.network, pytest.mark.slow]
SERVICES = ["keystone", "glance", "placement"]


@pytest.fixture(scope="module")
def built(real_packages):
    """keystone, glance and placement built twice each (reproducibility) with lintian."""
    return real_packages / "packages/2026.1-bookworm"


@pytest.fixture(scope="module")
def repo(built, tmp_path_factory):
    """A flat apt repository of the built packages (the signed one is the publish stage's)."""
    repo = tmp_path_factory.mktemp("repo")
    for service in SERVICES:
        for deb in (built / service).glob("*.deb"):
            (repo / deb.name).write_bytes(deb.read_bytes())
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo,
                              capture_output=True, check=True).stdout
    (repo / "Packages").write_bytes(packages)
    return repo


def test_each_package_was_built_offline_reproducibly_and_lintian_clean(built):
    for service in SERVICES:
        manifest = json.loads((built / service / "manifest.json").read_text())
        assert manifest["reproducible"] is True
        assert manifest["lintian"] == "clean"
        assert manifest["network_interfaces"] == ["lo"]
        assert "\nE: " not in "\n" + (built / service / "lintian.txt").read_text()


INSTALL = """\
echo 'deb [trusted=yes] file:/stackdeb/repo ./' > /etc/apt/sources.list.d/stackdeb.list
apt-get update -qq
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {packages} > /tmp/apt.log 2>&1; then
    tail -30 /tmp/apt.log
    exit 1
fi
"""


DB_SYNC = {
    "glance": ("/etc/glance/glance-api.conf", "[database]", "glance-manage db sync"),
    "placement": ("/etc/placement/placement.conf", "[placement_database]", "placement-manage db sync"),
}


def run_in_clean_chroot(repo, script):
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    return run_in_chroot(chroot.rootfs, chroot.scratch, script, network=True,
                         binds=[Bind(repo, "/stackdeb/repo")], what="the install test", fix="")


def test_keystone_installs_with_apt_and_issues_a_token_over_http(repo):
    out = run_in_clean_chroot(repo, INSTALL.format(packages="venv-keystone") + KEYSTONE)
    assert "http/1.1 201 created" in out.lower(), out[-3000:]
    assert "x-subject-token: g" in out.lower(), out[-3000:]


@pytest.mark.parametrize("service", list(DB_SYNC))
def test_a_service_installs_with_apt_and_syncs_its_database(repo, service):
    conf, section, command = DB_SYNC[service]
    script = INSTALL.format(packages=f"venv-{service}") + f"""\
test -s {conf}
grep -q '^\\[DEFAULT\\]' {conf}
printf '{section}\\nconnection = sqlite:////var/lib/{service}/{service}.db\\n' > {conf}
runuser -u {service} -- {command}
test -s /var/lib/{service}/{service}.db
echo synced
ls /usr/bin/{service}-manage /lib/systemd/system/{service}-api.service /etc/{service}/uwsgi/{service}-api.ini
"""
    out = run_in_clean_chroot(repo, script)
    assert "synced" in out, out[-3000:]


UPGRADE = """\
cp /stackdeb/archive/public/stackdeb-archive-keyring.gpg /usr/share/keyrings/
sed 's|http://REPOSITORY-HOST/|{url}|' /stackdeb/archive/public/stackdeb-bookworm-2026.1-staging.sources \\
    > /etc/apt/sources.list.d/stackdeb.sources
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq venv-keystone={first} > /tmp/apt.log 2>&1 || tail -30 /tmp/apt.log >&2
dpkg-query -W -f='installed ${{Version}}\\n' venv-keystone
printf '[database]\\nconnection = sqlite:////var/lib/keystone/keystone.db\\n' > /etc/keystone/keystone.conf
echo '# kept across the upgrade' >> /etc/keystone/keystone.conf
runuser -u keystone -- keystone-manage db_sync
# build set N+1 lands in staging now (the test publishes it when it sees this file)
touch /stackdeb/handshake/installed
for i in $(seq 300); do [ -e /stackdeb/handshake/published ] && break; sleep 1; done
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --only-upgrade venv-keystone > /tmp/apt.log 2>&1 || tail -30 /tmp/apt.log >&2
dpkg-query -W -f='upgraded ${{Version}}\\n' venv-keystone
grep -c 'kept across the upgrade' /etc/keystone/keystone.conf
runuser -u keystone -- keystone-manage db_sync && echo 'db_sync after upgrade: ok'
"""


def test_venv_keystone_upgrades_from_build_n_to_n_plus_1_in_the_signed_staging_suite(built, tmp_path):
    """Build N is the module's keystone; build N+1 is keystone again with its catalog revision
    bumped, from a project copy. Both are published to a signed staging suite, and apt in a
    clean chroot installs N, then upgrades to N+1 keeping the configuration."""
    import shutil
    import yaml
    from builders import PROJECT_DIR
    from builders.fileserver import start_file_server
    from builders.repository.publish import publish_build_set
    root = tmp_path / "project"
    for folder in ("packaging", "requirements-bundles"):
        shutil.copytree(PROJECT_DIR / folder, root / folder)
    catalog = yaml.safe_load((root / "packaging/services.yaml").read_text())
    catalog["keystone"]["revision"] = catalog["keystone"].get("revision", 1) + 1
    (root / "packaging/services.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    env = {**os.environ, "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_BUILD_DIR": str(tmp_path / "build")}
    for args in (["bundle"], ["package", "keystone", "--no-lintian"]):
        result = subprocess.run([sys.executable, "-m", "builders.cli", *args], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]
    first = next((built / "keystone").glob("venv-keystone_*.deb"))
    second = next((tmp_path / "build/packages/2026.1-bookworm/keystone").glob("venv-keystone_*.deb"))
    repo, handshake = tmp_path / "repo", tmp_path / "handshake"
    handshake.mkdir()
    publish_build_set(repo, "2026.1", "bookworm", [first])
    server = start_file_server(repo / "public")
    first_version, second_version = (deb.name.split("_")[1] for deb in (first, second))

    def publish_second_when_first_is_installed():
        for _ in range(600):
            if (handshake / "installed").exists():
                publish_build_set(repo, "2026.1", "bookworm", [second])
                break
            time.sleep(0.5)
        (handshake / "published").touch()
    publisher = threading.Thread(target=publish_second_when_first_is_installed)
    publisher.start()
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    try:
        out = run_in_chroot(chroot.rootfs, chroot.scratch,
                            UPGRADE.format(url=f"http://127.0.0.1:{server.server_address[1]}/", first=first_version),
                            network=True, what="the upgrade test", fix="",
                            # the whole repository: public/ links through live/
                            binds=[Bind(repo, "/stackdeb/archive"),
                                   Bind(handshake, "/stackdeb/handshake", read_only=False)])
    finally:
        (handshake / "published").touch()
        publisher.join()
        server.shutdown()
    assert f"installed {first_version}" in out, out[-3000:]
    assert f"upgraded {second_version}" in out, out[-3000:]
    assert "\n1\n" in out and "db_sync after upgrade: ok" in out, out[-3000:]
