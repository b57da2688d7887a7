"""The inventory as a hostile network would test it, over raw sockets on 127.0.0.1: lying,
missing and non-numeric lengths, slow and oversized bodies, wrong types, odd methods and
untrusted readers. Every answer is a 4xx with a JSON body, and the database never changes."""

import json
import socket
import subprocess
import threading
import time

import pytest

from agent_host import AGENT, canned_host
from builders.inventory import MAX_BODY, Inventory, make_server, parse_networks
from helpers import snapshot

READ_TIMEOUT, DEADLINE = 1.0, 3.0


@pytest.fixture
def report(tmp_path):
    result = subprocess.run(["dash", str(AGENT), "--print"], capture_output=True, text=True, check=True,
                            env={"STACKDEB_AGENT_ROOT": str(canned_host(tmp_path / "host")), "PATH": "/usr/bin:/bin"})
    return json.loads(result.stdout)


@pytest.fixture
def inventory(tmp_path, report):
    """A running inventory holding one accepted report; yields (port, database folder)."""
    store = Inventory(tmp_path / "db" / "inventory.sqlite")
    server = make_server(store, "127.0.0.1", 0, parse_networks(["127.0.0.0/8"]),
                         read_timeout=READ_TIMEOUT, deadline=DEADLINE)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    assert exchange(port, request(json.dumps(report).encode()))[0] == 201
    yield port, tmp_path / "db"
    server.shutdown()
    server.server_close()


def request(body: bytes, headers: dict | None = None, method="POST", path="/v1/reports") -> bytes:
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if headers is not None:
        fields = {k: v for k, v in {**fields, **headers}.items() if v is not None}
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


