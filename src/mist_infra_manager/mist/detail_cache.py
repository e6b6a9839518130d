"""Caches that save API calls between runs, under `reports.directory/state/`.

- `sites_cache.json`: the org's sites list (id and name), reused for `mist.sites_cache_minutes`.
- `detail_cache.json`: the classifier detail of each fetched site-metric, reused within
  `sle.detail_reuse_minutes` while its SLE % moved less than REUSE_MAX_MOVE_PP; the ordered list of
  site-metrics whose detail was deferred (they go first next run); and when `/summary` last answered 404.

The documents are built and read by pure functions; `load_*`/`save_*` are the file edges.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import ClassifierStat, MetricResult
from mist_infra_manager.mist.call_budget import format_time, parse_time
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import atomic_write_text, expect_object, read_json_or_none

logger = logging.getLogger(__name__)

SITES_CACHE_FILE_NAME = paths.SITES_CACHE_FILE_NAME
SITEGROUPS_CACHE_FILE_NAME = paths.SITEGROUPS_CACHE_FILE_NAME
# The site keys the alert policy reads (analysis/policy.py), kept in the sites cache besides id and name.
POLICY_SITE_KEYS = ("timezone", "sitegroup_ids")
DETAIL_CACHE_FILE_NAME = paths.DETAIL_CACHE_FILE_NAME
CACHE_VERSION = 1
# Classifier detail is reused only while the metric's SLE % moved less than this since the fetch.
REUSE_MAX_MOVE_PP = 1.0
# After /summary answered 404, runs go straight to /summary-trend for this long, then try /summary again.
SUMMARY_REMOVED_RECHECK = timedelta(hours=24)


def _write_compact(path: Path, document: Any) -> None:
    # One line, no indentation: the json module's C encoder only serves compact output, and these files
    # hold an entry per site (10,000 sites: about 1 MB) that no one reads by eye.
    atomic_write_text(path, json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n")


def detail_key(site_id: str, metric_key: str) -> str:
    """Return the cache key of a site-metric."""
    return f"{site_id}/{metric_key}"


# --- sites list ------------------------------------------------------------------------------------


def sites_document(org_id: str, fetched_at: datetime, site_list: List[Any]) -> Dict[str, Any]:
    """Return the sites-cache document: the id and name of each site, and what the policy reads (timezone, groups)."""
    sites = [
        {"id": entry["id"], "name": entry.get("name"), **{key: entry[key] for key in POLICY_SITE_KEYS if key in entry}}
        for entry in site_list
        if isinstance(entry, dict) and isinstance(entry.get("id"), str)
    ]
    return {"version": CACHE_VERSION, "org_id": org_id, "fetched_at": format_time(fetched_at), "sites": sites}


def cached_sites(document: Any, org_id: str, now: datetime, max_age_minutes: float) -> Optional[List[Dict[str, Any]]]:
    """Return the cached sites list when it is of this org and younger than max_age_minutes, else None."""
    if max_age_minutes <= 0 or not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
        return None
    fetched_at = parse_time(document.get("fetched_at"))
    sites = document.get("sites")
    if document.get("org_id") != org_id or fetched_at is None or not isinstance(sites, list):
        return None
    age = now - fetched_at
    if age < timedelta(0) or age >= timedelta(minutes=max_age_minutes):
        return None
    return [entry for entry in sites if isinstance(entry, dict) and isinstance(entry.get("id"), str)]


def _load_list(path: Path, what: str, org_id: str, now: datetime, max_age_minutes: float) -> Optional[List[Any]]:
    """Return a cached list (the sites, or the site groups) when young enough and of this org, else None."""
    if max_age_minutes <= 0:
        return None
    document = read_json_or_none(
        path, what, check=expect_object("sites"), outcome=f"the {what.removesuffix(' cache')} is fetched again"
    )
    return cached_sites(document, org_id, now, max_age_minutes)


def _save_list(path: Path, what: str, org_id: str, fetched_at: datetime, items: List[Any]) -> None:
    """Write a cached list in the sites cache's format; a failure is a warning, never a failed run."""
    try:
        _write_compact(path, sites_document(org_id, fetched_at, items))
    except (OSError, ValueError) as error:
        logger.warning("Cannot write the %s: %s", what, error)


