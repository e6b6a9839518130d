"""Pure SLE calculations: percentages, classifier breakdowns, severities and site status.

Nothing here does I/O: functions take the decoded API bodies and return values.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import (
    DETAIL_SKIPPED,
    SEVERITY_RANK,
    ClassifierStat,
    MetricResult,
    SiteResult,
    priority,
)

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS: Dict[str, float] = {"critical": 70.0, "major": 80.0, "warning": 90.0}
# Relative slack for float sums where a bucket's degraded equals its total.
BUCKET_TOLERANCE = 1e-9


@dataclass
class SummaryBreakdown:
    """What one `/summary` or `/summary-trend` body says about a site-metric."""

    sle_pct: Optional[float]
    classifiers: List[ClassifierStat]
    has_impact: bool


def _number(value: Any) -> Optional[float]:
    """Return value as a finite float, or None for nulls, booleans, strings and NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> Optional[int]:
    number = _number(value)
    return None if number is None or number < 0 else int(number)


def usable_buckets(totals: Sequence[Any], degraded: Sequence[Any]) -> List[bool]:
    """Return per bucket whether it counts: both values numbers, total ≥ 0 and 0 ≤ degraded ≤ total.

    Nulls are skipped as Mist leaves them; a bucket that cannot be a count of user-minutes is skipped too.
    """
    mask = []
    for total, bad in zip(totals, degraded):
        total_number = _number(total)
        degraded_number = _number(bad)
        mask.append(
            total_number is not None
            and degraded_number is not None
            and 0 <= degraded_number <= total_number + BUCKET_TOLERANCE * max(1.0, total_number)
        )
    return mask


def sum_buckets(totals: Sequence[Any], degraded: Sequence[Any]) -> Tuple[float, float]:
    """Return (Σ total, Σ degraded) over the usable buckets (see usable_buckets)."""
    total_sum = 0.0
    degraded_sum = 0.0
    for total, bad, usable in zip(totals, degraded, usable_buckets(totals, degraded)):
        if usable:
            total_sum += float(total)
            degraded_sum += float(bad)
    return total_sum, degraded_sum


def _sum_where(values: Sequence[Any], mask: Sequence[bool]) -> float:
    """Return the sum of the non-negative numbers of values at the buckets the mask keeps."""
    total = 0.0
    for value, keep in zip(values, mask):
        number = _number(value)
        if keep and number is not None and number >= 0:
            total += number
    return total


def fraction_to_pct(value: Any) -> Optional[float]:
    """Return 100 × a sites-sle fraction, or None when the value is missing or outside 0..1."""
    number = _number(value)
    if number is None or number < 0 or number > 1:
        return None
    return 100.0 * number


def parse_summary(body: Any) -> SummaryBreakdown:
    """Return the SLE % and the classifier breakdown of a `/summary` or `/summary-trend` body.

    `degraded_pct` is the classifier's share of all the metric's user-minutes (so the classifiers add up to
    the metric's % degraded); `share_pct` its share of the failures, as the Mist UI shows it.
    """
    document = _mapping(body)
    samples = _mapping(_mapping(document.get("sle")).get("samples"))
    metric_totals = _sequence(samples.get("total"))
    metric_degraded_values = _sequence(samples.get("degraded"))
    # One mask for the metric and its classifiers, so the classifiers add up to the metric's % degraded.
    mask = usable_buckets(metric_totals, metric_degraded_values)
    metric_total, metric_degraded = sum_buckets(metric_totals, metric_degraded_values)
    sle_pct = None if metric_total <= 0 else 100.0 * (metric_total - metric_degraded) / metric_total

    raw: List[Tuple[str, float, Optional[int], Optional[int]]] = []
    has_impact = False
    for entry in _sequence(document.get("classifiers")):
        classifier = _mapping(entry)
        name = classifier.get("name")
        if not isinstance(name, str) or not name:
            logger.debug("Skipping a classifier without a name: %r", entry)
            continue
        classifier_samples = _mapping(classifier.get("samples"))
        # Classifier totals equal the metric's: the metric's buckets decide what counts.
        classifier_degraded = _sum_where(_sequence(classifier_samples.get("degraded")), mask)
        impact = classifier.get("impact")
        if isinstance(impact, dict):
            has_impact = True
        impact_map = _mapping(impact)
        raw.append((name, classifier_degraded, _count(impact_map.get("num_users")), _count(impact_map.get("num_aps"))))

    all_degraded = sum(degraded for _, degraded, _, _ in raw)
    classifiers = [
        ClassifierStat(
            id=name,
            name=catalog.classifier_display_name(name),
            degraded_pct=None if metric_total <= 0 else 100.0 * degraded / metric_total,
            share_pct=None if all_degraded <= 0 else 100.0 * degraded / all_degraded,
            users=users,
            aps=aps,
        )
        for name, degraded, users, aps in raw
    ]
    classifiers.sort(key=lambda stat: (-(stat.degraded_pct or 0.0), stat.id))
    return SummaryBreakdown(sle_pct=sle_pct, classifiers=classifiers, has_impact=has_impact)


