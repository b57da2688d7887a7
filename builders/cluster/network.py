"""The cluster network: a bridge in a network namespace of the run's own, with dnsmasq on it.

The namespace has no interface but its loopback, the bridge and the VMs' taps: nothing is
routed out of it. The run's servers listen inside it (their sockets are made there, see
tools/ip.entered) and the only way out is the apt proxy relay, which forwards to
apt-cacher-ng on this machine's loopback, which fetches only from the machine's mirrors.
"""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.tools import dnsmasq, ip

PREFIX = "stackdeb-"
BRIDGE = "br0"
SUBNET = "10.77.0"            # private to the namespace: every run has its own
SERVER = f"{SUBNET}.1"
PORTS = {"files": 8080, "tasks": 8081, "inventory": 8700, "apt": 3142}
# Where nodes find the repository on every cluster network (the node image is built with it;
# a run serves the generation under test there).
REPO_URL = f"http://{SERVER}:{PORTS['files']}/repo/"


def machine_address(index: int) -> str:
    """machine1 is .11, machine2 .12 ..."""
    return f"{SUBNET}.{10 + index}"


def remove_stale() -> None:
    """Namespaces of runs whose process is gone (killed with SIGKILL): their VMs and dnsmasq
    are stopped and the namespace removed."""
    for name in ip.namespaces():
        if name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and not _alive(int(name[len(PREFIX):])):
            log.info(f"removing {name}, left behind by a run that was killed")
            _kill_inside(name)
            ip.delete_namespace(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _kill_inside(namespace: str) -> None:
    for pid in ip.namespace_pids(namespace):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class ClusterNetwork:
    state: Path
    name: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    dhcp: subprocess.Popen | None = None

    def create(self) -> None:
        if os.geteuid() != 0:
            raise StackdebError("the cluster stage needs root: it creates a network namespace, a bridge "
                                "and tap devices", hint="run it as root (or with sudo)")
        remove_stale()
        if self.name in ip.namespaces():
            ip.delete_namespace(self.name)
        ip.add_namespace(self.name)
        ip.add_bridge(self.name, BRIDGE, f"{SERVER}/24")
        log.info(f"cluster network: namespace {self.name}, bridge {BRIDGE} {SERVER}/24, no route out")

    def add_tap(self, index: int) -> str:
        tap = f"tap{index}"
        ip.add_tap(self.name, BRIDGE, tap)
        return tap

    def start_dhcp(self, hosts: dict[str, str], boot_url: str) -> None:
        conf = self.state / "dnsmasq.conf"
        conf.write_text(dnsmasq.config(BRIDGE, (f"{SUBNET}.100", f"{SUBNET}.199"), hosts, boot_url,
                                       self.state))
        self.dhcp = dnsmasq.start(self.name, conf)
        time.sleep(0.5)
        if self.dhcp.poll() is not None:
            raise StackdebError(f"dnsmasq exited at once: {self.dhcp.stderr.read().decode(errors='replace')}",
                                hint=f"its configuration is {conf}")

    def entered(self):
        return ip.entered(self.name)

    def run_prefix(self) -> list[str]:
        return ip.exec_prefix(self.name)

    def destroy(self) -> None:
        if self.dhcp and self.dhcp.poll() is None:
            self.dhcp.terminate()
            try:
                self.dhcp.wait(5)
            except subprocess.TimeoutExpired:
                self.dhcp.kill()
        if self.name in ip.namespaces():
            _kill_inside(self.name)
            ip.delete_namespace(self.name)
