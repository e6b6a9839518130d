"""One collection at a time per reports directory: an OS file lock shared by one-shot runs and the daemon.

The lock is `reports.directory/state/run.lock`, held with filelock (flock on POSIX, msvcrt on Windows). The
operating system releases it when the holding process ends, however it ends, so a lock left by a killed run
never blocks the next one. The holder's pid goes into the side file `run.lock.pid`: the lock file itself cannot
carry it (Windows does not let another process read a locked file, and older filelock versions truncate it
when they try to lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Optional, Type

import filelock

from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import (
    PRIVATE_FILE_MODE,
    CorruptFileError,
    atomic_write_text,
    make_private_directory,
    read_bounded_bytes,
)

logger = logging.getLogger(__name__)

STATE_DIRECTORY_NAME = paths.STATE_DIRECTORY_NAME
LOCK_FILE_NAME = paths.LOCK_FILE_NAME
PID_FILE_NAME = paths.PID_FILE_NAME
# A pid is a few digits; anything longer is not one.
MAX_PID_FILE_BYTES = 64


class LockedError(Exception):
    """Another run holds the lock; `pid` is its process id when known."""

    def __init__(self, lock_path: Path, pid: Optional[int]) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another run ({holder}) is in progress (lock: {lock_path})")
        self.lock_path = lock_path
        self.pid = pid


def lock_path(reports_directory: Path) -> Path:
    """Return the lock file of a reports directory."""
    return reports_directory / STATE_DIRECTORY_NAME / LOCK_FILE_NAME


def read_holder_pid(pid_path: Path) -> Optional[int]:
    """Return the pid written in a pid file, or None when missing or unreadable."""
    try:
        text = read_bounded_bytes(pid_path, MAX_PID_FILE_BYTES).decode("utf-8").strip()
    except (OSError, CorruptFileError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class RunLock:
    """The run lock of one reports directory, as a context manager; acquiring raises LockedError at once."""

    def __init__(self, reports_directory: Path, pid: Optional[int] = None) -> None:
        self.path = lock_path(reports_directory)
        self.pid_path = self.path.with_name(PID_FILE_NAME)
        self.pid = os.getpid() if pid is None else pid
        # thread_local=False: the daemon's signal handling and tests may release from another thread than acquired.
        self._lock = filelock.FileLock(str(self.path), timeout=0, mode=PRIVATE_FILE_MODE, thread_local=False)

    @property
    def held(self) -> bool:
        """Return whether this object holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock and record this process's pid; raises LockedError when another run holds it."""
        make_private_directory(self.path.parent)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockedError(self.path, read_holder_pid(self.pid_path)) from None
        try:
            atomic_write_text(self.pid_path, f"{self.pid}\n")
        except OSError as error:
            # The lock still protects the directory; only the message of a refused run loses the pid.
            logger.warning("Cannot write %s: %s", self.pid_path, error)
        logger.debug("Run lock %s taken (pid %d)", self.path, self.pid)

    def release(self) -> None:
        """Release the lock when held, removing the pid file first so it never names a finished run."""
        if not self._lock.is_locked:
            return
        if read_holder_pid(self.pid_path) == self.pid:
            with contextlib.suppress(OSError):
                self.pid_path.unlink()
        self._lock.release(force=True)
        logger.debug("Run lock %s released", self.path)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.release()
