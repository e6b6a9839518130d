"""Org-level insights: every site-metric below the warning threshold, classified and sorted by priority."""

from __future__ import annotations

from typing import Iterable, List, Tuple

from mist_infra_manager.analysis.models import ALERT_SEVERITIES, Insight, SiteResult, priority


def priority_key(insight: Insight) -> Tuple[Tuple[int, float, int, str], str]:
    """Sort key: severity, then lowest SLE %, then most clients affected, then site and metric name."""
    return priority(insight.severity, insight.sle_pct, insight.num_clients, insight.site_name), insight.metric


def build_insights(sites: Iterable[SiteResult]) -> List[Insight]:
    """Return one insight per site-metric that is critical, major or warning, highest priority first."""
    insights = [
        Insight(
            site_id=site.id,
            site_name=site.name,
            metric=metric.key,
            metric_name=metric.name,
            sle_pct=metric.sle_pct,
            severity=metric.severity,
            num_clients=site.num_clients,
            top_classifier=metric.top_classifier,
        )
        for site in sites
        for metric in site.metrics.values()
        if metric.severity in ALERT_SEVERITIES
    ]
    insights.sort(key=priority_key)
    return insights
