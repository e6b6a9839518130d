"""Alert policy, pure: profiles (per-site thresholds), minimum impact, silences, maintenance windows in each site's
own timezone, fast detection over a short window (acute), inhibition for site connectivity, and incidents.

Nothing here does I/O: the collector hands in the API's sites and site groups, the pipeline the silences and the
clock. Muted site-metrics stay in every report, marked; only the alert path (alerting/alert_state) leaves them out.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import (
    SEVERITY_RANK,
    Incident,
    IncidentSite,
    MetricResult,
    RunResult,
    SiteResult,
    priority,
)
from mist_infra_manager.analysis.sle_monitor import fraction_to_pct, severity_for, site_status

logger = logging.getLogger(__name__)

DEFAULT_PROFILE = "default"
DEFAULT_TIMEZONE = "UTC"
# The alert kinds a site-metric can raise (warnings are reported, never alerted).
ALERTING_SEVERITIES = ("critical", "major")
# Why a site-metric is muted (MetricResult.muted).
MUTED_SILENCE = "silence"
MUTED_MAINTENANCE = "maintenance"
MUTED_MIN_CLIENTS = "min_clients"
MUTED_MIN_USERS = "min_users"
MUTED_INHIBITED = "inhibited"
# The metric whose disconnection classifiers mean the site lost connectivity, and those classifiers, matched
# loosely (substrings): the ids are uncertain (REFERENCE §7, §11: ap-unreachable, site-down).
CONNECTIVITY_METRIC = "ap-health"
DISCONNECTION_MARKERS = ("site-down", "switch-down", "ap-unreachable", "disconnected")
MINUTES_PER_DAY = 24 * 60
SILENCE_ID_LENGTH = 8
# Where a word of a site name starts, after a space or punctuation (see name_matches).
_WORD_START = re.compile(r"[\s\-_/,.()]+")


# What the policy reads of the configuration (settings.PolicySettings and its parts; analysis imports nothing
# from the foundation, so it names the shape it needs).


class WeeklyWindow(Protocol):
    """A weekly window: the weekdays it starts on (0 = Monday), start and end minutes after local midnight."""

    @property
    def days(self) -> Tuple[int, ...]: ...

    @property
    def start_minute(self) -> int: ...

    @property
    def end_minute(self) -> int: ...


class ProfileSettings(Protocol):
    """A profile: its name, its sites (site group names, name globs) and complete thresholds."""

    @property
    def name(self) -> str: ...

    @property
    def site_groups(self) -> Tuple[str, ...]: ...

    @property
    def sites(self) -> Tuple[str, ...]: ...

    @property
    def thresholds(self) -> Dict[str, float]: ...

    @property
    def metrics(self) -> Dict[str, Dict[str, float]]: ...


class MaintenanceSettings(Protocol):
    """A maintenance entry: its name, its sites and its weekly windows."""

    @property
    def name(self) -> str: ...

    @property
    def site_groups(self) -> Tuple[str, ...]: ...

    @property
    def sites(self) -> Tuple[str, ...]: ...

    @property
    def windows(self) -> Sequence[WeeklyWindow]: ...


class PolicySettings(Protocol):
    """The policy section (settings.PolicySettings)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def min_clients(self) -> int: ...

    @property
    def min_users(self) -> int: ...

    @property
    def profiles(self) -> Sequence[ProfileSettings]: ...

    @property
    def maintenance(self) -> Sequence[MaintenanceSettings]: ...

    @property
    def incident_min_sites(self) -> int: ...

    @property
    def inhibition(self) -> bool: ...


