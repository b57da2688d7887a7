"""dnsmasq: DHCP and the iPXE boot file name on the cluster bridge, and nothing else (no DNS)."""

import subprocess
from pathlib import Path

from builders import log, tools
from builders.tools import ip


def config(bridge: str, dhcp_range: tuple[str, str], hosts: dict[str, str],
           boot_url: str, state: Path) -> str:
    """`hosts`: MAC -> fixed address. iPXE identifies itself with the user class 'iPXE' and
    gets `boot_url`; nothing else is offered (no router: the network leads nowhere)."""
    lines = [f"interface={bridge}", "bind-interfaces", "except-interface=lo", "port=0",
             f"dhcp-range={dhcp_range[0]},{dhcp_range[1]},255.255.255.0,1h",
             "dhcp-option=option:router", "dhcp-option=option:dns-server",
             "dhcp-userclass=set:ipxe,iPXE", f"dhcp-boot=tag:ipxe,{boot_url}",
             f"dhcp-leasefile={state / 'dnsmasq.leases'}", f"pid-file={state / 'dnsmasq.pid'}",
             f"log-facility={state / 'dnsmasq.log'}", "log-dhcp", "dhcp-authoritative"]
    lines += [f"dhcp-host={mac},{address}" for mac, address in sorted(hosts.items())]
    return "\n".join(lines) + "\n"


def start(namespace: str, conf: Path) -> subprocess.Popen:
    binary = tools.find("dnsmasq")
    argv = [*ip.exec_prefix(namespace), binary, "--keep-in-foreground", f"--conf-file={conf}"]
    log.command(f"ip netns exec {namespace} dnsmasq --keep-in-foreground --conf-file={conf}")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
