"""The process exit codes of every command; docs/command-line.md lists them."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes."""

    OK = 0
    # A runtime failure: API unreachable, token rejected, data incomplete, an alert not delivered.
    FAILURE = 1
    # Bad command line or configuration.
    USAGE = 2
    # Another run holds the lock of the reports directory.
    LOCKED = 3
    # Stopped by Ctrl-C or SIGTERM during a one-shot run (the daemon exits 0 on those).
    INTERRUPTED = 130
