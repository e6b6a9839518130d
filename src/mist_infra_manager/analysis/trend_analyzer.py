"""Day-over-day trends and the 7-day view: pure functions over snapshots (issue: Trend analysis).

A snapshot is the compact record of one run: per site its client count and, per metric, the SLE %
(rounded), the severity and the top classifier. Nothing here reads or writes files; history_store
does the I/O and hands the snapshots and the daily org values in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from mist_infra_manager.analysis import catalog, sle_monitor
from mist_infra_manager.analysis.models import ALERT_SEVERITIES, SEVERITY_RANK, RunResult

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
# A day without data: visible, so that HTML (which collapses spaces) and text keep the 7 days apart.
SPARK_GAP = "·"
# SLE values move by tenths of a point; a line scaled to less than this span would turn noise into cliffs.
SPARK_MIN_SPAN_PP = 1.0
# Compare with the snapshot nearest to 24 h earlier, if one lies within ±3 h of that.
BASELINE_AGE = timedelta(hours=24)
BASELINE_TOLERANCE = timedelta(hours=3)
PCT_DIGITS = 2
DELTA_DIGITS = 1
# Float noise of the subtraction of two rounded percentages; a drop of exactly the threshold counts.
DELTA_EPSILON_PP = 1e-9
# Lines of the text block per list; the JSON holds all of them.
TEXT_LIST_LIMIT = 50

# One character per site-metric in a snapshot.
SEVERITY_CODES: Dict[str, str] = {"critical": "c", "major": "m", "warning": "w", "info": "i", "no_data": "n"}
CODE_SEVERITIES: Dict[str, str] = {code: severity for severity, code in SEVERITY_CODES.items()}


@dataclass
class Snapshot:
    """One run's values, stored column-wise: row i of site_ids owns the flat index i * len(metrics) + j."""

    taken_at: datetime
    metrics: List[str]
    site_ids: List[str]
    clients: List[Optional[int]]
    # SLE % rounded to PCT_DIGITS, None without data; flat, row-major.
    pcts: List[Optional[float]]
    # One SEVERITY_CODES character per flat index.
    severities: str
    # Flat index -> id of the classifier with the largest degraded share, where the detail was fetched.
    top_classifiers: Dict[int, str] = field(default_factory=dict)
    _rows: Optional[Dict[str, int]] = field(default=None, repr=False, compare=False)
    _org: Optional[Dict[str, Optional[float]]] = field(default=None, repr=False, compare=False)

    def row(self, site_id: str) -> Optional[int]:
        """Return the row of a site, or None when the snapshot does not hold it."""
        if self._rows is None:
            self._rows = {site_id: index for index, site_id in enumerate(self.site_ids)}
        return self._rows.get(site_id)

    def index(self, site_id: str, metric: str) -> Optional[int]:
        """Return the flat index of a site-metric, or None when the snapshot does not hold it."""
        row = self.row(site_id)
        if row is None or metric not in self.metrics:
            return None
        return row * len(self.metrics) + self.metrics.index(metric)

    def value(self, site_id: str, metric: str) -> Tuple[Optional[float], str]:
        """Return (SLE %, severity) of a site-metric; (None, "no_data") when the snapshot does not hold it."""
        index = self.index(site_id, metric)
        if index is None:
            return None, "no_data"
        return self.pcts[index], CODE_SEVERITIES.get(self.severities[index], "no_data")


def utc(moment: datetime) -> datetime:
    """Return an aware UTC datetime; a naive one is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    """Return an ISO 8601 UTC time with a Z, as every stored time and the JSON use."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot_from_result(result: RunResult) -> Snapshot:
    """Return the compact snapshot of a run, metrics in catalog order."""
    metrics = list(catalog.METRIC_KEYS)
    site_ids: List[str] = []
    clients: List[Optional[int]] = []
    pcts: List[Optional[float]] = []
    codes: List[str] = []
    tops: Dict[int, str] = {}
    no_data = SEVERITY_CODES["no_data"]
    for site in result.sites:
        site_ids.append(site.id)
        clients.append(site.num_clients)
        for key in metrics:
            metric = site.metrics.get(key)
            if metric is None:
                pcts.append(None)
                codes.append(no_data)
                continue
            # Only metrics with fetched detail have classifiers: most have none, and this runs 70,000 times.
            top = metric.top_classifier if metric.classifiers else None
            if top is not None:
                tops[len(pcts)] = top.id
            pct = metric.sle_pct
            pcts.append(None if pct is None else round(pct, PCT_DIGITS))
            codes.append(SEVERITY_CODES.get(metric.severity, no_data))
    return Snapshot(utc(result.generated_at), metrics, site_ids, clients, pcts, "".join(codes), tops)


