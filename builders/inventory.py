"""The inventory: receives the discovery agent's hardware reports and keeps one row per machine.

    POST /v1/reports     a report (JSON, schema builders/schemas/hardware-report.json)
                         201 accepted | 400 malformed | 403 untrusted source | 413 too big
                         | 415 not JSON
    GET  /v1/machines    every machine, newest report first

Reports are accepted only from the trusted networks (by default the loopback only) and
stored in SQLite; a machine is known by its serial number, or by its first MAC address when
its firmware reports no serial. A refused report changes nothing.
"""

import ipaddress
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

from builders import log
from builders.errors import StackdebError

SCHEMA = json.loads((Path(__file__).parent / "schemas/hardware-report.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
MAX_BODY = 64 * 1024          # a report of a big machine is a few KiB
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")

_TABLE = """
CREATE TABLE IF NOT EXISTS machines (
    machine TEXT PRIMARY KEY,      -- serial, or mac:<first MAC> without one
    report TEXT NOT NULL,          -- the last report, as received
    source TEXT NOT NULL,          -- the address it came from
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    reports INTEGER NOT NULL
)"""


class ReportError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_networks(specs) -> list:
    try:
        return [ipaddress.ip_network(spec, strict=False) for spec in specs]
    except ValueError as exc:
        raise StackdebError(f"trusted network: {exc}", hint="give networks like 10.0.0.0/24") from None


def machine_key(report: dict) -> str:
    serial = report["machine"]["serial"].strip()
    if serial and serial.lower() not in ("", "none", "0", "not specified", "to be filled by o.e.m."):
        return serial
    macs = sorted(nic["mac"] for nic in report["nics"])
    if not macs:
        raise ReportError(400, "the report has neither a serial number nor a NIC to identify the machine")
    return f"mac:{macs[0]}"


def check_report(body: bytes, content_type: str) -> dict:
    """The report in `body`, validated; a ReportError with the HTTP status otherwise."""
    if content_type.split(";")[0].strip() != "application/json":
        raise ReportError(415, f"expected Content-Type application/json, got {content_type or 'none'}")
    try:
        report = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(400, f"malformed JSON: {exc}") from None
    errors = sorted(_VALIDATOR.iter_errors(report), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.path)) or "(top level)"
        raise ReportError(400, f"the report does not match the schema at {where}: {first.message}")
    return report


@dataclass
class Inventory:
    db_path: Path

    def __post_init__(self):
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(_TABLE)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30)

    def store(self, report: dict, source: str) -> str:
        key = machine_key(report)
        now = time.time()
        with self._lock, self._connect() as db:
            db.execute("""INSERT INTO machines VALUES (?, ?, ?, ?, ?, 1)
                          ON CONFLICT(machine) DO UPDATE SET report=excluded.report,
                          source=excluded.source, last_seen=excluded.last_seen, reports=reports+1""",
                       (key, json.dumps(report, sort_keys=True), source, now, now))
        return key

    def machines(self) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT machine, report, source, first_seen, last_seen, reports "
                              "FROM machines ORDER BY last_seen DESC").fetchall()
        return [{"machine": m, "report": json.loads(r), "source": s, "first_seen": f, "last_seen": la,
                 "reports": n} for m, r, s, f, la, n in rows]


def make_server(inventory: Inventory, host: str, port: int, trusted: list) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                if self.path != "/v1/reports":
                    raise ReportError(404, "unknown path: reports go to /v1/reports")
                source = ipaddress.ip_address(self.client_address[0])
                if not any(source in network for network in trusted):
                    raise ReportError(403, f"reports from {source} are not accepted (not a trusted network)")
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ReportError(413, f"report of {length} bytes refused (limit {MAX_BODY})")
                report = check_report(self.rfile.read(length), self.headers.get("Content-Type", ""))
                key = inventory.store(report, str(source))
            except ReportError as exc:
                log.info(f"inventory: refused a report from {self.client_address[0]}: {exc}")
                self._reply(exc.status, {"status": "refused", "error": str(exc)}, close=True)
                return
            log.info(f"inventory: report from {source} stored as {key}")
            self._reply(201, {"status": "accepted", "machine": key})

        def do_GET(self):
            if self.path != "/v1/machines":
                self._reply(404, {"error": "unknown path"})
                return
            self._reply(200, {"machines": inventory.machines()})

        def _reply(self, status: int, body: dict, close: bool = False):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:       # an unread oversized body must not be parsed as the next request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(db_path: Path, listen: str, trusted_specs: list[str]) -> None:
    host, _, port = listen.rpartition(":")
    server = make_server(Inventory(db_path), host or "127.0.0.1", int(port), parse_networks(trusted_specs))
    log.info(f"inventory: listening on http://{listen}/v1/reports, trusting {', '.join(trusted_specs)}; "
             f"machines in {db_path}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def format_machines(machines: list[dict]) -> str:
    if not machines:
        return "no machine has reported yet"
    lines = [f"{'machine':24} {'product':20} {'cpus':>4} {'memory':>9} {'disks':>5} {'nics':>4}  last seen"]
    for entry in machines:
        report = entry["report"]
        memory = f"{report['memory']['total_bytes'] / 2**30:.1f} GiB"
        seen = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["last_seen"]))
        lines.append(f"{entry['machine']:24} {report['machine']['product'][:20]:20} {report['cpu']['count']:>4} "
                     f"{memory:>9} {len(report['disks']):>5} {len(report['nics']):>4}  {seen}")
    return "\n".join(lines)
