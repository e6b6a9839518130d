"""Prometheus metrics of the last completed cycle: the SLEs of every site and the tool's own health.

The names and labels are a contract (docs/monitoring.md). Everything here reads a MetricsSnapshot that the daemon
or a one-shot run hands in; a scrape never calls the Mist API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mist_infra_manager.analysis import trend_analyzer
from mist_infra_manager.analysis.models import ALERT_SEVERITIES, DETAIL_FETCHED, RunResult, SiteResult
from mist_infra_manager.state.fileio import atomic_write_bytes

logger = logging.getLogger(__name__)

SITES_ALL = "all"
SITES_AFFECTED = "affected"
PERCENT = 100.0
SITE_LABELS = ["org_id", "site_id", "site"]


@dataclass(frozen=True)
class ToolHealth:
    """The tool's own health after a cycle."""

    version: str
    last_success_timestamp: Optional[float] = None
    cycle_duration_seconds: Optional[float] = None
    collection_complete: bool = False
    api_calls_total: int = 0
    api_budget_remaining: Optional[int] = None
    alerts_pending: int = 0


@dataclass(frozen=True)
class MetricsSnapshot:
    """What a scrape shows: the last completed result (None before the first) and the tool's health."""

    result: Optional[RunResult]
    health: ToolHealth
    sites: str = SITES_ALL


def _exported_sites(result: RunResult, sites: str) -> List[SiteResult]:
    if sites == SITES_AFFECTED:
        return [site for site in result.sites if site.status in ALERT_SEVERITIES]
    return list(result.sites)


def sle_families(result: RunResult, sites: str) -> Iterator[Metric]:
    """Yield the SLE families of a result: ratios, classifier ratios, clients, APs, severities, org values."""
    org = result.org_id
    ratio = GaugeMetricFamily(
        "mist_sle_ratio", "SLE of a site-metric as a fraction 0..1", labels=[*SITE_LABELS, "metric"]
    )
    classifier = GaugeMetricFamily(
        "mist_sle_classifier_degraded_ratio",
        "Share of a site-metric's time degraded by a classifier, 0..1 (fetched breakdowns only)",
        labels=[*SITE_LABELS, "metric", "classifier"],
    )
    clients = GaugeMetricFamily("mist_site_clients", "Clients seen at a site in the SLE window", labels=SITE_LABELS)
    aps = GaugeMetricFamily("mist_site_aps", "Access points of a site", labels=SITE_LABELS)
    switches = GaugeMetricFamily("mist_site_switches", "Switches of a site (sle.types wired)", labels=SITE_LABELS)
    gateways = GaugeMetricFamily("mist_site_gateways", "WAN gateways of a site (sle.types wan)", labels=SITE_LABELS)
    severity = GaugeMetricFamily(
        "mist_sle_severity", "1 for the current severity of a site-metric", labels=[*SITE_LABELS, "metric", "severity"]
    )
    for site in _exported_sites(result, sites):
        labels = [org, site.id, site.name]
        if site.num_clients is not None:
            clients.add_metric(labels, site.num_clients)
        if site.num_aps is not None:
            aps.add_metric(labels, site.num_aps)
        if site.num_switches is not None:
            switches.add_metric(labels, site.num_switches)
        if site.num_gateways is not None:
            gateways.add_metric(labels, site.num_gateways)
        for key, metric in site.metrics.items():
            severity.add_metric([*labels, key, metric.severity], 1)
            if metric.sle_pct is not None:
                ratio.add_metric([*labels, key], metric.sle_pct / PERCENT)
            if metric.detail != DETAIL_FETCHED:
                continue
            for stat in metric.classifiers:
                if stat.degraded_pct is not None:
                    classifier.add_metric([*labels, key, stat.id], stat.degraded_pct / PERCENT)
    yield from (ratio, classifier, clients, aps, severity)
    # Only with the wired or WAN type collected: a Wi-Fi-only run exports what it always did.
    yield from (family for family in (switches, gateways) if family.samples)
    org_ratio = GaugeMetricFamily(
        "mist_org_sle_ratio", "Client-weighted SLE of the org per metric, 0..1", labels=["org_id", "metric"]
    )
    for key, pct in trend_analyzer.org_values(trend_analyzer.snapshot_from_result(result)).items():
        if pct is not None:
            org_ratio.add_metric([org, key], pct / PERCENT)
    yield org_ratio


def health_families(health: ToolHealth) -> Iterator[Metric]:
    """Yield the tool's own health families."""
    build = GaugeMetricFamily("mist_infra_manager_build_info", "The tool's version", labels=["version"])
    build.add_metric([health.version], 1)
    yield build
    if health.last_success_timestamp is not None:
        yield GaugeMetricFamily(
            "mist_infra_manager_last_success_timestamp_seconds",
            "Unix time of the end of the last cycle whose collection was complete",
            value=health.last_success_timestamp,
        )
    if health.cycle_duration_seconds is not None:
        yield GaugeMetricFamily(
            "mist_infra_manager_cycle_duration_seconds",
            "Seconds the last cycle took",
            value=health.cycle_duration_seconds,
        )
    yield GaugeMetricFamily(
        "mist_infra_manager_collection_complete",
        "1 when the last cycle collected everything, 0 when it failed or was incomplete",
        value=1 if health.collection_complete else 0,
    )
    yield CounterMetricFamily(
        "mist_infra_manager_api_calls",
        "Mist API calls made since the state folder was created",
        value=health.api_calls_total,
    )
    if health.api_budget_remaining is not None:
        yield GaugeMetricFamily(
            "mist_infra_manager_api_budget_remaining",
            "API calls left in the rolling hour after the reserve",
            value=health.api_budget_remaining,
        )
    yield GaugeMetricFamily(
        "mist_infra_manager_alerts_pending", "Messages waiting in outboxes", value=health.alerts_pending
    )


class SnapshotCollector(Collector):
    """A prometheus_client collector that reads the latest snapshot at each scrape."""

    def __init__(self, latest: Callable[[], Optional[MetricsSnapshot]]) -> None:
        self._latest = latest

    def collect(self) -> Iterable[Metric]:
        """Return the families of the latest snapshot; none before the first cycle."""
        snapshot = self._latest()
        if snapshot is None:
            return []
        families: List[Metric] = list(health_families(snapshot.health))
        if snapshot.result is not None:
            families.extend(sle_families(snapshot.result, snapshot.sites))
        return families


def registry_for(latest: Callable[[], Optional[MetricsSnapshot]]) -> CollectorRegistry:
    """Return a registry of its own (no process metrics) serving the latest snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(latest))
    return registry


def exposition(snapshot: MetricsSnapshot) -> bytes:
    """Return the text exposition of a snapshot."""
    return generate_latest(registry_for(lambda: snapshot))


def write_textfile(path: Path, body: bytes, mode: int) -> None:
    """Write an exposition atomically for node_exporter's textfile collector; raises OSError."""
    atomic_write_bytes(path, body, mode=mode)