def has_data(snapshot: Snapshot) -> bool:
    """Return True when at least one site-metric of the snapshot has an SLE %."""
    return any(pct is not None for pct in snapshot.pcts)


def _weighted_mean(weighted: float, weights: float, plain_mean: float) -> float:
    """Return weighted / weights, or the plain mean without weights or when client counts overflow a float."""
    if not weights:
        return plain_mean
    try:
        mean = weighted / weights
    except OverflowError:
        return plain_mean
    # Client counts near the float limit (a hostile num_clients) make inf or NaN: never a percentage.
    return mean if math.isfinite(mean) else plain_mean


def org_values(snapshot: Snapshot) -> Dict[str, Optional[float]]:
    """Return per metric the client-weighted average SLE % over the sites with data, None when none has data.

    Sites without a client count weigh nothing; when no site with data has clients, the plain mean is used.
    """
    if snapshot._org is not None:
        return dict(snapshot._org)
    width = len(snapshot.metrics)
    values: Dict[str, Optional[float]] = {}
    for column, key in enumerate(snapshot.metrics):
        weighted = weights = plain = 0.0
        count = 0
        for pct, clients in zip(snapshot.pcts[column::width], snapshot.clients):
            if pct is None:
                continue
            count += 1
            plain += pct
            if clients:
                weighted += pct * clients
                weights += clients
        if not count:
            values[key] = None
        else:
            values[key] = round(_weighted_mean(weighted, weights, plain / count), PCT_DIGITS)
    snapshot._org = dict(values)
    return values


def baseline_candidates(times: Sequence[datetime], now: datetime) -> List[int]:
    """Return the indexes of times to try as the day-over-day baseline, best first.

    First those within ±3 h of 24 h before now, nearest first (the earlier one on a tie); then those of
    the previous UTC date, latest first. Times at or after now are never candidates.
    """
    now = utc(now)
    target = now - BASELINE_AGE
    moments = [utc(moment) for moment in times]
    near = [
        index for index, moment in enumerate(moments) if moment < now and abs(moment - target) <= BASELINE_TOLERANCE
    ]
    near.sort(key=lambda index: (abs(moments[index] - target), moments[index]))
    yesterday = now.date() - timedelta(days=1)
    chosen = set(near)
    previous_date = [
        index for index, moment in enumerate(moments) if moment.date() == yesterday and index not in chosen
    ]
    previous_date.sort(key=lambda index: moments[index], reverse=True)
    return near + previous_date


def _change(
    site_id: str,
    site_name: str,
    metric: str,
    previous: Tuple[float, str],
    current: Tuple[float, str],
) -> Dict[str, Any]:
    return {
        "site_id": site_id,
        "site_name": site_name,
        "metric": metric,
        "metric_name": catalog.METRICS_BY_KEY[metric].name if metric in catalog.METRICS_BY_KEY else metric,
        "previous_pct": previous[0],
        "current_pct": current[0],
        "delta_pp": round(current[0] - previous[0], DELTA_DIGITS),
        "previous_severity": previous[1],
        "current_severity": current[1],
    }


