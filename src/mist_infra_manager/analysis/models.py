"""The result object of one collection: every report, the JSON and the email are rendered from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from mist_infra_manager.analysis.root_cause import RootCause

# Worst first. Site and org status use "healthy" where a metric's severity is "info".
SEVERITIES = ("critical", "major", "warning", "info", "no_data")
STATUSES = ("critical", "major", "warning", "healthy", "no_data")
ALERT_SEVERITIES = ("critical", "major", "warning")
SEVERITY_RANK: Dict[str, int] = {
    "critical": 0,
    "major": 1,
    "warning": 2,
    "info": 3,
    "healthy": 3,
    "no_data": 4,
}


def utc_now() -> datetime:
    """Return the current time in UTC: the one clock the tool reads, handed in everywhere else."""
    return datetime.now(timezone.utc)


# Sorts below every measured value: a site or metric without data comes after the measured ones.
NO_DATA_SORT_PCT = 101.0


def priority(
    severity: str, sle_pct: Optional[float], num_clients: Optional[int], name: str
) -> Tuple[int, float, int, str]:
    """Return the worst-first sort key used everywhere: severity, then lowest SLE %, then most clients, then name."""
    return (
        SEVERITY_RANK[severity],
        NO_DATA_SORT_PCT if sle_pct is None else sle_pct,
        -(num_clients or 0),
        name.lower(),
    )


# How a metric's classifier detail came to be (the JSON field "detail").
DETAIL_FETCHED = "fetched"
DETAIL_SKIPPED = "skipped"
DETAIL_UNAVAILABLE = "unavailable"
DETAIL_DEFERRED = "deferred"


@dataclass
class ClassifierStat:
    """One classifier of one site-metric."""

    id: str
    name: str
    degraded_pct: Optional[float]
    share_pct: Optional[float]
    users: Optional[int]
    aps: Optional[int]


@dataclass
class MetricResult:
    """One SLE metric of one site."""

    key: str
    name: str
    sle_pct: Optional[float]
    severity: str
    detail: str = DETAIL_SKIPPED
    classifiers: List[ClassifierStat] = field(default_factory=list)
    # "summary", "summary-trend": which endpoint the classifier numbers came from.
    source: Optional[str] = None
    # Minutes since the classifier detail was fetched, when it was reused from an earlier run.
    detail_age_minutes: Optional[int] = None
    # Where the top classifier's degraded minutes sit (issue 18, analysis/root_cause.py); None without.
    root_cause: Optional[RootCause] = None
    # The API gave a value that cannot be read (NaN, outside 0..1): no_data, and the site is never "healthy".
    unreadable: bool = False
    # Policy (analysis/policy.py). The thresholds that judged this metric when they are not the run's default.
    thresholds: Optional[Dict[str, float]] = None
    # False when the policy keeps the metric out of alerts (muted says why: min_clients, min_users, silence,
    # maintenance, inhibited); it stays in every report, marked with muted_reason and muted_until.
    alertable: bool = True
    muted: Optional[str] = None
    muted_reason: Optional[str] = None
    muted_until: Optional[datetime] = None
    # The SLE % over sle.alert_window, and acute: below the critical threshold there (fast detection).
    alert_window_pct: Optional[float] = None
    acute: bool = False
    # The key of the incident this site-metric belongs to (incident:<metric>:<classifier>), None when none.
    incident: Optional[str] = None
    # Metric keys of the same site folded into this one (inhibition: "site connectivity").
    folded: List[str] = field(default_factory=list)

    @property
    def top_classifier(self) -> Optional[ClassifierStat]:
        """Return the classifier with the largest degraded share, or None without detail."""
        ranked = [c for c in self.classifiers if c.degraded_pct]
        if not ranked:
            return None
        return max(ranked, key=lambda c: c.degraded_pct or 0.0)


@dataclass
class SiteResult:
    """One site and its seven metrics."""

    id: str
    name: str
    status: str
    num_aps: Optional[int]
    num_clients: Optional[int]
    metrics: Dict[str, MetricResult]
    # From the wired and WAN sites-sle results (sle.types); None when that type is not collected or not reported.
    num_switches: Optional[int] = None
    num_gateways: Optional[int] = None
    # Policy: the name of the profile whose thresholds judged the site (None: no policy; "default": none matched),
    # the site's IANA timezone and its Mist site group names.
    profile: Optional[str] = None
    timezone: Optional[str] = None
    groups: List[str] = field(default_factory=list)


@dataclass
class Insight:
    """A site-metric below the warning threshold, as listed by priority."""

    site_id: str
    site_name: str
    metric: str
    metric_name: str
    sle_pct: Optional[float]
    severity: str
    num_clients: Optional[int]
    top_classifier: Optional[ClassifierStat]


@dataclass
class IncidentSite:
    """One site-metric of an incident."""

    site_id: str
    site_name: str
    severity: str
    sle_pct: Optional[float]


@dataclass
class Incident:
    """Site-metrics sharing a metric and a top classifier: a shared cause, alerted as one problem."""

    metric: str
    metric_name: str
    classifier: str
    classifier_name: str
    severity: str
    sites: List[IncidentSite]

    @property
    def key(self) -> str:
        """Return the stable key of the incident across runs: incident:<metric>:<classifier>."""
        return f"incident:{self.metric}:{self.classifier}"

    @property
    def headline(self) -> str:
        """Return e.g. `DHCP Unresponsive degrades Time to Connect at 37 sites (12 critical)`."""
        critical = sum(1 for site in self.sites if site.severity == "critical")
        return (
            f"{self.classifier_name} degrades {self.metric_name} at {len(self.sites)} sites ({critical} critical): "
            "a shared service is the likely cause"
        )


@dataclass
class RunResult:
    """Everything one run learned about the org."""

    generated_at: datetime
    org_id: str
    org_name: str
    window_start: Optional[datetime]
    window_end: Optional[datetime]
    duration: str
    thresholds: Dict[str, float]
    overall_status: str
    summary: Dict[str, int]
    sites: List[SiteResult]
    insights: List[Insight]
    api_calls: int
    base_url: str
    # False when an API call failed, values could not be read, pages announced were not delivered or the run
    # deadline passed: the files then say the data is incomplete.
    complete: bool = True
    problems: List[str] = field(default_factory=list)
    # "summary" or "summary-trend" (after /summary answered 404 in this run), None when no detail was fetched.
    detail_source: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    # Filled by the trend analyzer; None until then.
    trends: Optional[Dict[str, Any]] = None
    # The SLE types collected (sle.types): "wifi", then "wired" and "wan" when configured.
    types: List[str] = field(default_factory=lambda: ["wifi"])
    # Policy (analysis/policy.py): True once applied; the incidents, worst first; sle.alert_window when set.
    policy_applied: bool = False
    incidents: List[Incident] = field(default_factory=list)
    alert_window: Optional[str] = None

    @property
    def deferred_count(self) -> int:
        """Return how many site-metrics had their classifier detail deferred to a later run."""
        return sum(1 for site in self.sites for metric in site.metrics.values() if metric.detail == DETAIL_DEFERRED)

    @property
    def severity_counts(self) -> Dict[str, int]:
        """Return the number of site-metrics per alert severity."""
        counts = {severity: 0 for severity in ALERT_SEVERITIES}
        for insight in self.insights:
            if insight.severity in counts:
                counts[insight.severity] += 1
        return counts

    @property
    def affected_sites(self) -> List[SiteResult]:
        """Return the sites with at least one metric below the warning threshold, worst first."""
        return [site for site in self.sites if site.status in ALERT_SEVERITIES]