def exchange(port: int, *chunks: bytes, pause: float = 0.0, half_close: bool = False) -> tuple[int, dict]:
    """Send the chunks (with `pause` seconds between them), read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE + 5) as conn:
        try:
            for chunk in chunks:
                conn.sendall(chunk)
                time.sleep(pause)
            if half_close:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass                        # the server gave up on us first: read its answer
        answer = b""
        while data := conn.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), f"no HTTP answer: {answer[:200]!r}"
    return int(head.split()[1]), json.loads(body)


def slowly(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def valid(report) -> bytes:
    return json.dumps(report).encode()


CASES = {
    "no Content-Length": (lambda r: [request(valid(r), {"Content-Length": None})], {}, 411),
    "chunked": (lambda r: [request(b"5\r\n{}\r\n0\r\n\r\n", {"Content-Length": None,
                                                             "Transfer-Encoding": "chunked"})], {}, 411),
    "negative length": (lambda r: [request(valid(r), {"Content-Length": "-1"})], {}, 400),
    "non-numeric length": (lambda r: [request(valid(r), {"Content-Length": "lots"})], {}, 400),
    "signed length": (lambda r: [request(valid(r), {"Content-Length": "+12"})], {}, 400),
    "unicode digits": (lambda r: [request(valid(r), {"Content-Length": "\u0661\u0662"})], {}, 400),
    "two lengths": (lambda r: [request(valid(r)).replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n", 1)], {}, 400),
    "length over the limit": (lambda r: [request(b"{}", {"Content-Length": str(MAX_BODY + 1)})], {}, 413),
    "huge length": (lambda r: [request(b"{}", {"Content-Length": "9" * 40})], {}, 413),
    "length smaller than the body": (lambda r: [request(valid(r), {"Content-Length": "20"})], {}, 400),
    "body shorter than its length, then closed": (
        lambda r: [request(valid(r)[:50], {"Content-Length": str(len(valid(r)))})], {"half_close": True}, 400),
    "body shorter than its length, then silence": (
        lambda r: [request(valid(r)[:50], {"Content-Length": str(len(valid(r)))})], {}, 408),
    "a slow body": (lambda r: slowly(request(valid(r)), 100), {"pause": 0.5}, 408),
    "slow headers": (lambda r: slowly(request(valid(r))[:200], 2), {"pause": 0.2}, 408),
    "oversized body behind a small length": (
        lambda r: [request(b"x" * (4 * MAX_BODY), {"Content-Length": "10"})], {}, 400),
    "wrong types": (lambda r: [request(json.dumps(r | {"cpu": {"count": "8", "model": 3}}).encode())], {}, 400),
    "top level not an object": (lambda r: [request(b"[1, 2, 3]")], {}, 400),
    "nested too deeply": (lambda r: [request(b"[" * 30000 + b"]" * 30000)], {}, 400),
    "NaN": (lambda r: [request(valid(r).replace(b'"total_bytes": ', b'"total_bytes": NaN, "x": ', 1))], {}, 400),
    "not UTF-8": (lambda r: [request(b'{"schema": "\xff\xfe"}')], {}, 400),
    "not JSON content": (lambda r: [request(valid(r), {"Content-Type": "text/plain"})], {}, 415),
    "unknown method": (lambda r: [request(valid(r), method="BREW")], {}, 405),
    "PUT": (lambda r: [request(valid(r), method="PUT")], {}, 405),
    "garbage request line": (lambda r: [b"\x16\x03\x01 hello\r\n\r\n"], {}, 400),
    "unknown HTTP version": (lambda r: [request(valid(r)).replace(b"HTTP/1.1", b"HTTP/7.0", 1)], {}, 400),
    "unknown path": (lambda r: [request(valid(r), path="/v1/reports/../admin")], {}, 404),
    # the request line itself never finished in time: the answer comes at the deadline, and
    # what arrives after it is never read as a report
    "an unfinished request line, finished late": (
        lambda r: [b"POST /v1/rep", request(valid(r))[len(b"POST /v1/rep"):]], {"pause": DEADLINE + 1}, 408),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_hostile_request_gets_a_4xx_and_changes_nothing(inventory, report, case):
    port, db = inventory
    make, options, expected = CASES[case]
    before = snapshot(db)
    status, body = exchange(port, *make(report), **options)
    assert status == expected, body
    assert body["error"]
    assert snapshot(db) == before


def test_a_slow_client_does_not_hold_the_inventory_up(inventory, report):
    port, _ = inventory
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"POST /v1/reports HTTP/1.1\r\n")          # ... and nothing more
    try:
        started = time.monotonic()
        assert exchange(port, request(valid(report)))[0] == 201
        assert time.monotonic() - started < READ_TIMEOUT
    finally:
        stalled.close()


def test_the_machine_list_is_for_the_reader_networks_only(tmp_path, report):
    store = Inventory(tmp_path / "db" / "inventory.sqlite")
    server = make_server(store, "127.0.0.1", 0, parse_networks(["127.0.0.0/8"]),
                         readers=parse_networks(["10.99.0.0/16"]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert exchange(port, request(valid(report)))[0] == 201
        status, body = exchange(port, request(b"", method="GET", path="/v1/machines"))
        assert status == 403 and "reads from 127.0.0.1 are not accepted" in body["error"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("disk, nic", [
    ("cciss!c0d0", "enp0s31f6"), ("nvme0n1", "br-ex.100"), ("mmcblk0boot0", "wlan#1"),
    ("md127", "bond0@uplink"), ("sr0", "x" * 15), ("dm-3", "eth0.4094"),
])
def test_every_device_name_linux_gives_is_accepted(inventory, report, disk, nic):
    port, _ = inventory
    report["disks"][0]["name"] = disk
    report["nics"][0]["name"] = nic
    status, body = exchange(port, request(valid(report)))
    assert status == 201, body


@pytest.mark.parametrize("disk, nic", [("a/b", "eth0"), ("sda", "eth:0"), ("sda", "x" * 16), ("..", "eth0"),
                                       ("sda", "has space")])
def test_names_linux_cannot_give_are_refused(inventory, report, disk, nic):
    port, _ = inventory
    report["disks"][0]["name"] = disk
    report["nics"][0]["name"] = nic
    status, body = exchange(port, request(valid(report)))
    assert status == 400 and "does not match the schema" in body["error"]
