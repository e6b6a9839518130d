"""The alert path comes first: a disk fault, an unwritable alert state, a crash or a planted outbox file never
stops an alert, repeats it, or sends what the tool did not write. Real SMTP on loopback; the simulator for runs."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import alert_state, email_delivery, notification_service
from mist_infra_manager.cli.main import main
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import paths
from result_builders import FIXED_NOW, make_result, sample_sites
from smtp_server import SmtpTestServer

SENDER = "mist-alerts@example.test"
RECIPIENTS = ["noc@example.test", "oncall@example.test"]


class Killed(BaseException):
    """Stands for kill -9: nothing after the point where it is raised runs."""


@pytest.fixture(autouse=True)
def private_temp_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fallback alert state goes under tempfile.gettempdir(): keep it inside the test's folder."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    """A plain SMTP server on loopback."""
    with SmtpTestServer() as server:
        yield server


def settings_for(tmp_path: Path, server: SmtpTestServer) -> Settings:
    raw = {
        "mist": {"api_token": "unused-token"},
        "reports": {"directory": str(tmp_path / "reports")},
        "logging": {"file": None},
        "notifications": {"enabled": True, "email": server.email_config()},
    }
    return config_module.validate(raw, "test-config.yaml", environ={})


def simulator_config(make_config: Any, simulator: Any, server: SmtpTestServer) -> Path:
    path: Path = make_config(simulator.base_url, {"notifications": {"enabled": True, "email": server.email_config()}})
    return path


def run(config_path: Path) -> int:
    return main(["--config", str(config_path), "--mode", "report", "--quiet"], {})


def errors_of(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> List[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == level and record.name.startswith("mist_infra_manager")
    ]


def process(settings: Settings, now: datetime) -> notification_service.NotificationOutcome:
    return notification_service.process_run(make_result(sample_sites()), None, settings, now)


# --- Case 3: a full disk means an email that says so ----------------------------------------------------------


def test_a_full_disk_for_the_reports_still_emails_the_alert_saying_so_and_exits_one(
    tmp_path: Path,
    make_config: Any,
    simulator: Any,
    smtp: SmtpTestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = simulator_config(make_config, simulator, smtp)
    real_replace = os.replace

    def replace_on_a_full_disk(source: Any, target: Any) -> None:
        # The disk is full for the report files only: the state, outbox and history still fit.
        if paths.REPORT_NAME_PATTERN.match(Path(target).name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_on_a_full_disk)
    code = run(config_path)

    assert code == 1
    reports = tmp_path / "reports"
    line = f"Report files could not be written to {reports}: No space left on device"
    stderr = capsys.readouterr().err
    assert [text for text in stderr.splitlines() if "Report files" in text] == [f"ERROR {line}"]
    assert "Traceback" not in stderr
    [message] = smtp.messages
    assert message.subject.startswith("[CRITICAL]")
    assert line in message.body("plain") and line in message.body("html")
    [attachment] = list(message.message.iter_attachments())
    assert str(attachment.get_filename()).startswith("SUMMARY_REPORT_")
    assert len(attachment.get_content()) > 100
    assert not any(paths.REPORT_NAME_PATTERN.match(path.name) for path in reports.iterdir())


# --- Case 6: an unwritable alert state, and crashes around the send -------------------------------------------


def test_an_unwritable_alert_state_sends_one_email_in_three_runs_using_the_fallback_loudly(
    tmp_path: Path,
    make_config: Any,
    simulator: Any,
    smtp: SmtpTestServer,
    private_temp_directory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = simulator_config(make_config, simulator, smtp)
    usual = tmp_path / "reports" / "state" / "alert_state.json"
    usual.mkdir(parents=True)  # a folder where the file must be: no write can ever succeed there

    codes = [run(config_path) for _ in range(3)]

    assert codes == [0, 0, 0]
    assert len(smtp.messages) == 1
    fallback = alert_state.fallback_path(tmp_path / "reports")
    assert fallback.is_file() and private_temp_directory in fallback.parents
    assert alert_state.load_state(fallback) != {}
    stderr = capsys.readouterr().err
    fallback_errors = [text for text in stderr.splitlines() if text.startswith("ERROR") and "using fallback" in text]
    assert len(fallback_errors) == 3 and str(usual) in fallback_errors[0] and str(fallback) in fallback_errors[0]
    body = smtp.messages[0].body("plain")
    assert f"!!! Alert state could not be saved to {usual}" in body and f"using fallback {fallback}" in body


def test_the_fallback_alert_state_is_one_per_reports_directory(tmp_path: Path) -> None:
    first = alert_state.fallback_path(tmp_path / "a" / "reports")
    second = alert_state.fallback_path(tmp_path / "b" / "reports")

    assert first != second and first.name == second.name == "alert_state.json"
    assert first == alert_state.fallback_path(tmp_path / "a" / "reports")


def test_the_usual_alert_state_takes_over_again_once_it_can_be_written(tmp_path: Path, smtp: SmtpTestServer) -> None:
    settings = settings_for(tmp_path, smtp)
    usual = alert_state.state_path(settings.reports.directory)
    usual.mkdir(parents=True)
    process(settings, FIXED_NOW)
    usual.rmdir()

    process(settings, FIXED_NOW + timedelta(minutes=15))

    assert len(smtp.messages) == 1
    assert alert_state.load_state(usual) != {}
    assert not alert_state.fallback_path(settings.reports.directory).exists()


def test_a_crash_right_after_the_server_accepted_the_alert_sends_nothing_twice(
    tmp_path: Path, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, smtp)
    accepted = email_delivery.Outbox.accepted

    def accepted_then_killed(self: email_delivery.Outbox, path: Path) -> None:
        accepted(self, path)
        raise Killed  # the old code saved the alert state only after this point

    with monkeypatch.context() as patch:
        patch.setattr(email_delivery.Outbox, "accepted", accepted_then_killed)
        with pytest.raises(Killed):
            process(settings, FIXED_NOW)
    assert len(smtp.messages) == 1

    again = process(settings, FIXED_NOW + timedelta(minutes=15))

    assert len(smtp.messages) == 1 and again.sent == [] and not again.failed


def test_a_crash_before_the_alert_state_was_saved_sends_the_alert_once_on_the_next_run(
    tmp_path: Path, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, smtp)

    def killed(*args: Any, **kwargs: Any) -> bool:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(alert_state.StateStore, "save", killed)
        with pytest.raises(Killed):
            process(settings, FIXED_NOW)
    assert smtp.messages == []

    process(settings, FIXED_NOW + timedelta(minutes=15))
    process(settings, FIXED_NOW + timedelta(minutes=30))

    assert len(smtp.messages) == 1
    assert list((settings.reports.directory / "outbox" / "drafts").iterdir()) == []


def test_a_crash_between_the_state_save_and_the_queueing_sends_the_decided_alert_once(
    tmp_path: Path, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, smtp)

    def killed(self: email_delivery.Outbox, name: str) -> Path:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(email_delivery.Outbox, "promote", killed)
        with pytest.raises(Killed):
            process(settings, FIXED_NOW)
    assert smtp.messages == []

    process(settings, FIXED_NOW + timedelta(minutes=15))
    process(settings, FIXED_NOW + timedelta(minutes=30))

    assert len(smtp.messages) == 1 and smtp.messages[0].subject.startswith("[CRITICAL]")


def test_an_outbox_that_cannot_be_written_still_sends_the_alert_from_memory(
    tmp_path: Path, smtp: SmtpTestServer
) -> None:
    settings = settings_for(tmp_path, smtp)
    settings.reports.directory.mkdir(parents=True)
    (settings.reports.directory / "outbox").write_text("a file where the outbox folder must be\n")

    outcome = process(settings, FIXED_NOW)

    assert len(smtp.messages) == 1 and not outcome.failed


# --- Case 10: the outbox sends only what it wrote -------------------------------------------------------------


def queued_message(subject: str, *, to: Optional[List[str]] = None, minute: int = 0) -> bytes:
    message = email_delivery.build_message(
        subject=subject,
        sender=SENDER,
        recipients=to or RECIPIENTS,
        text=f"{subject}\n",
        now=FIXED_NOW + timedelta(minutes=minute),
        kind="critical",
    )
    return email_delivery.message_bytes(message)


def outbox_name(minute: int, tag: str) -> str:
    return f"20250314T06{minute:02d}00Z-001-critical-{tag}.eml"


def test_the_outbox_sets_aside_and_never_sends_what_it_did_not_write(
    tmp_path: Path, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, smtp)
    outbox = settings.reports.directory / "outbox"
    outbox.mkdir(parents=True)
    outside = tmp_path / "secret.eml"
    outside.write_bytes(queued_message("the contents of an outside file"))
    planted: Dict[str, str] = {
        outbox_name(1, "aa0001"): "a symbolic link",
        outbox_name(2, "aa0002"): "recipients attacker@evil.test are not the configured ones",
        outbox_name(3, "aa0003"): "empty",
        outbox_name(4, "aa0004"): "not parseable as an email",
        "notes.eml": "not a name the outbox gives its messages",
    }
    (outbox / outbox_name(1, "aa0001")).symlink_to(outside)
    (outbox / outbox_name(2, "aa0002")).write_bytes(queued_message("relay me", to=["attacker@evil.test"]))
    (outbox / outbox_name(3, "aa0003")).write_bytes(b"")
    (outbox / outbox_name(4, "aa0004")).write_bytes(os.urandom(512).replace(b":", b"."))
    (outbox / "notes.eml").write_bytes(queued_message("not our name"))
    (outbox / outbox_name(5, "aa0005")).write_bytes(queued_message("genuine", minute=5))

    with caplog.at_level(logging.WARNING):
        delivered = notification_service.flush_outbox(settings)

    assert delivered is True
    assert [message.subject for message in smtp.messages] == ["genuine"]
    assert smtp.messages[0].rcpt_tos == RECIPIENTS
    warnings = errors_of(caplog, logging.WARNING)
    assert len(warnings) == len(planted)
    for name, reason in planted.items():
        [warning] = [text for text in warnings if f"outbox/{name} " in text]
        assert reason in warning
    rejected = outbox / "rejected"
    assert sorted(path.name for path in rejected.iterdir()) == sorted(planted)
    assert (rejected / outbox_name(1, "aa0001")).is_symlink() and outside.read_bytes().startswith(b"Subject")
    assert [path.name for path in outbox.iterdir()] == ["rejected"]


def test_a_queued_message_from_another_sender_is_set_aside(
    tmp_path: Path, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, smtp)
    outbox = email_delivery.Outbox(settings.reports.directory)
    forged = queued_message("forged").replace(SENDER.encode(), b"ceo@example.test")
    outbox.put(forged, outbox_name(0, "bb0001"))

    with caplog.at_level(logging.WARNING):
        notification_service.flush_outbox(settings)

    assert smtp.messages == []
    assert any("sender ceo@example.test is not the configured from_address" in text for text in errors_of(caplog, 30))


# --- Case 13: a clock that jumped -----------------------------------------------------------------------------


def test_a_last_sent_in_the_future_is_clamped_to_now_and_the_reminder_comes_one_interval_later(
    tmp_path: Path, smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, smtp)
    process(settings, FIXED_NOW)
    state_file = alert_state.state_path(settings.reports.directory)
    future = FIXED_NOW + timedelta(days=5)
    jumped = {
        key: alert_state.Entry(**{**entry.__dict__, "last_sent": future, "first_seen": future})
        for key, entry in alert_state.load_state(state_file).items()
    }
    alert_state.save_state(state_file, jumped, future)
    smtp.messages.clear()
    interval = notification_service.repeat_interval_of(settings)
    back = FIXED_NOW + timedelta(hours=1)

    with caplog.at_level(logging.WARNING):
        process(settings, back)
    process(settings, back + interval - timedelta(minutes=1))
    assert smtp.messages == []
    process(settings, back + interval)

    assert [message.subject.startswith("[CRITICAL]") for message in smtp.messages] == [True]
    assert "Reminder" in smtp.messages[0].body("plain")
    [warning] = [text for text in errors_of(caplog, logging.WARNING) if "later than now" in text]
    assert str(state_file) in warning
    saved = alert_state.load_state(state_file)
    assert all(entry.first_seen <= back + interval for entry in saved.values())


def test_a_heartbeat_that_cannot_be_written_stops_neither_the_run_nor_its_alert(
    tmp_path: Path, make_config: Any, simulator: Any, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = simulator_config(make_config, simulator, smtp)
    (tmp_path / "reports" / "state" / "heartbeat.json").mkdir(parents=True)

    code = run(config_path)

    assert code == 0 and len(smtp.messages) == 1
    assert "Cannot write the heartbeat" in capsys.readouterr().err