# --- Silences ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Silence:
    """A silence made with `silence add`: mutes the site-metrics it matches from starts_at until ends_at."""

    id: str
    site: Optional[str]
    group: Optional[str]
    metric: Optional[str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    expired_at: Optional[datetime] = None

    def active(self, now: datetime) -> bool:
        """Return True while the silence mutes: started, not ended, not expired by hand."""
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    def matches(self, site: SiteResult, metric_key: str) -> bool:
        """Return True when the silence covers this site-metric (name glob or site group, and metric)."""
        if self.metric is not None and self.metric != metric_key:
            return False
        if self.site is not None and not name_matches(site.name, [self.site]):
            return False
        return self.group is None or self.group.lower() in (group.lower() for group in site.groups)

    @property
    def target(self) -> str:
        """Return what the silence covers, e.g. `site Leeds* / coverage`."""
        where = f"site {self.site}" if self.site is not None else f"group {self.group}"
        return f"{where} / {self.metric or 'every metric'}"


def new_silence_id() -> str:
    """Return a short random id for a new silence."""
    return uuid.uuid4().hex[:SILENCE_ID_LENGTH]


# --- Profiles ------------------------------------------------------------------------------------------------


def name_matches(name: str, patterns: Iterable[str]) -> bool:
    """Return True when a site name matches one of the globs (`Flagship *`), case-insensitively.

    A glob matches the whole name or the name from the start of any of its words, so `Leeds*` finds
    `Store-0007 Leeds` as well as `Leeds Central` (site names often carry a store number first).
    """
    lowered = name.lower()
    starts = [0] + [match.end() for match in _WORD_START.finditer(lowered)]
    return any(fnmatch.fnmatchcase(lowered[start:], pattern.lower()) for pattern in patterns for start in starts)


def _in_scope(site: SiteResult, site_groups: Sequence[str], sites: Sequence[str]) -> bool:
    wanted = {group.lower() for group in site_groups}
    return bool(wanted & {group.lower() for group in site.groups}) or name_matches(site.name, sites)


def site_attributes(site_list: Sequence[Any], group_list: Sequence[Any]) -> Dict[str, Tuple[str, List[str]]]:
    """Return per site id its (IANA timezone, site group names) from the API's sites and site groups.

    Membership comes from each site's own `sitegroup_ids` (REFERENCE §11: a group's site_ids may be stale).
    """
    names = {
        entry["id"]: entry["name"]
        for entry in group_list
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("name"), str)
    }
    attributes: Dict[str, Tuple[str, List[str]]] = {}
    for entry in site_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        zone = entry.get("timezone")
        ids = entry.get("sitegroup_ids")
        groups = [names[group] for group in ids if group in names] if isinstance(ids, list) else []
        attributes[entry["id"]] = (zone if isinstance(zone, str) and zone else DEFAULT_TIMEZONE, groups)
    return attributes


def match_profile(site: SiteResult, profiles: Sequence[ProfileSettings]) -> Optional[ProfileSettings]:
    """Return the first profile matching the site by site group or name glob, None when none does."""
    for profile in profiles:
        if _in_scope(site, profile.site_groups, profile.sites):
            return profile
    return None


def thresholds_of(metric: MetricResult, default: Mapping[str, float]) -> Mapping[str, float]:
    """Return the thresholds that judge a metric: its profile's, else the run's."""
    return metric.thresholds if metric.thresholds is not None else default


def set_attributes(sites: Sequence[SiteResult], attributes: Mapping[str, Tuple[str, List[str]]]) -> None:
    """Give each site its timezone and site group names (UTC and none when the API gave none)."""
    for site in sites:
        site.timezone, site.groups = attributes.get(site.id, (DEFAULT_TIMEZONE, []))


def apply_profiles(
    sites: Sequence[SiteResult],
    attributes: Mapping[str, Tuple[str, List[str]]],
    policy: PolicySettings,
    default: Mapping[str, float],
) -> None:
    """Give each site its timezone, groups and profile, and judge its metrics by the profile's thresholds."""
    set_attributes(sites, attributes)
    for site in sites:
        profile = match_profile(site, policy.profiles)
        site.profile = DEFAULT_PROFILE if profile is None else profile.name
        if profile is None:
            continue
        for key, metric in site.metrics.items():
            chosen = profile.metrics.get(key, profile.thresholds)
            if {name: float(value) for name, value in chosen.items()} == {k: float(v) for k, v in default.items()}:
                continue
            metric.thresholds = dict(chosen)
            metric.severity = severity_for(metric.sle_pct, chosen)
        site.status = site_status(site.metrics.values())


