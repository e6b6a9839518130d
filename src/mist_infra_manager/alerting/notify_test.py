"""The tests of `notify-test`: one clearly marked message straight to the email and to each channel.

Nothing goes through the outboxes or the alert states: a test says whether the receiver accepts a message now.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from mist_infra_manager.alerting import channels
from mist_infra_manager.alerting.email_delivery import (
    DeliveryError,
    FileTransport,
    SmtpSettings,
    SmtpTransport,
    Transport,
    build_message,
    message_bytes,
)
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import paths

logger = logging.getLogger(__name__)

EMAIL_NAME = "email"


@dataclass(frozen=True)
class TestResult:
    """One line of notify-test: the channel, whether it was delivered, and what happened."""

    name: str
    ok: bool
    text: str


def channel_names(config: Settings) -> List[str]:
    """Return the names notify-test knows: email, then every configured channel."""
    return [EMAIL_NAME, *(channel.name for channel in config.notifications.channels)]


def send_test_email(config: Settings, now: datetime) -> TestResult:
    """Send a test email straight through the configured transport (not the outbox)."""
    email = config.notifications.email
    if not config.notifications.email_enabled:
        return TestResult(EMAIL_NAME, True, "skipped: email is disabled")
    host = socket.gethostname()
    message = build_message(
        subject=f"[TEST] Mist SLE: test message from {host}",
        sender=email.from_address or "",
        recipients=email.recipients,
        text="This is a test of the Mist Infrastructure Manager email alerts; no action is needed.\n",
        now=now,
        kind="test",
    )
    transport: Transport
    if email.transport == "file":
        transport = FileTransport(
            config.reports.directory / paths.OUTBOX_DIRECTORY_NAME / paths.FILE_TRANSPORT_DIRECTORY_NAME
        )
    else:
        transport = SmtpTransport(SmtpSettings.from_config(email))
    try:
        if isinstance(transport, FileTransport):
            written = transport.send(message_bytes(message), email.from_address or "", list(email.recipients))
            return TestResult(EMAIL_NAME, True, f"written to {written}")
        transport.send(message_bytes(message), email.from_address or "", list(email.recipients))
    except DeliveryError as error:
        return TestResult(EMAIL_NAME, False, f"not delivered: {error}")
    finally:
        transport.close()
    return TestResult(EMAIL_NAME, True, f"delivered to {len(email.recipients)} recipient(s) via {transport.where}")


def run_tests(config: Settings, now: datetime, *, only: Optional[str] = None) -> List[TestResult]:
    """Return the result of a test per channel (the email included), or of the one named only."""
    results: List[TestResult] = []
    if only in (None, EMAIL_NAME):
        results.append(send_test_email(config, now))
    for channel in config.notifications.channels:
        if only is not None and channel.name != only:
            continue
        if not channel.enabled:
            results.append(TestResult(channel.name, True, "skipped: disabled"))
            continue
        ok, text = channels.send_test(channel, now, environ=dict(config.network_environment))
        logger.debug("notify-test: channel %s: %s", channel.name, text)
        results.append(TestResult(channel.name, ok, text))
    return results
