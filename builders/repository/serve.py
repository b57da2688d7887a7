"""`stackdeb repo serve`: public/ on 127.0.0.1, for a test or a look."""

import threading
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.repository.generations import Repository




def serve(root: Path, port: int) -> None:
    """Serve public/ (dists, pool, the key, .sources) on 127.0.0.1 until interrupted."""
    from builders.fileserver import start_file_server
    public = Repository(root).public
    if not public.exists():
        raise StackdebError("the repository is empty: publish a build set first")
    server = start_file_server(public, port)
    log.info(f"serving {public} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
