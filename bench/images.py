"""Images: build times cold and warm, sizes, and boot-to-report time of the discovery system.

    .venv/bin/python bench/images.py [--skip-cold]

Cold: an empty cache of its own (mmdebstrap and diskimage-builder start from nothing but the
apt mirrors). Warm: the same cache, --force. Boot: qemu (TCG when KVM cannot run the kernel)
over user networking; from qemu's start to the report in the inventory.
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
from builders.inventory import Inventory, make_server, parse_networks  # noqa: E402
from builders.repository import publish_build_set  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="only warm builds (the machine's cache)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackdeb-bench-images-"))
    cache = work / "cache" if not args.skip_cold else Path(os.environ.get("STACKDEB_CACHE_DIR")
                                                             or Path.home() / ".cache/stackdeb")
    env = {"STACKDEB_BUILD_DIR": str(work / "build"), "STACKDEB_CACHE_DIR": str(cache),
           "STACKDEB_REPO_DIR": str(work / "repo")}
    publish_build_set(work / "repo", "2026.1", "bookworm", [make_deb(work, "venv-alpha", "1.0.0-1+os2026.1.deb12.1")])
    node = ["image", "node", "--repo-url", "http://10.0.2.100:8080/"]
    rows = []
    if not args.skip_cold:
        rows.append(("discovery, cold (mmdebstrap from the mirrors)", timed(["image", "discovery"], env)))
        rows.append(("node, cold (diskimage-builder from the mirrors)", timed(node, env)))
    rows.append(("discovery, warm (cached tree, --force)", timed(["image", "discovery", "--force"], env)))
    rows.append(("node, warm (cached debootstrap, --force)", timed([*node, "--force"], env)))
    rows.append(("discovery, no-op (inputs unchanged)", timed(["image", "discovery"], env)))
    images = work / "build/images"
    seconds, accel = boot_to_report(images / "discovery-bookworm", cache, work)
    for label, value in rows:
        print(f"{label:52} {value:7.1f} s")
    print(f"{'discovery boot to report (' + accel + ')':52} {seconds:7.1f} s")
    for path in [*(images / "discovery-bookworm").iterdir(), *(images / "node-2026.1-bookworm").iterdir()]:
        if path.name != "manifest.json":
            print(f"{path.parent.name + '/' + path.name:52} {path.stat().st_size / 1e6:7.1f} MB")


if __name__ == "__main__":
    main()
