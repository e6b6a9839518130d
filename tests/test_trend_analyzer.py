"""The pure trend core: baseline choice, comparison, org aggregation, daily series, sparklines, text."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest

from mist_infra_manager.analysis import catalog, trend_analyzer
from mist_infra_manager.analysis.trend_analyzer import Snapshot
from result_builders import make_result, site

NOW = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
KEYS = list(catalog.METRIC_KEYS)
HEALTHY = 97.0


def severity_of(pct: Optional[float]) -> str:
    if pct is None:
        return "no_data"
    for name, cut in (("critical", 70.0), ("major", 80.0), ("warning", 90.0)):
        if pct < cut:
            return name
    return "info"


def snap(
    when: datetime,
    sites: Mapping[str, Mapping[str, Optional[float]]],
    clients: Optional[Mapping[str, Optional[int]]] = None,
    severities: Optional[Mapping[Tuple[str, str], str]] = None,
) -> Snapshot:
    """A snapshot whose metrics are HEALTHY except those given; severities follow the default thresholds."""
    ids = list(sites)
    pcts: List[Optional[float]] = []
    codes: List[str] = []
    for site_id in ids:
        for key in KEYS:
            pct = sites[site_id].get(key, HEALTHY)
            pcts.append(pct)
            severity = (severities or {}).get((site_id, key), severity_of(pct))
            codes.append(trend_analyzer.SEVERITY_CODES[severity])
    counts = [(clients or {}).get(site_id, 100) for site_id in ids]
    return Snapshot(when, list(KEYS), ids, counts, pcts, "".join(codes))


NAMES = {"a": "Store A", "b": "Store B", "c": "Store C"}


def compare(
    before: Mapping[str, Mapping[str, Optional[float]]],
    after: Mapping[str, Mapping[str, Optional[float]]],
    threshold: float = 5.0,
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    return trend_analyzer.compare(snap(NOW, after), snap(NOW - timedelta(days=1), before), NAMES, threshold)


# --- Baseline choice -------------------------------------------------------------------------------------------


def hours_before(*hours: float) -> List[datetime]:
    return [NOW - timedelta(hours=value) for value in hours]


def test_the_snapshot_nearest_to_24_hours_earlier_is_the_baseline() -> None:
    times = hours_before(30, 25.5, 24.25, 23, 1)
    assert trend_analyzer.baseline_candidates(times, NOW)[0] == 2


def test_a_cadence_gap_still_finds_a_snapshot_within_3_hours_of_24() -> None:
    # Nothing between 26.9 h and 21.1 h ago but one at 26.9 h: it is the nearest within the window.
    times = hours_before(40, 26.9, 21.0 - 0.5)
    assert trend_analyzer.baseline_candidates(times, NOW)[0] == 1


def test_the_window_edges_are_inclusive_and_ties_take_the_earlier_snapshot() -> None:
    assert trend_analyzer.baseline_candidates(hours_before(27), NOW) == [0]
    assert trend_analyzer.baseline_candidates(hours_before(21), NOW) == [0]
    assert trend_analyzer.baseline_candidates(hours_before(25, 23), NOW)[0] == 0


def test_without_a_snapshot_near_24_hours_the_last_of_the_previous_date_is_used() -> None:
    # NOW is 09:00; yesterday's runs at 02:00 and 04:00 are 31 and 29 h old: outside ±3 h.
    times = [datetime(2025, 3, 13, 2, tzinfo=timezone.utc), datetime(2025, 3, 13, 4, tzinfo=timezone.utc)]
    assert trend_analyzer.baseline_candidates(times, NOW) == [1, 0]


def test_there_is_no_baseline_without_yesterday_or_a_snapshot_near_24_hours() -> None:
    times = [datetime(2025, 3, 12, 3, tzinfo=timezone.utc), NOW - timedelta(hours=2)]
    assert trend_analyzer.baseline_candidates(times, NOW) == []
    assert trend_analyzer.baseline_candidates([], NOW) == []


def test_snapshots_at_or_after_now_are_never_a_baseline() -> None:
    assert trend_analyzer.baseline_candidates([NOW, NOW + timedelta(hours=1)], NOW) == []


def test_the_baseline_choice_uses_utc_whatever_the_clock_zone() -> None:
    paris = timezone(timedelta(hours=1))
    now_in_paris = NOW.astimezone(paris)
    times = hours_before(24)
    assert trend_analyzer.baseline_candidates(times, now_in_paris) == [0]


# --- Comparison --------------------------------------------------------------------------------------------------


def test_a_drop_of_7_points_is_a_degradation_with_delta_minus_7() -> None:
    degradations, improvements = compare({"a": {"coverage": 98.5}}, {"a": {"coverage": 91.5}})
    assert improvements == []
    assert degradations == [
        {
            "site_id": "a",
            "site_name": "Store A",
            "metric": "coverage",
            "metric_name": "Coverage",
            "previous_pct": 98.5,
            "current_pct": 91.5,
            "delta_pp": -7.0,
            "previous_severity": "info",
            "current_severity": "info",
        }
    ]


@pytest.mark.parametrize(
    ("before", "after", "degraded"),
    [
        (98.3, 93.3, True),  # exactly 5.0 points, despite float noise in 93.3 - 98.3
        (95.0, 90.0, True),
        (95.0, 90.01, False),
        (99.99, 95.0, False),
    ],
)
def test_the_threshold_counts_a_drop_of_exactly_the_threshold(before: float, after: float, degraded: bool) -> None:
    degradations, _ = compare({"a": {"roaming": before}}, {"a": {"roaming": after}})
    assert bool(degradations) is degraded


def test_a_worse_severity_without_a_5_point_drop_is_a_degradation() -> None:
    degradations, _ = compare({"a": {"coverage": 90.5}}, {"a": {"coverage": 89.5}})
    assert [(d["delta_pp"], d["previous_severity"], d["current_severity"]) for d in degradations] == [
        (-1.0, "info", "warning")
    ]


def test_a_rise_or_a_better_severity_is_an_improvement() -> None:
    degradations, improvements = compare(
        {"a": {"coverage": 80.0}, "b": {"roaming": 89.5}}, {"a": {"coverage": 86.0}, "b": {"roaming": 90.5}}
    )
    assert degradations == []
    assert [(i["site_id"], i["delta_pp"]) for i in improvements] == [("a", 6.0), ("b", 1.0)]


def test_a_configured_threshold_replaces_the_default() -> None:
    degradations, _ = compare({"a": {"coverage": 98.0}}, {"a": {"coverage": 95.5}}, threshold=2.5)
    assert len(degradations) == 1


def test_site_metrics_without_data_then_or_now_and_new_sites_are_not_compared() -> None:
    degradations, improvements = compare(
        {"a": {"coverage": None}, "b": {"coverage": 99.0}},
        {"a": {"coverage": 50.0}, "b": {"coverage": None}, "c": {"coverage": 50.0}},
    )
    assert degradations == [] and improvements == []


def test_degradations_list_the_worst_severity_first_then_the_largest_drop() -> None:
    degradations, _ = compare(
        {"a": {"coverage": 99.0}, "b": {"coverage": 99.0, "roaming": 99.0}, "c": {"coverage": 75.0}},
        {"a": {"coverage": 92.0}, "b": {"coverage": 91.0, "roaming": 60.0}, "c": {"coverage": 69.0}},
    )
    assert [(d["site_id"], d["metric"]) for d in degradations] == [
        ("b", "roaming"),
        ("c", "coverage"),
        ("b", "coverage"),
        ("a", "coverage"),
    ]


def test_a_baseline_with_other_metric_columns_is_compared_by_metric_key() -> None:
    before = snap(NOW - timedelta(days=1), {"a": {"coverage": 99.0}})
    reordered = Snapshot(
        before.taken_at,
        list(reversed(before.metrics)),
        before.site_ids,
        before.clients,
        list(reversed(before.pcts)),
        before.severities[::-1],
    )
    degradations, _ = trend_analyzer.compare(snap(NOW, {"a": {"coverage": 90.0}}), reordered, NAMES, 5.0)
    assert [(d["metric"], d["previous_pct"]) for d in degradations] == [("coverage", 99.0)]


# --- Org values and series -----------------------------------------------------------------------------------


def test_org_values_are_client_weighted_over_the_sites_with_data() -> None:
    snapshot = snap(
        NOW,
        {"a": {"coverage": 90.0}, "b": {"coverage": 100.0}, "c": {"coverage": None}},
        clients={"a": 300, "b": 100, "c": 1000},
    )
    assert trend_analyzer.org_values(snapshot)["coverage"] == 92.5


def test_org_values_fall_back_to_the_plain_mean_without_client_counts_and_are_none_without_data() -> None:
    snapshot = snap(
        NOW,
        {"a": {"coverage": 90.0, "roaming": None}, "b": {"coverage": 95.0, "roaming": None}},
        clients={"a": None, "b": 0},
    )
    values = trend_analyzer.org_values(snapshot)
    assert values["coverage"] == 92.5
    assert values["roaming"] is None


def test_the_day_value_is_the_latest_non_null_value_of_the_date() -> None:
    entries: Sequence[Dict[str, Optional[float]]] = [
        {"coverage": 95.0, "roaming": 90.0},
        {"coverage": 96.0, "roaming": None},
    ]
    values = trend_analyzer.day_value(entries)
    assert values["coverage"] == 96.0 and values["roaming"] == 90.0 and values["capacity"] is None


def test_series_dates_are_keep_days_dates_ending_today() -> None:
    dates = trend_analyzer.series_dates(date(2025, 3, 2), 3)
    assert dates == [date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2)]


def test_a_sparkline_maps_the_range_onto_eight_blocks_with_a_dot_for_each_day_without_data() -> None:
    assert trend_analyzer.sparkline([0.0, None, 7.0, 3.5]) == "▁·█▅"
    assert trend_analyzer.sparkline([None, None]) == ""
    assert trend_analyzer.sparkline([5.0, 5.0]) == "▅▅"


def test_a_minimum_span_keeps_small_noise_small() -> None:
    line = trend_analyzer.sparkline([95.0, 95.1, 95.0], min_span=1.0)
    assert set(line) <= set("▄▅")


# --- The trends block -------------------------------------------------------------------------------------------


def build(
    baseline: Optional[Snapshot],
    current: Snapshot,
    earlier_org: Optional[Mapping[date, Sequence[Mapping[str, Optional[float]]]]] = None,
    site_days: Optional[Mapping[date, Snapshot]] = None,
    keep_days: int = 7,
) -> Dict[str, Any]:
    return trend_analyzer.build_trends(current, NAMES, baseline, earlier_org or {}, site_days or {}, 5.0, keep_days)


def test_the_first_run_has_no_baseline_yet_and_a_one_day_series() -> None:
    trends = build(None, snap(NOW, {"a": {"coverage": 91.5}}))
    assert trends["compared_with"] is None and trends["baseline"] is False
    assert trends["degradations"] == [] and trends["improvements"] == []
    org = trends["org"]
    assert isinstance(org, dict) and list(org) == KEYS
    coverage = org["coverage"]
    assert coverage["name"] == "Coverage" and coverage["current_pct"] == 91.5 and coverage["previous_pct"] is None
    assert [point["pct"] for point in coverage["series_7d"]] == [None] * 6 + [91.5]
    assert coverage["series_7d"][-1]["date"] == "2025-03-14" and coverage["series_7d"][0]["date"] == "2025-03-08"
    assert coverage["sparkline"] == "······▅"
    assert "no baseline yet" in trend_analyzer.trend_text(trends)


def test_the_trends_block_has_the_shape_the_email_and_dashboard_read() -> None:
    yesterday = NOW - timedelta(days=1)
    baseline = snap(yesterday, {"a": {"coverage": 98.5}, "b": {"roaming": 85.0}})
    current = snap(NOW, {"a": {"coverage": 91.5}, "b": {"roaming": 85.0}})
    earlier: Dict[date, List[Dict[str, Optional[float]]]] = {
        yesterday.date(): [trend_analyzer.org_values(baseline)],
        date(2025, 3, 10): [{"coverage": 97.25}],
    }
    trends = build(baseline, current, earlier, {yesterday.date(): baseline})
    assert set(trends) == {"compared_with", "baseline", "degradations", "improvements", "org", "sites_7d"}
    assert trends["compared_with"] == "2025-03-13T09:00:00Z" and trends["baseline"] is True
    org = trends["org"]
    assert isinstance(org, dict)
    coverage = org["coverage"]
    assert set(coverage) == {"name", "current_pct", "previous_pct", "series_7d", "sparkline"}
    assert (coverage["previous_pct"], coverage["current_pct"]) == (97.75, 94.25)
    assert [point["pct"] for point in coverage["series_7d"]] == [None, None, 97.25, None, None, 97.75, 94.25]
    # Only b's roaming is at an alert severity now: its line over the dates with a snapshot.
    assert trends["sites_7d"] == {
        "b": {
            "roaming": [
                {"date": f"2025-03-{day:02d}", "pct": pct}
                for day, pct in zip(range(8, 15), [None, None, None, None, None, 85.0, 85.0])
            ]
        }
    }


def test_today_series_point_is_the_latest_run_of_today() -> None:
    current = snap(NOW, {"a": {"coverage": 90.0}})
    trends = build(None, current, {NOW.date(): [{"coverage": 99.0}]})
    org = trends["org"]
    assert isinstance(org, dict) and org["coverage"]["series_7d"][-1]["pct"] == 90.0


def test_a_snapshot_of_a_result_rounds_and_codes_every_site_metric() -> None:
    result = make_result(
        [
            site("s1", "One", {"coverage": 91.456}, num_clients=50),
            site("s2", "Two", default_pct=None, num_clients=None),
        ],
        now=NOW,
    )
    snapshot = trend_analyzer.snapshot_from_result(result)
    assert snapshot.taken_at == NOW and snapshot.metrics == KEYS
    assert snapshot.value("s1", "coverage") == (91.46, "info")
    assert snapshot.value("s2", "coverage") == (None, "no_data")
    assert snapshot.value("missing", "coverage") == (None, "no_data")
    assert trend_analyzer.has_data(snapshot)
    assert trend_analyzer.degraded_site_ids(snapshot) == set()


def test_a_snapshot_keeps_the_top_classifier_of_metrics_with_detail() -> None:
    result = make_result(
        [site("s1", "One", {"coverage": (66.0, [("weak-signal", 26.6, 80, 8), ("asymmetry-uplink", 5.0, 2, 1)])})],
        now=NOW,
    )
    snapshot = trend_analyzer.snapshot_from_result(result)
    index = snapshot.index("s1", "coverage")
    assert snapshot.top_classifiers == {index: "weak-signal"}
    assert trend_analyzer.degraded_site_ids(snapshot) == {"s1"}


# --- Text -------------------------------------------------------------------------------------------------------


def test_the_text_block_shows_each_metric_line_and_the_degradations() -> None:
    yesterday = NOW - timedelta(days=1)
    baseline = snap(yesterday, {"a": {"coverage": 98.5}})
    current = snap(NOW, {"a": {"coverage": 91.5}})
    trends = build(baseline, current, {yesterday.date(): [trend_analyzer.org_values(baseline)]})
    text = trend_analyzer.trend_text(trends)
    assert "compared with the run of 2025-03-13T09:00:00Z" in text
    assert "Store A - Coverage: 98.5% → 91.5% (-7.0 pp)" in text
    coverage_line = next(line for line in text.splitlines() if line.strip().startswith("Coverage"))
    assert coverage_line.endswith("█▁ 98.5% → 91.5%")
    assert "Improvements since then: none" in text
    assert trend_analyzer.trend_text(None) == ""


def test_a_severity_change_is_named_in_the_text() -> None:
    change = {
        "site_name": "Store A",
        "metric_name": "Roaming",
        "previous_pct": 90.5,
        "current_pct": 89.5,
        "delta_pp": -1.0,
        "previous_severity": "info",
        "current_severity": "warning",
    }
    assert trend_analyzer.change_line(change) == "Store A - Roaming: 90.5% → 89.5% (-1.0 pp, info → warning)"


def test_long_lists_are_cut_in_the_text_but_not_in_the_json() -> None:
    before = {f"s{index}": {"coverage": 99.0} for index in range(80)}
    after = {f"s{index}": {"coverage": 90.0} for index in range(80)}
    trends = build(snap(NOW - timedelta(days=1), before), snap(NOW, after))
    assert len(trends["degradations"]) == 80
    assert "... and 30 more" in trend_analyzer.trend_text(trends)


def test_site_lines_give_the_7_day_line_of_each_degraded_site_metric() -> None:
    yesterday = NOW - timedelta(days=1)
    baseline = snap(yesterday, {"b": {"roaming": 98.0}})
    trends = build(baseline, snap(NOW, {"b": {"roaming": 85.0}}), site_days={yesterday.date(): baseline})
    lines = trend_analyzer.site_lines(trends)
    assert lines == {"b": {"roaming": "Last 7 days: ·····█▁ 98.0% → 85.0%"}}
    assert trend_analyzer.site_lines(None) == {}
