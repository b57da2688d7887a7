"""Images: build times cold and warm, sizes, and boot-to-report time of the discovery system.

    .venv/bin/python bench/images.py [--skip-cold] [--suite trixie]

Cold: an empty cache of its own (mmdebstrap and diskimage-builder start from nothing but the
apt mirrors). Warm: the same cache, --force. Boot: qemu (TCG when KVM cannot run the kernel)
over user networking; from qemu's start to the report in the inventory.

References, measured in the same run on the same bytes: the live tree squashed with xz (what
stackdeb used before zstd) and booted, and the node's disk compressed with zlib (qemu-img's
default, which diskimage-builder uses unless told otherwise).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from builders.fileserver import start_file_server  # noqa: E402
from builders.images import SQUASH_COMPRESSION  # noqa: E402
from builders.inventory import Inventory, make_server, parse_networks  # noqa: E402
from builders.repository.publish import publish_build_set  # noqa: E402
from builders.tools import qemu  # noqa: E402
from helpers import make_deb  # noqa: E402

STACKDEB = str(Path(sys.executable).parent / "stackdeb")


def timed(args: list[str], env: dict) -> float:
    started = time.monotonic()
    result = subprocess.run([STACKDEB, *args], env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"stackdeb {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def boot_to_report(image: Path, cache: Path, work: Path) -> tuple[float, str]:
    files = start_file_server(image)
    inventory = Inventory(work / "inventory.sqlite")
    reports = make_server(inventory, "127.0.0.1", 0, parse_networks(["127.0.0.0/8"]))
    threading.Thread(target=reports.serve_forever, daemon=True).start()
    accel = qemu.accelerator(image / "vmlinuz", image / "initrd.img", cache)
    started = time.monotonic()
    vm = qemu.boot(image / "vmlinuz", image / "initrd.img",
                   "boot=live fetch=http://10.0.2.100:8080/filesystem.squashfs console=ttyS0 "
                   "stackdeb.report=http://10.0.2.100:8081/v1/reports", work / "console.log",
                   accel=accel, memory_mb=1024, cpus=2,
                   netdev=qemu.user_network(("10.0.2.100:8080", files.server_address[1]),
                                            ("10.0.2.100:8081", reports.server_address[1])))
    try:
        while not inventory.machines():
            if time.monotonic() - started > 600 or vm.process.poll() is not None:
                sys.exit(f"no report; console in {work / 'console.log'}")
            time.sleep(0.5)
        return time.monotonic() - started, accel
    finally:
        vm.stop()
        files.shutdown()
        reports.shutdown()


def seconds_of(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def squash_against_xz(discovery: Path, cache: Path, work: Path) -> list[tuple[str, float, str]]:
    """The built live tree squashed again with xz and with stackdeb's options; both booted."""
    tree, reference = work / "live-tree", work / "discovery-xz"
    subprocess.run(["unsquashfs", "-quiet", "-no-progress", "-d", str(tree), str(discovery / "filesystem.squashfs")],
                   check=True, stdout=subprocess.DEVNULL)
    reference.mkdir()
    for name in ("vmlinuz", "initrd.img"):
        os.link(discovery / name, reference / name)
    common = ["-noappend", "-no-progress", "-quiet", "-all-root", "-no-xattrs"]
    xz = seconds_of(["mksquashfs", str(tree), str(reference / "filesystem.squashfs"), "-comp", "xz", *common])
    ours = seconds_of(["mksquashfs", str(tree), str(work / "again.squashfs"), *SQUASH_COMPRESSION, *common])
    xz_mb = (reference / "filesystem.squashfs").stat().st_size / 1e6
    ours_mb = (work / "again.squashfs").stat().st_size / 1e6
    for name in ("boot-xz", "boot-ours"):      # an inventory each: the second boot must report anew
        (work / name).mkdir()
    xz_boot, _ = boot_to_report(reference, cache, work / "boot-xz")
    ours_boot, accel = boot_to_report(discovery, cache, work / "boot-ours")
    return [("squash: xz (the reference)", xz, f"{xz_mb:.1f} MB"),
            (f"squash: {' '.join(SQUASH_COMPRESSION)}", ours, f"{ours_mb:.1f} MB, {ours / xz:.2f}x the xz time"),
            (f"boot to report ({accel}), xz squashfs (the reference)", xz_boot, ""),
            (f"boot to report ({accel}), stackdeb's squashfs", ours_boot, f"{ours_boot / xz_boot:.2f}x")]


def qcow2_against_zlib(node: Path, work: Path) -> list[tuple[str, float, str]]:
    raw = work / "node.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(node / "node.qcow2"), str(raw)], check=True)
    took, sizes = {}, {}
    for kind, options in (("zlib", []), ("zstd", ["-o", "compression_type=zstd"])):
        out = work / f"node-{kind}.qcow2"
        took[kind] = seconds_of(["qemu-img", "convert", "-c", *options, "-f", "raw", "-O", "qcow2", str(raw), str(out)])
        sizes[kind] = out.stat().st_size / 1e6
    raw.unlink()
    return [("node disk compressed, zlib (the reference)", took["zlib"], f"{sizes['zlib']:.0f} MB"),
            ("node disk compressed, zstd (stackdeb)", took["zstd"],
             f"{sizes['zstd']:.0f} MB, {took['zstd'] / took['zlib']:.2f}x the zlib time")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="only warm builds (the machine's cache)")
    parser.add_argument("--suite", default="trixie")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackdeb-bench-images-"))
    cache = work / "cache" if not args.skip_cold else Path(os.environ.get("STACKDEB_CACHE_DIR")
                                                             or Path.home() / ".cache/stackdeb")
    env = {"STACKDEB_BUILD_DIR": str(work / "build"), "STACKDEB_CACHE_DIR": str(cache),
           "STACKDEB_REPO_DIR": str(work / "repo")}
    revision = "deb12" if args.suite == "bookworm" else "deb13"
    publish_build_set(work / "repo", "2026.1", args.suite,
                      [make_deb(work, "venv-alpha", f"1.0.0-1+os2026.1.{revision}.1")])
    suite = ["--suite", args.suite]
    node = ["image", "node", "--release", "2026.1", *suite, "--repo-url", "http://10.0.2.100:8080/"]
    discovery = ["image", "discovery", *suite]
    rows = []
    if not args.skip_cold:
        rows.append(("discovery, cold (mmdebstrap from the mirrors)", timed(discovery, env)))
        rows.append(("node, cold (diskimage-builder from the mirrors)", timed(node, env)))
    rows.append(("discovery, warm (cached tree, --force)", timed([*discovery, "--force"], env)))
    rows.append(("node, warm (cached debootstrap, --force)", timed([*node, "--force"], env)))
    rows.append(("discovery, no-op (inputs unchanged)", timed(discovery, env)))
    images = work / "build/images"
    live, node_image = images / f"discovery-{args.suite}", images / f"node-2026.1-{args.suite}"
    initrds = (images / f"{node_image.name}.log").read_text().count("update-initramfs: Generating")
    for label, value in rows:
        print(f"{label:52} {value:7.1f} s")
    print(f"{'node build: initrds generated':52} {initrds:7d}")
    for label, value, note in [*squash_against_xz(live, cache, work), *qcow2_against_zlib(node_image, work)]:
        print(f"{label:52} {value:7.2f} s  {note}")
    for path in [*live.iterdir(), *node_image.iterdir()]:
        if path.name != "manifest.json":
            print(f"{path.parent.name + '/' + path.name:52} {path.stat().st_size / 1e6:7.1f} MB")


if __name__ == "__main__":
    main()
