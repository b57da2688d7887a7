"""keystone for 2026.1 on trixie, built on this bookworm machine: the committed lock, a bundle
whose sdists are compiled in a trixie chroot, a venv package built twice and judged by
trixie's lintian, published to the signed repository, installed with apt in a clean trixie
chroot, where it issues a token."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from builders.chroot import runtime_chroot
from builders.fileserver import start_file_server
from builders.project import Project
from builders.repository import publish_build_set
from builders.targets import get_suite
from builders.tools.namespace import Bind, run_in_chroot
from helpers import KEYSTONE

pytestmark = [pytest.mark.network, pytest.mark.slow]


def stackdeb(build, *args):
    result = subprocess.run([sys.executable, "-m", "builders.cli", *args, "--release", "2026.1", "--suite", "trixie"],
                            env={**os.environ, "STACKDEB_BUILD_DIR": str(build)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


@pytest.fixture(scope="module")
def trixie_build(tmp_path_factory):
    build = tmp_path_factory.mktemp("trixie-build")
    logs = {"lock": stackdeb(build, "lock"), "bundle": stackdeb(build, "bundle"),
            "package": stackdeb(build, "package", "keystone", "--check-reproducible")}
    return build, logs


def test_the_committed_trixie_lock_is_current(trixie_build):
    _, logs = trixie_build
    assert "lock 2026.1/trixie is up to date (inputs unchanged): nothing to do" in logs["lock"]


def test_compiled_wheels_are_trixies_own(trixie_build):
    """uwsgi (a C program and extension) is built by trixie's Python 3.13 against trixie's
    libraries, on this bookworm host."""
    build, _ = trixie_build
    wheelhouse = build / "bundles/2026.1-trixie/wheelhouse"
    manifest = json.loads((wheelhouse / "manifest.json").read_text())
    compiled = {a["name"]: a["filename"] for a in manifest["artifacts"] if a["origin"] == "compiled"}
    assert compiled["uwsgi"].startswith("uwsgi-2.0.31-cp313-cp313-linux_x86_64"), compiled
    with zipfile.ZipFile(wheelhouse / "wheels" / compiled["uwsgi"]) as wheel:
        binary = wheel.read(next(n for n in wheel.namelist() if n.endswith("/scripts/uwsgi")))
    assert b"libpython3.13.so" in binary and b"libpython3.11" not in binary
    assert all("-cp311-" not in a["filename"] for a in manifest["artifacts"])


def test_keystone_is_reproducible_and_clean_for_trixies_lintian(trixie_build):
    build, logs = trixie_build
    out = build / "packages/2026.1-trixie/keystone"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reproducible"] is True and manifest["lintian"] == "clean"
    assert manifest["network_interfaces"] == ["lo"]
    assert manifest["version"].endswith("+os2026.1.deb13.1")
    assert "trixie-build-" in logs["package"]          # built and linted in the trixie chroot
    assert "\nE: " not in "\n" + (out / "lintian.txt").read_text()


def test_keystone_installs_from_the_signed_trixie_suite_and_issues_a_token(trixie_build, tmp_path):
    build, _ = trixie_build
    debs = [*build.glob("bundles/2026.1-trixie/*.deb"), *build.glob("packages/2026.1-trixie/keystone/*.deb")]
    repo = tmp_path / "repo"
    publish_build_set(repo, "2026.1", "trixie", debs)
    server = start_file_server(repo / "public")
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    script = f"""\
cp /stackdeb/public/stackdeb-archive-keyring.gpg /usr/share/keyrings/
sed 's|http://REPOSITORY-HOST/|{url}|' /stackdeb/public/stackdeb-trixie-2026.1-staging.sources \\
    > /etc/apt/sources.list.d/stackdeb.sources
apt-get update -qq
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq venv-keystone > /tmp/apt.log 2>&1; then
    tail -30 /tmp/apt.log; exit 1
fi
. /etc/os-release; echo "running on $VERSION_CODENAME with $(python3 --version)"
""" + KEYSTONE
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("trixie"))
    chroot.ensure()
    try:
        out = run_in_chroot(chroot.rootfs, chroot.scratch, script, network=True,
                            binds=[Bind(repo, "/stackdeb")], what="keystone on trixie", fix="")
    finally:
        server.shutdown()
        subprocess.run(["gpgconf", "--homedir", str(repo / "gnupg"), "--kill", "all"], capture_output=True)
    assert "running on trixie with Python 3.13" in out, out[-3000:]
    assert "http/1.1 201 created" in out.lower(), out[-3000:]
    assert "x-subject-token: g" in out.lower(), out[-3000:]
