"""A read-only HTTP server for one directory on 127.0.0.1: the repository, image files."""

import functools
import http.server
import threading
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass        # one line per request drowns everything else; errors still raise


def start_file_server(directory: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """Serve `directory` from a background thread; port 0 picks a free one (server_address[1])."""
    server = http.server.ThreadingHTTPServer((host, port), functools.partial(_Handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
