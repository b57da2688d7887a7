"""Canned /proc and /sys trees for the hardware agent: what it reads on a machine, as files."""

from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "elements/stackdeb-discovery/static/usr/local/sbin/stackdeb-agent"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def canned_host(root: Path, cmdline: str = "BOOT_IMAGE=/vmlinuz boot=live quiet") -> Path:
    """A server with 4 CPUs, 8 GiB, a spinning disk, an NVMe disk, a loop device (ignored), a
    physical NIC with link, a bridge and the loopback (both ignored)."""
    write(root / "proc/cmdline", cmdline + "\n")
    write(root / "proc/cpuinfo", "".join(f"processor\t: {n}\nmodel name\t: Intel(R) Xeon(R) \"Gold\" 6130\n\n"
                                         for n in range(4)))
    write(root / "proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1000000 kB\n")
    for name, value in {"product_serial": "SRV-0042", "product_name": "PowerEdge R640",
                        "sys_vendor": "Dell Inc.", "product_uuid": "4c4c4544-0042"}.items():
        write(root / f"sys/class/dmi/id/{name}", value + "\n")
    disks = {"sda": ("1953525168", "1", "ST1000NM0055", "ZBS0AAAA"),
             "nvme0n1": ("3907029168", "0", "SAMSUNG MZQL21T9", "S64GNA0R")}
    for name, (sectors, rotational, model, serial) in disks.items():
        write(root / f"sys/block/{name}/size", sectors + "\n")
        write(root / f"sys/block/{name}/queue/rotational", rotational + "\n")
        write(root / f"sys/block/{name}/device/model", model + "  \n")
        write(root / f"sys/block/{name}/device/serial", serial + "\n")
    write(root / "sys/block/loop0/size", "0\n")
    eth = root / "sys/class/net/eno1"
    write(eth / "address", "b8:2a:72:00:00:01\n")
    write(eth / "carrier", "1\n")
    write(eth / "speed", "10000\n")
    (root / "sys/bus/pci/drivers/ixgbe").mkdir(parents=True)
    (root / "sys/devices/pci0000:00/0000:00:03.0").mkdir(parents=True)
    (eth / "device").symlink_to(root / "sys/devices/pci0000:00/0000:00:03.0")
    (eth / "device/driver").symlink_to(root / "sys/bus/pci/drivers/ixgbe")
    for virtual in ("lo", "br0"):
        write(root / f"sys/class/net/{virtual}/address", "00:00:00:00:00:00\n")
    return root
