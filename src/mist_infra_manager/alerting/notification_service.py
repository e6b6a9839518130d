"""Email alerts of a run: decide what is new (alert_state), render it (templates), deliver it (email_delivery).

`process_run` is called by the pipeline after the reports are written (modes report and all): it sends the outbox
first, then at most one alert email (critical, major or trend, carrying every active problem) or one "resolved"
email. `send_monitoring_alert` is the daemon's "monitoring is failing / recovered" email over the same delivery.
"""

from __future__ import annotations

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
    envelope_of,
    header_text,
    message_bytes,
)
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.outputs.report_generator import ReportFiles
from mist_infra_manager.settings import Settings

logger = logging.getLogger(__name__)

# Gmail clips a message whose HTML body passes about 102 kB; keep a margin for the headers of the part.
HTML_BUDGET_BYTES = 95_000
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
    return {metric.key: metric.name for metric in catalog.METRICS}


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
    """Return (text, html), with fewer rows per table when the HTML would pass HTML_BUDGET_BYTES."""
    rows = int(email["limit"])
    while True:
        extras = dict(email, limit=rows)
        html = report_generator.render(html_template, result, email=extras)
        size = len(html.encode("utf-8"))
        if size <= HTML_BUDGET_BYTES or rows <= 1:
            break
        smaller = max(1, rows * 2 // 3)
        logger.info("Email HTML is %d bytes with %d rows per table; trying %d rows", size, rows, smaller)
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
        self.outbox = Outbox(config.reports.directory)
        self.transport: Transport
        if email.transport == "file":
            self.transport = FileTransport(self.outbox.sent_directory)
        else:
            self.transport = SmtpTransport(SmtpSettings.from_config(email))
        self.outcome = outcome

    def close(self) -> None:
        self.transport.close()

    def _send(self, data: bytes, sender: str, recipients: Sequence[str], name: str) -> str:
        if isinstance(self.transport, FileTransport):
            path = self.transport.send(data, sender, recipients, name)
            self.outcome.written_eml.append(path)
            return WRITTEN
        self.transport.send(data, sender, recipients)
        return SENT

    def flush_outbox(self) -> None:
        """Send the queued messages oldest first, removing each once accepted; stop when the server is down."""
        pending = self.outbox.pending()
        if not pending:
            return
        logger.info("Outbox: %s waiting; sending them first", _plural(len(pending), "message"))
        for index, path in enumerate(pending):
            try:
                data = path.read_bytes()
            except OSError as error:
                logger.error("Outbox: cannot read %s: %s", path, error)
                self.outcome.failed = True
                continue
            sender, recipients, subject = envelope_of(data)
            try:
                how = self._send(data, sender or self.sender, recipients or self.recipients, path.name)
            except DeliveryError as error:
                self.outcome.failed = True
                self.outcome.errors.append(str(error))
                left = len(pending) - index if error.connection else 1
                logger.error(
                    "Outbox: %s not sent (%s): %s; kept for the next run", _plural(left, "message"), path.name, error
                )
                if error.connection:
                    return
                continue
            path.unlink(missing_ok=True)
            if how == SENT:
                self.outcome.sent.append(subject)
            logger.info("Outbox: %s %s (%s)", how, path.name, subject)

    def deliver(self, message: EmailMessage, kind: str, now: datetime) -> str:
        """Send one new message, keeping it in the outbox when that fails; return sent, written, queued or lost."""
        data = message_bytes(message)
        name = self.outbox.new_name(now, kind)
        subject = str(message["Subject"])
        try:
            how = self._send(data, self.sender, self.recipients, name)
        except DeliveryError as error:
            self.outcome.failed = True
            self.outcome.errors.append(str(error))
            try:
                path = self.outbox.put(data, name)
            except OSError as write_error:
                logger.error(
                    "Email NOT sent and NOT kept (%s): %s; cannot write the outbox: %s", subject, error, write_error
                )
                return LOST
            self.outcome.queued.append(path)
            logger.error("Email not sent (%s): %s; kept as %s for the next run", subject, error, path)
            return QUEUED
        if how == SENT:
            self.outcome.sent.append(subject)
            logger.info(
                "Email sent to %s via %s: %s", _plural(len(self.recipients), "recipient"), self.transport.where, subject
            )
        else:
            logger.info("Email written to %s: %s", self.outcome.written_eml[-1], subject)
        return how


def _attachment(result: RunResult, files: Optional[ReportFiles]) -> Tuple[str, bytes]:
    if files is not None:
        try:
            return files.summary_txt.name, files.summary_txt.read_bytes()
        except OSError as error:
            logger.warning("Cannot read %s for the email; attaching a fresh copy: %s", files.summary_txt, error)
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
) -> NotificationOutcome:
    """Send the outbox, then the run's alert or resolved email when the alert state says so; save the state.

    Does nothing when notifications or email are disabled. Never raises for delivery problems: they are logged in
    one line, the message is kept in the outbox and `failed` is set (the run then exits 1).
    """
    outcome = NotificationOutcome()
    if not enabled(config):
        outcome.summary = "Email disabled (notifications.enabled / notifications.email.enabled)"
        return outcome
    now = _utc(now)
    notifications = config.notifications
    state_file = alert_state.state_path(config.reports.directory)
    delivery = _Delivery(config, outcome)
    try:
        delivery.flush_outbox()
        previous = alert_state.load_state(state_file)
        decision = alert_state.decide(
            previous,
            alert_state.current_problems(result),
            alert_state.site_metric_severities(result),
            trends_computed=result.trends is not None,
            now=now,
            repeat_interval=repeat_interval_of(config),
        )
        outcome.decision = decision
        resolved = decision.resolved if notifications.send_resolved else []
        alert_sent = resolved_sent = True
        if decision.send_alert or resolved:
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
            if decision.send_alert:
                rendered = render_alert(result, email)
                alert_sent = delivery.deliver(_message(rendered, config, now, attachment), rendered.kind, now) != LOST
                resolved_sent = alert_sent
            else:
                rendered = render_resolved(result, email)
                resolved_sent = (
                    delivery.deliver(_message(rendered, config, now, attachment), KIND_RESOLVED, now) != LOST
                )
            outcome.summary = f"Email: {rendered.subject}"
        elif decision.problems:
            outcome.summary = (
                f"Email: none; {_plural(len(decision.problems), 'active problem')} already emailed, "
                f"repeated every {notifications.repeat_interval}"
            )
        else:
            outcome.summary = "Email: none; no critical, major or trend problem"
        logger.info("%s", outcome.summary)
        alert_state.save_state(
            state_file,
            alert_state.next_state(previous, decision, now, alert_sent=alert_sent, resolved_sent=resolved_sent),
            now,
        )
    finally:
        delivery.close()
    return outcome


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
