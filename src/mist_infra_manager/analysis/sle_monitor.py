"""Pure SLE calculations: percentages, classifier breakdowns, severities and site status.

Nothing here does I/O: functions take the decoded API bodies and return values.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

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
# A percentage is rounded to this many decimals before anything else: float noise (79.99999999999999 for
# an exact 80 %) lives far below it, real differences far above it.
NOISE_DECIMALS = 9
# Decimals of an SLE % in the JSON (sle_pct), rounded down like the shown value so the two never disagree.
JSON_DECIMALS = 2
# Decimals of a shown SLE %, rounded down; severities are decided on this value.
SHOWN_DECIMALS = 1
# Sums beyond this are not finite as floats: such a body cannot be shown or written as JSON.
FLOAT_MAX = Fraction(sys.float_info.max)

Number = Union[int, float, Fraction]
# Enough digits that converting an exact sum or ratio to a Decimal loses nothing a percentage could show.
_EXACT = Context(prec=80)
_NOISE_QUANTUM = Decimal(1).scaleb(-NOISE_DECIMALS)


@dataclass
class SummaryBreakdown:
    """What one `/summary` or `/summary-trend` body says about a site-metric.

    unusable says why the body gives no breakdown (no valid samples, numbers that overflow); None when it does.
    """

    sle_pct: Optional[float]
    classifiers: List[ClassifierStat]
    has_impact: bool
    unusable: Optional[str] = None


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


def sum_buckets(totals: Sequence[Any], degraded: Sequence[Any]) -> Tuple[Fraction, Fraction]:
    """Return exactly (Σ total, Σ degraded) over the usable buckets (see usable_buckets)."""
    total_sum = Fraction(0)
    degraded_sum = Fraction(0)
    for total, bad, usable in zip(totals, degraded, usable_buckets(totals, degraded)):
        if usable:
            total_sum += Fraction(total)
            degraded_sum += Fraction(bad)
    return total_sum, degraded_sum


def _sum_where(values: Sequence[Any], totals: Sequence[Any], mask: Sequence[bool]) -> Fraction:
    """Return exactly the sum of values at the buckets the mask keeps, each between 0 and its bucket's total.

    A classifier bucket that is negative or more than the metric's total counts for nothing, as for the metric.
    """
    total = Fraction(0)
    for value, bucket_total, keep in zip(values, totals, mask):
        number = _number(value)
        if keep and number is not None and 0 <= number <= float(bucket_total) * (1 + BUCKET_TOLERANCE):
            total += Fraction(number)
    return total


def _decimal(value: Number) -> Decimal:
    """Return value as a Decimal: exactly for ints and floats, to 80 digits for fractions."""
    if isinstance(value, Fraction):
        return _EXACT.divide(Decimal(value.numerator), Decimal(value.denominator))
    return Decimal(value)


def _floored(value: float, decimals: int) -> float:
    """Return value (float noise removed) rounded down to `decimals` decimals."""
    # round() rounds the float's exact value; its 9-decimal text is then exact, and cutting it is a floor for
    # values ≥ 0. This runs for every site-metric of the org, so the common case avoids Decimal.
    text = f"{round(value, NOISE_DECIMALS):.{NOISE_DECIMALS}f}"
    if text.startswith("-"):
        return float(Decimal(text).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR, context=_EXACT))
    return float(text[: len(text) - NOISE_DECIMALS + decimals])


def pct_of(part: Number, whole: Number) -> Optional[float]:
    """Return 100 × part ÷ whole without float noise (rounded to NOISE_DECIMALS), None when whole is not > 0."""
    if whole <= 0:
        return None
    ratio = _EXACT.divide(_EXACT.multiply(_decimal(part), Decimal(100)), _decimal(whole))
    return float(ratio.quantize(_NOISE_QUANTUM, rounding=ROUND_HALF_EVEN, context=_EXACT))


def json_pct(value: Optional[float]) -> Optional[float]:
    """Return an SLE % as the JSON gives it: float noise removed, rounded down to JSON_DECIMALS."""
    return None if value is None else _floored(value, JSON_DECIMALS)


def shown_pct(value: float) -> float:
    """Return an SLE % as every output shows it: float noise removed, rounded down to one decimal."""
    return _floored(value, SHOWN_DECIMALS)


def fraction_to_pct(value: Any) -> Optional[float]:
    """Return 100 × a sites-sle fraction without float noise, or None when the value is missing or outside 0..1."""
    number = _number(value)
    if number is None or number < 0 or number > 1:
        return None
    # 100 × a float is off by at most half a unit in the 15th digit: far below what rounding removes.
    return round(100.0 * number, NOISE_DECIMALS)


def unreadable_value(value: Any) -> bool:
    """Return True for a sites-sle value that is there but cannot be read: not a number, NaN, outside 0..1."""
    return value is not None and fraction_to_pct(value) is None


def parse_summary(body: Any) -> SummaryBreakdown:
    """Return the SLE % and the classifier breakdown of a `/summary` or `/summary-trend` body.

    `degraded_pct` is the classifier's share of all the metric's user-minutes (so the classifiers add up to
    the metric's % degraded); `share_pct` its share of the failures, as the Mist UI shows it. Sums are
    exact; a body whose valid buckets total 0 (whatever classifiers it names) or whose sums do not fit a
    float gives no breakdown, with `unusable` saying why.
    """
    document = _mapping(body)
    samples = _mapping(_mapping(document.get("sle")).get("samples"))
    metric_totals = _sequence(samples.get("total"))
    metric_degraded_values = _sequence(samples.get("degraded"))
    # One mask for the metric and its classifiers, so the classifiers add up to the metric's % degraded.
    mask = usable_buckets(metric_totals, metric_degraded_values)
    metric_total, metric_degraded = sum_buckets(metric_totals, metric_degraded_values)
    if metric_total <= 0:
        return SummaryBreakdown(None, [], False, unusable="holds no usable samples (valid buckets total 0)")
    if metric_total > FLOAT_MAX:
        return SummaryBreakdown(None, [], False, unusable="holds sample totals too large to be numbers")
    sle_pct = pct_of(metric_total - metric_degraded, metric_total)

    raw: List[Tuple[str, Fraction, Optional[int], Optional[int]]] = []
    has_impact = False
    for entry in _sequence(document.get("classifiers")):
        classifier = _mapping(entry)
        name = classifier.get("name")
        if not isinstance(name, str) or not name:
            logger.debug("Skipping a classifier without a name: %r", entry)
            continue
        classifier_samples = _mapping(classifier.get("samples"))
        # Classifier totals equal the metric's: the metric's buckets decide what counts.
        classifier_degraded = _sum_where(_sequence(classifier_samples.get("degraded")), metric_totals, mask)
        impact = classifier.get("impact")
        if isinstance(impact, dict):
            has_impact = True
        impact_map = _mapping(impact)
        raw.append((name, classifier_degraded, _count(impact_map.get("num_users")), _count(impact_map.get("num_aps"))))

    all_degraded = sum((degraded for _, degraded, _, _ in raw), Fraction(0))
    classifiers = [
        ClassifierStat(
            id=name,
            name=catalog.classifier_display_name(name),
            degraded_pct=pct_of(degraded, metric_total),
            share_pct=pct_of(degraded, all_degraded),
            users=users,
            aps=aps,
        )
        for name, degraded, users, aps in raw
    ]
    classifiers.sort(key=lambda stat: (-(stat.degraded_pct or 0.0), stat.id))
    return SummaryBreakdown(sle_pct=sle_pct, classifiers=classifiers, has_impact=has_impact)


def severity_for(sle_pct: Optional[float], thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> str:
    """Return critical, major, warning or info for an SLE % as shown (see shown_pct), no_data when there is none.

    Classifying the shown value keeps the word beside a number true: 80.0 % is never "major".
    """
    if sle_pct is None:
        return "no_data"
    sle_pct = shown_pct(sle_pct)
    if sle_pct < thresholds["critical"]:
        return "critical"
    if sle_pct < thresholds["major"]:
        return "major"
    if sle_pct < thresholds["warning"]:
        return "warning"
    return "info"


def site_status(metrics: Iterable[MetricResult]) -> str:
    """Return the worst severity of a site's metrics as a status.

    healthy when all measured are info and none was unreadable; a site with an unreadable value and
    nothing worse is no_data, since nobody can say it is healthy.
    """
    metric_list = list(metrics)
    severities = [metric.severity for metric in metric_list if metric.severity != "no_data"]
    if not severities:
        return "no_data"
    worst = min(severities, key=lambda severity: SEVERITY_RANK[severity])
    if worst != "info":
        return worst
    return "no_data" if any(metric.unreadable for metric in metric_list) else "healthy"


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
        value = result.get(metric.key)
        sle_pct = fraction_to_pct(value)
        metrics[metric.key] = MetricResult(
            key=metric.key,
            name=metric.name,
            sle_pct=sle_pct,
            severity=severity_for(sle_pct, thresholds),
            detail=DETAIL_SKIPPED,
            unreadable=unreadable_value(value),
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
        # A site's profile thresholds (analysis/policy.py) judge it when it has one.
        metric.severity = severity_for(metric.sle_pct, metric.thresholds or thresholds)


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
    """Return an SLE % as shown_pct gives it, so 89.96 reads 89.9 and never 90.0 beside "warning"."""
    return f"{shown_pct(value):.{SHOWN_DECIMALS}f}"
