"""nginx from Debian in front of a master, with the site configuration docs/buildbot.md tells
operators to install (master/nginx-site.conf), a certificate for 127.0.0.1 made here, and free
ports on 127.0.0.1 instead of 80 and 443.

    with TlsProxy(master_port) as proxy:
        proxy.url        https://127.0.0.1:PORT/
        proxy.http_url   http://127.0.0.1:PORT/   (answers with a redirect only)
        proxy.context    an SSL context that trusts the certificate
        proxy.ca_file    that certificate, for SSL_CERT_FILE
"""

import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from builders import PROJECT_DIR
from minimaster import free_port

SITE = PROJECT_DIR / "master/nginx-site.conf"
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class TlsProxy:
    def __init__(self, master_port: int):
        self.master_port = master_port
        self.https_port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}/"
        self.http_url = f"http://127.0.0.1:{self.http_port}/"
        # not under pytest's 0700 directories: nginx's workers run as nobody when we are root
        self.prefix = Path(tempfile.mkdtemp(prefix="stackdeb-nginx-"))
        self.prefix.chmod(0o755)
        self.ca_file = self.prefix / "cert.pem"

    def __enter__(self):
        key = self.prefix / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(self.ca_file)], check=True, capture_output=True)
        site = SITE.read_text()
        for name, value in {"SERVER_NAME": "127.0.0.1", "CERTIFICATE": self.ca_file, "KEY": key,
                            "HTTP_PORT": f"127.0.0.1:{self.http_port}", "HTTPS_PORT": self.https_port,
                            "MASTER": f"127.0.0.1:{self.master_port}"}.items():
            site = site.replace(f"@{name}@", str(value))
        # the redirect names the port it sends to: `listen` took the address, the URL keeps the port
        site = site.replace(f"listen {self.https_port} ssl", f"listen 127.0.0.1:{self.https_port} ssl")
        settings = [line for line in site.splitlines() if not line.lstrip().startswith("#")]
        assert not any("@" in line for line in settings), "a placeholder was left in the site configuration"
        (self.prefix / "site.conf").write_text(site)
        temp = "\n".join(f"    {kind}_temp_path {self.prefix}/tmp/{kind};" for kind in TEMP_KINDS)
        (self.prefix / "tmp").mkdir(mode=0o777)
        (self.prefix / "tmp").chmod(0o777)
        (self.prefix / "nginx.conf").write_text(
            f"worker_processes 1;\npid {self.prefix}/nginx.pid;\nerror_log {self.prefix}/error.log;\n"
            f"events {{}}\nhttp {{\n    access_log {self.prefix}/access.log;\n{temp}\n"
            f"    include {self.prefix}/site.conf;\n}}\n")
        self.process = subprocess.Popen(["nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                                         "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
        self._wait_listening()
        self.context = ssl.create_default_context(cafile=str(self.ca_file))
        return self

    def _wait_listening(self) -> None:
        import socket
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx did not start: {self.process.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("nginx did not listen within 20 s")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=20)
        shutil.rmtree(self.prefix, ignore_errors=True)
