"""Alert channels (Teams, Slack, PagerDuty, webhooks): the email's decisions, per channel, with their own outbox.

Each channel of `notifications.channels` keeps its own alert state, `state/channels/<name>.json` (the shape of
alert_state's file), and decides with alert_state.decide over the problems its min_severity lets through: new and
escalated problems at once, reminders after its repeat_interval, resolved notices. PagerDuty differs: one event per
problem (trigger on new and escalated, resolve when it clears, whatever send_resolved says), no reminders, never
trends.

Order, as for the email, so that neither a crash nor a receiver that is down sends a message twice or loses it: the
messages are written as drafts (`outbox/channels/<name>/drafts/`), the state recording them is saved, the drafts
move into `outbox/channels/<name>/` and the outbox is posted oldest first, each file removed once a 2xx came back.
A channel stops at its first message not accepted: the rest wait, in order, for the next run (exit 1 meanwhile).
Files hold the bodies without URL, routing key or secret: those are added when posting.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets as random_tokens
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple

from mist_infra_manager.alerting import alert_state
from mist_infra_manager.alerting import channel_payloads as payloads
from mist_infra_manager.alerting.alert_state import Decision, Entry, Problem
from mist_infra_manager.alerting.channel_payloads import AlertView, ProblemView
from mist_infra_manager.alerting.webhook_delivery import HttpPoster, PostResult, headers_for
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.settings import ChannelSettings, Settings
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import (
    atomic_write_bytes,
    atomic_write_json,
    make_private_directory,
    read_json_or_none,
)

logger = logging.getLogger(__name__)

CHANNELS_DIRECTORY_NAME = paths.CHANNELS_DIRECTORY_NAME
DRAFTS_DIRECTORY_NAME = "drafts"
REJECTED_DIRECTORY_NAME = "rejected"
MESSAGE_VERSION = 1
MESSAGE_SUFFIX = ".json"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MESSAGE_NAME_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)-(\d{6})-[a-z0-9-]+-[0-9a-f]+\.json$")
# An outbox file larger than this is not one the tool wrote (a Teams card is under 28 KB).
MAX_MESSAGE_BYTES = 1024 * 1024
# What each min_severity lets through.
SEVERITY_FILTER = {"critical": ("critical",), "major": ("critical", "major"), "trend": alert_state.ALERT_KINDS}
TEST_KIND = "test"
MONITORING_KINDS = ("failing", "recovered")

Sleep = Callable[[float], None]


@dataclass
class ChannelReport:
    """What one channel did in a run."""

    name: str
    delivered: int = 0
    waiting: int = 0
    summary: str = ""

    @property
    def failed(self) -> bool:
        """Return True when a message waits in the channel's outbox."""
        return self.waiting > 0


