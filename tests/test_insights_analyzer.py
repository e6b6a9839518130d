"""Unit tests of the org insights: which site-metrics are listed, and in which order."""

from __future__ import annotations

from typing import Dict, List, Optional

from mist_infra_manager.analysis import insights_analyzer, sle_monitor
from mist_infra_manager.analysis.models import ClassifierStat, MetricResult, SiteResult


def site(name: str, sles: Dict[str, Optional[float]], num_clients: Optional[int] = 10) -> SiteResult:
    """Return a site whose named metrics have the given SLE %, the others info at 99 %."""
    metrics = {}
    for key in ("time-to-connect", "coverage", "roaming"):
        pct = sles.get(key, 99.0)
        metrics[key] = MetricResult(key=key, name=key, sle_pct=pct, severity=sle_monitor.severity_for(pct))
    built = SiteResult(id=f"id-{name}", name=name, status="", num_aps=2, num_clients=num_clients, metrics=metrics)
    built.status = sle_monitor.site_status(metrics.values())
    return built


def order(sites: List[SiteResult]) -> List[tuple]:
    return [(i.site_name, i.metric) for i in insights_analyzer.build_insights(sites)]


def test_insights_come_by_severity_before_sle_percent() -> None:
    sites = [
        site("A", {"coverage": 85.0}),
        site("B", {"coverage": 69.0}),
        site("C", {"coverage": 75.0}),
    ]

    assert order(sites) == [("B", "coverage"), ("C", "coverage"), ("A", "coverage")]
    assert [i.severity for i in insights_analyzer.build_insights(sites)] == ["critical", "major", "warning"]


def test_within_a_severity_the_lowest_sle_percent_comes_first() -> None:
    sites = [site("A", {"coverage": 88.0, "roaming": 81.0}), site("B", {"time-to-connect": 84.5})]

    assert order(sites) == [("A", "roaming"), ("B", "time-to-connect"), ("A", "coverage")]


def test_at_equal_sle_percent_the_site_with_more_clients_comes_first() -> None:
    sites = [site("Small", {"coverage": 85.0}, num_clients=5), site("Big", {"coverage": 85.0}, num_clients=500)]

    assert order(sites) == [("Big", "coverage"), ("Small", "coverage")]


def test_a_site_with_unknown_clients_counts_as_zero_clients() -> None:
    sites = [site("Unknown", {"coverage": 85.0}, num_clients=None), site("One", {"coverage": 85.0}, num_clients=1)]

    assert order(sites) == [("One", "coverage"), ("Unknown", "coverage")]


def test_at_equal_clients_the_site_name_decides_ignoring_case() -> None:
    sites = [site("bravo", {"coverage": 85.0}), site("Alpha", {"coverage": 85.0}), site("charlie", {"coverage": 85.0})]

    assert order(sites) == [("Alpha", "coverage"), ("bravo", "coverage"), ("charlie", "coverage")]


def test_info_and_no_data_metrics_are_not_insights() -> None:
    sites = [site("Fine", {"coverage": 90.0}), site("Empty", {"coverage": None, "roaming": None})]

    assert insights_analyzer.build_insights(sites) == []


def test_an_insight_carries_the_site_metric_and_its_top_classifier() -> None:
    troubled = site("A", {"coverage": 72.0}, num_clients=42)
    troubled.metrics["coverage"].classifiers = [
        ClassifierStat("asymmetry-uplink", "Asymmetry Uplink", 4.0, 14.3, 2, 1),
        ClassifierStat("weak-signal", "Weak Signal", 24.0, 85.7, 30, 5),
        ClassifierStat("asymmetry-downlink", "Asymmetry Downlink", 0.0, 0.0, 0, 0),
    ]
    [insight] = insights_analyzer.build_insights([troubled])

    assert (insight.site_id, insight.site_name, insight.metric) == ("id-A", "A", "coverage")
    assert (insight.sle_pct, insight.severity, insight.num_clients) == (72.0, "major", 42)
    assert insight.top_classifier is not None
    assert insight.top_classifier.id == "weak-signal"


def test_an_insight_without_degraded_classifiers_has_no_top_classifier() -> None:
    troubled = site("A", {"coverage": 72.0})
    troubled.metrics["coverage"].classifiers = [ClassifierStat("weak-signal", "Weak Signal", 0.0, None, None, None)]
    [insight] = insights_analyzer.build_insights([troubled])

    assert insight.top_classifier is None
