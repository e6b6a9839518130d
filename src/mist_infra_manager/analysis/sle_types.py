"""The SLE types beside Wi-Fi: which metrics each type has, and the parsing of wired and WAN sites-sle rows.

`GET /orgs/{org}/insights/sites-sle?sle=wired|wan` gives one row per site with switches or gateways
(REFERENCE §11 of the Mist API notes; schemas `org_site_sle_wired_result`, `org_site_sle_wan_result`).
A site without that row, or whose row counts no switch (no gateway), is no data for that type: never
healthy and never a problem. Pure: nothing here does I/O.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from mist_infra_manager.analysis import catalog, sle_monitor
from mist_infra_manager.analysis.models import DETAIL_SKIPPED, MetricResult, SiteResult

WIFI = "wifi"
WIRED = "wired"
WAN = "wan"
TYPES: Tuple[str, ...] = (WIFI, WIRED, WAN)
DEFAULT_TYPES: Tuple[str, ...] = (WIFI,)
TYPE_LABELS: Dict[str, str] = {WIFI: "Wi-Fi", WIRED: "Wired", WAN: "WAN"}
# The device count of a type's row, and the devices it counts (for notes).
COUNT_KEYS: Dict[str, str] = {WIRED: "num_switches", WAN: "num_gateways"}
DEVICE_WORDS: Dict[str, str] = {WIRED: "switches", WAN: "gateways"}
# Org result keys per metric key where the schema spells one differently (application_health).
ORG_KEY_ALIASES: Dict[str, Tuple[str, ...]] = {"application-health": ("application-health", "application_health")}


def ordered_types(types: Iterable[str]) -> List[str]:
    """Return the known types among types, in the canonical order wifi, wired, wan, each once."""
    wanted = set(types)
    return [sle_type for sle_type in TYPES if sle_type in wanted]


def metrics_of(types: Iterable[str]) -> Tuple[catalog.Metric, ...]:
    """Return the catalog metrics of the given types, in catalog order (Wi-Fi first)."""
    wanted = set(types)
    return tuple(metric for metric in catalog.ALL_METRICS if metric.sle_type in wanted)


def metric_keys(types: Iterable[str]) -> Tuple[str, ...]:
    """Return the metric keys of the given types, in catalog order."""
    return tuple(metric.key for metric in metrics_of(types))


def type_of(metric_key: str) -> str:
    """Return the SLE type of a metric key; unknown keys count as Wi-Fi."""
    metric = catalog.ALL_METRICS_BY_KEY.get(metric_key)
    return WIFI if metric is None else metric.sle_type


def site_metric_ids(metric_key: str) -> Tuple[str, ...]:
    """Return the ids to try on the site SLE endpoints for a metric key, in order (the key itself when unknown)."""
    metric = catalog.ALL_METRICS_BY_KEY.get(metric_key)
    if metric is None:
        return (metric_key,)
    return (metric.site_metric_id, *metric.site_metric_fallbacks)


def rows_by_site(results: Sequence[Any]) -> Dict[str, Mapping[str, Any]]:
    """Return the sites-sle rows with a string site_id, by site id (the last row of a site wins)."""
    return {
        entry["site_id"]: entry
        for entry in results
        if isinstance(entry, dict) and isinstance(entry.get("site_id"), str)
    }


def _org_value(row: Mapping[str, Any], metric_key: str) -> Any:
    for key in ORG_KEY_ALIASES.get(metric_key, (metric_key,)):
        if row.get(key) is not None:
            return row.get(key)
    return None


def device_count(sle_type: str, row: Optional[Mapping[str, Any]]) -> Optional[int]:
    """Return the switches (gateways) a wired (WAN) row counts; None without a row or without a usable count."""
    if row is None:
        return None
    value = row.get(COUNT_KEYS[sle_type])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(value)


def has_devices(sle_type: str, row: Optional[Mapping[str, Any]]) -> bool:
    """Return True when a row reports the type at its site: a row, not counting zero devices, with a metric value."""
    if row is None or device_count(sle_type, row) == 0:
        return False
    return any(_org_value(row, metric.key) is not None for metric in metrics_of([sle_type]))


def type_metrics(
    sle_type: str, row: Optional[Mapping[str, Any]], thresholds: Mapping[str, float]
) -> Dict[str, MetricResult]:
    """Return a site's metrics of one type from its row; every one no_data when the site has no such devices."""
    present = has_devices(sle_type, row)
    metrics: Dict[str, MetricResult] = {}
    for metric in metrics_of([sle_type]):
        value = _org_value(row, metric.key) if present and row is not None else None
        sle_pct = sle_monitor.fraction_to_pct(value)
        metrics[metric.key] = MetricResult(
            key=metric.key,
            name=metric.name,
            sle_pct=sle_pct,
            severity=sle_monitor.severity_for(sle_pct, thresholds),
            detail=DETAIL_SKIPPED,
            unreadable=sle_monitor.unreadable_value(value),
        )
    return metrics


def apply_type(
    site: SiteResult, sle_type: str, row: Optional[Mapping[str, Any]], thresholds: Mapping[str, float]
) -> None:
    """Add one type's metrics and device count to a site (its status is derived later from every metric)."""
    site.metrics.update(type_metrics(sle_type, row, thresholds))
    count = device_count(sle_type, row)
    if sle_type == WIRED:
        site.num_switches = count
    elif sle_type == WAN:
        site.num_gateways = count


def no_data_note(sle_type: str, sites: Sequence[SiteResult]) -> Optional[str]:
    """Return the one note for a type no site of the org reports, None when some site does (or there are no sites)."""
    keys = metric_keys([sle_type])
    if not sites or any(site.metrics[key].sle_pct is not None for site in sites for key in keys if key in site.metrics):
        return None
    return (
        f"sle.types includes {sle_type}, but no site of the org reported {TYPE_LABELS[sle_type]} SLE data "
        f"(no {DEVICE_WORDS[sle_type]}?): its metrics are no data at every site"
    )


def without_device_counts(metric_key: str, classifier_aps: Optional[int]) -> Optional[int]:
    """Return a classifier's AP count as the tool shows it: None for wired and WAN metrics (they count no APs)."""
    return classifier_aps if type_of(metric_key) == WIFI else None


def merge_types(
    sites: List[SiteResult],
    results_by_type: Mapping[str, Sequence[Any]],
    thresholds: Mapping[str, float],
    failed: Iterable[str] = (),
) -> List[str]:
    """Add the wired and WAN metrics of results_by_type (type -> sites-sle results) to sites; return notes.

    Every site gets every metric of each type given (no_data without a row). A site that only a wired or
    WAN result names is added, shown by id. A type no site reports gives one note, not one per site; a type
    in failed (its call failed: a problem already says so) gets none.
    """
    failed_types = set(failed)
    notes: List[str] = []
    rows = {sle_type: rows_by_site(results) for sle_type, results in results_by_type.items()}
    known = {site.id for site in sites}
    unknown: List[str] = []
    for sle_type in ordered_types(rows):
        for site_id in rows[sle_type]:
            if site_id not in known:
                known.add(site_id)
                unknown.append(site_id)
    sites.extend(sle_monitor.build_site(site_id, site_id, None, thresholds) for site_id in unknown)
    if unknown:
        notes.append(f"{len(unknown)} site(s) had wired or WAN SLE data but were missing from the sites list")
    for sle_type in ordered_types(rows):
        for site in sites:
            apply_type(site, sle_type, rows[sle_type].get(site.id), thresholds)
        note = None if sle_type in failed_types else no_data_note(sle_type, sites)
        if note is not None:
            notes.append(note)
    return notes
