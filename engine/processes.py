"""How the command's processes stop without leaving anything behind.

A run keeps what it has evaluated in a temporary folder until it is written (about 1.4 GB at
ten thousand facilities), and a report is written beside its final name until it is whole.
Stopped by an error, Ctrl-C or SIGTERM (systemd stopping the unit, `timeout`, `kill`), the
process unwinds and removes them; its worker processes leave stopping to it. Killed outright
(SIGKILL, the OOM killer, a power cut) it cannot, so a temporary folder is held by an flock on
the folder itself, which the kernel releases once its holder and every process it forked are
gone, and each run removes those nobody holds before it evaluates (`sweep`).
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from pathlib import Path

PREFIX = "covenant-monitor-"
_HELD = "held-by"  # written once the folder is locked: a folder without it may be being made


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is so that it unwinds as after Ctrl-C (not an
    Exception: nothing that handles errors may swallow it)."""


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises Terminated for as long as this lasts (in the main thread; elsewhere the
    signal cannot be caught and keeps its effect)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _leave_stopping_to_parent() -> None:
    """A worker dies at once on SIGTERM (the pool's way to stop it) and ignores Ctrl-C, which
    the terminal sends to every process of the group: its parent unwinds and stops the pool."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool(workers: int) -> Pool:
    """Worker processes forked with what the parent holds (the portfolio, the report's model)."""
    return multiprocessing.get_context("fork").Pool(workers, _leave_stopping_to_parent)


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A private temporary folder (under TMPDIR), removed when done; if its process is killed,
    by the next `sweep`."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        (path / _HELD).write_text(f"{os.getpid()}\n")
        yield path
    finally:
        _remove(path)
        os.close(handle)


def sweep() -> list[Path]:
    """Remove this user's temporary folders whose holders are gone; the folders removed."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        if _remove_if_abandoned(path):
            removed.append(path)
    return removed


def _remove_if_abandoned(path: Path) -> bool:
    """Removes the folder if it was made by `scratch_folder` (it holds the mark) and nothing
    holds its lock; anything else (another user's, a folder being made, a file) is left."""
    try:
        status = path.lstat()
        if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
            return False
        handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not (path / _HELD).exists():  # being made, or already removed by its holder
            return False
        _remove(path)
        return True
    except OSError:  # held, or removed meanwhile
        return False
    finally:
        os.close(handle)


def _remove(path: Path) -> None:
    """The mark goes last: a process killed while removing a folder leaves one still marked,
    which the next sweep removes (or an empty one)."""
    for entry in path.iterdir():
        if entry.name == _HELD:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
