"""Alert state: which problems were emailed and when, so a run emails only what is new, escalated or due again.

A problem is one (site, metric, kind) with kind `critical`, `major` (the site-metric's SLE severity) or `trend`
(a day-over-day degradation). `decide` is pure: previous state and this run's problems in, a Decision out;
`next_state` returns the state to save. The file is `<reports.directory>/state/alert_state.json`; it is saved
*before* an email is queued and sent (see notification_service), and `StateStore` falls back to a folder under
the system temp directory when it cannot be written there, so that an unwritable state never repeats an email on
every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from mist_infra_manager.analysis.models import SEVERITY_RANK, Incident, RunResult
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import atomic_write_json, read_json_or_none

# The temp-directory folder holding the fallback alert state of every reports directory (one subfolder each).
FALLBACK_DIRECTORY_NAME = "mist-infra-manager"
FALLBACK_FOLDER_MODE = 0o700
# Hex digits of the SHA-256 of the reports directory that name its fallback folder.
FALLBACK_HASH_DIGITS = 16

logger = logging.getLogger(__name__)

STATE_VERSION = 1
STATE_DIRECTORY_NAME = paths.STATE_DIRECTORY_NAME
STATE_FILE_NAME = paths.ALERT_STATE_FILE_NAME

KIND_CRITICAL = "critical"
KIND_MAJOR = "major"
KIND_TREND = "trend"
# The site id of an incident problem starts with this (analysis.models.Incident.key).
INCIDENT_PREFIX = "incident:"
# The SLE severities that raise an alert (warnings are reported, never emailed on their own).
SEVERITY_KINDS = (KIND_CRITICAL, KIND_MAJOR)
ALERT_KINDS = (KIND_CRITICAL, KIND_MAJOR, KIND_TREND)

# Why a problem is in this run's email.
REASON_NEW = "new"
REASON_ESCALATED = "escalated"
REASON_REPEAT = "repeat"
# Active, already emailed and not due again; or improved from critical to major (never a reason to email).
REASON_ACTIVE = "active"
REASON_DEESCALATED = "de-escalated"
SENDING_REASONS = (REASON_NEW, REASON_ESCALATED, REASON_REPEAT)

Key = Tuple[str, str, str]
SiteMetric = Tuple[str, str]


@dataclass(frozen=True)
class Problem:
    """One active problem of this run."""

    site_id: str
    site_name: str
    metric: str
    kind: str
    sle_pct: Optional[float]
    # Alert policy: below the critical threshold over sle.alert_window only; an incident (site_id is its key).
    acute: bool = False
    incident: bool = False

    @property
    def key(self) -> Key:
        """Return the state key (site id, metric key, kind)."""
        return (self.site_id, self.metric, self.kind)


@dataclass
class Entry:
    """One problem as remembered in the state file."""

    site_id: str
    site_name: str
    metric: str
    kind: str
    sle_pct: Optional[float]
    first_seen: datetime
    last_seen: datetime
    # When an email carrying this problem was sent or queued in the outbox; None when never.
    last_sent: Optional[datetime]

    @property
    def key(self) -> Key:
        """Return the state key (site id, metric key, kind)."""
        return (self.site_id, self.metric, self.kind)


@dataclass
class Decision:
    """What a run emails: the alert (every active problem) when one is new, escalated or due; what cleared."""

    problems: List[Problem]
    reasons: Dict[Key, str]
    send_alert: bool
    # Emailed problems whose site-metric is now below the alert level (warning or healthy).
    resolved: List[Entry] = field(default_factory=list)
    # Entries kept as they are: no data this run for their site-metric, or trends not computed.
    carried: List[Entry] = field(default_factory=list)
    # Previous entries replaced by a problem of another kind on the same site-metric (escalation, de-escalation).
    replaced: Dict[Key, Entry] = field(default_factory=dict)

    def with_reason(self, *reasons: str) -> List[Problem]:
        """Return the problems whose reason is one of reasons, in problem order."""
        return [problem for problem in self.problems if self.reasons.get(problem.key) in reasons]


def _kind_rank(kind: str) -> int:
    return SEVERITY_RANK.get(kind, len(SEVERITY_RANK))


def current_problems(result: RunResult) -> List[Problem]:
    """Return the run's problems: incidents, then critical and major site-metrics (worst first), then trends.

    The alert policy (analysis/policy.py) decides what alerts: a muted site-metric (silenced, in maintenance, below
    min_clients, folded into site connectivity) is not a problem; an acute one is critical with its short-window
    SLE %; one in an incident is carried by the incident's problem (key `incident:<metric>:<classifier>`), so a
    site joining an open incident is not a new problem.
    """
    problems = [
        Problem(incident.key, incident.headline, incident.metric, incident.severity, _lowest(incident), incident=True)
        for incident in result.incidents
    ]
    singles = [
        Problem(
            site.id,
            site.name,
            metric.key,
            "critical" if metric.acute else metric.severity,
            metric.alert_window_pct if metric.acute else metric.sle_pct,
            acute=metric.acute,
        )
        for site in result.sites
        for metric in site.metrics.values()
        if (metric.severity in SEVERITY_KINDS or metric.acute) and metric.alertable and metric.incident is None
    ]
    singles.sort(key=lambda problem: (_kind_rank(problem.kind), problem.sle_pct or 0.0))
    problems.extend(singles)
    seen = {problem.key for problem in problems}
    for degradation in trend_degradations(result.trends):
        problem = Problem(
            str(degradation.get("site_id", "")),
            str(degradation.get("site_name", "")),
            str(degradation.get("metric", "")),
            KIND_TREND,
            _float_or_none(degradation.get("current_pct")),
        )
        if problem.key not in seen:
            seen.add(problem.key)
            problems.append(problem)
    return problems


def _lowest(incident: Incident) -> Optional[float]:
    values = [site.sle_pct for site in incident.sites if site.sle_pct is not None]
    return min(values) if values else None


def is_incident_key(site_id: str) -> bool:
    """Return True for the pseudo site id of an incident problem (incident:<metric>:<classifier>)."""
    return site_id.startswith(INCIDENT_PREFIX)


def trend_degradations(trends: Optional[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Return the degradations of result.trends, [] when trends were not computed or found none."""
    if not isinstance(trends, Mapping):
        return []
    degradations = trends.get("degradations")
    if not isinstance(degradations, list):
        return []
    return [item for item in degradations if isinstance(item, Mapping)]


