"""One collection of the org's SLEs: the API calls of a run, in order, feeding the pure calculations.

/self, then the sites list and the paged org sites-sle side by side, then the per-site-metric
`/summary` calls that `sle.classifier_detail` asks for, on a bounded worker pool.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Tuple

import catalog
import insights_analyzer
import sle_monitor
from mist_client import AuthError, MistApiError, MistClient, NotFoundError, RateLimitError
from models import (
    ALERT_SEVERITIES,
    DETAIL_DEFERRED,
    DETAIL_FETCHED,
    DETAIL_UNAVAILABLE,
    SEVERITY_RANK,
    MetricResult,
    RunResult,
    SiteResult,
)

logger = logging.getLogger(__name__)

SUMMARY = "summary"
SUMMARY_TREND = "summary-trend"


class OrgSelectionError(Exception):
    """The org to report on cannot be chosen from the token's privileges."""


@dataclass
class CollectionSettings:
    """What a collection needs from the configuration."""

    org_id: Optional[str] = None
    duration: str = "1d"
    classifier_detail: str = "degraded"
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(sle_monitor.DEFAULT_THRESHOLDS))
    max_workers: int = 8

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CollectionSettings:
        """Return the settings of a validated configuration."""
        return cls(
            org_id=config["mist"]["org_id"],
            duration=config["sle"]["duration"],
            classifier_detail=config["sle"]["classifier_detail"],
            thresholds=dict(config["thresholds"]),
            max_workers=config["mist"]["max_workers"],
        )


def find_org(self_body: Mapping[str, Any], configured_org_id: Optional[str]) -> Tuple[str, str]:
    """Return (org id, org name) from a /self body; raises OrgSelectionError when it cannot choose."""
    names: Dict[str, str] = {}
    privileges = self_body.get("privileges")
    for privilege in privileges if isinstance(privileges, list) else []:
        if not isinstance(privilege, dict):
            continue
        org_id = privilege.get("org_id")
        if not isinstance(org_id, str) or not org_id:
            continue
        scope = privilege.get("scope")
        if scope == "org":
            names[org_id] = str(privilege.get("name") or names.get(org_id) or org_id)
        elif scope == "site":
            names.setdefault(org_id, str(privilege.get("org_name") or org_id))
    if configured_org_id:
        return configured_org_id, names.get(configured_org_id, configured_org_id)
    if not names:
        raise OrgSelectionError(
            "the token has no org or site privileges; set mist.org_id, or use a token of an org admin"
        )
    if len(names) > 1:
        listing = "; ".join(f"{org_id} ({name})" for org_id, name in sorted(names.items(), key=lambda i: i[1]))
        raise OrgSelectionError(f"the token sees {len(names)} orgs; set mist.org_id to one of: {listing}")
    org_id, name = next(iter(names.items()))
    return org_id, name


def _epoch_to_datetime(value: Any) -> Optional[datetime]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def merge_sites(
    site_list: List[Any], sle_results: List[Any], thresholds: Mapping[str, float]
) -> Tuple[List[SiteResult], List[str]]:
    """Return the org's sites (names from the sites list, SLEs from sites-sle) and notes on mismatches."""
    notes: List[str] = []
    sle_by_site: Dict[str, Mapping[str, Any]] = {}
    for entry in sle_results:
        if isinstance(entry, dict) and isinstance(entry.get("site_id"), str):
            sle_by_site[entry["site_id"]] = entry
    sites: List[SiteResult] = []
    seen = set()
    for entry in site_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        site_id = entry["id"]
        if site_id in seen:
            continue
        seen.add(site_id)
        name = entry.get("name")
        sites.append(
            sle_monitor.build_site(
                site_id, name if isinstance(name, str) and name else site_id, sle_by_site.get(site_id), thresholds
            )
        )
    unknown = [site_id for site_id in sle_by_site if site_id not in seen]
    for site_id in unknown:
        sites.append(sle_monitor.build_site(site_id, site_id, sle_by_site[site_id], thresholds))
    if unknown:
        notes.append(f"{len(unknown)} site(s) had SLE data but were missing from the sites list; shown by id")
    return sites, notes


def detail_targets(sites: List[SiteResult], classifier_detail: str) -> List[Tuple[SiteResult, MetricResult]]:
    """Return the site-metrics whose classifier detail to fetch, worst first (severity, SLE %, clients)."""
    if classifier_detail == "none":
        return []
    targets = [
        (site, metric)
        for site in sites
        for metric in site.metrics.values()
        if classifier_detail == "all" or metric.severity in ALERT_SEVERITIES
    ]
    targets.sort(
        key=lambda pair: (
            SEVERITY_RANK[pair[1].severity],
            pair[1].sle_pct if pair[1].sle_pct is not None else 101.0,
            -(pair[0].num_clients or 0),
            pair[0].name.lower(),
        )
    )
    return targets