@dataclass
class ChannelsOutcome:
    """What the channels did in a run: one report per channel; failed while any message waits."""

    reports: List[ChannelReport] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Return True when any channel has a message waiting: the run exits 1."""
        return any(report.failed for report in self.reports)


def active_channels(config: Settings) -> List[ChannelSettings]:
    """Return the enabled channels (none when notifications.enabled is false)."""
    if not config.notifications.enabled:
        return []
    return [channel for channel in config.notifications.channels if channel.enabled]


def state_file(reports_directory: Path, name: str) -> Path:
    """Return the alert state file of a channel."""
    return reports_directory / paths.STATE_DIRECTORY_NAME / CHANNELS_DIRECTORY_NAME / f"{name}.json"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- The outbox of a channel ----------------------------------------------------------------------------------


class ChannelOutbox:
    """The messages of one channel not accepted yet: one JSON file each (0600), named oldest first."""

    def __init__(self, reports_directory: Path, name: str) -> None:
        self.directory = reports_directory / paths.OUTBOX_DIRECTORY_NAME / CHANNELS_DIRECTORY_NAME / name
        self.drafts = self.directory / DRAFTS_DIRECTORY_NAME
        self.rejected = self.directory / REJECTED_DIRECTORY_NAME

    def _names(self, folder: Path) -> List[str]:
        try:
            return sorted(name for name in os.listdir(folder) if MESSAGE_NAME_PATTERN.match(name))
        except OSError:
            return []

    def new_name(self, now: datetime, kind: str) -> str:
        """Return a name later than every message already here, so that sorting by name keeps the order."""
        stamp = _utc(now).strftime(TIMESTAMP_FORMAT)
        sequence = 0
        for name in self._names(self.directory) + self._names(self.drafts):
            match = MESSAGE_NAME_PATTERN.match(name)
            if match is not None and match.group(1) >= stamp:
                stamp, sequence = match.group(1), max(sequence, int(match.group(2)))
        safe_kind = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "message"
        return f"{stamp}-{sequence + 1:06d}-{safe_kind}-{random_tokens.token_hex(3)}{MESSAGE_SUFFIX}"

    def draft(self, name: str, kind: str, body: Mapping[str, Any]) -> None:
        """Write a message to drafts/; raises OSError."""
        make_private_directory(self.directory.parent.parent)
        make_private_directory(self.directory.parent)
        make_private_directory(self.directory)
        make_private_directory(self.drafts)
        document = {"version": MESSAGE_VERSION, "kind": kind, "body": body}
        atomic_write_bytes(self.drafts / name, payloads.encode(document))

    def promote(self, name: str) -> None:
        """Move a draft into the outbox proper; raises OSError."""
        os.replace(self.drafts / name, self.directory / name)

    def recover_drafts(self, decided: Collection[str]) -> None:
        """Queue the drafts the saved state records; delete the others (their run stopped before saving)."""
        for name in self._names(self.drafts):
            if name in decided:
                try:
                    self.promote(name)
                except OSError as error:
                    logger.warning("Channel outbox: cannot queue the draft %s: %s", name, error.strerror or error)
                continue
            with contextlib.suppress(OSError):
                (self.drafts / name).unlink()

    def pending(self) -> List[Path]:
        """Return the queued messages, oldest first."""
        return [self.directory / name for name in self._names(self.directory)]

    def read(self, path: Path) -> Optional[Tuple[str, Dict[str, Any]]]:
        """Return (kind, body) of a queued message; None (and the file set aside) when it is not one of ours."""
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MESSAGE_BYTES:
                raise ValueError("not a regular file of a sane size")
            document = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(document, dict) or document.get("version") != MESSAGE_VERSION:
                raise ValueError("not a channel message of version 1")
            kind, body = document.get("kind"), document.get("body")
            if not isinstance(kind, str) or not isinstance(body, dict):
                raise ValueError("no kind or body")
        except (OSError, ValueError) as error:
            self.reject(path, str(error))
            return None
        return kind, body

    def reject(self, path: Path, reason: str) -> None:
        """Move a message to rejected/ with one warning; never raises."""
        try:
            make_private_directory(self.rejected)
            os.replace(path, self.rejected / path.name)
        except OSError:
            logger.warning("Channel outbox: %s is not sent (%s) and cannot be set aside", path.name, reason)
            return
        logger.warning("Channel outbox: %s is not sent (%s); set aside in %s", path.name, reason, self.rejected)


# --- The state of a channel -----------------------------------------------------------------------------------


def _state_problem(document: Any) -> Optional[str]:
    try:
        alert_state.parse_state(document)
    except (KeyError, TypeError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


def load_state(path: Path, now: datetime) -> Tuple[Dict[alert_state.Key, Entry], List[str]]:
    """Return (entries, outbox names decided) of a channel; ({}, []) without a usable file."""
    document = read_json_or_none(
        path, "channel alert state file", check=_state_problem, outcome="every active problem counts as new"
    )
    if document is None:
        return {}, []
    entries = alert_state.clamp_future(alert_state.parse_state(document), now, path)
    names = document.get("outbox")
    decided = (
        [n for n in names if isinstance(n, str) and MESSAGE_NAME_PATTERN.match(n)] if isinstance(names, list) else []
    )
    return entries, decided


def save_state(path: Path, state: Mapping[alert_state.Key, Entry], now: datetime, outbox: Sequence[str]) -> bool:
    """Write a channel's state atomically; returns False (logged) when it cannot be written."""
    document = alert_state.state_document(state, now)
    document["outbox"] = sorted(set(outbox))
    try:
        make_private_directory(path.parent)
        atomic_write_json(path, document)
    except OSError as error:
        logger.error("Channel alert state %s cannot be saved: %s", path, error.strerror or error)
        return False
    return True