def site_metric_severities(result: RunResult) -> Dict[SiteMetric, str]:
    """Return the severity of every (site id, metric key) of the run."""
    return {(site.id, metric.key): metric.severity for site in result.sites for metric in site.metrics.values()}


def _float_or_none(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _due(entry: Entry, now: datetime, repeat_interval: timedelta) -> str:
    if entry.last_sent is None:
        return REASON_NEW
    return REASON_REPEAT if now - entry.last_sent >= repeat_interval else REASON_ACTIVE


def decide(
    previous: Mapping[Key, Entry],
    problems: Iterable[Problem],
    severities: Mapping[SiteMetric, str],
    *,
    trends_computed: bool,
    now: datetime,
    repeat_interval: timedelta,
) -> Decision:
    """Return what to email for this run's problems given the previous state.

    New (or never successfully emailed) and escalated problems are emailed at once; problems still active are
    emailed again once repeat_interval has passed since their last email. A site-metric going from critical to
    major is not a reason to email. A critical/major entry whose site-metric is now warning or healthy is resolved
    (reported only when it had been emailed); one without data this run is kept unchanged. Trend entries clear
    silently when trends were computed and no longer list them, and are kept when trends were not computed.
    """
    problem_list = list(problems)
    by_site_metric: Dict[SiteMetric, Entry] = {}
    for entry in previous.values():
        if entry.kind in SEVERITY_KINDS:
            known = by_site_metric.get((entry.site_id, entry.metric))
            if known is None or _kind_rank(entry.kind) < _kind_rank(known.kind):
                by_site_metric[(entry.site_id, entry.metric)] = entry

    reasons: Dict[Key, str] = {}
    replaced: Dict[Key, Entry] = {}
    for problem in problem_list:
        known_entry = previous.get(problem.key)
        if known_entry is not None:
            reasons[problem.key] = _due(known_entry, now, repeat_interval)
            continue
        other = by_site_metric.get((problem.site_id, problem.metric)) if problem.kind in SEVERITY_KINDS else None
        if other is None:
            reasons[problem.key] = REASON_NEW
        elif _kind_rank(problem.kind) < _kind_rank(other.kind):
            reasons[problem.key] = REASON_ESCALATED
            replaced[problem.key] = other
        else:
            due = _due(other, now, repeat_interval)
            reasons[problem.key] = REASON_DEESCALATED if due == REASON_ACTIVE else due
            replaced[problem.key] = other

    current_keys = {problem.key for problem in problem_list}
    replaced_keys = {entry.key for entry in replaced.values()}
    resolved: List[Entry] = []
    carried: List[Entry] = []
    for key, entry in previous.items():
        if key in current_keys or key in replaced_keys:
            continue
        if entry.kind == KIND_TREND:
            if not trends_computed:
                carried.append(entry)
            continue
        severity = severities.get((entry.site_id, entry.metric))
        if is_incident_key(entry.site_id):
            # An incident that ended: resolved once emailed (its sites alert alone if they still need to).
            if entry.last_sent is not None:
                resolved.append(entry)
            continue
        if severity is None:
            logger.info("Alert state: site %s is gone from the org; forgetting its %s problem", entry.site_name, key[1])
        elif severity == "no_data":
            carried.append(entry)
        elif severity in SEVERITY_KINDS:
            # Another current problem on this site-metric covers it (both kinds were stored): drop the older.
            continue
        elif entry.last_sent is not None:
            resolved.append(entry)

    send_alert = any(reason in SENDING_REASONS for reason in reasons.values())
    return Decision(
        problems=problem_list,
        reasons=reasons,
        send_alert=send_alert,
        resolved=resolved,
        carried=carried,
        replaced=replaced,
    )


def next_state(
    previous: Mapping[Key, Entry],
    decision: Decision,
    now: datetime,
    *,
    alert_sent: bool,
    resolved_sent: bool,
) -> Dict[Key, Entry]:
    """Return the state to save after this run.

    alert_sent: the alert email was sent or queued in the outbox (its problems get last_sent = now).
    resolved_sent: the resolved problems were reported (or need not be); when False they stay for the next run.
    """
    state: Dict[Key, Entry] = {entry.key: entry for entry in decision.carried}
    for problem in decision.problems:
        base: Optional[Entry] = previous.get(problem.key) or decision.replaced.get(problem.key)
        reason = decision.reasons.get(problem.key)
        if decision.send_alert and alert_sent:
            last_sent: Optional[datetime] = now
        elif base is None or reason == REASON_ESCALATED:
            last_sent = None
        else:
            last_sent = base.last_sent
        state[problem.key] = Entry(
            site_id=problem.site_id,
            site_name=problem.site_name,
            metric=problem.metric,
            kind=problem.kind,
            sle_pct=problem.sle_pct,
            first_seen=base.first_seen if base is not None else now,
            last_seen=now,
            last_sent=last_sent,
        )
    if not resolved_sent:
        for entry in decision.resolved:
            state.setdefault(entry.key, entry)
    return state


# --- The state file -------------------------------------------------------------------------------------------


def state_path(reports_directory: Path) -> Path:
    """Return the alert state file of a reports directory."""
    return reports_directory / STATE_DIRECTORY_NAME / STATE_FILE_NAME


def _iso(moment: Optional[datetime]) -> Optional[str]:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> Optional[datetime]:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO time, got {text!r}")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def state_document(state: Mapping[Key, Entry], now: datetime) -> Dict[str, Any]:
    """Return the JSON document of a state."""
    entries = sorted(
        state.values(), key=lambda entry: (entry.site_name.lower(), entry.site_id, entry.metric, entry.kind)
    )
    return {
        "version": STATE_VERSION,
        "updated_at": _iso(now),
        "problems": [
            {
                "site_id": entry.site_id,
                "site_name": entry.site_name,
                "metric": entry.metric,
                "kind": entry.kind,
                "sle_pct": None if entry.sle_pct is None else round(entry.sle_pct, 2),
                "first_seen": _iso(entry.first_seen),
                "last_seen": _iso(entry.last_seen),
                "last_sent": _iso(entry.last_sent),
            }
            for entry in entries
        ],
    }


def parse_state(document: Any) -> Dict[Key, Entry]:
    """Return the state held by a decoded state file; raises ValueError when its shape is wrong."""
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise ValueError("not an alert state document of version 1")
    problems = document.get("problems")
    if not isinstance(problems, list):
        raise ValueError("'problems' is not a list")
    state: Dict[Key, Entry] = {}
    for item in problems:
        if not isinstance(item, dict):
            raise ValueError(f"problem entry is not an object: {item!r}")
        kind = item.get("kind")
        if kind not in ALERT_KINDS:
            raise ValueError(f"unknown problem kind {kind!r}")
        first_seen = _parse_time(item.get("first_seen"))
        last_seen = _parse_time(item.get("last_seen"))
        if first_seen is None or last_seen is None:
            raise ValueError("problem entry without first_seen/last_seen")
        entry = Entry(
            site_id=str(item["site_id"]),
            site_name=str(item.get("site_name", "")),
            metric=str(item["metric"]),
            kind=kind,
            sle_pct=_float_or_none(item.get("sle_pct")),
            first_seen=first_seen,
            last_seen=last_seen,
            last_sent=_parse_time(item.get("last_sent")),
        )
        state[entry.key] = entry
    return state


def parse_outbox_names(document: Any) -> List[str]:
    """Return the outbox message names a state document records as decided (queued or about to be)."""
    names = document.get("outbox") if isinstance(document, dict) else None
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and paths.OUTBOX_NAME_PATTERN.match(name)]


