"""ip (iproute2): the cluster's network namespace, its bridge and the VMs' tap devices."""

import ctypes
import os
from contextlib import contextmanager

from builders import tools

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(args: list[str], what: str, ok_codes=(0,)):
    return tools.run("ip", args, what=what, ok_codes=ok_codes,
                     fix="the cluster stage needs root (network namespaces, bridges, taps)",
                     action=f"ip {args[0]} {args[1]}")


def namespaces() -> list[str]:
    out = _ip(["netns", "list"], "the network namespaces").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def add_namespace(name: str) -> None:
    _ip(["netns", "add", name], f"namespace {name}")


def delete_namespace(name: str) -> None:
    _ip(["netns", "delete", name], f"namespace {name}", ok_codes=(0, 1))


def namespace_pids(name: str) -> list[int]:
    out = _ip(["netns", "pids", name], f"namespace {name}", ok_codes=(0, 1)).stdout
    return [int(pid) for pid in out.split()]


def in_namespace(name: str, args: list[str], what: str):
    return _ip(["-n", name, *args], what)


def exec_prefix(name: str) -> list[str]:
    """The argv prefix that runs a program inside namespace `name`."""
    return [tools.find("ip"), "netns", "exec", name]


def add_bridge(namespace: str, bridge: str, address: str) -> None:
    what = f"bridge {bridge} in {namespace}"
    in_namespace(namespace, ["link", "set", "lo", "up"], what)
    in_namespace(namespace, ["link", "add", bridge, "type", "bridge"], what)
    in_namespace(namespace, ["addr", "add", address, "dev", bridge], what)
    in_namespace(namespace, ["link", "set", bridge, "up"], what)


def add_tap(namespace: str, bridge: str, tap: str) -> None:
    what = f"tap {tap} on {bridge} in {namespace}"
    in_namespace(namespace, ["tuntap", "add", "dev", tap, "mode", "tap"], what)
    in_namespace(namespace, ["link", "set", tap, "master", bridge, "up"], what)


@contextmanager
def entered(name: str):
    """Switch the calling thread into namespace `name` and back: sockets made inside stay
    there, so servers of this process can listen on the cluster network only."""
    with open(f"/run/netns/{name}") as target, open("/proc/thread-self/ns/net") as home:
        if _libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            _libc.setns(home.fileno(), CLONE_NEWNET)