def compare(
    current: Snapshot,
    previous: Snapshot,
    site_names: Mapping[str, str],
    threshold_pp: float,
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Return (degradations, improvements) of the site-metrics with an SLE % in both snapshots.

    A degradation is a drop of at least threshold_pp points or a worse severity; an improvement is a rise of
    at least threshold_pp points or a better severity, when it is not a degradation. Degradations come worst
    severity first, then the largest drop; improvements the largest rise first.
    """
    degradations: List[Dict[str, Any]] = []
    improvements: List[Dict[str, Any]] = []
    width = len(current.metrics)
    previous_width = len(previous.metrics)
    # Column of each current metric in the previous snapshot (None when it did not have it).
    columns = [previous.metrics.index(key) if key in previous.metrics else None for key in current.metrics]
    for row, site_id in enumerate(current.site_ids):
        previous_row = previous.row(site_id)
        if previous_row is None:
            continue
        for column, metric in enumerate(current.metrics):
            index = row * width + column
            now_pct = current.pcts[index]
            previous_column = columns[column]
            if now_pct is None or previous_column is None:
                continue
            previous_index = previous_row * previous_width + previous_column
            before_pct = previous.pcts[previous_index]
            if before_pct is None:
                continue
            before_severity = CODE_SEVERITIES.get(previous.severities[previous_index], "no_data")
            now_severity = CODE_SEVERITIES.get(current.severities[index], "no_data")
            delta = now_pct - before_pct
            if (
                delta <= -threshold_pp + DELTA_EPSILON_PP
                or SEVERITY_RANK[now_severity] < SEVERITY_RANK[before_severity]
            ):
                target = degradations
            elif (
                delta >= threshold_pp - DELTA_EPSILON_PP or SEVERITY_RANK[now_severity] > SEVERITY_RANK[before_severity]
            ):
                target = improvements
            else:
                continue
            target.append(
                _change(
                    site_id,
                    site_names.get(site_id, site_id),
                    metric,
                    (before_pct, before_severity),
                    (now_pct, now_severity),
                )
            )
    degradations.sort(
        key=lambda e: (SEVERITY_RANK[e["current_severity"]], e["delta_pp"], e["site_name"].lower(), e["metric"])
    )
    improvements.sort(key=lambda e: (-e["delta_pp"], e["site_name"].lower(), e["metric"]))
    return degradations, improvements


def day_value(entries: Sequence[Mapping[str, Optional[float]]]) -> Dict[str, Optional[float]]:
    """Return per metric the org value of a date: the latest non-null one among its runs (oldest first)."""
    values: Dict[str, Optional[float]] = {key: None for key in catalog.METRIC_KEYS}
    for entry in entries:
        for key, value in entry.items():
            if value is not None:
                values[key] = value
    return values


def series_dates(today: date, keep_days: int) -> List[date]:
    """Return the keep_days dates ending today, oldest first."""
    return [today - timedelta(days=offset) for offset in range(keep_days - 1, -1, -1)]


def sparkline(values: Sequence[Optional[float]], min_span: float = 0.0) -> str:
    """Return a Unicode block sparkline of values; a missing value is SPARK_GAP.

    With min_span, values closer together than min_span are drawn around the middle of that span, so small
    noise stays small; a flat line sits in the middle either way.
    """
    present = [value for value in values if value is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = high - low
    if span < min_span:
        low = (low + high) / 2 - min_span / 2
        span = min_span
    characters = []
    for value in values:
        if value is None:
            characters.append(SPARK_GAP)
        elif span <= 0:
            characters.append(SPARK_BLOCKS[len(SPARK_BLOCKS) // 2])
        else:
            index = round((value - low) / span * (len(SPARK_BLOCKS) - 1))
            characters.append(SPARK_BLOCKS[max(0, min(len(SPARK_BLOCKS) - 1, index))])
    return "".join(characters)


def degraded_site_ids(snapshot: Snapshot) -> Set[str]:
    """Return the sites with at least one metric at an alert severity (critical, major, warning)."""
    alert_codes = {SEVERITY_CODES[severity] for severity in ALERT_SEVERITIES}
    width = len(snapshot.metrics)
    return {
        site_id
        for row, site_id in enumerate(snapshot.site_ids)
        if any(code in alert_codes for code in snapshot.severities[row * width : (row + 1) * width])
    }


def build_trends(
    current: Snapshot,
    site_names: Mapping[str, str],
    baseline: Optional[Snapshot],
    earlier_org: Mapping[date, Sequence[Mapping[str, Optional[float]]]],
    site_days: Mapping[date, Snapshot],
    threshold_pp: float,
    keep_days: int,
) -> Dict[str, Any]:
    """Return the `trends` block of the result (README, "Trends and history").

    earlier_org holds per date the org values of its earlier runs, oldest first (today's without the current
    run); site_days holds per earlier date its last snapshot, for the 7-day lines of the degraded sites.
    """
    today = current.taken_at.date()
    dates = series_dates(today, keep_days)
    current_org = org_values(current)
    previous_org = org_values(baseline) if baseline is not None else {}
    per_date = {
        day: day_value([*earlier_org.get(day, ()), current_org] if day == today else earlier_org.get(day, ()))
        for day in dates
    }
    org: Dict[str, Any] = {}
    for key in current.metrics:
        values = [per_date[day].get(key) for day in dates]
        series = [{"date": day.isoformat(), "pct": value} for day, value in zip(dates, values)]
        org[key] = {
            "name": catalog.METRICS_BY_KEY[key].name if key in catalog.METRICS_BY_KEY else key,
            "current_pct": current_org.get(key),
            "previous_pct": previous_org.get(key),
            "series_7d": series,
            "sparkline": sparkline(values, SPARK_MIN_SPAN_PP),
        }
    if baseline is not None:
        degradations, improvements = compare(current, baseline, site_names, threshold_pp)
    else:
        degradations, improvements = [], []
    return {
        "compared_with": iso(baseline.taken_at) if baseline is not None else None,
        "baseline": baseline is not None,
        "degradations": degradations,
        "improvements": improvements,
        "org": org,
        "sites_7d": _sites_7d(current, site_days, dates),
    }


def _sites_7d(current: Snapshot, site_days: Mapping[date, Snapshot], dates: Sequence[date]) -> Dict[str, Any]:
    alert_codes = {SEVERITY_CODES[severity] for severity in ALERT_SEVERITIES}
    today = current.taken_at.date()
    labels = [day.isoformat() for day in dates]
    earlier = [None if day == today else site_days.get(day) for day in dates]
    # Per date, the column of each current metric in that date's snapshot (None: not there).
    columns: List[List[Optional[int]]] = [
        [
            None if snapshot is None or key not in snapshot.metrics else snapshot.metrics.index(key)
            for key in current.metrics
        ]
        for snapshot in earlier
    ]
    width = len(current.metrics)
    sites: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    for row, site_id in enumerate(current.site_ids):
        first = row * width
        if not any(code in alert_codes for code in current.severities[first : first + width]):
            continue
        rows = [None if snapshot is None else snapshot.row(site_id) for snapshot in earlier]
        for column, metric in enumerate(current.metrics):
            if current.severities[first + column] not in alert_codes:
                continue
            points: List[Dict[str, Any]] = []
            for position, day in enumerate(dates):
                snapshot, earlier_row = earlier[position], rows[position]
                pct: Optional[float] = None
                if day == today:
                    pct = current.pcts[first + column]
                elif snapshot is not None and earlier_row is not None:
                    earlier_column = columns[position][column]
                    if earlier_column is not None:
                        pct = snapshot.pcts[earlier_row * len(snapshot.metrics) + earlier_column]
                points.append({"date": labels[position], "pct": pct})
            sites.setdefault(site_id, {})[metric] = points
    return sites


# --- Text ------------------------------------------------------------------------------------------


def _pct(value: Optional[float]) -> str:
    return "no data" if value is None else f"{sle_monitor.format_sle(value)}%"


def series_line(points: Sequence[Mapping[str, Any]], min_span: float = 0.0) -> str:
    """Return `▇▇▆▃▁ 98.5% → 91.5%`: the sparkline of a series with its first and last values."""
    values = [point.get("pct") for point in points]
    present = [value for value in values if value is not None]
    if not present:
        return "no data"
    line = sparkline(values, min_span)
    if len(present) == 1:
        return f"{line} {_pct(present[0])} (one day so far)"
    return f"{line} {_pct(present[0])} → {_pct(present[-1])}"


def change_line(change: Mapping[str, Any]) -> str:
    """Return `Store-0001 Paris - Coverage: 98.5% → 91.5% (-7.0 pp, info → warning)`."""
    text = (
        f"{change['site_name']} - {change['metric_name']}: {_pct(change['previous_pct'])} → "
        f"{_pct(change['current_pct'])} ({change['delta_pp']:+.1f} pp"
    )
    if change["previous_severity"] != change["current_severity"]:
        text += f", {change['previous_severity']} → {change['current_severity']}"
    return text + ")"


def _change_block(title: str, changes: Sequence[Mapping[str, Any]]) -> List[str]:
    lines = [f"  {title}: {len(changes) or 'none'}"]
    lines.extend(f"    {change_line(change)}" for change in changes[:TEXT_LIST_LIMIT])
    if len(changes) > TEXT_LIST_LIMIT:
        lines.append(f"    ... and {len(changes) - TEXT_LIST_LIMIT} more (see the JSON dashboard)")
    return lines


def trend_text(trends: Optional[Mapping[str, Any]]) -> str:
    """Return the TRENDS block of the text reports, or "" without trends."""
    if not trends:
        return ""
    lines = ["TRENDS"]
    if trends["baseline"]:
        lines.append(f"  Day over day: compared with the run of {trends['compared_with']}")
    else:
        lines.append("  Day over day: no baseline yet (no earlier run from about 24 h ago or from yesterday)")
    org = trends["org"]
    days = len(next(iter(org.values()))["series_7d"]) if org else 0
    lines.append(f"  Org-wide, client-weighted, last {days} days (UTC dates):")
    width = max((len(entry["name"]) for entry in org.values()), default=0)
    for entry in org.values():
        lines.append(f"    {entry['name']:<{width}}  {series_line(entry['series_7d'], SPARK_MIN_SPAN_PP)}")
    if trends["baseline"]:
        lines.extend(_change_block("Degradations since then", trends["degradations"]))
        lines.extend(_change_block("Improvements since then", trends["improvements"]))
    return "\n".join(lines)


def site_lines(trends: Optional[Mapping[str, Any]]) -> Dict[str, Dict[str, str]]:
    """Return per degraded site and metric `Last 7 days: ▇▇▆▃▁ 98.5% → 91.5%`, for the text reports."""
    if not trends:
        return {}
    return {
        site_id: {
            metric: f"Last {len(points)} days: {series_line(points, SPARK_MIN_SPAN_PP)}"
            for metric, points in metrics.items()
        }
        for site_id, metrics in trends.get("sites_7d", {}).items()
    }