# --- What a channel hears about -------------------------------------------------------------------------------


def channel_problems(channel: ChannelSettings, problems: Sequence[Problem]) -> List[Problem]:
    """Return the problems min_severity lets through (PagerDuty never hears of trends)."""
    allowed = SEVERITY_FILTER[channel.min_severity]
    return [p for p in problems if p.kind in allowed and not (channel.type == "pagerduty" and p.kind == "trend")]


def channel_severities(channel: ChannelSettings, severities: Mapping[Tuple[str, str], str]) -> Dict[Any, str]:
    """Return the site-metric severities as the channel sees them: below its min_severity counts as cleared.

    So a problem falling from critical to major resolves on a channel that hears only of critical ones.
    """
    allowed = SEVERITY_FILTER[channel.min_severity]
    return {
        key: ("warning" if severity in alert_state.SEVERITY_KINDS and severity not in allowed else severity)
        for key, severity in severities.items()
    }


def _view_of(result: RunResult, problem: Any, reason: str, first_seen: Optional[datetime]) -> ProblemView:
    """Return the view of a Problem or an Entry, with the run's classifier, users and APs of its site-metric."""
    site = next((s for s in result.sites if s.id == problem.site_id), None)
    metric = site.metrics.get(problem.metric) if site is not None else None
    top = metric.top_classifier if metric is not None else None
    names = {m.key: m.name for m in catalog.METRICS}
    return ProblemView(
        site_id=problem.site_id,
        site_name=problem.site_name,
        metric=problem.metric,
        metric_name=names.get(problem.metric, problem.metric),
        severity=problem.kind,
        reason=reason,
        sle_pct=metric.sle_pct if metric is not None and reason == "resolved" else problem.sle_pct,
        classifier=None if top is None else top.name,
        users=None if top is None else top.users,
        aps=None if top is None else top.aps,
        first_seen=_iso(first_seen),
    )


def _first_seen(
    previous: Mapping[alert_state.Key, Entry], decision: Decision, problem: Problem, now: datetime
) -> datetime:
    base = previous.get(problem.key) or decision.replaced.get(problem.key)
    return base.first_seen if base is not None else now


def _actions(result: RunResult, views: Sequence[ProblemView]) -> Tuple[str, ...]:
    actions: List[str] = []
    for view in views:
        site = next((s for s in result.sites if s.id == view.site_id), None)
        metric = site.metrics.get(view.metric) if site is not None else None
        top = metric.top_classifier if metric is not None else None
        action = catalog.recommended_action(None if top is None else top.id)
        if action not in actions:
            actions.append(action)
    return tuple(actions[: payloads.MAX_ACTIONS])


