"""qemu: boot a kernel and initrd with a serial console in a file, KVM when it works, TCG otherwise."""

import json
import os
import platform
import subprocess
import time
from pathlib import Path

from builders import log, tools
from builders.errors import StackdebError
from builders.manifest import sha256_file, write_json

# A kernel reaches this line shortly after it starts to run; under a KVM that cannot run it,
# it never does.
KERNEL_STARTED = "Freeing unused kernel image"
PROBE_SECONDS = 25


class VM:
    """A running qemu; its serial console goes to `console`."""

    def __init__(self, process: subprocess.Popen, console: Path):
        self.process, self.console = process, console

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until `text` appeared on the console; an error naming the console otherwise."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if text in self.output():
                return time.monotonic() - started
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        if self.process.poll() is not None:
            error = self.process.stderr.read().decode(errors="replace").strip()
            raise StackdebError(f"qemu exited ({self.process.returncode}) before '{text}' appeared: {error}",
                                hint=f"the console is in {self.console}")
        tail = "\n".join(self.output().splitlines()[-25:])
        raise StackdebError(f"'{text}' did not appear on the VM's console within {timeout:.0f}s; "
                            f"last lines:\n{tail}", hint=f"the whole console is in {self.console}")

    def output(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def boot(kernel: Path | None, initrd: Path | None, append: str, console: Path, *, accel: str, memory_mb: int,
         cpus: int = 1, drives: list[tuple[Path, str | None]] = (), netdev: str | None = None,
         nic: str | None = None, serial_number: str | None = None, prefix: list[str] = (),
         throwaway: bool = False) -> VM:
    """`drives`: (image, serial number) pairs, as virtio disks; `throwaway`: the disks are
    deleted with the VM, so the guest's flushes need not reach this machine's disk
    (cache=unsafe: dpkg's and MariaDB's fsyncs cost nothing); `serial_number`: the machine's,
    as firmware reports it (SMBIOS). Without a kernel the machine boots from its NIC (the iPXE
    ROM). `prefix` runs qemu through another program (ip netns exec)."""
    args = ["-machine", f"q35,accel={accel}", "-m", str(memory_mb), "-smp", str(cpus),
            "-display", "none", "-serial", f"file:{console}", "-monitor", "none", "-no-reboot"]
    if kernel:
        args += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", append]
    else:
        args += ["-boot", "n"]
    if serial_number:
        args += ["-smbios", f"type=1,serial={serial_number},product=stackdeb test VM"]
    if accel == "kvm":
        args += ["-cpu", "host"]
    for number, (image, serial) in enumerate(drives):
        args += ["-drive", f"file={image},if=none,id=d{number},format={image.suffix.lstrip('.') or 'raw'}"
                 + (",cache=unsafe" if throwaway else ""),
                 "-device", f"virtio-blk-pci,drive=d{number}" + (f",serial={serial}" if serial else "")]
    if netdev:
        args += ["-netdev", netdev, "-device", nic or "virtio-net-pci,netdev=n0"]
    else:
        args += ["-nic", "none"]
    binary = tools.find("qemu-system-x86_64")
    shown = [Path(prefix[0]).name, *prefix[1:]] if prefix else []
    log.command(f"{' '.join([*shown, 'qemu-system-x86_64', *args])}")
    process = subprocess.Popen([*prefix, binary, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    return VM(process, console)


def tap_network(tap: str) -> str:
    """A tap device made beforehand (on the cluster bridge); qemu runs no scripts."""
    return f"tap,id=n0,ifname={tap},script=no,downscript=no"


def user_network(*forwards: tuple[str, int]) -> str:
    """qemu user networking that reaches nothing but the given (guest address:port, host port)
    forwards, each to 127.0.0.1 (restrict=on: no route out, no other host port).
    A `tcp:` guestfwd carries a single connection for the VM's lifetime; `cmd:` starts socat
    for each connection, so apt and retrying agents can connect again."""
    socat = tools.find("socat")
    rules = ",".join(f"guestfwd=tcp:{guest}-cmd:{socat} - TCP:127.0.0.1:{port}" for guest, port in forwards)
    return f"user,id=n0,restrict=on,{rules}"


def accelerator(kernel: Path, initrd: Path, cache_dir: Path) -> str:
    """kvm if this kernel boots under KVM here, else tcg. /dev/kvm may exist and still not run
    a Debian kernel, so the probe boots it; the answer is cached per host kernel and kernel."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    key = f"{platform.release()}-{sha256_file(kernel)[:16]}"
    cache = cache_dir / "qemu-accelerator.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if key not in known:
        console = cache_dir / f".probe-{os.getpid()}.log"
        vm = boot(kernel, initrd, "console=ttyS0 panic=-1", console, accel="kvm", memory_mb=512)
        try:
            vm.wait_for(KERNEL_STARTED, PROBE_SECONDS)
            known[key] = "kvm"
        except StackdebError:
            known[key] = "tcg"
        finally:
            vm.stop()
            console.unlink(missing_ok=True)
        write_json(cache, known)
        log.info(f"qemu: this kernel {'boots' if known[key] == 'kvm' else 'does not boot'} under KVM here: "
                 f"using {known[key]}")
    return known[key]


def create_disk(path: Path, size_gb: int) -> None:
    """An empty raw disk (sparse), as a new machine's disk is."""
    with open(path, "wb") as disk:
        disk.truncate(size_gb * 2**30)


def write_image(image: Path, disk: Path, size_gb: int) -> None:
    """Write a partitionless filesystem image onto a raw disk and grow the filesystem to the
    disk's size, as an installer writing the node image would."""
    tools.run("qemu-img", ["convert", "-O", "raw", str(image), str(disk)], what=str(image),
              fix="check free disk space", action="writing the node image")
    with open(disk, "r+b") as handle:
        handle.truncate(size_gb * 2**30)
    tools.run("e2fsck", ["-f", "-y", str(disk)], what=str(disk), fix="rebuild the node image",
              ok_codes=(0, 1))
    tools.run("resize2fs", [str(disk)], what=str(disk), fix="rebuild the node image")
