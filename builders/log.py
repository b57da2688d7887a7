"""Progress output on stderr, so stdout stays clean for data (lists, JSON)."""

import os
import sys
import time

_START = time.monotonic()
# the commands a stage runs: shown with `stackdeb -v` (Buildbot's steps pass it, so every
# build's log keeps them) or $STACKDEB_VERBOSE; by default a stage shows progress and results
_verbose = [bool(os.environ.get("STACKDEB_VERBOSE"))]


_last = [""]


def info(message: str) -> None:
    _last[0] = message
    print(f"stackdeb: {message}", file=sys.stderr, flush=True)


def set_verbose(verbose: bool) -> None:
    _verbose[0] = verbose or bool(os.environ.get("STACKDEB_VERBOSE"))


def command(text: str) -> None:
    """A command about to run (`$ tool args`), when verbose."""
    if _verbose[0]:
        print(f"stackdeb: $ {text}", file=sys.stderr, flush=True)


def last_message() -> str:
    """The last progress line: what a command ends by saying it did (its --json summary)."""
    return _last[0]


def progress(done: int, total: int, message: str) -> None:
    width = len(str(total))
    elapsed = time.monotonic() - _START
    print(f"[{done:>{width}}/{total}] {elapsed:6.1f}s {message}", file=sys.stderr, flush=True)