def alert_view(
    result: RunResult,
    decision: Decision,
    previous: Mapping[alert_state.Key, Entry],
    resolved: Sequence[Entry],
    now: datetime,
    repeat_interval: str,
) -> AlertView:
    """Return the view of a channel's alert (its active problems) or, without one to send, its resolved notice."""
    problems = tuple(
        _view_of(result, p, decision.reasons.get(p.key, "active"), _first_seen(previous, decision, p, now))
        for p in decision.problems
    )
    cleared = tuple(_view_of(result, entry, "resolved", entry.first_seen) for entry in resolved)
    counts = payloads.counts_of(problems, cleared)
    if decision.send_alert:
        kind = next((k for k in alert_state.ALERT_KINDS if any(p.severity == k for p in problems)), "trend")
        parts = [f"{counts[k]} {k}" for k in alert_state.ALERT_KINDS if counts[k]]
        sites = len({p.site_id for p in problems})
        title = f"[{kind.upper()}] Mist SLE: {', '.join(parts)} at {sites} site(s) - {result.org_name}"
        changed = len(decision.with_reason(alert_state.REASON_NEW, alert_state.REASON_ESCALATED))
        why = (
            f"{changed} new or escalated problem(s); {len(problems)} active."
            if changed
            else f"Reminder: {len(problems)} problem(s) still active; this alert repeats every {repeat_interval}."
        )
    else:
        kind = "resolved"
        title = f"[RESOLVED] Mist SLE: {len(cleared)} problem(s) cleared - {result.org_name}"
        why = f"{len(cleared)} problem(s) are back above the alert thresholds."
    return AlertView(
        kind=kind,
        org_id=result.org_id,
        org_name=result.org_name,
        title=title,
        why=why,
        generated_at=_iso(now) or "",
        problems=problems if decision.send_alert else (),
        resolved=cleared,
        actions=_actions(result, problems) if decision.send_alert else (),
        counts=counts,
    )


def plan_messages(
    channel: ChannelSettings,
    result: RunResult,
    decision: Decision,
    previous: Mapping[alert_state.Key, Entry],
    now: datetime,
    repeat_interval: str,
) -> List[Tuple[str, Dict[str, Any]]]:
    """Return the (kind, body) messages a channel gets for a decision, in sending order."""
    if channel.type == "pagerduty":
        return _pagerduty_messages(result, decision, previous, now)
    resolved = decision.resolved if channel.send_resolved else []
    if not (decision.send_alert or resolved):
        return []
    view = alert_view(result, decision, previous, resolved, now, repeat_interval)
    return [(view.kind, payloads.message_for(channel.type, view))]


def _pagerduty_messages(
    result: RunResult, decision: Decision, previous: Mapping[alert_state.Key, Entry], now: datetime
) -> List[Tuple[str, Dict[str, Any]]]:
    view = alert_view(result, replace(decision, send_alert=True), previous, [], now, "")
    messages: List[Tuple[str, Dict[str, Any]]] = []
    for problem in view.problems:
        if problem.reason in (alert_state.REASON_NEW, alert_state.REASON_ESCALATED):
            key = payloads.dedup_key(result.org_id, problem.site_id, problem.metric)
            severity = payloads.PAGERDUTY_SEVERITIES[problem.severity]
            messages.append(("trigger", payloads.pagerduty_trigger(view, problem, key, severity)))
    # An incident must close: resolves go whatever send_resolved says.
    for entry in decision.resolved:
        messages.append(
            ("resolve", payloads.pagerduty_resolve(payloads.dedup_key(result.org_id, entry.site_id, entry.metric)))
        )
    return messages


# --- Sending --------------------------------------------------------------------------------------------------


class ChannelSender:
    """Posts a channel's messages: the body as stored plus the routing key (PagerDuty) and the signature."""

    def __init__(
        self, channel: ChannelSettings, sleep: Optional[Sleep] = None, environ: Optional[Mapping[str, str]] = None
    ) -> None:
        self.channel = channel
        self.poster = HttpPoster(
            timeout_seconds=channel.timeout_seconds, retry_seconds=channel.retry_seconds, sleep=sleep, environ=environ
        )

    def close(self) -> None:
        """Close the connections."""
        self.poster.close()

    def post(self, body: Mapping[str, Any]) -> PostResult:
        """Post one body; returns how it ended. Never logs or returns the URL, key or secret."""
        document = dict(body)
        if self.channel.type == "pagerduty":
            document = {"routing_key": self.channel.routing_key or "", **document}
        data = payloads.encode(document)
        return self.poster.post(self.channel.url, data, headers_for(data, self.channel.secret))

    def flush(self, outbox: ChannelOutbox, report: ChannelReport) -> None:
        """Post the queued messages oldest first, each removed once accepted; stop at the first not accepted."""
        pending = outbox.pending()
        for index, path in enumerate(pending):
            message = outbox.read(path)
            if message is None:
                continue
            kind, body = message
            result = self.post(body)
            if result.accepted:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                report.delivered += 1
                logger.info("Channel %s: %s message delivered (%s)", self.channel.name, kind, result.reason)
                continue
            if result.permanent:
                report.waiting += 1  # a refused message is a failure of the run too
                outbox.reject(path, f"{self.channel.name} refused it: {result.reason}")
                continue
            report.waiting += len(pending) - index
            logger.error(
                "Channel %s: %s message not delivered (%s); %d message(s) wait in its outbox for the next run",
                self.channel.name,
                kind,
                result.reason,
                len(pending) - index,
            )
            return


