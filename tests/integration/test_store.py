"""The artifact store for real: `stackdeb store serve` on 127.0.0.1, workers putting and getting
files through `stackdeb store put|get`, each byte checked against its hash on both sides, and
the bad cases: bytes that do not match their hash (either way), a name another worker owns, an
unknown worker, an unreachable store. Each is one line and writes nothing."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STACKDEB = str(Path(sys.executable).parent / "stackdeb")
WORKERS = {"alpha-worker": "alpha-store-password-123", "beta-worker": "beta-store-password-456"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("store")
    settings = base / "master.yaml"
    settings.write_text(json.dumps({"workers": [{"name": n, "password": p} for n, p in WORKERS.items()]}))
    port = free_port()
    server = subprocess.Popen([STACKDEB, "store", "serve", "--dir", str(base / "objects"), "--listen",
                               f"127.0.0.1:{port}", "--workers", str(settings)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
            time.sleep(0.2)
    yield type("Store", (), {"url": f"http://127.0.0.1:{port}/", "root": base / "objects", "base": base})
    server.terminate()
    server.wait(timeout=10)


def run(store, worker: str, *args, password: str | None = None, cwd: Path | None = None):
    env = {**os.environ, "STACKDEB_STORE_URL": store.url, "STACKDEB_STORE_USER": worker,
           "STACKDEB_STORE_PASSWORD": password or WORKERS.get(worker, "whatever-password")}
    done = subprocess.run([STACKDEB, "store", *args, "--json"], env=env, capture_output=True, text=True, cwd=cwd)
    return done.returncode, json.loads(done.stdout), done.stderr


def test_files_travel_by_hash_and_arrive_whole(store, tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    (made / "venv-alpha_1.0_amd64.deb").write_bytes(os.urandom(300_000))
    (made / "lock.txt").write_text("libone==1.0.0 --hash=sha256:00\n")
    files = sorted(made.iterdir())
    code, put, err = run(store, "alpha-worker", "put", *map(str, files), "--name", "alpha-build-1")
    assert code == 0 and put["ok"], err
    assert put["name"] == "alpha-worker/alpha-build-1"
    assert {f["file"]: f["sha256"] for f in put["files"]} == {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

    # another worker, sharing no path: fetches the record's files, checked
    there = tmp_path / "elsewhere"
    code, got, err = run(store, "beta-worker", "get", "--name", "alpha-worker/alpha-build-1", "--into", str(there))
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in there.iterdir()} == {p.name: p.read_bytes() for p in files}
    # what it has already, it does not fetch again; what the store has, is not sent again
    code, _, err = run(store, "beta-worker", "get", "--name", "alpha-worker/alpha-build-1", "--into", str(there))
    assert code == 0 and err.count("already here") == 2, err
    code, _, err = run(store, "alpha-worker", "put", *map(str, files))
    assert code == 0 and err.count("already in the store") == 2, err


def rot(path: Path) -> None:
    """Damage a file's first bytes as a disk would: same size, same mtime."""
    status = path.stat()
    path.write_bytes(b"not the package" + path.read_bytes()[15:])
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_damaged_bytes_in_the_store_are_never_used(store, tmp_path):
    """Rot on the store's disk: the store checks an object before it serves it or says it has
    it, moves the damaged bytes aside, and the next upload of those bytes replaces them."""
    deb = tmp_path / "venv-beta_2.0_amd64.deb"
    deb.write_bytes(os.urandom(100_000))
    code, put, err = run(store, "beta-worker", "put", str(deb))
    assert code == 0, err
    digest = put["files"][0]["sha256"]
    stored = store.root / "objects" / digest[:2] / digest
    rot(stored)
    into = tmp_path / "into"
    code, got, err = run(store, "alpha-worker", "get", digest, "--into", str(into))
    assert code == 1 and got["error"].startswith(f"{digest} arrived from the store with sha256 ")
    assert not into.exists() or list(into.iterdir()) == []
    assert (store.root / "damaged" / digest).read_bytes()[:15] == b"not the package"
    code, got, err = run(store, "alpha-worker", "get", digest, "--into", str(into))
    assert code == 1 and got["error"] == f"the artifact store has no object {digest}"
    code, put, err = run(store, "beta-worker", "put", str(deb))
    assert code == 0 and "uploaded to the store" in err
    code, got, err = run(store, "alpha-worker", "get", digest, "--into", str(into))
    assert code == 0 and (into / digest).read_bytes() == deb.read_bytes()


def test_bytes_that_arrive_with_another_hash_are_not_used(tmp_path):
    """A store (or anything between) that serves other bytes than the hash names: the worker
    hashes what arrives before it puts it in place, and refuses it."""
    import http.server
    import threading

    class Liar(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"tampered!")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        liar = type("Store", (), {"url": f"http://127.0.0.1:{server.server_address[1]}/"})
        digest = hashlib.sha256(b"the real bytes").hexdigest()
        into = tmp_path / "into"
        code, got, err = run(liar, "alpha-worker", "get", digest, "--into", str(into))
        assert code == 1 and not got["ok"]
        assert got["error"].startswith(f"{digest} arrived from the store with sha256 ") and "not used" in got["error"]
        assert not into.exists() or list(into.iterdir()) == []
    finally:
        server.shutdown()


def test_an_upload_whose_bytes_do_not_match_its_hash_is_refused(store):
    import urllib.error
    import urllib.request
    import base64
    wrong = "0" * 64
    request = urllib.request.Request(store.url + f"objects/{wrong}", data=b"some bytes", method="PUT")
    request.add_header("Authorization", "Basic " + base64.b64encode(
        f"alpha-worker:{WORKERS['alpha-worker']}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422 and "nothing stored" in json.loads(refused.value.read())["error"]
    assert not (store.root / "objects" / "00" / wrong).exists()
    assert not list((store.root / "objects").rglob(".upload-*"))


def test_a_worker_cannot_write_another_workers_name(store, tmp_path):
    import urllib.error
    import urllib.request
    import base64
    request = urllib.request.Request(store.url + "names/alpha-worker/alpha-build-1", data=b"{}", method="PUT")
    request.add_header("Authorization", "Basic " + base64.b64encode(
        f"beta-worker:{WORKERS['beta-worker']}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert json.loads((store.root / "names/alpha-worker/alpha-build-1").read_text())["files"]   # unchanged


def test_unknown_workers_and_unreachable_stores_are_one_line(store, tmp_path):
    thing = tmp_path / "thing"
    thing.write_text("x")
    code, got, err = run(store, "mallory", "put", str(thing), password="guessed-password-1")
    assert code == 1 and "does not know worker mallory with that password (HTTP 401)" in got["error"], err
    assert "Traceback" not in err
    env = {**os.environ, "STACKDEB_STORE_USER": "alpha-worker", "STACKDEB_STORE_PASSWORD": "x" * 20}
    closed = f"http://127.0.0.1:{free_port()}/"
    done = subprocess.run([STACKDEB, "store", "get", "0" * 64, "--store", closed], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and f"the artifact store at {closed} cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr
