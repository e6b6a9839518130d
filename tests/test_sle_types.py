"""Wired and WAN SLEs (issue 16), the pure parts: the per-type metric catalog, the parsing of wired and WAN
sites-sle rows, the merge into the sites, `sle.types` validation and the trend snapshots of every type."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Dict, List

import pytest

from mist_infra_manager import config
from mist_infra_manager.analysis import catalog, sle_monitor, sle_types, trend_analyzer
from mist_infra_manager.analysis.models import RunResult, SiteResult
from mist_infra_manager.mist import collector

THRESHOLDS = sle_monitor.DEFAULT_THRESHOLDS
WIRED_KEYS = ["switch-health", "switch-throughput", "switch-bandwidth"]
WAN_KEYS = ["gateway-health", "wan-link-health", "application-health"]


def wifi_site(site_id: str = "s1", coverage: float = 0.95) -> SiteResult:
    return sle_monitor.build_site(site_id, site_id.upper(), {"site_id": site_id, "coverage": coverage}, THRESHOLDS)


def test_the_default_types_are_wifi_alone_with_the_seven_wifi_metrics() -> None:
    assert sle_types.DEFAULT_TYPES == ("wifi",)
    assert sle_types.metric_keys(sle_types.DEFAULT_TYPES) == catalog.METRIC_KEYS


def test_all_three_types_list_wifi_then_wired_then_wan_metrics() -> None:
    keys = sle_types.metric_keys(["wan", "wired", "wifi"])

    assert list(keys) == [*catalog.METRIC_KEYS, *WIRED_KEYS, *WAN_KEYS]
    assert sle_types.ordered_types(["wan", "wifi", "wired", "wan"]) == ["wifi", "wired", "wan"]


def test_every_metric_has_a_short_name_that_fits_a_grid_column() -> None:
    assert all(len(metric.short_name) <= 9 for metric in catalog.ALL_METRICS)


def test_application_health_is_asked_hyphenated_first_then_with_an_underscore() -> None:
    assert sle_types.site_metric_ids("application-health") == ("application-health", "application_health")
    assert sle_types.site_metric_ids("switch-health") == ("switch-health",)
    assert sle_types.site_metric_ids("successful-connect") == ("failed-to-connect",)


def test_a_wired_row_gives_the_three_switch_metrics_as_percentages_with_severities() -> None:
    row = {
        "site_id": "s1",
        "num_switches": 4,
        "switch-health": 0.72,
        "switch-throughput": 0.955,
        "switch-bandwidth": 0.5,
    }

    metrics = sle_types.type_metrics("wired", row, THRESHOLDS)

    assert list(metrics) == WIRED_KEYS
    assert metrics["switch-health"].sle_pct == pytest.approx(72.0)
    assert metrics["switch-health"].severity == "major"
    assert metrics["switch-throughput"].severity == "info"
    assert metrics["switch-bandwidth"].severity == "critical"
    assert metrics["switch-health"].name == "Switch Health"


@pytest.mark.parametrize("org_key", ["application_health", "application-health"])
def test_a_wan_row_accepts_both_spellings_of_application_health(org_key: str) -> None:
    row = {"site_id": "s1", "num_gateways": 2, "gateway-health": 0.99, org_key: 0.86}

    metrics = sle_types.type_metrics("wan", row, THRESHOLDS)

    assert metrics["application-health"].sle_pct == pytest.approx(86.0)
    assert metrics["application-health"].severity == "warning"
    assert metrics["wan-link-health"].severity == "no_data"


@pytest.mark.parametrize(
    "row",
    [
        None,
        {"site_id": "s1"},
        {"site_id": "s1", "num_switches": 0, "switch-health": 1.0},
    ],
    ids=["absent", "site-id-alone", "zero-switches"],
)
def test_a_site_without_switches_is_no_data_on_every_wired_metric(row: Any) -> None:
    metrics = sle_types.type_metrics("wired", row, THRESHOLDS)

    assert {metric.severity for metric in metrics.values()} == {"no_data"}
    assert all(metric.sle_pct is None and not metric.unreadable for metric in metrics.values())


def test_a_nan_wired_value_is_unreadable_and_no_data() -> None:
    metrics = sle_types.type_metrics("wired", {"site_id": "s1", "switch-health": math.nan}, THRESHOLDS)

    assert metrics["switch-health"].severity == "no_data"
    assert metrics["switch-health"].unreadable is True


def test_a_wifi_only_site_takes_its_status_from_wifi_and_is_no_data_on_wired_and_wan() -> None:
    sites = [wifi_site("s1", coverage=0.75), wifi_site("s2", coverage=0.99)]
    wired = [{"site_id": "s2", "num_switches": 3, "switch-health": 0.97, "switch-throughput": 0.98}]
    wan = [{"site_id": "s2", "num_gateways": 1, "gateway-health": 0.85}]

    notes = sle_types.merge_types(sites, {"wired": wired, "wan": wan}, THRESHOLDS)
    for site in sites:
        site.status = sle_monitor.site_status(site.metrics.values())

    assert notes == []
    first, second = sites
    assert first.status == "major"
    assert all(first.metrics[key].severity == "no_data" for key in WIRED_KEYS + WAN_KEYS)
    assert first.num_switches is None and first.num_gateways is None
    assert second.status == "warning"
    assert second.num_switches == 3 and second.num_gateways == 1
    assert second.metrics["switch-bandwidth"].severity == "no_data"


def test_an_org_without_any_wired_data_gets_one_note_not_one_per_site() -> None:
    sites = [wifi_site(f"s{number}") for number in range(50)]

    notes = sle_types.merge_types(sites, {"wired": [], "wan": [{"site_id": "s3", "gateway-health": 0.9}]}, THRESHOLDS)

    assert len(notes) == 1
    assert "wired" in notes[0] and "no switches" in notes[0]
    assert all(site.metrics["switch-health"].severity == "no_data" for site in sites)


def test_a_site_only_a_wired_result_names_is_added_by_id() -> None:
    sites = [wifi_site("s1")]

    notes = sle_types.merge_types(sites, {"wired": [{"site_id": "s9", "switch-health": 0.6}]}, THRESHOLDS)

    assert [site.id for site in sites] == ["s1", "s9"]
    assert sites[1].metrics["switch-health"].severity == "critical"
    assert sites[1].metrics["coverage"].severity == "no_data"
    assert any("missing from the sites list" in note for note in notes)


def test_wired_and_wan_classifier_ids_from_the_api_are_title_cased() -> None:
    assert catalog.classifier_display_name("switch-unreachable") == "Switch Unreachable"
    assert catalog.classifier_display_name("isp-reachability") == "ISP Reachability"
    assert catalog.classifier_display_name("system-cpu") == "System CPU"


def test_wired_and_wan_classifiers_count_no_aps() -> None:
    assert sle_types.without_device_counts("switch-health", 3) is None
    assert sle_types.without_device_counts("coverage", 3) == 3


def raw_config(**sle: Any) -> Dict[str, Any]:
    return {"mist": {"api_token": "t"}, "notifications": {"enabled": False}, "sle": sle}


def test_sle_types_defaults_to_wifi_and_normalizes_the_order() -> None:
    assert config.validate(raw_config(), "c.yaml", {}).sle.types == ("wifi",)
    assert config.validate(raw_config(types=["wan", "wifi", "wired"]), "c.yaml", {}).sle.types == (
        "wifi",
        "wired",
        "wan",
    )


@pytest.mark.parametrize(
    "types, message",
    [
        (["wired"], "must include wifi"),
        (["wifi", "lan"], "unknown SLE type 'lan'"),
        ([], "expected a list of SLE types"),
        ("wifi, wired", "unknown SLE type"),
    ],
)
def test_sle_types_that_cannot_be_collected_are_refused_with_the_key(types: Any, message: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.validate(raw_config(types=types), "c.yaml", {})

    assert str(raised.value).count("\n") == 0
    assert "c.yaml: sle.types" in str(raised.value) and message in str(raised.value)


def _result(sites: List[SiteResult], types: List[str], hour: int) -> RunResult:
    return collector.finish_result(
        sites=sites,
        org_id="org",
        org_name="Org",
        now=datetime(2026, 12, 2, hour, tzinfo=timezone.utc),
        settings=collector.CollectionSettings(types=tuple(types)),
        window_start=None,
        window_end=None,
        api_calls=1,
        base_url="http://127.0.0.1",
        problems=[],
        notes=[],
        detail_source=None,
    )


def test_a_trend_snapshot_holds_the_metrics_of_the_configured_types_and_compares_with_a_wifi_only_one() -> None:
    old_sites = [wifi_site("s1")]
    new_sites = [wifi_site("s1")]
    rows: Dict[str, List[Any]] = {"wired": [{"site_id": "s1", "num_switches": 1, "switch-health": 0.6}]}
    sle_types.merge_types(new_sites, rows, THRESHOLDS)

    old = trend_analyzer.snapshot_from_result(_result(old_sites, ["wifi"], 8))
    new = trend_analyzer.snapshot_from_result(_result(new_sites, ["wifi", "wired"], 9))

    assert old.metrics == list(catalog.METRIC_KEYS)
    assert new.metrics == [*catalog.METRIC_KEYS, *WIRED_KEYS]
    assert new.value("s1", "switch-health")[1] == "critical"
    assert old.value("s1", "switch-health") == (None, "no_data")
    degradations, _ = trend_analyzer.compare(new, old, {"s1": "S1"}, 5.0)
    assert degradations == []