# --- Fast detection ------------------------------------------------------------------------------------------


def apply_alert_window(sites: Sequence[SiteResult], results: Sequence[Any], default: Mapping[str, float]) -> int:
    """Record each site-metric's SLE % over the short window; mark acute those critical there but not over the day.

    Returns the number of acute site-metrics.
    """
    by_site = {entry["site_id"]: entry for entry in results if isinstance(entry, dict) and "site_id" in entry}
    acute = 0
    for site in sites:
        entry = by_site.get(site.id)
        if entry is None:
            continue
        for key, metric in site.metrics.items():
            pct = fraction_to_pct(entry.get(key))
            metric.alert_window_pct = pct
            critical = thresholds_of(metric, default)["critical"]
            metric.acute = pct is not None and pct < critical and metric.severity != "critical"
            acute += metric.acute
    return acute


def alert_kind(metric: MetricResult) -> Optional[str]:
    """Return the kind of alert a site-metric raises before muting: critical (or acute), major, or None."""
    if metric.acute:
        return "critical"
    return metric.severity if metric.severity in ALERTING_SEVERITIES else None


# --- Maintenance windows -------------------------------------------------------------------------------------


def _zone(name: Optional[str]) -> Any:
    """Return the IANA zone (the system's database, or the tzdata package on Windows); UTC when unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown site timezone %r: maintenance windows use UTC there", name)
        return timezone.utc


def window_end(window: WeeklyWindow, zone_name: Optional[str], now: datetime) -> Optional[datetime]:
    """Return when the window ends (UTC) if `now` lies inside it in the site's local wall-clock time, else None.

    A window whose end is not after its start crosses midnight into the next day; across a DST change the window
    follows the local clock (a 01:00-05:00 window is four or five hours long that night).
    """
    zone = _zone(zone_name)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    crosses = window.end_minute <= window.start_minute
    started_today = local.weekday() in window.days and minute >= window.start_minute
    if not crosses:
        if not (started_today and minute < window.end_minute):
            return None
        end_date = local.date()
    elif started_today:
        end_date = local.date() + timedelta(days=1)
    elif (local.weekday() - 1) % 7 in window.days and minute < window.end_minute:
        end_date = local.date()
    else:
        return None
    hours, minutes = divmod(window.end_minute, 60)
    end_local = datetime(end_date.year, end_date.month, end_date.day, hours, minutes, tzinfo=zone)
    return end_local.astimezone(timezone.utc)


def maintenance_now(
    site: SiteResult, maintenance: Sequence[MaintenanceSettings], now: datetime
) -> Optional[Tuple[str, datetime]]:
    """Return (window name, end) of a maintenance window the site is in now, None when it is in none."""
    for entry in maintenance:
        if not _in_scope(site, entry.site_groups, entry.sites):
            continue
        for window in entry.windows:
            end = window_end(window, site.timezone, now)
            if end is not None:
                return entry.name, end
    return None


# --- The policy of a run -------------------------------------------------------------------------------------


def _mute(metric: MetricResult, muted: str, reason: str, until: Optional[datetime] = None) -> None:
    metric.alertable = False
    metric.muted = muted
    metric.muted_reason = reason
    metric.muted_until = until


def _mute_site(site: SiteResult, policy: PolicySettings, silences: Sequence[Silence], now: datetime) -> None:
    """Mute the site's alerting metrics: silences, then maintenance, then minimum impact."""
    window = maintenance_now(site, policy.maintenance, now) if policy.enabled else None
    small = (
        policy.enabled
        and policy.min_clients > 0
        and site.num_clients is not None
        and site.num_clients < policy.min_clients
    )
    for metric in site.metrics.values():
        if alert_kind(metric) is None:
            continue
        silence = next((item for item in silences if item.active(now) and item.matches(site, metric.key)), None)
        top = metric.top_classifier
        if silence is not None:
            reason = f"silenced by {silence.created_by} ({silence.id}): {silence.reason}"
            _mute(metric, MUTED_SILENCE, reason, silence.ends_at)
        elif window is not None:
            _mute(metric, MUTED_MAINTENANCE, f"maintenance window {window[0]}", window[1])
        elif small:
            _mute(
                metric, MUTED_MIN_CLIENTS, f"{site.num_clients} clients, below policy.min_clients {policy.min_clients}"
            )
        elif policy.enabled and top is not None and top.users is not None and top.users < policy.min_users:
            _mute(metric, MUTED_MIN_USERS, f"{top.users} users affected, below policy.min_users {policy.min_users}")


