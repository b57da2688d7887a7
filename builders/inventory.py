"""The inventory: receives the discovery agent's hardware reports and keeps one row per machine.

    POST /v1/reports     a report (JSON, schema builders/schemas/hardware-report.json)
                         201 accepted | 400 malformed | 403 untrusted source | 413 too big
                         | 415 not JSON
                         | 408 too slow | 411 no Content-Length | 405 other methods
    GET  /v1/machines    every machine, newest report first (from the reader networks only)

Reports are accepted only from the trusted networks (by default the loopback only) and
stored in SQLite; a machine is known by its serial number, or by its first MAC address when
its firmware reports no serial. A refused report changes nothing.
"""

import ipaddress
import json
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

from builders import log
from builders.errors import StackdebError

SCHEMA = json.loads((Path(__file__).parent / "schemas/hardware-report.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
MAX_BODY = 64 * 1024          # a report of a big machine is a few KiB
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")
READ_TIMEOUT = 10             # seconds one read from a client may take
REQUEST_DEADLINE = 30         # seconds a whole request may take

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
        report = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ReportError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ReportError(400, "malformed JSON: nested too deeply") from None
    try:   # a lone surrogate (\\ud800) is valid JSON but no text: the database could not store it
        json.dumps(report, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ReportError(400, "malformed JSON: a string is not valid Unicode (a lone surrogate)") from None
    errors = sorted(_VALIDATOR.iter_errors(report), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.path)) or "(top level)"
        raise ReportError(400, f"the report does not match the schema at {where}: {first.message}")
    return report


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@dataclass
class Inventory:
    db_path: Path

    def __post_init__(self):
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            with self._connect() as db:
                db.execute(_TABLE)
        except sqlite3.DatabaseError as exc:
            raise StackdebError(f"the inventory {self.db_path} cannot be used: {exc}",
                                hint="restore it from a backup, or move it away to start an empty one") from None

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


class InventoryHandler(BaseHTTPRequestHandler):
    """One request, read as a hostile network would send it: the body is read up to the limit
    whatever the headers claim, a slow client is cut off, and every malformed request gets a
    4xx with a JSON body (never a traceback, never silence)."""

    inventory: Inventory
    reporters: list         # networks allowed to POST reports
    readers: list           # networks allowed to GET the machine list
    timeout = READ_TIMEOUT  # seconds a single read may wait (socketserver applies it)
    deadline = REQUEST_DEADLINE
    server_version = "stackdeb-inventory"
    sys_version = ""

    def handle(self):
        self._replied = False
        self._reply_lock = threading.Lock()
        deadline = threading.Timer(self.deadline, self._expire)
        deadline.daemon = True
        deadline.start()
        try:
            super().handle()
        except OSError:
            pass            # the client went away, or its deadline closed the connection
        finally:
            deadline.cancel()

    def _expire(self):
        """The whole request took too long (a slowloris sends one byte at a time)."""
        self._reply(408, {"error": f"request not complete within {self.deadline}s"}, close=True)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_POST(self):
        try:
            if self.path != "/v1/reports":
                raise ReportError(404, "unknown path: reports go to /v1/reports")
            source = self._source(self.reporters, "reports")
            body = self._read_body()
            report = check_report(body, self.headers.get("Content-Type", ""))
            key = self.inventory.store(report, str(source))
        except ReportError as exc:
            log.info(f"inventory: refused a report from {self.client_address[0]}: {exc}")
            self._reply(exc.status, {"status": "refused", "error": str(exc)}, close=True)
            return
        except sqlite3.Error as exc:
            log.info(f"inventory: cannot store a report: {exc}")
            self._reply(503, {"status": "refused", "error": "the inventory cannot store reports now"}, close=True)
            return
        log.info(f"inventory: report from {source} stored as {printable(key)}")
        self._reply(201, {"status": "accepted", "machine": key})

    def do_GET(self):
        try:
            if self.path != "/v1/machines":
                raise ReportError(404, "unknown path: the machine list is /v1/machines")
            self._source(self.readers, "reads")
        except ReportError as exc:
            self._reply(exc.status, {"error": str(exc)}, close=True)
            return
        self._reply(200, {"machines": self.inventory.machines()})

    def _source(self, networks: list, what: str):
        source = ipaddress.ip_address(self.client_address[0])
        if not any(source in network for network in networks):
            raise ReportError(403, f"{what} from {source} are not accepted (not a trusted network)")
        return source

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ReportError(411, "send the report with a Content-Length, not a Transfer-Encoding")
        lengths = set(self.headers.get_all("Content-Length") or [])
        if not lengths:
            raise ReportError(411, "a report needs a Content-Length")
        if len(lengths) > 1:
            raise ReportError(400, "conflicting Content-Length headers")
        text = lengths.pop().strip()
        if not (text.isascii() and text.isdigit()):
            raise ReportError(400, f"Content-Length is not a number: {text[:32]!r}")
        length = int(text)
        if length > MAX_BODY:
            raise ReportError(413, f"report of {length} bytes refused (limit {MAX_BODY})")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise ReportError(408, f"the report's body did not arrive within {self.timeout}s") from None
        if len(body) != length:
            raise ReportError(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (bad request line, headers too long, unknown method,
        unknown HTTP version) as JSON, and always as a 4xx: those are the client's fault."""
        code = {501: 405, 505: 400}.get(int(code), int(code))
        self._reply(code, {"error": message or HTTPStatus(code).phrase}, close=True)

    def _reply(self, status: int, body: dict, close: bool = False):
        with self._reply_lock:
            if self._replied:
                return
            self._replied = True
            data = json.dumps(body).encode()
            # a request line that never parsed leaves HTTP/0.9, which has no status line
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                self.request_version = "HTTP/1.0"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 405:
                    self.send_header("Allow", "GET, POST")
                if close:       # an unread body must not be parsed as the next request
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if getattr(self, "command", None) != "HEAD":
                    self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    def log_error(self, format, *args):
        # http.server's only word on a read that timed out while the request line or the
        # headers arrived: the client still gets its answer
        if format.startswith("Request timed out"):
            self._reply(408, {"error": f"no data for {self.timeout}s"}, close=True)

    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        # http.server's own formats the request line, which a request that timed out before
        # its line arrived does not have (a traceback, and no answer); nothing is logged anyway
        pass


def make_server(inventory: Inventory, host: str, port: int, trusted: list, readers: list | None = None,
                read_timeout: float = READ_TIMEOUT, deadline: float = REQUEST_DEADLINE) -> ThreadingHTTPServer:
    """The inventory's HTTP server: reports from `trusted`, the machine list to `readers`
    (by default the loopback only)."""
    handler = type("Handler", (InventoryHandler,), {
        "inventory": inventory, "reporters": trusted, "timeout": read_timeout, "deadline": deadline,
        "readers": readers if readers is not None else parse_networks(DEFAULT_TRUSTED)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(db_path: Path, listen: str, trusted_specs: list[str], reader_specs: list[str]) -> None:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise StackdebError(f"--listen {listen}: expected ADDRESS:PORT", hint="for example 127.0.0.1:8700")
    trusted, readers = parse_networks(trusted_specs), parse_networks(reader_specs)   # before the database
    try:
        server = make_server(Inventory(db_path), host or "127.0.0.1", int(port), trusted, readers)
    except OSError as exc:
        raise StackdebError(f"inventory: cannot listen on {listen}: {exc.strerror or exc}") from None
    log.info(f"inventory: listening on http://{listen}/v1/reports, trusting {', '.join(trusted_specs)}, "
             f"machine list readable from {', '.join(reader_specs)}; machines in {db_path}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def format_machines(machines: list[dict]) -> str:
    """The machines for a terminal: what a machine reported is shown printable (a report's
    control characters never reach the operator's terminal), and any size it claims fits."""
    if not machines:
        return "no machine has reported yet"
    lines = [f"{'machine':24} {'product':20} {'cpus':>4} {'memory':>9} {'disks':>5} {'nics':>4}  last seen"]
    for entry in machines:
        report = entry["report"]
        total = report["memory"]["total_bytes"]
        memory = f"{total // 2**30}.{total % 2**30 * 10 // 2**30} GiB"     # whole numbers: any size fits
        seen = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["last_seen"]))
        lines.append(f"{printable(entry['machine']):24} {printable(report['machine']['product'])[:20]:20} "
                     f"{report['cpu']['count']:>4} {memory:>9} {len(report['disks']):>5} {len(report['nics']):>4}  "
                     f"{seen}")
    return "\n".join(lines)


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (controls, escapes, line and format
    characters) written as a Python escape instead."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))
