"""Unit tests of the pure SLE calculations in sle_monitor (REFERENCE.md §6)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from mist_infra_manager.analysis import sle_monitor
from mist_infra_manager.analysis.models import ClassifierStat, MetricResult

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "examples"


def load_example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def by_id(breakdown: sle_monitor.SummaryBreakdown) -> Dict[str, ClassifierStat]:
    return {stat.id: stat for stat in breakdown.classifiers}


def summary_body(
    total: List[Any], degraded: List[Any], classifiers: Optional[List[Dict[str, Any]]] = None
) -> Dict[str, Any]:
    """Return a /summary-shaped body with the given metric samples and classifiers."""
    return {
        "start": 1760459415,
        "end": 1760545815,
        "sle": {"name": "coverage", "samples": {"total": total, "degraded": degraded, "value": [None] * len(total)}},
        "classifiers": classifiers or [],
    }


def classifier(name: Any, degraded: List[Any], total: Optional[List[Any]] = None, **impact: int) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": name, "samples": {"degraded": degraded, "duration": degraded}}
    if total is not None:
        entry["samples"]["total"] = total
    if impact:
        entry["impact"] = impact
    return entry


def metric(severity: str, sle_pct: Optional[float] = None, key: str = "coverage") -> MetricResult:
    return MetricResult(key=key, name=key.title(), sle_pct=sle_pct, severity=severity)


# --- parse_summary on the example files --------------------------------------------------------------


def test_the_coverage_example_gives_the_sle_of_the_org_insights_file() -> None:
    breakdown = sle_monitor.parse_summary(load_example("sle_summary_coverage.json"))
    org = load_example("insights_sites_sle.json")["results"][0]

    assert breakdown.sle_pct == pytest.approx(95.81, abs=0.005)
    assert breakdown.sle_pct == pytest.approx(100 * org["coverage"], abs=0.01)


def test_the_coverage_example_charges_weak_signal_with_two_thirds_of_the_failures() -> None:
    stats = by_id(sle_monitor.parse_summary(load_example("sle_summary_coverage.json")))

    assert stats["weak-signal"].share_pct == pytest.approx(65.6, abs=0.05)
    assert stats["asymmetry-uplink"].share_pct == pytest.approx(22.8, abs=0.05)
    assert stats["asymmetry-downlink"].share_pct == pytest.approx(11.6, abs=0.05)
    assert (stats["weak-signal"].users, stats["weak-signal"].aps) == (33, 8)


def test_the_coverage_example_classifiers_add_up_to_the_metric_percent_degraded() -> None:
    breakdown = sle_monitor.parse_summary(load_example("sle_summary_coverage.json"))

    assert breakdown.sle_pct is not None
    assert sum(stat.degraded_pct or 0 for stat in breakdown.classifiers) == pytest.approx(100 - breakdown.sle_pct)
    assert sum(stat.share_pct or 0 for stat in breakdown.classifiers) == pytest.approx(100)


def test_the_coverage_example_lists_the_worst_classifier_first() -> None:
    breakdown = sle_monitor.parse_summary(load_example("sle_summary_coverage.json"))

    assert [stat.id for stat in breakdown.classifiers] == ["weak-signal", "asymmetry-uplink", "asymmetry-downlink"]
    assert breakdown.has_impact is True


def test_the_time_to_connect_example_gives_91_69_percent_from_65_of_782() -> None:
    body = load_example("sle_summary_time-to-connect.json")
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct == pytest.approx(100 * (782 - 65) / 782)
    assert breakdown.sle_pct == pytest.approx(91.69, abs=0.005)
    # The two empty buckets (total 0, value null) change nothing: the values are never read.
    assert body["sle"]["samples"]["value"].count(None) == 2


def test_the_time_to_connect_example_charges_dhcp_unresponsive_with_43_percent_of_failures() -> None:
    stats = by_id(sle_monitor.parse_summary(load_example("sle_summary_time-to-connect.json")))

    assert stats["dhcp-unresponsive"].share_pct == pytest.approx(43.1, abs=0.05)
    assert stats["dhcp-unresponsive"].name == "DHCP Unresponsive"
    assert sum(stat.share_pct or 0 for stat in stats.values()) == pytest.approx(100)


def test_the_time_to_connect_example_keeps_ip_services_with_its_casing_and_display_name() -> None:
    stats = by_id(sle_monitor.parse_summary(load_example("sle_summary_time-to-connect.json")))

    assert "IP-Services" in stats
    assert "ip-services" not in stats
    assert stats["IP-Services"].name == "IP-Services"
    assert stats["IP-Services"].share_pct == pytest.approx(100 * 5 / 65)


def test_the_time_to_connect_example_keeps_a_classifier_with_no_failures_at_zero() -> None:
    stats = by_id(sle_monitor.parse_summary(load_example("sle_summary_time-to-connect.json")))

    assert len(stats) == 6
    assert stats["dhcp-nack"].degraded_pct == 0
    assert stats["dhcp-nack"].share_pct == 0


def test_the_summary_trend_example_gives_the_same_numbers_without_users_or_aps() -> None:
    summary = sle_monitor.parse_summary(load_example("sle_summary_coverage.json"))
    trend = sle_monitor.parse_summary(load_example("sle_summary_trend_coverage.json"))

    assert trend.sle_pct == pytest.approx(summary.sle_pct)
    assert [(s.id, s.degraded_pct, s.share_pct) for s in trend.classifiers] == [
        (s.id, s.degraded_pct, s.share_pct) for s in summary.classifiers
    ]
    assert all(stat.users is None and stat.aps is None for stat in trend.classifiers)
    assert trend.has_impact is False


# --- parse_summary on literal bodies ------------------------------------------------------------------


def test_a_metric_with_total_zero_has_no_data_and_no_breakdown_even_when_it_names_classifiers() -> None:
    breakdown = sle_monitor.parse_summary(summary_body([0, 0, 0], [0, 0, 0], [classifier("weak-signal", [0, 0, 0])]))

    assert breakdown.sle_pct is None
    assert sle_monitor.severity_for(breakdown.sle_pct) == "no_data"
    assert breakdown.classifiers == []
    assert breakdown.unusable is not None and "total 0" in breakdown.unusable


def test_empty_buckets_give_no_data_and_an_unusable_reason() -> None:
    breakdown = sle_monitor.parse_summary(summary_body([], [], [classifier("weak-signal", [])]))

    assert breakdown.sle_pct is None
    assert breakdown.classifiers == []
    assert breakdown.unusable is not None


def test_null_buckets_in_the_metric_samples_are_skipped() -> None:
    breakdown = sle_monitor.parse_summary(summary_body([100, None, 100, 50], [10, 5, None, 0]))

    # Only the buckets 0 and 3 have both numbers: T = 150, D = 10.
    assert breakdown.sle_pct == pytest.approx(100 * 140 / 150)


def test_null_classifier_values_are_skipped_and_the_metric_buckets_decide_what_counts() -> None:
    body = summary_body(
        [100, 100],
        [10, 10],
        [classifier("weak-signal", [None, 6]), classifier("asymmetry-uplink", [4, 4], total=[100, None])],
    )
    stats = by_id(sle_monitor.parse_summary(body))

    # A classifier's own total equals the metric's, so a null there does not drop its degraded time.
    assert stats["weak-signal"].degraded_pct == pytest.approx(3.0)
    assert stats["asymmetry-uplink"].degraded_pct == pytest.approx(4.0)
    assert stats["weak-signal"].share_pct == pytest.approx(100 * 6 / 14)


def test_a_bucket_with_more_degraded_than_total_or_negative_counts_for_nothing() -> None:
    body = summary_body(
        [100, 100, 100],
        [10, 150, -5],
        [classifier("weak-signal", [10, 150, 0]), classifier("asymmetry-uplink", [0, 0, -5])],
    )
    breakdown = sle_monitor.parse_summary(body)
    stats = by_id(breakdown)

    assert breakdown.sle_pct == pytest.approx(90.0)
    assert stats["weak-signal"].degraded_pct == pytest.approx(10.0)
    assert stats["asymmetry-uplink"].degraded_pct == pytest.approx(0.0)
    assert sum(stat.degraded_pct for stat in stats.values()) == pytest.approx(100 - breakdown.sle_pct)


def test_a_bucket_the_metric_skips_is_skipped_for_the_classifiers_too_so_they_still_add_up() -> None:
    body = summary_body(
        [100, 100, 100],
        [10, None, 20],
        [
            classifier("weak-signal", [6, 7, 15], total=[100, 100, 100]),
            classifier("asymmetry-uplink", [4, 3, 5], total=[100, 100, 100]),
        ],
    )
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct == pytest.approx(85.0)
    assert sum(stat.degraded_pct or 0 for stat in breakdown.classifiers) == pytest.approx(15.0)
    assert by_id(breakdown)["weak-signal"].degraded_pct == pytest.approx(10.5)


def test_a_body_without_sle_samples_gives_no_breakdown_whatever_its_classifiers_say() -> None:
    # Classifier figures are shares of the metric's total: without one they cannot be computed.
    body = {"classifiers": [classifier("weak-signal", [3, 1], total=[10, 10], num_users=2, num_aps=1)]}
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct is None
    assert breakdown.classifiers == []
    assert breakdown.unusable is not None


def test_a_body_without_classifiers_has_an_sle_and_no_breakdown() -> None:
    body = summary_body([100], [25])
    del body["classifiers"]
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct == pytest.approx(75.0)
    assert breakdown.classifiers == []
    assert breakdown.has_impact is False


def test_a_classifier_without_samples_counts_zero_degraded() -> None:
    body = summary_body([100], [10], [{"name": "weak-signal"}, classifier("asymmetry-uplink", [10])])
    stats = by_id(sle_monitor.parse_summary(body))

    assert stats["weak-signal"].degraded_pct == 0
    assert stats["weak-signal"].share_pct == 0
    assert stats["asymmetry-uplink"].share_pct == pytest.approx(100.0)


def test_a_classifier_without_impact_has_no_users_or_aps() -> None:
    body = summary_body([100], [10], [classifier("weak-signal", [10])])
    breakdown = sle_monitor.parse_summary(body)

    assert (breakdown.classifiers[0].users, breakdown.classifiers[0].aps) == (None, None)
    assert breakdown.has_impact is False


def test_a_classifier_without_a_name_is_skipped_and_the_others_are_kept() -> None:
    body = summary_body(
        [100],
        [10],
        [
            {"samples": {"degraded": [5]}},
            classifier("", [1]),
            classifier(7, [1]),
            classifier("weak-signal", [4]),
        ],
    )
    breakdown = sle_monitor.parse_summary(body)

    assert [stat.id for stat in breakdown.classifiers] == ["weak-signal"]
    assert breakdown.sle_pct == pytest.approx(90.0)


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        [1, 2, 3],
        {"sle": "junk", "classifiers": "junk"},
        {"sle": {"samples": {"total": "100", "degraded": {"a": 1}}}},
        {"sle": {"samples": {"total": ["100", True, float("nan")], "degraded": [1, False, 1]}}},
        {"sle": {"samples": {"total": [float("inf")], "degraded": [0]}}, "classifiers": [None, 5, "weak-signal"]},
    ],
)
def test_non_numeric_junk_gives_no_data_instead_of_an_exception(body: Any) -> None:
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct is None
    assert breakdown.classifiers == []


def test_junk_impact_counts_are_dropped_but_the_classifier_is_kept() -> None:
    body = summary_body([100], [10], [classifier("weak-signal", [10], num_users="many", num_aps=-1)])
    stat = sle_monitor.parse_summary(body).classifiers[0]

    assert (stat.id, stat.users, stat.aps) == ("weak-signal", None, None)
    assert stat.degraded_pct == pytest.approx(10.0)


def test_an_unknown_classifier_id_is_kept_and_title_cased() -> None:
    body = summary_body([100], [10], [classifier("brand-new_classifier", [10])])
    stat = sle_monitor.parse_summary(body).classifiers[0]

    assert stat.id == "brand-new_classifier"
    assert stat.name == "Brand New Classifier"
    assert stat.degraded_pct == pytest.approx(10.0)


def test_classifiers_add_up_to_the_metric_percent_degraded_and_shares_to_100() -> None:
    body = summary_body(
        [200, 300, 500],
        [20, 30, 50],
        [
            classifier("weak-signal", [10, 20, 30]),
            classifier("asymmetry-uplink", [5, 5, 15]),
            classifier("asymmetry-downlink", [5, 5, 5]),
        ],
    )
    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct == pytest.approx(90.0)
    assert [s.degraded_pct for s in breakdown.classifiers] == pytest.approx([6.0, 2.5, 1.5])
    assert [s.share_pct for s in breakdown.classifiers] == pytest.approx([60.0, 25.0, 15.0])
    assert sum(s.degraded_pct or 0 for s in breakdown.classifiers) == pytest.approx(100 - breakdown.sle_pct)


def test_classifiers_with_equal_degraded_are_ordered_by_id() -> None:
    body = summary_body([100], [10], [classifier("b-second", [5]), classifier("a-first", [5])])

    assert [s.id for s in sle_monitor.parse_summary(body).classifiers] == ["a-first", "b-second"]


# --- format_cell ------------------------------------------------------------------------------------------


def test_a_cell_shows_degraded_users_and_aps() -> None:
    stat = ClassifierStat("weak-signal", "Weak Signal", degraded_pct=26.6, share_pct=60.0, users=80, aps=8)

    assert sle_monitor.format_cell(stat) == "26.6% degraded, users=80, aps=8"


def test_a_cell_without_users_or_aps_shows_only_the_degraded_share() -> None:
    stat = ClassifierStat("weak-signal", "Weak Signal", degraded_pct=26.649, share_pct=None, users=None, aps=None)

    assert sle_monitor.format_cell(stat) == "26.6% degraded"


def test_a_cell_with_users_but_no_aps_omits_aps() -> None:
    stat = ClassifierStat("weak-signal", "Weak Signal", degraded_pct=3.0, share_pct=None, users=0, aps=None)

    assert sle_monitor.format_cell(stat) == "3.0% degraded, users=0"


# --- severity_for -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sle_pct", "severity"),
    [
        (0.0, "critical"),
        (69.99, "critical"),
        (70.0, "major"),
        (79.99, "major"),
        (80.0, "warning"),
        (89.99, "warning"),
        (90.0, "info"),
        (100.0, "info"),
        (None, "no_data"),
    ],
)
def test_severity_follows_the_default_thresholds_at_their_exact_edges(sle_pct: Optional[float], severity: str) -> None:
    assert sle_monitor.severity_for(sle_pct) == severity


def test_severity_follows_custom_thresholds() -> None:
    thresholds = {"critical": 95.0, "major": 97.0, "warning": 99.0}

    assert sle_monitor.severity_for(94.9, thresholds) == "critical"
    assert sle_monitor.severity_for(95.0, thresholds) == "major"
    assert sle_monitor.severity_for(98.0, thresholds) == "warning"
    assert sle_monitor.severity_for(99.0, thresholds) == "info"
    assert sle_monitor.severity_for(None, thresholds) == "no_data"


# --- site_status and overall_status ------------------------------------------------------------------------


def test_a_site_takes_its_worst_metric_severity_as_status() -> None:
    metrics = [metric("info", 95), metric("warning", 85), metric("major", 75), metric("no_data")]

    assert sle_monitor.site_status(metrics) == "major"


def test_a_site_with_all_measured_metrics_at_info_is_healthy_despite_metrics_without_data() -> None:
    assert sle_monitor.site_status([metric("info", 99), metric("no_data"), metric("info", 95)]) == "healthy"


def test_a_site_without_any_measured_metric_has_no_data() -> None:
    assert sle_monitor.site_status([metric("no_data"), metric("no_data")]) == "no_data"
    assert sle_monitor.site_status([]) == "no_data"


def test_the_org_takes_the_worst_site_status() -> None:
    assert sle_monitor.overall_status(["healthy", "warning", "no_data", "critical", "major"]) == "critical"
    assert sle_monitor.overall_status(["healthy", "no_data"]) == "healthy"


def test_an_org_without_any_site_data_has_no_data() -> None:
    assert sle_monitor.overall_status(["no_data", "no_data"]) == "no_data"
    assert sle_monitor.overall_status([]) == "no_data"


# --- fraction_to_pct ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fraction", "pct"), [(0, 0.0), (1, 100.0), (0.9581, 95.81), (0.5, 50.0)])
def test_a_fraction_becomes_a_percentage(fraction: float, pct: float) -> None:
    assert sle_monitor.fraction_to_pct(fraction) == pytest.approx(pct)


@pytest.mark.parametrize("value", [1.0001, 95.81, -0.01, None, True, False, "0.9", float("nan"), [0.9]])
def test_a_value_that_is_not_a_fraction_gives_none(value: Any) -> None:
    assert sle_monitor.fraction_to_pct(value) is None


# --- build_site ----------------------------------------------------------------------------------------------


def test_a_site_built_from_the_example_has_seven_metrics_and_its_counts() -> None:
    result = load_example("insights_sites_sle.json")["results"][0]
    site = sle_monitor.build_site(result["site_id"], "London-HQ", result)

    assert list(site.metrics) == [
        "time-to-connect",
        "successful-connect",
        "coverage",
        "roaming",
        "throughput",
        "capacity",
        "ap-health",
    ]
    assert site.metrics["coverage"].sle_pct == pytest.approx(95.81, abs=0.005)
    assert site.metrics["time-to-connect"].sle_pct == pytest.approx(91.69, abs=0.005)
    assert (site.num_aps, site.num_clients) == (14, 186)
    assert site.status == "healthy"


def test_a_site_without_an_sle_result_has_no_data_on_every_metric() -> None:
    site = sle_monitor.build_site("site-1", "Empty", None)

    assert site.status == "no_data"
    assert {m.severity for m in site.metrics.values()} == {"no_data"}
    assert {m.sle_pct for m in site.metrics.values()} == {None}
    assert (site.num_aps, site.num_clients) == (None, None)


@pytest.mark.parametrize(
    ("value", "shown"), [(89.96, "89.9"), (90.0, "90.0"), (66.0, "66.0"), (65.99999999999999, "66.0"), (99.99, "99.9")]
)
def test_an_sle_percentage_is_shown_rounded_down_so_it_never_reads_as_the_next_severity(value, shown) -> None:
    assert sle_monitor.format_sle(value) == shown


# --- exact percentages, rounded down, classified as shown (issue 12, case 15) ---------------------------


def test_a_summary_of_exactly_80_percent_is_80_not_79_99999999999999() -> None:
    # In floats 100 × (23 − 4.6) / 23 is 79.99999999999999, which used to read 80.0 beside "major".
    breakdown = sle_monitor.parse_summary(summary_body([23], [4.6], [classifier("weak-signal", [4.6])]))

    assert breakdown.sle_pct == 80.0
    assert sle_monitor.severity_for(breakdown.sle_pct) == "warning"
    assert sle_monitor.format_sle(breakdown.sle_pct) == "80.0"
    assert breakdown.classifiers[0].degraded_pct == 20.0


def test_a_float_noisy_80_percent_is_classified_warning_and_shown_as_80_0() -> None:
    assert sle_monitor.severity_for(79.99999999999999) == "warning"
    assert sle_monitor.format_sle(79.99999999999999) == "80.0"
    assert sle_monitor.json_pct(79.99999999999999) == 80.0


def test_a_value_just_below_a_threshold_is_shown_and_classified_rounded_down() -> None:
    assert sle_monitor.format_sle(79.996) == "79.9"
    assert sle_monitor.severity_for(79.996) == "major"
    assert sle_monitor.json_pct(79.996) == 79.99
    assert sle_monitor.severity_for(89.96) == "warning"


def test_a_sites_sle_fraction_of_0_8_is_80_percent_and_warning() -> None:
    site = sle_monitor.build_site("s1", "Site", {"coverage": 0.8})

    assert site.metrics["coverage"].sle_pct == 80.0
    assert site.metrics["coverage"].severity == "warning"
    assert site.status == "warning"


# --- hostile and unreadable values (issue 12, cases 4 and 9) ---------------------------------------------


def test_finite_totals_whose_sum_is_not_a_float_give_no_breakdown() -> None:
    body = summary_body([1.7e308, 1.7e308], [0, 0], [classifier("weak-signal", [1e308, 1e308])])

    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct is None and breakdown.classifiers == []
    assert breakdown.unusable is not None and "too large" in breakdown.unusable


def test_classifier_degraded_that_sums_past_float_range_still_gives_finite_percentages() -> None:
    # Each classifier's degraded fits a float; their sum (3.2e308) would be inf in float arithmetic.
    big = [8e307, 8e307]
    body = summary_body([8e307, 8e307], [8e307, 4e307], [classifier("a", big), classifier("b", big)])

    breakdown = sle_monitor.parse_summary(body)

    assert breakdown.sle_pct == 25.0
    assert by_id(breakdown)["a"].share_pct == 50.0
    assert all(
        value is not None and math.isfinite(value)
        for stat in breakdown.classifiers
        for value in (stat.degraded_pct, stat.share_pct)
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 95, -0.1, 1.5, "0.9", True])
def test_an_unreadable_sites_sle_value_is_no_data_and_the_site_never_healthy(value: Any) -> None:
    site = sle_monitor.build_site("s1", "Site", {"coverage": value, "roaming": 0.99, "capacity": 0.97})

    assert site.metrics["coverage"].severity == "no_data"
    assert site.metrics["coverage"].unreadable
    assert site.status == "no_data"


def test_a_missing_sites_sle_value_is_no_data_but_leaves_the_site_healthy() -> None:
    site = sle_monitor.build_site("s1", "Site", {"roaming": 0.99, "capacity": 0.97})

    assert not site.metrics["coverage"].unreadable
    assert site.status == "healthy"


def test_an_unreadable_value_does_not_hide_a_worse_metric() -> None:
    site = sle_monitor.build_site("s1", "Site", {"coverage": float("nan"), "roaming": 0.5})

    assert site.status == "critical"


def test_a_classifier_bucket_above_the_metric_total_counts_for_nothing() -> None:
    body = summary_body(
        [10, 10], [2, 2], [classifier("weak-signal", [2, 1e300]), classifier("asymmetry-uplink", [0, 2])]
    )

    stats = by_id(sle_monitor.parse_summary(body))

    assert stats["weak-signal"].degraded_pct == 10.0
    assert stats["asymmetry-uplink"].degraded_pct == 10.0
    assert stats["weak-signal"].share_pct == 50.0
