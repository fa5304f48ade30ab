"""How the command's processes stop without leaving anything behind.

A run keeps what it has evaluated in a temporary folder until it is written (about 0.9 GB at
ten thousand facilities), and a report is written beside its final name until it is whole.
Stopped by an error, Ctrl-C or SIGTERM (systemd stopping the unit, `timeout`, `kill`), the
process unwinds and removes them; its worker processes leave stopping to it (one that has not
finished its work in hand within a grace is killed), and a worker that dies stops it too
(`WorkerLost`). Killed outright (SIGKILL, the OOM killer, a power cut) it cannot, so a temporary
folder is held by an flock on the folder itself, which the kernel releases once its holder and
every process it forked are gone, and each run removes those nobody holds before it evaluates
(`sweep`).
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
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
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


def _start_worker(parent: int) -> None:
    """A worker dies at once on SIGTERM (systemd stopping the unit sends it to every process of
    the unit) and ignores Ctrl-C, which the terminal sends to every process of the group: its
    parent unwinds and stops the pool.
    If its parent is killed outright, it goes too (`_orphaned`)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_orphaned, args=(parent,), daemon=True).start()


_PARENT_CHECKED = 0.05  # seconds between a worker's looks at its parent


def _orphaned(parent: int) -> None:
    """Ends the worker once its parent is gone (it is then the child of another process): it
    would otherwise wait for work for ever, holding its memory and the lock on the run's
    temporary folder, which the next run then could not remove."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECKED)
    os._exit(128 + signal.SIGTERM)  # as if stopped by SIGTERM, as its parent would have


def chunk_size(count: int, workers: int) -> int:
    """How many of `count` facilities to hand a worker at a time. Each chunk handed out and
    back costs the parent about a millisecond of CPU time, which the busy workers give up: up
    to evaluating 10,000 facilities with two workers, the parent took 4.4 to 5.4 s in chunks of
    4, 2.2 to 2.6 s in chunks of 32 (loading the portfolio about 1.5 s). At most 32 (a facility
    takes about 12 ms), so the workers finish close together; at most an eighth of a worker's
    share, so a small portfolio is still spread."""
    return max(1, min(32, count // (8 * workers)))


class WorkerLost(OSError):
    """A worker process ended without handing back its work: killed outright (the out-of-memory
    killer picks the largest process, often a worker) or crashed."""


@contextmanager
def pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes forked with what the parent holds (the portfolio, the report's model).
    A worker that dies stops the command with WorkerLost (multiprocessing's Pool waited for its
    work for ever)."""
    others = set(multiprocessing.active_children())
    executor = ProcessPoolExecutor(
        workers, multiprocessing.get_context("fork"), _start_worker, (os.getpid(),)
    )
    try:
        yield executor
    except BrokenProcessPool as error:
        raise WorkerLost(
            "a worker process ended abruptly: killed (by the out-of-memory killer? see the "
            "system log) or crashed"
        ) from error
    finally:
        # Work not started is dropped; what a worker has in hand (at most a chunk of a run's
        # facilities, a chart) is finished, and the pool's thread is gone before the process
        # forks again. Stopping workers part way tripped Python 3.11's pool into an error on
        # the work already dropped (InvalidStateError, printed by its thread), so only a
        # worker that has not finished within the grace is killed: one stopped (SIGSTOP, a
        # debugger) or hung would otherwise hold the command for ever, and systemd's stop
        # until its timeout.
        executor.shutdown(wait=False, cancel_futures=True)
        _kill_stragglers(others, STOP_GRACE)
        executor.shutdown(wait=True)


STOP_GRACE = 5.0  # seconds a worker has to finish its work in hand (about 0.4 s) once stopped


def _kill_stragglers(others: set[BaseProcess], grace: float) -> None:
    """Waits up to `grace` seconds for the pool's workers (this process's children but
    `others`) to end, then kills the rest."""
    deadline = time.monotonic() + grace
    for worker in set(multiprocessing.active_children()) - others:
        worker.join(max(0.0, deadline - time.monotonic()))
    for worker in set(multiprocessing.active_children()) - others:
        worker.kill()
        worker.join()


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
