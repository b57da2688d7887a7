"""An exclusive lock on a file, held for the duration of a `with` block."""

import fcntl
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path):
    """Wait until no other process holds `path`, then hold it (released on exit or death)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