def is_disconnection(classifier_id: str) -> bool:
    """Return True for a classifier id that says APs or the site lost connectivity (matched loosely)."""
    lowered = classifier_id.lower()
    return any(marker in lowered for marker in DISCONNECTION_MARKERS)


def _inhibit(site: SiteResult) -> None:
    """Fold a site's other alerting metrics into its AP Health problem when that says the site is disconnected."""
    health = site.metrics.get(CONNECTIVITY_METRIC)
    if health is None or not health.alertable or alert_kind(health) != "critical":
        return
    top = health.top_classifier
    if top is None or not is_disconnection(top.id):
        return
    for metric in site.metrics.values():
        if metric is health or not metric.alertable or alert_kind(metric) is None:
            continue
        _mute(metric, MUTED_INHIBITED, f"folded into site connectivity (AP Health: {top.name})")
        health.folded.append(metric.key)


def find_incidents(sites: Sequence[SiteResult], min_sites: int) -> List[Incident]:
    """Return the incidents: at least min_sites alerting site-metrics sharing a metric and a top classifier.

    Marks their site-metrics with the incident key. Worst first: critical before major, then the most sites.
    """
    groups: Dict[Tuple[str, str], List[Tuple[SiteResult, MetricResult]]] = {}
    for site in sites:
        for metric in site.metrics.values():
            top = metric.top_classifier
            if metric.alertable and alert_kind(metric) is not None and top is not None:
                groups.setdefault((metric.key, top.id), []).append((site, metric))
    incidents: List[Incident] = []
    for (metric_key, classifier_id), members in groups.items():
        if len(members) < min_sites:
            continue
        members.sort(key=lambda pair: priority(alert_kind(pair[1]) or "info", _shown_pct(pair[1]), None, pair[0].name))
        kinds = [alert_kind(metric) or "major" for _, metric in members]
        incident = Incident(
            metric=metric_key,
            metric_name=catalog.ALL_METRICS_BY_KEY[metric_key].name
            if metric_key in catalog.ALL_METRICS_BY_KEY
            else metric_key,
            classifier=classifier_id,
            classifier_name=catalog.classifier_display_name(classifier_id),
            severity=min(kinds, key=lambda kind: SEVERITY_RANK[kind]),
            sites=[
                IncidentSite(site.id, site.name, kind, _shown_pct(metric))
                for (site, metric), kind in zip(members, kinds)
            ],
        )
        for _, metric in members:
            metric.incident = incident.key
        incidents.append(incident)
    incidents.sort(key=lambda item: (SEVERITY_RANK[item.severity], -len(item.sites), item.key))
    return incidents


def _shown_pct(metric: MetricResult) -> Optional[float]:
    """Return the SLE % that alerts: the short window's for an acute metric, else the report window's."""
    return metric.alert_window_pct if metric.acute else metric.sle_pct


def apply_policy(result: RunResult, policy: PolicySettings, silences: Sequence[Silence], now: datetime) -> None:
    """Mark the run's muted site-metrics, fold disconnected sites, and group incidents (only with a policy).

    Silences apply whether or not the file has a policy section; everything else only when it has one.
    """
    for site in result.sites:
        _mute_site(site, policy, silences, now)
        if policy.enabled and policy.inhibition:
            _inhibit(site)
    if policy.enabled:
        result.incidents = find_incidents(result.sites, policy.incident_min_sites)
    result.policy_applied = policy.enabled
