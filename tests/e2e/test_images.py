"""The images, built for real. Booting them is the cluster's work: tests/e2e/test_cluster.py
network-boots the discovery system on every VM of its run, checks each agent's report against
the VM, and boots the node image it wrote onto each disk (one set of TCG boots for the suite)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import snapshot

STACKDEB = str(Path(sys.executable).parent / "stackdeb")


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            if p.name != "manifest.json"}


@pytest.fixture(scope="module")
def discovery(tmp_path_factory):
    build = tmp_path_factory.mktemp("images")
    env = {"STACKDEB_BUILD_DIR": str(build)}
    first = subprocess.run([STACKDEB, "image", "discovery"], env={**os.environ, **env}, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    out = build / "images/discovery-bookworm"
    return out, env


def test_the_discovery_system_is_small_and_reproducible(discovery):
    out, env = discovery
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"vmlinuz", "initrd.img", "filesystem.squashfs", "boot.ipxe"}
    assert (out / "filesystem.squashfs").stat().st_size < 70 * 10**6
    assert "stackdeb.report=${report-url}" in (out / "boot.ipxe").read_text()
    first = digests(out)
    again = subprocess.run([STACKDEB, "image", "discovery", "--force"], env={**os.environ, **env},
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert digests(out) == first


def test_bad_image_requests_fail_clearly_and_build_nothing(tmp_path):
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(tmp_path / "build"), "STACKDEB_REPO_DIR": str(tmp_path / "none")}
    cases = [(["image", "discovery", "--suite", "sid"], "unknown suite 'sid'"),
             (["image", "node"], "needs the repository URL its nodes will use"),
             (["image", "node", "--repo-url", "http://10.0.2.100:8080/"], "archive keyring"),
             ]
    for args, message in cases:
        result = subprocess.run([STACKDEB, *args], env=env, capture_output=True, text=True)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
    for tool, args in (("mksquashfs", ["image", "discovery"]), ("sudo", ["image", "node", "--repo-url",
                                                                         "http://10.0.2.100:8080/",
                                                                         "--keyring", "/etc/hostname"])):
        bare = tmp_path / f"no-{tool}"
        bare.mkdir()
        for name in ("tar", "chroot", "mmdebstrap", "disk-image-create", "qemu-img", "mksquashfs", "sudo"):
            found = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
            if found and name != tool:
                (bare / name).symlink_to(found)
        result = subprocess.run([STACKDEB, *args], env=env | {"PATH": str(bare)}, capture_output=True, text=True)
        assert result.returncode == 1 and f"required tool '{tool}' was not found" in result.stderr, result.stderr
    built = snapshot(tmp_path / "build/images") if (tmp_path / "build/images").exists() else {}
    assert [name for name in built if not name.endswith(".lock")] == []      # the outputs' locks only