def severity_for(sle_pct: Optional[float], thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> str:
    """Return critical, major, warning or info for an SLE %, or no_data when there is none."""
    if sle_pct is None:
        return "no_data"
    if sle_pct < thresholds["critical"]:
        return "critical"
    if sle_pct < thresholds["major"]:
        return "major"
    if sle_pct < thresholds["warning"]:
        return "warning"
    return "info"


def site_status(metrics: Iterable[MetricResult]) -> str:
    """Return the worst severity of a site's metrics as a status; healthy when all measured are info."""
    severities = [metric.severity for metric in metrics if metric.severity != "no_data"]
    if not severities:
        return "no_data"
    worst = min(severities, key=lambda severity: SEVERITY_RANK[severity])
    return "healthy" if worst == "info" else worst


def overall_status(statuses: Iterable[str]) -> str:
    """Return the org's status: the worst site status, no_data when no site has data."""
    measured = [status for status in statuses if status != "no_data"]
    if not measured:
        return "no_data"
    return min(measured, key=lambda status: SEVERITY_RANK[status])


def status_counts(sites: Iterable[SiteResult]) -> Dict[str, int]:
    """Return the JSON summary block: sites_total and the number of sites per status."""
    counts = {"sites_total": 0, "critical": 0, "major": 0, "warning": 0, "healthy": 0, "no_data": 0}
    for site in sites:
        counts["sites_total"] += 1
        counts[site.status] += 1
    return counts


def build_site(
    site_id: str,
    site_name: str,
    sle_result: Optional[Mapping[str, Any]],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
) -> SiteResult:
    """Return a site with its seven metrics from its sites-sle result (None when the site had none)."""
    result = sle_result or {}
    metrics: Dict[str, MetricResult] = {}
    for metric in catalog.METRICS:
        sle_pct = fraction_to_pct(result.get(metric.key))
        metrics[metric.key] = MetricResult(
            key=metric.key,
            name=metric.name,
            sle_pct=sle_pct,
            severity=severity_for(sle_pct, thresholds),
            detail=DETAIL_SKIPPED,
        )
    return SiteResult(
        id=site_id,
        name=site_name,
        status=site_status(metrics.values()),
        num_aps=_count(result.get("num_aps")),
        num_clients=_count(result.get("num_clients")),
        metrics=metrics,
    )


def apply_breakdown(
    metric: MetricResult, breakdown: SummaryBreakdown, source: str, thresholds: Mapping[str, float]
) -> None:
    """Fill a metric's classifiers from a summary; its SLE % comes from the summary only when sites-sle had none."""
    metric.classifiers = breakdown.classifiers
    metric.source = source
    if metric.sle_pct is None and breakdown.sle_pct is not None:
        metric.sle_pct = breakdown.sle_pct
        metric.severity = severity_for(metric.sle_pct, thresholds)


def site_sort_key(site: SiteResult) -> Tuple[int, float, int, str]:
    """Sort key putting the worst sites first: status, lowest SLE %, most clients, then name."""
    measured = [m.sle_pct for m in site.metrics.values() if m.sle_pct is not None]
    return priority(site.status, min(measured) if measured else None, site.num_clients, site.name)


def format_cell(stat: ClassifierStat) -> str:
    """Return a classifier cell as the email and reports print it: `26.6% degraded, users=80, aps=8`."""
    parts = [f"{(stat.degraded_pct or 0.0):.1f}% degraded"]
    if stat.users is not None:
        parts.append(f"users={stat.users}")
    if stat.aps is not None:
        parts.append(f"aps={stat.aps}")
    return ", ".join(parts)


def format_sle(value: float) -> str:
    """Return an SLE % with one decimal, rounded down, so 89.96 reads 89.9 and never 90.0 beside "warning"."""
    # The small epsilon keeps 66.0, stored as 65.99999999999999, at 66.0.
    return f"{math.floor(value * 10 + 1e-6) / 10:.1f}"
