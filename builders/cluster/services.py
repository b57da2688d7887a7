"""What a run serves on its cluster network, and nothing else.

    :8080  files   boot.ipxe, discovery/ (the live system), repo/ (the staging generation
                   under test, dists and pool only)
    :8081  tasks   /tasks/<machine>/next and /done: the node agent's task queue
    :8700  inventory  the discovery agent's reports (trusting the cluster subnet only)
    :3142  apt     a relay to apt-cacher-ng on this machine's loopback

Every listening socket is made inside the run's namespace; the threads that serve them run
in this process.
"""

import http.server
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from builders.errors import StackdebError
from builders.fileserver import start_file_server
from builders.inventory import Inventory, make_server, parse_networks

MAX_OUTPUT = 4 * 2**20


@dataclass
class TaskResult:
    rc: int
    output: str
    seconds: float


@dataclass
class Task:
    machine: str
    name: str
    script: str
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    result: TaskResult | None = None


class TaskBoard:
    """One queue of shell tasks per machine; the node agent pulls them and posts results."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.queues: dict[str, deque[Task]] = {}
        self.running: dict[str, Task] = {}
        self.counter = 0
        self.closed = False
        self.changed = threading.Condition()
        self.timings: list[dict] = []      # per finished task: machine, name, seconds queued and run

    def submit(self, machine: str, name: str, script: str) -> Task:
        with self.changed:
            self.counter += 1
            task = Task(machine, f"{self.counter:02d}-{name}", script)
            self.queues.setdefault(machine, deque()).append(task)
            return task

    def wait(self, task: Task, timeout: float, alive=lambda: True) -> TaskResult | None:
        """The task's result, or None when it did not finish in time or `alive()` turned
        false (the machine is off: nothing will answer)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while task.result is None and time.monotonic() < deadline and alive():
                self.changed.wait(min(2, max(0.1, deadline - time.monotonic())))
        return task.result

    def next_for(self, machine: str) -> Task | None:
        with self.changed:
            queue = self.queues.get(machine)
            if not queue or machine in self.running:
                return None
            task = queue.popleft()
            task.started = time.monotonic()
            self.running[machine] = task
            return task

    def finish(self, machine: str, name: str, rc: int, output: str) -> bool:
        with self.changed:
            task = self.running.get(machine)
            if not task or task.name != name:
                return False
            del self.running[machine]
            log = self.logs / machine / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(output)
            task.result = TaskResult(rc, output, time.monotonic() - (task.started or task.submitted))
            self.timings.append({"machine": machine, "task": name, "rc": rc,
                                 "queued": round((task.started or task.submitted) - task.submitted, 1),
                                 "seconds": round(task.result.seconds, 1)})
            self.changed.notify_all()
            return True

    def log_path(self, task: Task) -> Path:
        return self.logs / task.machine / f"{task.name}.log"

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


def _task_handler(board: TaskBoard):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urlsplit(self.path).path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "tasks" or parts[2] != "next":
                return self._reply(404, b"unknown path\n")
            if board.closed:
                return self._reply(410, b"the run is over\n")
            task = board.next_for(parts[1])
            if task is None:
                return self._reply(204, b"")
            self._reply(200, task.script.encode(), {"X-Stackdeb-Task": task.name})

        def do_POST(self):
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            if len(parts) != 3 or parts[0] != "tasks" or parts[2] != "done" or length > MAX_OUTPUT:
                return self._reply(404, b"unknown path, or output too big\n")
            output = self.rfile.read(length).decode(errors="replace")
            try:
                rc = int(query.get("rc", ["-1"])[0])
            except ValueError:
                rc = -1
            known = board.finish(parts[1], query.get("task", [""])[0], rc, output)
            self._reply(200 if known else 409, b"ok\n" if known else b"no such task running\n")

        def _reply(self, status: int, body: bytes, headers: dict | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return Handler


class AptRelay:
    """Relays each connection on the cluster network to apt-cacher-ng on 127.0.0.1: the one
    path out of the namespace, and it ends at a proxy that fetches only from the mirrors."""

    def __init__(self, listener: socket.socket, target_port: int):
        self.listener, self.target_port = listener, target_port
        self.stopped = False

    def serve(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def stop(self) -> None:
        self.stopped = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass
class RunServers:
    files: http.server.ThreadingHTTPServer
    tasks: http.server.ThreadingHTTPServer
    inventory: http.server.ThreadingHTTPServer
    apt: AptRelay

    def stop(self) -> None:
        for server in (self.files, self.tasks, self.inventory):
            server.shutdown()
            server.server_close()
        self.apt.stop()


def start_servers(network, www: Path, board: TaskBoard, inventory: Inventory, apt_port: int,
                  address: str, ports: dict, trusted: str) -> RunServers:
    try:
        with network.entered():
            files = start_file_server(www, ports["files"], host=address)
            tasks = http.server.ThreadingHTTPServer((address, ports["tasks"]), _task_handler(board))
            reports = make_server(inventory, address, ports["inventory"], parse_networks([trusted]))
            listener = socket.create_server((address, ports["apt"]))
    except OSError as exc:
        raise StackdebError(f"cannot listen on the cluster network: {exc}") from None
    for server in (tasks, reports):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    relay = AptRelay(listener, apt_port)
    threading.Thread(target=relay.serve, daemon=True).start()
    return RunServers(files, tasks, reports, relay)
