"""The inventory endpoint over real HTTP on 127.0.0.1: valid reports are stored, bad ones are
refused with the right status and change nothing."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent_host import AGENT, canned_host
from builders.inventory import (MAX_BODY, Inventory, ReportError, check_report, format_machines, make_server,
                                parse_networks)
from helpers import snapshot


@pytest.fixture
def report(tmp_path):
    result = subprocess.run(["dash", str(AGENT), "--print"], capture_output=True, text=True, check=True,
                            env={"STACKDEB_AGENT_ROOT": str(canned_host(tmp_path / "host")), "PATH": "/usr/bin:/bin"})
    return json.loads(result.stdout)


def start(tmp_path, trusted=("127.0.0.0/8",)):
    inventory = Inventory(tmp_path / "db" / "inventory.sqlite")
    server = make_server(inventory, "127.0.0.1", 0, parse_networks(trusted))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return inventory, server, f"http://127.0.0.1:{server.server_address[1]}"


def post(url: str, body: bytes, content_type="application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url + "/v1/reports", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_report_is_stored_and_listed(tmp_path, report, monkeypatch):
    inventory, server, url = start(tmp_path)
    try:
        assert post(url, json.dumps(report).encode()) == (201, {"status": "accepted", "machine": "SRV-0042"})
        assert post(url, json.dumps(report).encode())[0] == 201
        machines = inventory.machines()
        assert len(machines) == 1 and machines[0]["reports"] == 2 and machines[0]["source"] == "127.0.0.1"
        monkeypatch.setenv("STACKDEB_INVENTORY_DB", str(inventory.db_path))
        listing = subprocess.run([Path(sys.executable).parent / "stackdeb", "machines"], capture_output=True, text=True, check=True).stdout
        assert "SRV-0042" in listing and "PowerEdge R640" in listing and "8.0 GiB" in listing
    finally:
        server.shutdown()


def test_a_machine_without_a_serial_is_known_by_its_mac(tmp_path, report):
    inventory, server, url = start(tmp_path)
    try:
        report["machine"]["serial"] = ""
        assert post(url, json.dumps(report).encode()) == (201, {"status": "accepted", "machine": "mac:b8:2a:72:00:00:01"})
    finally:
        server.shutdown()


@pytest.mark.parametrize("mangle, status, message", [
    (lambda r: b"{not json", 400, "malformed JSON"),
    (lambda r: json.dumps({k: v for k, v in r.items() if k != "cpu"}).encode(), 400, "'cpu' is a required property"),
    (lambda r: json.dumps(r | {"memory": {"total_bytes": "lots"}}).encode(), 400, "at memory/total_bytes"),
    (lambda r: json.dumps(r | {"padding": "x" * MAX_BODY}).encode(), 413, "refused (limit 65536)"),
])
def test_bad_reports_are_refused_and_change_nothing(tmp_path, report, mangle, status, message):
    inventory, server, url = start(tmp_path)
    try:
        assert post(url, json.dumps(report).encode())[0] == 201
        before = snapshot(tmp_path / "db")
        code, body = post(url, mangle(report))
        assert code == status and message in body["error"], body
        assert snapshot(tmp_path / "db") == before
    finally:
        server.shutdown()


def test_a_report_that_is_not_json_content_is_refused(tmp_path, report):
    inventory, server, url = start(tmp_path)
    try:
        assert post(url, json.dumps(report).encode(), content_type="text/plain")[0] == 415
        assert inventory.machines() == []
    finally:
        server.shutdown()


def test_reports_from_an_untrusted_network_are_refused(tmp_path, report):
    inventory, server, url = start(tmp_path, trusted=("10.99.0.0/16",))
    try:
        code, body = post(url, json.dumps(report).encode())
        assert code == 403 and "127.0.0.1 are not accepted" in body["error"]
        assert inventory.machines() == []
    finally:
        server.shutdown()


def test_a_bad_trusted_network_is_a_clear_error():
    from builders.errors import StackdebError
    with pytest.raises(StackdebError, match="trusted network"):
        parse_networks(["10.0.0.0/33"])


# what JSON can carry: any character, lone surrogates included (Hypothesis leaves those out)
ANY_CHARACTER = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(serial=st.text(ANY_CHARACTER, max_size=20), product=st.text(ANY_CHARACTER, max_size=20))
def test_any_string_in_a_report_is_stored_or_refused_never_a_traceback(tmp_path, report, serial, product):
    """Whatever strings a report carries (lone surrogates, controls), the inventory answers: the
    report is refused with a reason, or stored and listed printable."""
    body = json.dumps({**report, "machine": {**report["machine"], "serial": serial, "product": product}}).encode()
    inventory = Inventory(tmp_path / f"db-{uuid.uuid4().hex}" / "inventory.sqlite")
    try:
        stored = check_report(body, "application/json")
    except ReportError as refused:
        assert refused.status == 400
        return
    try:
        key = inventory.store(stored, "127.0.0.1")
    except ReportError as refused:      # no serial and no NIC to know the machine by
        assert refused.status == 400
        return
    assert [m["machine"] for m in inventory.machines()] == [key]
    assert all(line.isprintable() for line in format_machines(inventory.machines()).split("\n"))
