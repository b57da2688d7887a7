"""Progress output on stderr, so stdout stays clean for data (lists, JSON)."""

import sys
import time

_START = time.monotonic()


def info(message: str) -> None:
    print(f"stackdeb: {message}", file=sys.stderr, flush=True)


def progress(done: int, total: int, message: str) -> None:
    width = len(str(total))
    elapsed = time.monotonic() - _START
    print(f"[{done:>{width}}/{total}] {elapsed:6.1f}s {message}", file=sys.stderr, flush=True)
