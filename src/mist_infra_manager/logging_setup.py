"""Logging, configured once by main: concise console, a size-rotated debug file, secrets redacted everywhere.

Every record is one line: control characters in its message (an ANSI escape or a CR/LF in a site name from the
API) are escaped by text_safety, so no handler writes them and no message can forge another log line.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Iterable, List, Optional, Tuple, Type

from mist_infra_manager import text_safety

CONSOLE_FORMAT = "%(levelname)s %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
REDACTED = text_safety.REDACTED
# Libraries that would otherwise log every connection at DEBUG.
QUIET_LIBRARIES = ("urllib3", "filelock", "schedule", "mail.log", "asyncio")


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a record's final message and escapes its control characters.

    So no handler ever sees a secret, and every record stays one line (a traceback keeps its own line breaks).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: List[str] = [secret for secret in secrets if secret]

    def add(self, secret: Optional[str]) -> None:
        """Redact one more value from now on."""
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging does, and never raises
            message = f"{record.msg!r} {record.args!r}"
            record.msg, record.args = message, None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = exception_text(record.exc_info)
        safe = text_safety.safe_text(message, self.secrets)
        if safe != message:
            record.msg, record.args = safe, None
        if record.exc_text:
            record.exc_text = text_safety.escape_controls_keep_layout(self._redact(record.exc_text))
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True

    def _redact(self, text: str) -> str:
        return text_safety.redact(text, self.secrets)


CAUSE_LINK = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT_LINK = "\nDuring handling of the above exception, another exception occurred:\n\n"


def exception_text(exc_info: Tuple[Type[BaseException], BaseException, Optional[TracebackType]]) -> str:
    """Return the traceback as logging prints it, each exception's message escaped to one line.

    A message can carry a name from the API: its CR/LF must not start a line that looks like a log record.
    """
    blocks: List[str] = []
    current: Optional[traceback.TracebackException] = traceback.TracebackException(*exc_info)
    while current is not None:
        message = text_safety.escape_controls("".join(current.format_exception_only()).rstrip("\n"))
        stack = "".join(current.stack.format())
        blocks.append(("Traceback (most recent call last):\n" + stack if stack else "") + message + "\n")
        if current.__cause__ is not None:
            blocks.append(CAUSE_LINK)
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            blocks.append(CONTEXT_LINK)
            current = current.__context__
        else:
            current = None
    return "".join(reversed(blocks)).rstrip("\n")


class SafeRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log file that keeps writing when a rotation fails.

    On Windows the rename fails while another process (a refused one-shot run beside the daemon) has the file
    open; the stock handler would then print a "--- Logging error ---" traceback on stderr for every record.
    """

    def doRollover(self) -> None:
        try:
            super().doRollover()
        except OSError:
            if self.stream is None:
                self.stream = self._open()


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


_redactor = RedactingFilter([])


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return text with every registered secret (and extra_secrets, and Authorization credentials) replaced."""
    return text_safety.redact(text, [*_redactor.secrets, *extra_secrets])


def safe_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return a name or a one-line message for any output: secrets redacted, control characters escaped."""
    return text_safety.escape_controls(redact(text, extra_secrets))


def safe_document(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return a rendered multi-line document (report, email body, console) with the secrets redacted and controls
    escaped but tab and LF. Credential patterns are not searched: the templates' finalize step did, value by value.
    """
    redactor = text_safety.Redactor([*_redactor.secrets, *extra_secrets], credentials=False)
    return text_safety.escape_controls_keep_layout(redactor(text))


def registered_secrets() -> List[str]:
    """Return the secrets registered so far (configure, add_secret)."""
    return list(_redactor.secrets)


def add_secret(secret: Optional[str]) -> None:
    """Register a secret to be redacted from every log line from now on."""
    _redactor.add(secret)


def configure(
    *,
    verbose: bool = False,
    quiet: bool = False,
    log_file: Optional[Path] = None,
    file_level: str = "DEBUG",
    max_bytes: int = 5_000_000,
    backup_count: int = 5,
    secrets: Iterable[str] = (),
) -> None:
    """Configure the root logger: INFO to stdout, WARNING and above to stderr, DEBUG to the rotated file."""
    for secret in secrets:
        _redactor.add(secret)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)

    console_level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    formatter = logging.Formatter(CONSOLE_FORMAT)
    if console_level < logging.WARNING:
        stdout_handler = logging.StreamHandler(sys.stdout)
        stdout_handler.setLevel(console_level)
        stdout_handler.addFilter(_BelowWarning())
        stdout_handler.addFilter(_redactor)
        stdout_handler.setFormatter(formatter)
        root.addHandler(stdout_handler)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.addFilter(_redactor)
    stderr_handler.setFormatter(formatter)
    root.addHandler(stderr_handler)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = SafeRotatingFileHandler(
                str(log_file), maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=False
            )
        except OSError as error:
            logging.getLogger(__name__).warning("Cannot write the log file %s: %s", log_file, error)
        else:
            file_handler.setLevel(getattr(logging, file_level, logging.DEBUG))
            file_handler.addFilter(_redactor)
            file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
            root.addHandler(file_handler)

    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
