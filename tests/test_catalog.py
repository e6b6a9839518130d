"""Unit tests of the metric and classifier catalog: ids, display names, recommended actions."""

from __future__ import annotations

import pytest

from mist_infra_manager.analysis import catalog


@pytest.mark.parametrize(
    ("classifier_id", "display_name"),
    [
        ("dhcp-nack", "DHCP Nack"),
        ("latency-slow-11r-roam", "Latency Slow 11r Roam"),
        ("ap-disconnected-switch-down", "AP Disconnected Switch Down"),
        ("ethernet-ethernet-errors", "Ethernet Errors"),
        ("IP-Services", "IP-Services"),
        ("weak-signal", "Weak Signal"),
        ("client_usage", "Client Usage"),
    ],
)
def test_a_known_classifier_gets_the_seed_display_name(classifier_id: str, display_name: str) -> None:
    assert catalog.classifier_display_name(classifier_id) == display_name


@pytest.mark.parametrize(
    ("classifier_id", "display_name"),
    [
        ("some-new_thing", "Some New Thing"),
        ("dhcp-offer-slow", "DHCP Offer Slow"),
        ("wifi-ap-to-dns", "WiFi AP to DNS"),
        ("to-be-decided", "To Be Decided"),
        ("--odd--", "Odd"),
    ],
)
def test_an_unknown_classifier_id_is_title_cased_with_acronyms_kept(classifier_id: str, display_name: str) -> None:
    assert catalog.classifier_display_name(classifier_id) == display_name


def test_a_classifier_id_without_words_is_shown_as_it_is() -> None:
    assert catalog.classifier_display_name("-") == "-"


def test_successful_connects_is_asked_for_as_failed_to_connect_on_the_site_endpoints() -> None:
    metric = catalog.METRICS_BY_KEY["successful-connect"]

    assert metric.site_metric_id == "failed-to-connect"
    assert metric.name == "Successful Connects"
    assert "failed-to-connect" not in catalog.METRICS_BY_KEY


def test_every_other_metric_uses_the_same_id_on_both_endpoints() -> None:
    others = [metric for metric in catalog.METRICS if metric.key != "successful-connect"]

    assert all(metric.site_metric_id == metric.key for metric in others)


def test_the_seven_metrics_come_in_the_seed_order() -> None:
    assert catalog.METRIC_KEYS == (
        "time-to-connect",
        "successful-connect",
        "coverage",
        "roaming",
        "throughput",
        "capacity",
        "ap-health",
    )
    assert [metric.name for metric in catalog.METRICS] == [
        "Time to Connect",
        "Successful Connects",
        "Coverage",
        "Roaming",
        "Throughput",
        "Capacity",
        "AP Health",
    ]
    assert list(catalog.METRICS_BY_KEY) == list(catalog.METRIC_KEYS)


def test_every_catalogued_classifier_has_a_seed_display_name() -> None:
    missing = [
        classifier_id
        for metric in catalog.METRICS
        for classifier_id in metric.classifier_ids
        if classifier_id not in catalog.CLASSIFIER_NAMES
    ]

    assert missing == []


@pytest.mark.parametrize(
    "classifier_id", ["dhcp-nack", "dhcp-stuck", "dhcp-unresponsive", "dhcp-discover-unresponsive", "DHCP"]
)
def test_dhcp_classifiers_point_at_the_dhcp_server_and_relay(classifier_id: str) -> None:
    action = catalog.recommended_action(classifier_id)

    assert "DHCP server and relay" in action


def test_weak_signal_points_at_ap_placement_and_power() -> None:
    action = catalog.recommended_action("weak-signal")

    assert "AP placement" in action
    assert "power" in action


@pytest.mark.parametrize(
    ("classifier_id", "words"),
    [
        ("IP-Services", "IP services"),
        ("authorization", "RADIUS"),
        ("capacity-non-wifi-interference", "non-WiFi"),
        ("wifi-interference", "channel plan"),
        ("ap-disconnected-switch-down", "access switch"),
        ("latency-slow-11r-roam", "fast-roaming"),
        ("network-latency", "WAN latency"),
    ],
)
def test_other_families_get_their_own_action(classifier_id: str, words: str) -> None:
    action = catalog.recommended_action(classifier_id)

    assert words in action
    assert action != catalog.GENERIC_ACTION


@pytest.mark.parametrize("classifier_id", ["something-never-seen", "", None])
def test_an_unmatched_classifier_falls_back_to_the_generic_action(classifier_id: object) -> None:
    assert catalog.recommended_action(classifier_id) == catalog.GENERIC_ACTION  # type: ignore[arg-type]


def test_every_catalogued_classifier_has_a_specific_action() -> None:
    generic = [
        classifier_id
        for metric in catalog.METRICS
        for classifier_id in metric.classifier_ids
        if catalog.recommended_action(classifier_id) == catalog.GENERIC_ACTION
    ]

    assert generic == []