def clamp_future(state: Mapping[Key, Entry], now: datetime, where: Path) -> Dict[Key, Entry]:
    """Return the state with first_seen, last_seen and last_sent later than now set to now, with one warning.

    Those are times of past events: a later one means the clock jumped forward and back, and a last_sent in the
    future would silence reminders until that time.
    """
    clamped: Dict[Key, Entry] = {}
    changed = 0
    for key, entry in state.items():
        last_sent = None if entry.last_sent is None else min(entry.last_sent, now)
        fixed = replace(
            entry, first_seen=min(entry.first_seen, now), last_seen=min(entry.last_seen, now), last_sent=last_sent
        )
        if fixed != entry:
            changed += 1
        clamped[key] = fixed
    if changed:
        logger.warning(
            "Alert state %s: %d problem(s) carry times later than now (%s); the clock jumped back: set to now",
            where,
            changed,
            _iso(now),
        )
    return clamped


def load_state(path: Path, now: Optional[datetime] = None) -> Dict[Key, Entry]:
    """Return the saved state, {} when there is none; a corrupt file is set aside with a warning, never raised.

    With now, times of past events that lie in the future are clamped to now (clamp_future).
    """
    return _load_document(path, now)[0]


def _state_problem(document: Any) -> Optional[str]:
    """Return why a document is not an alert state, None when it is one."""
    try:
        parse_state(document)
    except (KeyError, TypeError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


def _load_document(path: Path, now: Optional[datetime]) -> Tuple[Dict[Key, Entry], Optional[Dict[str, Any]]]:
    document = read_json_or_none(
        path, "alert state file", check=_state_problem, outcome="every active problem counts as new"
    )
    if document is None:
        return {}, None
    state = parse_state(document)
    return (state if now is None else clamp_future(state, now, path)), document


def save_state(path: Path, state: Mapping[Key, Entry], now: datetime, outbox: Iterable[str] = ()) -> None:
    """Write the state atomically, with the outbox names of the messages decided; raises OSError."""
    document = state_document(state, now)
    document["outbox"] = sorted(set(outbox))
    atomic_write_json(path, document)


# --- Where the state lives ------------------------------------------------------------------------------------


def fallback_path(reports_directory: Path) -> Path:
    """Return the fallback alert state file of a reports directory: one folder per directory under the temp dir."""
    digest = hashlib.sha256(str(reports_directory.absolute()).encode("utf-8")).hexdigest()[:FALLBACK_HASH_DIGITS]
    folder = Path(tempfile.gettempdir()) / FALLBACK_DIRECTORY_NAME / f"alert-state-{digest}"
    return folder / STATE_FILE_NAME


def _private_folder(folder: Path) -> None:
    """Create folder (and its parent) 0700; raises OSError when it is a symlink or another user's (shared /tmp)."""
    for level in (folder.parent, folder):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=FALLBACK_FOLDER_MODE)
        info = os.lstat(level)
        if not stat.S_ISDIR(info.st_mode):
            raise OSError(f"{level} is not a folder")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise OSError(f"{level} belongs to another user")


