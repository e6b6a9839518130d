"""Email alerts of a run: decide what is new (alert_state), render it (templates), deliver it (email_delivery).

`process_run` is called by the pipeline in modes report and all, whether or not the report files could be
written (a write failure arrives as a note the email carries): it sends the outbox first, then at most one alert
email (critical, major or trend, carrying every active problem) or one "resolved" email.
`send_monitoring_alert` is the daemon's "monitoring is failing / recovered" email over the same delivery.

Order for a new email, so that neither a crash nor an unwritable state sends it twice: the message is written as a
draft, the alert state recording it is saved (StateStore: the usual file or a fallback), the draft moves into the
outbox, and the outbox is sent, each message removed once the server accepted it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mist_infra_manager import logging_setup
from mist_infra_manager.alerting import alert_state
from mist_infra_manager.alerting.alert_state import Decision, Entry
from mist_infra_manager.alerting.email_delivery import (
    DeliveryError,
    FileTransport,
    Outbox,
    SmtpSettings,
    SmtpTransport,
    Transport,
    build_message,
    header_text,
    html_part_bytes,
    message_bytes,
)
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.outputs.report_generator import ReportFiles
from mist_infra_manager.settings import Settings

logger = logging.getLogger(__name__)

# Gmail clips a message whose HTML passes about 102 kB as sent: the budget is for the text/html part encoded
# (quoted-printable adds 8-9 %), with its part headers, so that it stays under 100,000 bytes on the wire.
HTML_BUDGET_BYTES = 97_000
# Site names come from the API and can be long; the email shows this many characters (the attachment all).
SITE_NAME_WIDTH = 60
SUBJECT_PREFIX = "Mist SLE"
MONITORING_KINDS = ("failing", "recovered")

KIND_RESOLVED = "resolved"
# How each delivery of a message ended.
SENT = "sent"
WRITTEN = "written"
QUEUED = "queued"
LOST = "lost"


@dataclass
class NotificationOutcome:
    """What the notification step of a run did."""

    # Subjects of the messages the SMTP server accepted in this run (outbox messages first).
    sent: List[str] = field(default_factory=list)
    # .eml files written by `transport: file` (and --demo).
    written_eml: List[Path] = field(default_factory=list)
    # Messages kept in the outbox because the server did not accept them.
    queued: List[Path] = field(default_factory=list)
    # True when any message was not delivered: the run exits 1.
    failed: bool = False
    errors: List[str] = field(default_factory=list)
    decision: Optional[Decision] = None
    # One line saying what the run emailed and why (or why not).
    summary: str = ""


@dataclass
class RenderedEmail:
    """An email's subject and bodies."""

    kind: str
    subject: str
    text: str
    html: str


# --- What to say ----------------------------------------------------------------------------------------------