def load_sites(state_directory: Path, org_id: str, now: datetime, max_age_minutes: float) -> Optional[List[Any]]:
    """Return the usable cached sites list, or None."""
    return _load_list(state_directory / SITES_CACHE_FILE_NAME, "sites list cache", org_id, now, max_age_minutes)


def save_sites(state_directory: Path, org_id: str, fetched_at: datetime, site_list: List[Any]) -> None:
    """Write the sites cache; a failure is a warning, never a failed run."""
    _save_list(state_directory / SITES_CACHE_FILE_NAME, "sites list cache", org_id, fetched_at, site_list)


def load_site_groups(state_directory: Path, org_id: str, now: datetime, max_age_minutes: float) -> Optional[List[Any]]:
    """Return the cached site groups (id and name), cached like the sites list, or None."""
    path = state_directory / SITEGROUPS_CACHE_FILE_NAME
    return _load_list(path, "site groups cache", org_id, now, max_age_minutes)


def save_site_groups(state_directory: Path, org_id: str, fetched_at: datetime, groups: List[Any]) -> None:
    """Write the site groups cache; a failure is a warning, never a failed run."""
    _save_list(state_directory / SITEGROUPS_CACHE_FILE_NAME, "site groups cache", org_id, fetched_at, groups)


# --- classifier detail -----------------------------------------------------------------------------


@dataclass
class DetailEntry:
    """The classifier detail of one site-metric as fetched at fetched_at, when its SLE % was sle_pct."""

    fetched_at: datetime
    sle_pct: float
    source: str
    classifiers: List[ClassifierStat]


@dataclass
class DetailState:
    """What the detail cache file holds."""

    entries: Dict[str, DetailEntry] = field(default_factory=dict)
    deferred: List[str] = field(default_factory=list)
    summary_removed_at: Optional[datetime] = None


def _stat_row(stat: ClassifierStat) -> List[Any]:
    return [stat.id, stat.degraded_pct, stat.share_pct, stat.users, stat.aps]