class DetailFetcher:
    """Fetches classifier detail; switches from /summary to /summary-trend for the rest of the run on a 404."""

    def __init__(self, client: MistClient, duration: str, thresholds: Mapping[str, float]) -> None:
        self.client = client
        self.duration = duration
        self.thresholds = thresholds
        self.endpoint = SUMMARY
        self._lock = threading.Lock()
        self.stopped_reason: Optional[str] = None
        self.problems: List[str] = []

    def _summary_body(self, site_id: str, metric_id: str) -> Tuple[Any, str]:
        with self._lock:
            endpoint = self.endpoint
        base = f"/sites/{site_id}/sle/site/{site_id}/metric/{metric_id}"
        try:
            body, _ = self.client.get(f"{base}/{endpoint}", {"duration": self.duration})
            return body, endpoint
        except NotFoundError:
            if endpoint == SUMMARY_TREND:
                raise
        body, _ = self.client.get(f"{base}/{SUMMARY_TREND}", {"duration": self.duration})
        with self._lock:
            if self.endpoint == SUMMARY:
                logger.warning(
                    "/summary answered 404 (deprecated in 2026): using /summary-trend for the rest of the run; "
                    "classifier numbers come without users/aps"
                )
                self.endpoint = SUMMARY_TREND
        return body, SUMMARY_TREND

    def fetch(self, site: SiteResult, metric: MetricResult) -> None:
        """Fill one metric's classifiers; marks it deferred once a long 429 stopped the phase."""
        if self.stopped_reason is not None:
            metric.detail = DETAIL_DEFERRED
            return
        metric_id = catalog.METRICS_BY_KEY[metric.key].site_metric_id
        try:
            body, endpoint = self._summary_body(site.id, metric_id)
        except AuthError:
            raise
        except RateLimitError as error:
            self.stopped_reason = str(error)
            metric.detail = DETAIL_DEFERRED
            return
        except MistApiError as error:
            metric.detail = DETAIL_UNAVAILABLE
            with self._lock:
                self.problems.append(f"{site.name} / {metric.name}: {error}")
            return
        breakdown = sle_monitor.parse_summary(body)
        sle_monitor.apply_breakdown(metric, breakdown, endpoint, self.thresholds)
        metric.detail = DETAIL_FETCHED


def collect(
    client: MistClient,
    settings: CollectionSettings,
    now: datetime,
    *,
    fetch_detail: bool = True,
) -> RunResult:
    """Return the org's SLE result; raises MistApiError when an org-level call fails, OrgSelectionError."""
    org_id, org_name = find_org(client.get_self(), settings.org_id)
    logger.info("Collecting the SLEs of org %s (%s)", org_name, org_id)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="org") as pool:
        sites_future = pool.submit(client.get_paged_array, f"/orgs/{org_id}/sites")
        sle_future = pool.submit(
            client.get_paged_results,
            f"/orgs/{org_id}/insights/sites-sle",
            {"sle": "wifi", "duration": settings.duration},
        )
        site_list, _ = sites_future.result()
        sle_first, sle_results = sle_future.result()
    sites, notes = merge_sites(site_list, sle_results, settings.thresholds)
    logger.info("%d sites, %d with SLE results", len(sites), len(sle_results))

    fetcher = DetailFetcher(client, settings.duration, settings.thresholds)
    targets = detail_targets(sites, settings.classifier_detail) if fetch_detail else []
    if targets:
        logger.info("Fetching classifier detail for %d site-metrics", len(targets))
        with ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="detail") as pool:
            for future in [pool.submit(fetcher.fetch, site, metric) for site, metric in targets]:
                future.result()
    if fetcher.stopped_reason:
        notes.append(f"classifier detail stopped by the rate limit: {fetcher.stopped_reason}")
    if fetcher.endpoint == SUMMARY_TREND:
        notes.append("/summary answered 404: classifier numbers come from /summary-trend, without users/aps")

    return finish_result(
        sites=sites,
        org_id=org_id,
        org_name=org_name,
        now=now,
        settings=settings,
        window_start=_epoch_to_datetime(sle_first.get("start")),
        window_end=_epoch_to_datetime(sle_first.get("end")),
        api_calls=client.calls,
        base_url=client.base_url,
        problems=fetcher.problems,
        notes=notes,
        detail_source=fetcher.endpoint if any(t[1].detail == DETAIL_FETCHED for t in targets) else None,
    )


def finish_result(
    *,
    sites: List[SiteResult],
    org_id: str,
    org_name: str,
    now: datetime,
    settings: CollectionSettings,
    window_start: Optional[datetime],
    window_end: Optional[datetime],
    api_calls: int,
    base_url: str,
    problems: List[str],
    notes: List[str],
    detail_source: Optional[str],
) -> RunResult:
    """Return the run result: statuses, worst-first order, insights and counts derived from the sites."""
    for site in sites:
        site.status = sle_monitor.site_status(site.metrics.values())
    sites.sort(key=sle_monitor.site_sort_key)
    return RunResult(
        generated_at=now,
        org_id=org_id,
        org_name=org_name,
        window_start=window_start,
        window_end=window_end,
        duration=settings.duration,
        thresholds=dict(settings.thresholds),
        overall_status=sle_monitor.overall_status(site.status for site in sites),
        summary=sle_monitor.status_counts(sites),
        sites=sites,
        insights=insights_analyzer.build_insights(sites),
        api_calls=api_calls,
        base_url=base_url,
        complete=not problems,
        problems=list(problems),
        detail_source=detail_source,
        notes=notes,
    )