def _duration(seconds: float) -> str:
    """Return seconds as the config writes durations: 4h, 30m, 1d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _process_channel(
    channel: ChannelSettings,
    result: RunResult,
    config: Settings,
    now: datetime,
    problems: Sequence[Problem],
    severities: Mapping[Tuple[str, str], str],
    sleep: Optional[Sleep],
) -> ChannelReport:
    report = ChannelReport(channel.name)
    reports_directory = config.reports.directory
    path = state_file(reports_directory, channel.name)
    outbox = ChannelOutbox(reports_directory, channel.name)
    previous, decided = load_state(path, now)
    outbox.recover_drafts(decided)
    decision = alert_state.decide(
        previous,
        channel_problems(channel, problems),
        channel_severities(channel, severities),
        trends_computed=result.trends is not None,
        now=now,
        repeat_interval=timedelta(seconds=channel.repeat_interval_seconds),
    )
    messages = plan_messages(channel, result, decision, previous, now, _duration(channel.repeat_interval_seconds))
    queued = [p.name for p in outbox.pending()]
    names: List[str] = []
    for kind, body in messages:
        name = outbox.new_name(now, kind)
        try:
            outbox.draft(name, kind, body)
        except OSError as error:
            logger.error("Channel %s: its outbox cannot be written: %s", channel.name, error.strerror or error)
            continue
        names.append(name)
    save_state(
        path, alert_state.next_state(previous, decision, now, alert_sent=True, resolved_sent=True), now, queued + names
    )
    for name in names:
        with contextlib.suppress(OSError):
            outbox.promote(name)
    sender = ChannelSender(channel, sleep, dict(config.network_environment))
    try:
        sender.flush(outbox, report)
    finally:
        sender.close()
    report.summary = f"{len(messages)} new message(s), {report.delivered} delivered, {report.waiting} waiting"
    logger.info("Channel %s: %s", channel.name, report.summary)
    return report


def process_run(
    result: RunResult, config: Settings, now: datetime, *, sleep: Optional[Sleep] = None
) -> ChannelsOutcome:
    """Decide, queue and post every channel's messages for a run; never raises for delivery or disk problems."""
    outcome = ChannelsOutcome()
    channels = active_channels(config)
    if not channels:
        return outcome
    now = _utc(now)
    problems = alert_state.current_problems(result)
    severities = alert_state.site_metric_severities(result)
    for channel in channels:
        try:
            outcome.reports.append(_process_channel(channel, result, config, now, problems, severities, sleep))
        except OSError as error:
            logger.error("Channel %s failed: %s", channel.name, error.strerror or error)
            outcome.reports.append(ChannelReport(channel.name, waiting=1, summary="failed"))
    return outcome


def pending_count(config: Settings) -> int:
    """Return the messages waiting in the channels' outboxes."""
    return sum(
        len(ChannelOutbox(config.reports.directory, channel.name).pending()) for channel in active_channels(config)
    )


def _flush_outbox(config: Settings, channel: ChannelSettings, outbox: ChannelOutbox, sleep: Optional[Sleep]) -> bool:
    """Send what waits in one channel's outbox, oldest first; returns False when anything still waits."""
    report = ChannelReport(channel.name)
    sender = ChannelSender(channel, sleep, dict(config.network_environment))
    try:
        sender.flush(outbox, report)
    finally:
        sender.close()
    return not report.failed