def _number_or_none(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _count_or_none(value: Any) -> Optional[int]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _stat_from_row(row: Any) -> Optional[ClassifierStat]:
    if not isinstance(row, list) or len(row) != 5 or not isinstance(row[0], str):
        return None
    return ClassifierStat(
        id=row[0],
        name=catalog.classifier_display_name(row[0]),
        degraded_pct=_number_or_none(row[1]),
        share_pct=_number_or_none(row[2]),
        users=_count_or_none(row[3]),
        aps=_count_or_none(row[4]),
    )


def detail_document(state: DetailState, org_id: str, duration: str) -> Dict[str, Any]:
    """Return the detail-cache document; classifiers are compact rows [id, degraded_pct, share_pct, users, aps]."""
    return {
        "version": CACHE_VERSION,
        "org_id": org_id,
        "duration": duration,
        "summary_removed_at": format_time(state.summary_removed_at),
        "deferred": list(state.deferred),
        "entries": {
            key: {
                "fetched_at": format_time(entry.fetched_at),
                "sle_pct": entry.sle_pct,
                "source": entry.source,
                "classifiers": [_stat_row(stat) for stat in entry.classifiers],
            }
            for key, entry in state.entries.items()
        },
    }


def parse_detail(document: Any, org_id: str, duration: str) -> DetailState:
    """Return the detail state of a document; another org or SLE window, or another version, starts afresh."""
    state = DetailState()
    if not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
        return state
    if document.get("org_id") != org_id:
        return state
    state.summary_removed_at = parse_time(document.get("summary_removed_at"))
    # Entries and deferrals describe one SLE window; a changed sle.duration makes them meaningless.
    if document.get("duration") != duration:
        return state
    deferred = document.get("deferred")
    state.deferred = [key for key in deferred if isinstance(key, str)] if isinstance(deferred, list) else []
    entries = document.get("entries")
    for key, raw in entries.items() if isinstance(entries, dict) else []:
        if not isinstance(raw, dict):
            continue
        fetched_at = parse_time(raw.get("fetched_at"))
        sle_pct = _number_or_none(raw.get("sle_pct"))
        source = raw.get("source")
        rows = raw.get("classifiers")
        if fetched_at is None or sle_pct is None or not isinstance(source, str) or not isinstance(rows, list):
            continue
        stats = [_stat_from_row(row) for row in rows]
        state.entries[key] = DetailEntry(fetched_at, sle_pct, source, [stat for stat in stats if stat is not None])
    return state


def reusable(entry: Optional[DetailEntry], sle_pct: Optional[float], now: datetime, max_age_minutes: float) -> bool:
    """Return True when entry may stand in for a fetch: younger than max_age_minutes, SLE % moved < 1 pp."""
    if entry is None or sle_pct is None or max_age_minutes <= 0:
        return False
    age = now - entry.fetched_at
    if age < timedelta(0) or age >= timedelta(minutes=max_age_minutes):
        return False
    return abs(sle_pct - entry.sle_pct) < REUSE_MAX_MOVE_PP


def apply_entry(metric: MetricResult, entry: DetailEntry, now: datetime) -> None:
    """Fill a metric from a cached entry and mark it with the entry's age in whole minutes."""
    metric.classifiers = [
        ClassifierStat(stat.id, stat.name, stat.degraded_pct, stat.share_pct, stat.users, stat.aps)
        for stat in entry.classifiers
    ]
    metric.source = entry.source
    metric.detail_age_minutes = int((now - entry.fetched_at).total_seconds() // 60)


def entry_of(metric: MetricResult, fetched_at: datetime) -> Optional[DetailEntry]:
    """Return the cache entry of a freshly fetched metric, or None when it cannot be reused (no SLE %)."""
    if metric.sle_pct is None or metric.source is None:
        return None
    return DetailEntry(fetched_at, metric.sle_pct, metric.source, list(metric.classifiers))


def kept_entries(entries: Mapping[str, DetailEntry], now: datetime, max_age_minutes: float) -> Dict[str, DetailEntry]:
    """Return the entries still young enough to be reused by a later run."""
    if max_age_minutes <= 0:
        return {}
    limit = timedelta(minutes=max_age_minutes)
    return {key: entry for key, entry in entries.items() if timedelta(0) <= now - entry.fetched_at < limit}


def summary_removed(state: DetailState, now: datetime) -> bool:
    """Return True when /summary answered 404 recently enough to go straight to /summary-trend."""
    removed_at = state.summary_removed_at
    return removed_at is not None and timedelta(0) <= now - removed_at < SUMMARY_REMOVED_RECHECK


def load_detail(state_directory: Path, org_id: str, duration: str) -> DetailState:
    """Return the detail cache of this org and window (empty when missing or of another)."""
    document = read_json_or_none(
        state_directory / DETAIL_CACHE_FILE_NAME,
        "classifier detail cache",
        check=expect_object("entries"),
        outcome="classifier detail is fetched again",
    )
    return parse_detail(document, org_id, duration)


def save_detail(state_directory: Path, state: DetailState, org_id: str, duration: str) -> None:
    """Write the detail cache; a failure is a warning, never a failed run."""
    try:
        _write_compact(state_directory / DETAIL_CACHE_FILE_NAME, detail_document(state, org_id, duration))
    except (OSError, ValueError) as error:
        logger.warning("Cannot write the classifier detail cache: %s", error)