def _plural(count: int, word: str, plural: Optional[str] = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def metric_names() -> Dict[str, str]:
    """Return the display name of every metric key."""
    return {metric.key: metric.name for metric in catalog.ALL_METRICS}


def alert_kind(result: RunResult, decision: Decision) -> str:
    """Return the alert's kind by the highest active problem: critical > major > trend."""
    kinds = {problem.kind for problem in decision.problems}
    for kind in alert_state.ALERT_KINDS:
        if kind in kinds:
            return kind
    return alert_state.KIND_TREND


def alert_subject(result: RunResult, decision: Decision) -> Tuple[str, str]:
    """Return (kind, subject), e.g. `[CRITICAL] Mist SLE: 3 critical, 5 major at 7 of 120 sites - Acme Retail`.

    The counts are site-metrics; "at N of M sites" counts the sites with a critical or major metric. Trend
    degradations in the same email are appended (", 2 degradations since yesterday").
    """
    kind = alert_kind(result, decision)
    counts = result.severity_counts
    degradations = sum(1 for problem in decision.problems if problem.kind == alert_state.KIND_TREND)
    parts = []
    if counts["critical"] or counts["major"]:
        alerted_sites = sum(1 for site in result.sites if site.status in alert_state.SEVERITY_KINDS)
        parts.append(
            f"{counts['critical']} critical, {counts['major']} major at {alerted_sites} of "
            f"{result.summary.get('sites_total', len(result.sites))} sites"
        )
    if degradations:
        parts.append(f"{_plural(degradations, 'degradation')} since yesterday")
    # Alert policy: acute site-metrics are below the thresholds only over sle.alert_window; incidents group sites.
    acute = sum(1 for problem in decision.problems if problem.acute)
    incidents = sum(1 for problem in decision.problems if problem.incident)
    if incidents:
        parts.insert(0, _plural(incidents, "incident"))
    if acute:
        parts.append(f"{acute} acute")
    headline = ", ".join(parts) or "no active problem"
    org_name = logging_setup.safe_text(result.org_name)
    return kind, header_text(f"[{kind.upper()}] {SUBJECT_PREFIX}: {headline} - {org_name}")


def resolved_subject(result: RunResult, resolved: Sequence[Entry]) -> str:
    """Return the subject of the resolved email."""
    sites = len({entry.site_id for entry in resolved})
    return header_text(
        f"[RESOLVED] {SUBJECT_PREFIX}: {_plural(len(resolved), 'problem')} cleared at "
        f"{_plural(sites, 'site')} - {logging_setup.safe_text(result.org_name)}"
    )


def _why(decision: Decision, previous_sent: Optional[datetime], repeat_interval: str) -> str:
    new = len(decision.with_reason(alert_state.REASON_NEW))
    escalated = len(decision.with_reason(alert_state.REASON_ESCALATED))
    active = len(decision.problems)
    if new or escalated:
        changes = []
        if new:
            changes.append(f"{_plural(new, 'new problem')}")
        if escalated:
            changes.append(f"{escalated} escalated")
        others = active - new - escalated
        tail = f"; {_plural(others, 'other problem')} still active" if others else ""
        return f"{' and '.join(changes)} since the last email{tail}."
    since = f" since the email at {report_generator.iso(previous_sent)}" if previous_sent else ""
    return (
        f"Reminder: {_plural(active, 'problem')} still active{since}. "
        f"This alert repeats every {repeat_interval} while problems last."
    )


def alert_extras(
    result: RunResult,
    decision: Decision,
    *,
    previous: Mapping[alert_state.Key, Entry],
    resolved: Sequence[Entry],
    max_rows: int,
    repeat_interval: str,
    attachment_name: str,
    now: datetime,
) -> Dict[str, Any]:
    """Return the `email` value the alert templates get besides the report context."""
    kind, subject = alert_subject(result, decision)
    names = metric_names()
    changes = [
        {
            "reason": decision.reasons[problem.key],
            "kind": problem.kind,
            "site_name": problem.site_name,
            "metric_name": names.get(problem.metric, problem.metric),
            "sle_pct": problem.sle_pct,
            "acute": problem.acute,
        }
        for problem in decision.with_reason(alert_state.REASON_NEW, alert_state.REASON_ESCALATED)
    ]
    sent_times = [entry.last_sent for entry in previous.values() if entry.last_sent is not None]
    return {
        "kind": kind,
        "subject": subject,
        "title": f"{kind.upper()} ALERT - MIST SLE",
        "why": _why(decision, max(sent_times) if sent_times else None, repeat_interval),
        "changes": changes,
        "resolved": list(resolved),
        "limit": max_rows,
        "name_width": SITE_NAME_WIDTH,
        "metric_names": names,
        "repeat_interval": repeat_interval,
        "attachment_name": attachment_name,
        "sent_at": report_generator.iso(now),
    }


def _render_within_budget(
    result: RunResult, html_template: str, text_template: str, email: Dict[str, Any]
) -> Tuple[str, str]:
    """Return (text, html), with fewer rows per table when the encoded HTML part would pass HTML_BUDGET_BYTES."""
    rows = int(email["limit"])
    while True:
        extras = dict(email, limit=rows)
        html = report_generator.render(html_template, result, email=extras)
        size = html_part_bytes(html)
        if size <= HTML_BUDGET_BYTES or rows <= 1:
            break
        # Rows make most of the size: scale them to the budget, with a margin for the part that does not shrink.
        smaller = max(1, min(rows - 1, int(rows * HTML_BUDGET_BYTES * 0.95 / size)))
        logger.info("Email HTML part is %d bytes encoded with %d rows per table; trying %d rows", size, rows, smaller)
        rows = smaller
    grid = report_generator.status_grid(result, result.affected_sites)
    text = report_generator.render(
        text_template, result, email=extras, affected_grid_lines_header=grid[0], affected_grid_lines=grid[1:]
    )
    return text, html


def render_alert(result: RunResult, email: Dict[str, Any]) -> RenderedEmail:
    """Return the alert email for the extras of alert_extras."""
    text, html = _render_within_budget(result, "email.html.j2", "email.txt.j2", email)
    return RenderedEmail(kind=email["kind"], subject=email["subject"], text=text, html=html)


def render_resolved(result: RunResult, email: Dict[str, Any]) -> RenderedEmail:
    """Return the resolved email for the extras of alert_extras (its `resolved` list is what cleared)."""
    subject = resolved_subject(result, email["resolved"])
    extras = dict(email, subject=subject, kind=KIND_RESOLVED)
    text, html = _render_within_budget(result, "resolved_email.html.j2", "resolved_email.txt.j2", extras)
    return RenderedEmail(kind=KIND_RESOLVED, subject=subject, text=text, html=html)


# --- Delivery -------------------------------------------------------------------------------------------------


def enabled(config: Settings) -> bool:
    """Return True when emails are switched on (notifications.enabled and notifications.email.enabled)."""
    notifications = config.notifications
    return bool(notifications.email_enabled)


def repeat_interval_of(config: Settings) -> timedelta:
    """Return notifications.repeat_interval."""
    return timedelta(seconds=config.notifications.repeat_interval_seconds)


class _Delivery:
    """The transport and the outbox of one run."""

    def __init__(self, config: Settings, outcome: NotificationOutcome) -> None:
        email = config.notifications.email
        self.sender: str = email.from_address or ""
        self.recipients: List[str] = list(email.recipients)
        self.outbox = Outbox(config.reports.directory, self.sender, self.recipients)
        self.transport: Transport
        if email.transport == "file":
            self.transport = FileTransport(self.outbox.sent_directory)
        else:
            self.transport = SmtpTransport(SmtpSettings.from_config(email))
        self.outcome = outcome

    def close(self) -> None:
        self.transport.close()

    def _send(self, data: bytes, name: str) -> str:
        if isinstance(self.transport, FileTransport):
            path = self.transport.send(data, self.sender, self.recipients, name)
            self.outcome.written_eml.append(path)
            return WRITTEN
        self.transport.send(data, self.sender, self.recipients)
        return SENT

    def flush_outbox(self, only: Optional[str] = None) -> bool:
        """Send the queued messages (only the one named `only` when given) oldest first, removing each once accepted.

        Stops when the server is down; returns whether the message `only` was delivered.
        """
        pending = [item for item in self.outbox.checked() if only is None or item[0].name == only]
        if not pending:
            return False
        if only is None:
            logger.info("Outbox: %s waiting; sending them first", _plural(len(pending), "message"))
        for index, (path, data, subject) in enumerate(pending):
            try:
                how = self._send(data, path.name)
            except DeliveryError as error:
                self.outcome.failed = True
                self.outcome.errors.append(str(error))
                if only is not None:
                    self.outcome.queued.append(path)
                    logger.error("Email not sent (%s): %s; kept as %s for the next run", subject, error, path)
                    return False
                left = len(pending) - index if error.connection else 1
                logger.error(
                    "Outbox: %s not sent (%s): %s; kept for the next run", _plural(left, "message"), path.name, error
                )
                if error.connection:
                    return False
                continue
            # At once after the 250: the window in which a crash would send this message again.
            self.outbox.accepted(path)
            self._delivered(how, subject, path.name)
        return True

    def _delivered(self, how: str, subject: str, name: str) -> None:
        if how == SENT:
            self.outcome.sent.append(subject)
            logger.info(
                "Email sent to %s via %s: %s (%s)",
                _plural(len(self.recipients), "recipient"),
                self.transport.where,
                subject,
                name,
            )
        else:
            logger.info("Email written to %s: %s", self.outcome.written_eml[-1], subject)

    def deliver(self, message: EmailMessage, kind: str, now: datetime) -> str:
        """Queue one new message in the outbox and send it; return sent, written, queued or lost."""
        name = self.outbox.new_name(now, kind)
        try:
            self.outbox.draft(message_bytes(message), name)
        except OSError as error:
            logger.error("Cannot write the outbox %s: %s", self.outbox.directory, error.strerror or error)
        return self.send_draft(message, name)

    def send_draft(self, message: EmailMessage, name: str) -> str:
        """Move the draft `name` into the outbox and send it; without a draft (outbox unwritable) send from memory."""
        try:
            self.outbox.promote(name)
        except OSError:
            return self._send_from_memory(message, name)
        return SENT if self.flush_outbox(only=name) else QUEUED

    def _send_from_memory(self, message: EmailMessage, name: str) -> str:
        subject = str(message["Subject"])
        # A draft left behind would be queued by the next run: one copy of the message is enough.
        with contextlib.suppress(OSError):
            (self.outbox.drafts_directory / name).unlink()
        try:
            how = self._send(message_bytes(message), name)
        except DeliveryError as error:
            self.outcome.failed = True
            self.outcome.errors.append(str(error))
            logger.error("Email NOT sent and NOT kept (%s): %s; the outbox cannot be written", subject, error)
            return LOST
        self._delivered(how, subject, name)
        return how


def _attachment(result: RunResult, files: Optional[ReportFiles]) -> Tuple[str, bytes]:
    """Return the SUMMARY_REPORT attachment rendered from the result: the file on disk may not exist (disk full)."""
    if files is not None:
        name = files.summary_txt.name
    else:
        name = f"SUMMARY_REPORT_{result.generated_at.strftime(report_generator.TIMESTAMP_FORMAT)}.txt"
    return name, report_generator.render_summary_text(result).encode("utf-8")


def _message(rendered: RenderedEmail, config: Settings, now: datetime, attachment: Tuple[str, bytes]) -> EmailMessage:
    # The last edge before the wire: no secret and no control character in any part, whatever rendered it.
    secrets = config.secrets()
    name, data = attachment
    safe_data = logging_setup.safe_document(data.decode("utf-8", errors="replace"), secrets).encode("utf-8")
    email = config.notifications.email
    return build_message(
        subject=logging_setup.safe_text(rendered.subject, secrets),
        sender=email.from_address or "",
        recipients=email.recipients,
        text=logging_setup.safe_document(rendered.text, secrets),
        html=logging_setup.safe_document(rendered.html, secrets),
        attachments=[(name, safe_data)],
        now=now,
        kind=rendered.kind,
    )


def _utc(moment: datetime) -> datetime:
    # The state file holds aware UTC times; a naive clock would make every comparison raise.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def process_run(
    result: RunResult,
    files: Optional[ReportFiles],
    config: Settings,
    now: datetime,
    *,
    notes: Sequence[str] = (),
) -> NotificationOutcome:
    """Send the outbox, then the run's alert or resolved email when the alert state says so.

    notes: lines the email must carry (e.g. "Report files could not be written to ..."). Does nothing when email
    is disabled. Never raises for delivery or state-file problems: they are logged in one line, the message is
    kept in the outbox and `failed` is set (the run then exits 1).
    """
    outcome = NotificationOutcome()
    if not enabled(config):
        outcome.summary = "Email disabled (notifications.enabled / notifications.email.enabled)"
        return outcome
    now = _utc(now)
    store = alert_state.StateStore(config.reports.directory)
    delivery = _Delivery(config, outcome)
    try:
        stored = store.load(now)
        delivery.outbox.recover_drafts(stored.outbox)
        delivery.flush_outbox()
        decision = alert_state.decide(
            stored.entries,
            alert_state.current_problems(result),
            alert_state.site_metric_severities(result),
            trends_computed=result.trends is not None,
            now=now,
            repeat_interval=repeat_interval_of(config),
        )
        outcome.decision = decision
        _email_decision(result, files, config, now, list(notes), stored, store, delivery)
    finally:
        delivery.close()
    return outcome