@dataclass
class StoredState:
    """The state as loaded: its problems and the outbox names of the messages it decided."""

    entries: Dict[Key, Entry]
    outbox: List[str]


class StateStore:
    """The alert state of a reports directory, at its usual place or, when that cannot be written, a fallback.

    `note` says, after save, that the fallback was used (or that nothing could be written): the email carries it.
    """

    def __init__(self, reports_directory: Path) -> None:
        self.primary = state_path(reports_directory)
        self.fallback = fallback_path(reports_directory)
        self.note: Optional[str] = None

    def load(self, now: datetime) -> StoredState:
        """Return the newer of the usual and the fallback state (the fallback exists only after a failed save)."""
        entries, document = _load_document(self.primary, now)
        if self.fallback.is_file():
            fallback_entries, fallback_document = _load_document(self.fallback, now)
            if fallback_document is not None and (
                document is None or str(fallback_document.get("updated_at")) > str(document.get("updated_at"))
            ):
                logger.warning("Alert state: using the fallback %s, newer than %s", self.fallback, self.primary)
                entries, document = fallback_entries, fallback_document
        return StoredState(entries, parse_outbox_names(document))

    def save(self, state: Mapping[Key, Entry], now: datetime, outbox: Iterable[str] = ()) -> bool:
        """Save the state; returns False when neither the usual place nor the fallback could be written."""
        names = list(outbox)
        try:
            save_state(self.primary, state, now, names)
        except OSError as error:
            reason = error.strerror or str(error)
        else:
            if self.fallback.is_file():
                with contextlib.suppress(OSError):
                    self.fallback.unlink()
            self.note = None
            return True
        try:
            _private_folder(self.fallback.parent)
            save_state(self.fallback, state, now, names)
        except OSError as fallback_error:
            self.note = (
                f"alert state could not be saved to {self.primary} ({reason}) nor to the fallback {self.fallback} "
                f"({fallback_error.strerror or fallback_error}): this alert may repeat at every run"
            )
            logger.error("%s", self.note[0].upper() + self.note[1:])
            return False
        self.note = f"alert state could not be saved to {self.primary} ({reason}); using fallback {self.fallback}"
        logger.error("%s", self.note[0].upper() + self.note[1:])
        return True
