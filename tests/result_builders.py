"""RunResult objects built by hand for the email, alert state and dashboard tests (no API, no clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from mist_infra_manager.analysis import catalog, sle_monitor
from mist_infra_manager.analysis.models import (
    DETAIL_FETCHED,
    DETAIL_SKIPPED,
    ClassifierStat,
    MetricResult,
    RunResult,
    SiteResult,
)
from mist_infra_manager.mist import collector

FIXED_NOW = datetime(2025, 3, 14, 6, 0, 0, tzinfo=timezone.utc)
HTML_SITE_NAME = "<b>Café & \"Bar\" 'Store'</b>"
HEALTHY_PCT = 97.5

# (classifier id, degraded %, users or None, aps or None)
Classifier = Tuple[str, float, Optional[int], Optional[int]]
# A metric: its SLE % alone, or (SLE %, classifiers), or (SLE %, classifiers, detail).
MetricSpec = Union[Optional[float], Tuple[Any, ...]]


def metric(key: str, spec: MetricSpec) -> MetricResult:
    """Return one metric from its SLE % and optional classifiers (detail fetched when classifiers are given)."""
    classifiers: Sequence[Classifier] = ()
    detail = DETAIL_SKIPPED
    if isinstance(spec, tuple):
        pct = spec[0]
        classifiers = spec[1] if len(spec) > 1 else ()
        detail = spec[2] if len(spec) > 2 else DETAIL_FETCHED
    else:
        pct = spec
    severity = sle_monitor.severity_for(pct)
    stats = [
        ClassifierStat(
            id=classifier_id,
            name=catalog.classifier_display_name(classifier_id),
            degraded_pct=degraded,
            share_pct=None,
            users=users,
            aps=aps,
        )
        for classifier_id, degraded, users, aps in classifiers
    ]
    stats.sort(key=lambda stat: (-(stat.degraded_pct or 0.0), stat.id))
    return MetricResult(
        key=key,
        name=catalog.METRICS_BY_KEY[key].name,
        sle_pct=pct,
        severity=severity,
        detail=detail,
        classifiers=stats,
        source="summary" if detail == DETAIL_FETCHED else None,
    )


def site(
    site_id: str,
    name: str,
    metrics: Optional[Mapping[str, MetricSpec]] = None,
    *,
    num_aps: Optional[int] = 10,
    num_clients: Optional[int] = 100,
    default_pct: Optional[float] = HEALTHY_PCT,
) -> SiteResult:
    """Return a site whose metrics are default_pct except those given."""
    given = dict(metrics or {})
    built: Dict[str, MetricResult] = {
        definition.key: metric(definition.key, given.get(definition.key, default_pct)) for definition in catalog.METRICS
    }
    return SiteResult(
        id=site_id,
        name=name,
        status=sle_monitor.site_status(built.values()),
        num_aps=num_aps,
        num_clients=num_clients,
        metrics=built,
    )


def make_result(
    sites: List[SiteResult],
    *,
    org_name: str = "Acme Retail Europe",
    now: datetime = FIXED_NOW,
    trends: Optional[Dict[str, Any]] = None,
    problems: Sequence[str] = (),
    api_calls: int = 42,
) -> RunResult:
    """Return a result as the collector builds it: statuses, worst-first order, insights and counts."""
    result = collector.finish_result(
        sites=list(sites),
        org_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        org_name=org_name,
        now=now,
        settings=collector.CollectionSettings(),
        window_start=now - timedelta(days=1),
        window_end=now,
        api_calls=api_calls,
        base_url="http://127.0.0.1:8085",
        problems=list(problems),
        notes=[],
        detail_source="summary",
    )
    result.trends = trends
    return result


WEAK_SIGNAL_CRITICAL: MetricSpec = (
    66.0,
    [("weak-signal", 26.6, 80, 8), ("asymmetry-uplink", 5.0, 23, 3), ("asymmetry-downlink", 2.4, 11, 2)],
)


def sample_sites() -> List[SiteResult]:
    """Return the fixed org of the golden test: one site per interesting case."""
    return [
        site("site-critical", "Store-0001 London", {"coverage": WEAK_SIGNAL_CRITICAL}, num_aps=16, num_clients=240),
        site(
            "site-major",
            "Store-0002 Paris",
            {
                "time-to-connect": (
                    75.0,
                    [("dhcp-unresponsive", 13.0, 45, 6), ("association", 4.0, 14, 2), ("IP-Services", 1.5, None, None)],
                )
            },
            num_aps=12,
            num_clients=180,
        ),
        site(
            "site-html",
            HTML_SITE_NAME,
            {"capacity": (88.0, [("wifi-interference", 6.0, 11, 2), ("client-count", 3.0, 6, 1)])},
            num_aps=8,
            num_clients=90,
        ),
        site(
            "site-multi",
            "Store-0006 Amsterdam",
            {
                "ap-health": (68.0, [("ap-disconnected-ap-unreachable", 16.0, 90, 10), ("low-power", 3.2, 18, 2)]),
                "successful-connect": (78.0, [], "deferred"),
                "coverage": (89.0, [("weak-signal", 7.7, 44, 6), ("unknown-future-classifier", 1.0, None, 1)]),
            },
            num_aps=20,
            num_clients=300,
        ),
        site("site-healthy", "Store-0010 Dublin"),
        site("site-nodata", "Store-0004 Madrid", default_pct=None, num_aps=None, num_clients=None),
    ]


def sample_trends(*, baseline: bool = True) -> Dict[str, Any]:
    """Return a hand-built result.trends in the Trend issue's shape: two degradations, one improvement."""
    dates = [(FIXED_NOW - timedelta(days=6 - day)).strftime("%Y-%m-%d") for day in range(7)]

    def series(values: Sequence[Optional[float]]) -> List[Dict[str, Any]]:
        return [{"date": date, "pct": value} for date, value in zip(dates, values)]

    org = {}
    for number, definition in enumerate(catalog.METRICS):
        values: List[Optional[float]] = [96.0 - number * 0.3 + (day % 3) * 0.4 for day in range(7)]
        if definition.key == "coverage":
            values = [95.0, 94.8, None, 95.1, 94.9, 95.2, 91.3]
        org[definition.key] = {
            "name": definition.name,
            "current_pct": values[-1],
            "previous_pct": values[-2],
            "series_7d": series(values),
            "sparkline": "▁▂▃▄▅▆▇"[: 7 - (number % 3)],
        }
    degradation = {
        "site_id": "site-critical",
        "site_name": "Store-0001 London",
        "metric": "coverage",
        "metric_name": "Coverage",
        "previous_pct": 93.1,
        "current_pct": 66.0,
        "delta_pp": -27.1,
        "previous_severity": "info",
        "current_severity": "critical",
    }
    html_degradation = {
        "site_id": "site-html",
        "site_name": HTML_SITE_NAME,
        "metric": "capacity",
        "metric_name": "Capacity",
        "previous_pct": 95.0,
        "current_pct": 88.0,
        "delta_pp": -7.0,
        "previous_severity": "info",
        "current_severity": "warning",
    }
    improvement = {
        "site_id": "site-healthy",
        "site_name": "Store-0010 Dublin",
        "metric": "roaming",
        "metric_name": "Roaming",
        "previous_pct": 85.0,
        "current_pct": 97.5,
        "delta_pp": 12.5,
        "previous_severity": "warning",
        "current_severity": "info",
    }
    return {
        "compared_with": (FIXED_NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ") if baseline else None,
        "baseline": baseline,
        "degradations": [degradation, html_degradation] if baseline else [],
        "improvements": [improvement] if baseline else [],
        "org": org,
        "sites_7d": {"site-critical": {"coverage": series([93.0, 93.5, 92.8, 93.3, 93.0, 93.1, 66.0])}},
    }


def large_result(total_sites: int = 10_000, affected: int = 2_000) -> RunResult:
    """Return an org of total_sites where `affected` sites have every classifier of two metrics degraded."""
    sites = []
    keys = [definition.key for definition in catalog.METRICS]
    for index in range(total_sites):
        name = f"Store-{index:05d} {'Northampton Retail Park Unit' if index % 2 else 'High Street'}"
        if index < affected:
            metrics: Dict[str, MetricSpec] = {}
            for offset in (0, 3):
                definition = catalog.METRICS_BY_KEY[keys[(index + offset) % len(keys)]]
                pct = 55.0 + (index % 35)
                classifiers = [
                    (classifier_id, 1.0 + (number * 7 + index) % 9 + 0.05, 100 + number, 10 + number)
                    for number, classifier_id in enumerate(definition.classifier_ids)
                ]
                metrics[definition.key] = (pct, classifiers)
            sites.append(site(f"site-{index:05d}", name, metrics, num_clients=500 - index % 400))
        else:
            sites.append(site(f"site-{index:05d}", name))
    return make_result(sites)
