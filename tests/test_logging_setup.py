"""Logging: INFO to stdout, warnings and errors to stderr, --quiet and --verbose, the size-rotated debug file,
and the token and SMTP password redacted from every handler."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pytest

from mist_infra_manager import logging_setup

TOKEN = "tok-9d8c7b6a5f4e3d2c1b0a99887766554433221100"
PASSWORD = "smtp-pa55-Xq7!rT"
logger = logging.getLogger("mist_infra_manager.test")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Give back the root logger's handlers and the registered secrets after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    secrets = list(logging_setup._redactor.secrets)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging_setup._redactor.secrets[:] = secrets


def test_info_goes_to_stdout_and_warnings_and_errors_to_stderr(capsys) -> None:
    logging_setup.configure()
    logger.debug("a debug line")
    logger.info("an info line")
    logger.warning("a warning line")
    logger.error("an error line")
    captured = capsys.readouterr()
    assert captured.out == "INFO an info line\n"
    assert captured.err == "WARNING a warning line\nERROR an error line\n"


def test_quiet_leaves_only_warnings_and_errors_on_the_console(capsys) -> None:
    logging_setup.configure(quiet=True)
    logger.info("an info line")
    logger.warning("a warning line")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "WARNING a warning line\n"


def test_verbose_puts_the_console_at_debug(capsys) -> None:
    logging_setup.configure(verbose=True)
    logger.debug("a debug line")
    assert capsys.readouterr().out == "DEBUG a debug line\n"


def test_the_log_file_gets_debug_lines_with_time_level_and_logger(tmp_path: Path, capsys) -> None:
    log_file = tmp_path / "logs" / "mim.log"
    logging_setup.configure(quiet=True, log_file=log_file)
    logger.debug("a debug line for the file")
    text = log_file.read_text(encoding="utf-8")
    assert "DEBUG mist_infra_manager.test [MainThread] a debug line for the file" in text
    assert capsys.readouterr().out == ""


def test_the_file_level_follows_the_configuration(tmp_path: Path) -> None:
    log_file = tmp_path / "mim.log"
    logging_setup.configure(quiet=True, log_file=log_file, file_level="WARNING")
    logger.info("not in the file")
    logger.warning("in the file")
    text = log_file.read_text(encoding="utf-8")
    assert "in the file" in text and "not in the file" not in text


def test_the_log_file_rotates_by_size_keeping_the_configured_number_of_backups(tmp_path: Path) -> None:
    log_file = tmp_path / "mim.log"
    logging_setup.configure(quiet=True, log_file=log_file, max_bytes=10_000, backup_count=2)
    for number in range(600):
        logger.info("line %04d %s", number, "x" * 80)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mim.log", "mim.log.1", "mim.log.2"]
    assert all(path.stat().st_size <= 10_000 for path in tmp_path.iterdir())
    assert "line 0599" in log_file.read_text(encoding="utf-8")


def test_an_unwritable_log_file_is_a_warning_and_the_console_still_works(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    logging_setup.configure(log_file=blocker / "mim.log")
    logger.info("still logging")
    captured = capsys.readouterr()
    assert "Cannot write the log file" in captured.err
    assert "INFO still logging" in captured.out


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks_everywhere(tmp_path: Path, capsys) -> None:
    log_file = tmp_path / "mim.log"
    logging_setup.configure(verbose=True, log_file=log_file, secrets=[TOKEN, PASSWORD])
    message = "token in the message: " + TOKEN  # in the text itself, not an argument
    logger.info(message)
    logger.warning("password as an argument: %s", PASSWORD)
    try:
        raise RuntimeError(f"login failed with {PASSWORD} and Token {TOKEN}")
    except RuntimeError:
        logger.exception("failed")
    logger.debug("a stack", stack_info=True, extra={"unused": TOKEN})
    captured = capsys.readouterr()
    file_text = log_file.read_text(encoding="utf-8")
    for text in (captured.out, captured.err, file_text):
        assert TOKEN not in text and PASSWORD not in text
    assert "token in the message: [REDACTED]" in captured.out
    assert "password as an argument: [REDACTED]" in captured.err
    assert "RuntimeError: login failed with [REDACTED] and Token [REDACTED]" in file_text


def test_a_secret_registered_later_is_redacted_from_then_on(capsys) -> None:
    logging_setup.configure()
    logging_setup.add_secret(PASSWORD)
    logger.info("late %s", PASSWORD)
    assert capsys.readouterr().out == "INFO late [REDACTED]\n"
    assert logging_setup.redact(f"x{PASSWORD}y") == "x[REDACTED]y"


def test_a_malformed_log_call_is_reported_by_logging_and_never_raises(capsys) -> None:
    logging_setup.configure(secrets=[TOKEN])
    logger.info("two placeholders %s %s", "only one")
    logger.info("after it")
    captured = capsys.readouterr()
    assert "INFO after it" in captured.out


def test_noisy_libraries_stay_at_warning_even_with_verbose(capsys) -> None:
    logging_setup.configure(verbose=True)
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection")
    assert capsys.readouterr().out == ""


def test_a_failed_rotation_keeps_writing_to_the_current_file(tmp_path: Path, monkeypatch) -> None:
    # Windows refuses the rename while another process has the file open; simulate that refusal.
    log_file = tmp_path / "mim.log"
    logging_setup.configure(quiet=True, log_file=log_file, max_bytes=10_000, backup_count=2)

    def refuse(source: str, destination: str) -> None:
        raise PermissionError(13, "in use by another process")

    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging_setup.SafeRotatingFileHandler))
    monkeypatch.setattr(handler, "rotate", refuse)
    for number in range(300):
        logger.info("line %04d %s", number, "x" * 80)
    assert "line 0299" in log_file.read_text(encoding="utf-8")
    assert not (tmp_path / "mim.log.1").exists()


def test_a_log_file_that_cannot_be_opened_is_one_warning_not_a_traceback_per_line(tmp_path: Path, capsys) -> None:
    logging_setup.configure(log_file=tmp_path)  # a directory: it cannot be opened as a file
    logger.info("first")
    logger.info("second")
    err = capsys.readouterr().err
    assert err.count("Cannot write the log file") == 1
    assert "Traceback" not in err and "Logging error" not in err


# --- Control characters and echoed credentials -----------------------------------------------------------------

HOSTILE_NAME = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil"


def test_a_name_with_control_characters_stays_one_escaped_line_in_console_and_file(capsys, tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    logging_setup.configure(log_file=log_file)

    logger.warning("site %s is critical", HOSTILE_NAME)

    err = capsys.readouterr().err
    lines = log_file.read_text(encoding="utf-8").splitlines()
    escaped = "site \\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil is critical"
    assert err == f"WARNING {escaped}\n"
    assert len(lines) == 1 and lines[0].endswith(escaped)


def test_a_traceback_keeps_its_lines_but_not_the_controls_of_its_message(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    logging_setup.configure(log_file=log_file)

    try:
        raise ValueError(f"bad name {HOSTILE_NAME}")
    except ValueError:
        logger.exception("failed")

    text = log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last):\n" in text
    assert "\x1b" not in text and "\u202e" not in text and "\nFAKE LOG LINE" not in text


def test_a_token_echoed_by_an_api_error_is_redacted_even_when_not_registered(capsys) -> None:
    logging_setup.configure()

    logger.error("GET /api/v1/self: HTTP 400: bad request for Token %s", TOKEN)

    assert capsys.readouterr().err == "ERROR GET /api/v1/self: HTTP 400: bad request for Token [REDACTED]\n"


def test_safe_text_redacts_registered_and_extra_secrets_and_escapes_controls() -> None:
    logging_setup.add_secret(TOKEN)

    text = logging_setup.safe_text(f"{TOKEN} {PASSWORD}\r\n", extra_secrets=[PASSWORD])

    assert text == "[REDACTED] [REDACTED]\\r\\n"
    assert logging_setup.safe_document(f"a\n{PASSWORD}\x1b", [PASSWORD]) == "a\n[REDACTED]\\x1b"