def _email_decision(
    result: RunResult,
    files: Optional[ReportFiles],
    config: Settings,
    now: datetime,
    notes: List[str],
    stored: alert_state.StoredState,
    store: alert_state.StateStore,
    delivery: _Delivery,
) -> None:
    """Save the state of the decision, then send its email (a draft first; see the module docstring)."""
    outcome = delivery.outcome
    decision = outcome.decision
    assert decision is not None
    notifications = config.notifications
    previous = stored.entries
    # Names still queued from earlier runs stay recorded: recover_drafts needs them after a crash.
    queued = [name for name in stored.outbox if (delivery.outbox.directory / name).exists()]
    resolved = decision.resolved if notifications.send_resolved else []
    if not (decision.send_alert or resolved):
        if decision.problems:
            outcome.summary = (
                f"Email: none; {_plural(len(decision.problems), 'active problem')} already emailed, "
                f"repeated every {notifications.repeat_interval}"
            )
        else:
            outcome.summary = "Email: none; no critical, major or trend problem"
        logger.info("%s", outcome.summary)
        store.save(alert_state.next_state(previous, decision, now, alert_sent=True, resolved_sent=True), now, queued)
        return
    attachment = _attachment(result, files)
    email = alert_extras(
        result,
        decision,
        previous=previous,
        resolved=resolved,
        max_rows=notifications.max_rows_per_table,
        repeat_interval=notifications.repeat_interval,
        attachment_name=attachment[0],
        now=now,
    )
    kind = alert_kind(result, decision) if decision.send_alert else KIND_RESOLVED

    def message(extra: Sequence[str]) -> Tuple[RenderedEmail, EmailMessage]:
        extras = dict(email, notes=[*notes, *extra])
        rendered = render_alert(result, extras) if decision.send_alert else render_resolved(result, extras)
        return rendered, _message(rendered, config, now, attachment)

    rendered, built = message([])
    name = delivery.outbox.new_name(now, kind)
    try:
        delivery.outbox.draft(message_bytes(built), name)
    except OSError as error:
        logger.error("Cannot write the outbox %s: %s", delivery.outbox.directory, error.strerror or error)
    # The state first: once it says "sent", no later run sends these problems again before repeat_interval.
    decided = alert_state.next_state(previous, decision, now, alert_sent=True, resolved_sent=True)
    store.save(decided, now, [*queued, name])
    if store.note is not None:
        rendered, built = message([store.note[0].upper() + store.note[1:]])
        with contextlib.suppress(OSError):
            delivery.outbox.draft(message_bytes(built), name)
    outcome.summary = f"Email: {rendered.subject}"
    logger.info("%s", outcome.summary)
    if delivery.send_draft(built, name) == LOST:
        # Neither sent nor kept: the next run must decide again.
        sent_alert = not decision.send_alert
        store.save(
            alert_state.next_state(previous, decision, now, alert_sent=sent_alert, resolved_sent=False), now, queued
        )


