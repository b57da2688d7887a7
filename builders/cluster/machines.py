"""The cluster's machines, provisioned the way OpenStack Cluster Installer does it: each VM
network-boots the discovery live system (iPXE over HTTP), its agent reports to the
inventory, it is given a role, and then stackdeb, acting as its BMC, powers it off, writes
the node image onto its disk and boots it again: same serial, MAC and disk."""

from dataclasses import dataclass
from pathlib import Path

from builders.cluster.layout import Role
from builders.tools import qemu


@dataclass(eq=False)          # a machine is itself: hashed by identity
class Machine:
    index: int
    serial: str
    mac: str
    tap: str
    address: str
    disk: Path
    memory_mb: int
    cpus: int
    disk_gb: int
    consoles: Path
    role: str | None = None
    vm: qemu.VM | None = None

    @classmethod
    def for_role(cls, index: int, run_id: str, role: Role, tap: str, address: str, work: Path) -> "Machine":
        disk = work / f"machine{index}.raw"
        qemu.create_disk(disk, role.disk_gb)
        return cls(index, f"SDB-{run_id}-{index}", f"52:54:00:5d:{index // 256:02x}:{index % 256:02x}",
                   tap, address, disk, role.memory_mb, role.cpus, role.disk_gb, work / "consoles")

    @property
    def name(self) -> str:
        return f"machine{self.index}"

    @property
    def hostname(self) -> str:
        return f"{self.role or 'node'}-{self.index}"

    def console(self, phase: str) -> Path:
        return self.consoles / f"{self.name}-{phase}.log"

    def _boot(self, phase: str, prefix: list[str], accel: str, kernel=None, initrd=None, append="") -> None:
        self.consoles.mkdir(parents=True, exist_ok=True)
        self.vm = qemu.boot(kernel, initrd, append, self.console(phase), accel=accel, memory_mb=self.memory_mb,
                            cpus=self.cpus, drives=[(self.disk, f"SDBDISK{self.index}")],
                            serial_number=self.serial, netdev=qemu.tap_network(self.tap),
                            nic=f"virtio-net-pci,netdev=n0,mac={self.mac}", prefix=prefix,
                            throwaway=True)      # the disk goes with the run

    def boot_discovery(self, prefix: list[str], accel: str) -> None:
        """Power on with no kernel: the NIC's iPXE asks DHCP, which points it at boot.ipxe."""
        self._boot("discovery", prefix, accel)

    def boot_node(self, prefix: list[str], accel: str, node_image: Path, tasks_url: str) -> None:
        self._boot("node", prefix, accel, node_image / "node.vmlinuz", node_image / "node.initrd",
                   f"root=LABEL=cloudimg-rootfs ro console=ttyS0 stackdeb.tasks={tasks_url}")

    def install_node_image(self, node_image: Path) -> None:
        """As the BMC: power off, write the image onto this machine's disk."""
        self.power_off()
        qemu.write_image(node_image / "node.qcow2", self.disk, self.disk_gb)

    def power_off(self) -> None:
        if self.vm:
            self.vm.stop()
            self.vm = None

    def running(self) -> bool:
        return bool(self.vm and self.vm.process.poll() is None)
