"""The images, built for real and booted in qemu (TCG when KVM cannot run them).

A VM reaches servers only through qemu user networking with restrict=on: the only addresses
it can open are the guestfwd ones below, each forwarded to a server this test started on
127.0.0.1.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from builders.fileserver import start_file_server
from builders.inventory import Inventory, make_server, parse_networks
from builders.project import Project
from builders.repository import publish_build_set
from builders.tools import qemu
from helpers import make_deb, snapshot

STACKDEB = str(Path(sys.executable).parent / "stackdeb")
FILES, REPORTS = "10.0.2.100:8080", "10.0.2.100:8081"     # guest-side addresses of the forwards
VM_MEMORY_MB, VM_CPUS, VM_MAC, VM_SERIAL = 1024, 2, "52:54:00:5d:00:01", "STACKDEB-VM-0001"
BOOT_TIMEOUT = 420


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


def test_the_discovery_system_boots_over_http_and_reports_the_vm(discovery, tmp_path):
    out, _env = discovery
    files = start_file_server(out)
    inventory = Inventory(tmp_path / "inventory.sqlite")
    reports = make_server(inventory, "127.0.0.1", 0, parse_networks(["127.0.0.0/8"]))
    threading.Thread(target=reports.serve_forever, daemon=True).start()
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "1G"], check=True, capture_output=True)
    accel = qemu.accelerator(out / "vmlinuz", out / "initrd.img", Project.from_env().cache_dir)
    vm = qemu.boot(out / "vmlinuz", out / "initrd.img",
                   f"boot=live fetch=http://{FILES}/filesystem.squashfs console=ttyS0 "
                   f"stackdeb.report=http://{REPORTS}/v1/reports",
                   tmp_path / "console.log", accel=accel, memory_mb=VM_MEMORY_MB, cpus=VM_CPUS,
                   drives=[(disk, "STACKDEBDISK1")], serial_number=VM_SERIAL,
                   netdev=qemu.user_network((FILES, files.server_address[1]), (REPORTS, reports.server_address[1])),
                   nic=f"virtio-net-pci,netdev=n0,mac={VM_MAC}")
    try:
        vm.wait_for("report acknowledged", BOOT_TIMEOUT)
    finally:
        vm.stop()
        files.shutdown()
        reports.shutdown()
    (machine,) = inventory.machines()
    report = machine["report"]
    assert machine["machine"] == VM_SERIAL
    assert report["cpu"]["count"] == VM_CPUS
    assert 0.85 * VM_MEMORY_MB * 2**20 < report["memory"]["total_bytes"] <= VM_MEMORY_MB * 2**20
    (disk_report,) = report["disks"]
    assert disk_report["size_bytes"] == 2**30 and disk_report["serial"] == "STACKDEBDISK1"
    (nic,) = report["nics"]
    assert nic["mac"] == VM_MAC and nic["driver"] == "virtio_net" and nic["link"] is True


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    """A signed staging repository with one small package, served on 127.0.0.1."""
    work = tmp_path_factory.mktemp("staging")
    repo = work / "repo"
    publish_build_set(repo, "2026.1", "bookworm", [make_deb(work, "venv-alpha", "1.0.0-1+os2026.1.1~deb12")])
    server = start_file_server(repo / "public")
    yield repo, server.server_address[1]
    server.shutdown()


def test_the_node_image_installs_from_staging_and_verifies_it(staging, tmp_path):
    repo, port = staging
    build = tmp_path / "build"
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(build), "STACKDEB_REPO_DIR": str(repo)}
    result = subprocess.run([STACKDEB, "image", "node", "--repo-url", f"http://{FILES}/",
                             "--build-repo-url", f"http://127.0.0.1:{port}/", "--preinstall", "venv-alpha"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = build / "images/node-2026.1-bookworm"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"node.qcow2", "node.vmlinuz", "node.initrd"}
    accel = qemu.accelerator(out / "node.vmlinuz", out / "node.initrd", Project.from_env().cache_dir)
    vm = qemu.boot(out / "node.vmlinuz", out / "node.initrd", "root=LABEL=cloudimg-rootfs ro console=ttyS0",
                   tmp_path / "console.log", accel=accel, memory_mb=768,
                   drives=[(out / "node.qcow2", None)], netdev=qemu.user_network((FILES, port)))
    try:
        vm.wait_for("stackdeb-node: staging repository verified", BOOT_TIMEOUT)
        console = vm.output()
    finally:
        vm.stop()
    assert f"stackdeb-node: sources: URIs: http://{FILES}/" in console
    assert "stackdeb-node: sources: Suites: bookworm-2026.1-staging" in console
    assert "Signed-By: /usr/share/keyrings/stackdeb-archive-keyring.gpg" in console


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
    assert not (tmp_path / "build/images").exists() or snapshot(tmp_path / "build/images") == {}