def flush_outbox(config: Settings) -> bool:
    """Send what waits in the outbox, oldest first; returns False when something stays there.

    The daemon calls this at the start of every cycle, so a queued alert goes out once the SMTP server is back
    even while the Mist API is down (a run that cannot collect never reaches process_run).
    """
    if not enabled(config) or not Outbox(config.reports.directory).pending():
        return True
    outcome = NotificationOutcome()
    delivery = _Delivery(config, outcome)
    try:
        delivery.flush_outbox()
    finally:
        delivery.close()
    return not outcome.failed


def send_monitoring_alert(config: Settings, kind: str, detail: str, now: datetime) -> bool:
    """Send the short plain "monitoring is failing" (kind failing) or "monitoring recovered" (kind recovered) email.

    Returns True when the SMTP server accepted it or `transport: file` wrote it. False when email is disabled or
    the message could not be delivered now: it is then kept in the outbox (a later run sends it), so do not resend.
    """
    if kind not in MONITORING_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MONITORING_KINDS)}, got {kind!r}")
    if not enabled(config):
        return False
    now = _utc(now)
    safe_detail = logging_setup.safe_text(detail, config.secrets())
    host = socket.gethostname()
    if kind == "failing":
        subject = f"[FAILING] {SUBJECT_PREFIX} monitoring is failing on {host}"
    else:
        subject = f"[RECOVERED] {SUBJECT_PREFIX} monitoring recovered on {host}"
    text = str(
        report_generator.environment()
        .get_template("monitoring_email.txt.j2")
        .render(
            kind=kind,
            detail=safe_detail,
            host=host,
            sent_at=report_generator.iso(now),
            config_source=config.source,
            reports_directory=config.reports.directory,
            log_file=config.logging.file,
        )
    )
    email = config.notifications.email
    message = build_message(
        subject=subject,
        sender=email.from_address or "",
        recipients=email.recipients,
        text=text,
        now=now,
        kind=f"monitoring-{kind}",
    )
    outcome = NotificationOutcome()
    delivery = _Delivery(config, outcome)
    try:
        delivery.flush_outbox()
        how = delivery.deliver(message, f"monitoring-{kind}", now)
    finally:
        delivery.close()
    return how in (SENT, WRITTEN)
