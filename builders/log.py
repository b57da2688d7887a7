"""Progress output on stderr, so stdout stays clean for data (lists, JSON)."""

import sys
import time

_START = time.monotonic()


_last = [""]


def info(message: str) -> None:
    _last[0] = message
    print(f"stackdeb: {message}", file=sys.stderr, flush=True)


def last_message() -> str:
    """The last progress line: what a command ends by saying it did (its --json summary)."""
    return _last[0]


def progress(done: int, total: int, message: str) -> None:
    width = len(str(total))
    elapsed = time.monotonic() - _START
    print(f"[{done:>{width}}/{total}] {elapsed:6.1f}s {message}", file=sys.stderr, flush=True)