def flush_all(config: Settings, *, sleep: Optional[Sleep] = None) -> bool:
    """Post what waits in every channel's outbox; returns False while something still waits."""
    ok = True
    for channel in active_channels(config):
        outbox = ChannelOutbox(config.reports.directory, channel.name)
        if not outbox.pending():
            continue
        ok = _flush_outbox(config, channel, outbox, sleep) and ok
    return ok


# --- Monitoring notices and tests -----------------------------------------------------------------------------


def _notice_view(kind: str, title: str, why: str, detail: str, now: datetime, org: str) -> AlertView:
    return AlertView(
        kind=kind, org_id="", org_name=org, title=title, why=why, generated_at=_iso(now) or "", detail=detail
    )


def _notice_messages(
    channel: ChannelSettings, view: AlertView, key: str, resolve: bool
) -> List[Tuple[str, Dict[str, Any]]]:
    if channel.type != "pagerduty":
        return [(view.kind, payloads.message_for(channel.type, view))]
    if resolve:
        return [("resolve", payloads.pagerduty_resolve(key))]
    problem = ProblemView("", socket.gethostname(), "monitoring", "Monitoring", view.kind, "new", None)
    severity = "info" if view.kind == TEST_KIND else "error"
    trigger = payloads.pagerduty_trigger(view, problem, key, severity)
    trigger["payload"]["summary"] = view.title
    return [("trigger", trigger)]


def send_monitoring_notice(config: Settings, kind: str, detail: str, now: datetime) -> bool:
    """Queue and post the daemon's "monitoring is failing" / "recovered" notice to every channel.

    PagerDuty gets a trigger for failing and its resolve for recovered (one dedup_key per host). Returns False when
    a notice waits in an outbox. detail must already be redacted.
    """
    if kind not in MONITORING_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MONITORING_KINDS)}, got {kind!r}")
    host = socket.gethostname()
    word = "is failing" if kind == "failing" else "recovered"
    view = _notice_view(
        f"monitoring-{kind}",
        f"[{kind.upper()}] Mist SLE monitoring {word} on {host}",
        f"Monitoring {word}.",
        detail,
        now,
        "",
    )
    ok = True
    for channel in active_channels(config):
        outbox = ChannelOutbox(config.reports.directory, channel.name)
        for message_kind, body in _notice_messages(
            channel, view, f"mist-infra-manager:monitoring:{host}", kind == "recovered"
        ):
            name = outbox.new_name(now, message_kind)
            try:
                outbox.draft(name, message_kind, body)
                outbox.promote(name)
            except OSError as error:
                logger.error("Channel %s: its outbox cannot be written: %s", channel.name, error.strerror or error)
                ok = False
        ok = _flush_outbox(config, channel, outbox, None) and ok
    return ok


def send_test(
    channel: ChannelSettings,
    now: datetime,
    *,
    sleep: Optional[Sleep] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Tuple[bool, str]:
    """Post a clearly marked test message straight to a channel (no outbox, no state); returns (ok, what happened).

    PagerDuty: a trigger at severity info, then at once its resolve.
    """
    host = socket.gethostname()
    view = _notice_view(
        TEST_KIND,
        f"[TEST] Mist SLE: test message from {host}",
        f"This is a test of the alert channel {channel.name}; no action is needed.",
        "Sent by `mist-infra-manager notify-test`.",
        now,
        "",
    )
    key = f"mist-infra-manager:test:{host}:{channel.name}"
    messages = _notice_messages(channel, view, key, resolve=False)
    if channel.type == "pagerduty":
        messages.append(("resolve", payloads.pagerduty_resolve(key)))
    sender = ChannelSender(channel, sleep, environ)
    try:
        for _kind, body in messages:
            result = sender.post(body)
            if not result.accepted:
                return False, f"not delivered: {result.reason}"
    finally:
        sender.close()
    return True, "delivered" if channel.type != "pagerduty" else "delivered (trigger at severity info, then resolve)"
