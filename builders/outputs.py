"""One way to replace a stage's outputs (lock, bundle, packages, images, the upstream
snapshot): build beside, make durable, switch in one step.

    with replacing(out) as staged:     # a fresh directory beside `out`, on its file system
        ...write the new outputs into staged...
    # on a clean exit: every file and directory in `staged` fsynced, then `staged` and `out`
    # exchanged in one rename (renameat2 RENAME_EXCHANGE), and the old contents removed

    with using(out):                    # a reader: `out` is not swapped while it reads
        ...read out...

    with scratch(parent, ".name-") as work:   # a work directory; a killed run's is removed later
        ...

Writers of the same outputs take turns (an exclusive lock beside `out`). Readers hold a
shared lock, and a writer's swap waits until they are done, so a stage never sees another
pull its inputs out from under it; a reader arriving while a writer works waits for it.
Whatever a killed writer left (`.<name>.new-*`, `.<name>.old-*`) is removed by the next
writer, under the writers' lock.
"""

import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from builders import log

RENAME_EXCHANGE = 2
AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def _lock_path(out: Path, kind: str) -> Path:
    return out.with_name(f".{out.name}.{kind}.lock")


# what a run that has to wait is waiting for, by the lock it wants
_WAITING_FOR = {"use": "the stages reading it finish", "write": "the run replacing it finishes"}


@contextmanager
def _flock(out: Path, kind: str, mode: int):
    """Hold the `kind` lock of `out` (released when the holder exits or dies); say so when that
    means waiting for another run, so that a stage that seems stuck tells what it waits for."""
    path = _lock_path(out, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(f"{out} is in use: waiting until {_WAITING_FOR[kind]}")
            fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@contextmanager
def using(out: Path):
    """Hold `out` for reading: no writer swaps it until the block ends. A run replacing it at
    that moment is let finish first, so that the reader takes the newest whole outputs
    (a package build started during its bundle's rebuild builds from the new bundle)."""
    with _flock(out, "write", fcntl.LOCK_SH):
        pass
    with _flock(out, "use", fcntl.LOCK_SH):
        yield out


@contextmanager
def replacing(out: Path, mode: int = 0o755):
    """Yield an empty directory beside `out`; on a clean exit it becomes `out`, durably and in
    one step. On an error or an interrupt `out` is untouched and the staged files go."""
    with _flock(out, "write", fcntl.LOCK_EX):
        clean_leftovers(out)
        staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
        staged.chmod(mode)
        try:
            yield staged
            make_durable(staged)
            with _flock(out, "use", fcntl.LOCK_EX):
                old = _switch(staged, out)
            if old is not None:
                _remove(old)
        finally:
            if staged.exists():
                _remove(staged)


def clean_leftovers(out: Path) -> None:
    """What a killed writer left beside `out`. Called with the writers' lock held. When only
    the fallback's two renames were cut between them, the old outputs are put back."""
    olds = sorted(out.parent.glob(f".{out.name}.old-*"))
    if not os.path.lexists(out) and len(olds) == 1 and olds[0].is_dir():
        os.rename(olds[0], out)
        olds = []
        log.info(f"{out}: restored the outputs a killed run had moved aside")
    for leftover in olds + sorted(out.parent.glob(f".{out.name}.new-*")):
        log.info(f"{out}: removing {leftover.name}, left by a run that did not finish")
        _remove(leftover)
    # an older stackdeb kept bundles in .generations/<name>-*, behind a symlink: all but the
    # one the link names are leftovers (that one goes at the switch)
    current = out.resolve() if out.is_symlink() else None
    for leftover in sorted((out.parent / ".generations").glob(f"{out.name}-*")):
        if leftover != current:
            _remove(leftover)


@contextmanager
def scratch(parent: Path, prefix: str, min_age: float = 120):
    """A work directory under `parent`, removed at the end. Those that killed runs left are
    removed first: a directory whose owner died is no longer locked (the lock is on the
    directory itself, and dies with its holder); one younger than `min_age` seconds may not
    be locked yet and is left alone."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{prefix}*"):
        if old.is_dir() and not old.is_symlink() and time.time() - old.stat().st_mtime > min_age and _unowned(old):
            log.info(f"removing {old}, left by a run that did not finish")
            _remove(old)
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        _remove(path)
        os.close(fd)


def _unowned(directory: Path) -> bool:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def make_durable(tree: Path) -> None:
    """fsync every file, then every directory bottom-up, so the switch never publishes data
    that a power cut could lose."""
    for directory, dirs, files in os.walk(tree, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(directory))


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch(staged: Path, out: Path) -> Path | None:
    """Put `staged` in place of `out`; return where the old contents now are (to remove)."""
    if not os.path.lexists(out):
        os.rename(staged, out)
        fsync_directory(out.parent)
        return None
    old_target = out.resolve() if out.is_symlink() else None
    if _exchange(staged, out):
        # `staged` now holds the old outputs (or an older stackdeb's symlink)
        old = staged.with_name(staged.name.replace(".new-", ".old-"))
        os.rename(staged, old)
    else:
        # no RENAME_EXCHANGE here (NFS, an old kernel): two renames; a kill between them is
        # repaired by clean_leftovers on the next run
        old = out.with_name(f".{out.name}.old-{staged.name.rsplit('-', 1)[-1]}")
        os.rename(out, old)
        os.rename(staged, out)
    fsync_directory(out.parent)
    if old_target is not None and old_target.parent.name == ".generations":
        _remove(old_target)
    return old


def _exchange(a: Path, b: Path) -> bool:
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
