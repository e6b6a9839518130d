"""Root cause (issue 18): the pure reading of impact-summary bodies, and the phase against the simulator."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from conftest import SIMULATOR_TOKEN
from mist_infra_manager.analysis import root_cause
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.mist import root_cause_fetch
from mist_infra_manager.mist.collector import CollectionSettings, collect
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.simulator.mist_simulator import MistSimulator

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
ORG_METRICS = ("time-to-connect", "successful-connect", "coverage", "roaming", "throughput", "capacity", "ap-health")
FIXTURES = Path(__file__).parent / "fixtures"
# The example of Mist's OpenAPI (components/examples/SleImpactSummaryExample): a capacity problem on one AP.
SPEC_EXAMPLE: Dict[str, Any] = json.loads((FIXTURES / "openapi-subset.json").read_text(encoding="utf-8"))["components"][
    "examples"
]["SleImpactSummaryExample"]["value"]


def item(key: str, item_id: str, name: str, degraded: float, total: float = 1000.0) -> Dict[str, Any]:
    return {key: item_id, "name": name, "degraded": degraded, "total": total, "duration": 0}


def body(aps: List[Tuple[str, float]], **lists: List[Dict[str, Any]]) -> Dict[str, Any]:
    document: Dict[str, Any] = {"start": 1, "end": 2, "metric": "coverage", "classifier": "weak-signal", "failure": ""}
    document["ap"] = [item("ap_mac", f"mac{n}", name, bad) for n, (name, bad) in enumerate(aps)]
    for key in ("band", "wlan", "device_os", "device_type"):
        document[key] = lists.get(key, [])
    return document


# --- pure: parsing, concentration, the line -------------------------------------------------------


def test_the_spec_example_is_concentrated_on_its_one_ap_on_the_2_4_ghz_band() -> None:
    cause = root_cause.parse_impact_summary(SPEC_EXAMPLE, "client-count", "Client Count")
    assert cause is not None
    assert cause.concentration == "concentrated" and cause.place == "ap" and cause.place_count == 2
    top = cause.lists["ap"][0]
    assert (top.name, top.id, top.degraded) == ("ap43-off.lab", "5c5b3550bd2e", 1486)
    assert cause.summary.startswith("Client Count: 99 % on ap43-off.lab (2.4 GHz")
    assert "concentrated on one AP" in cause.advice


def test_seventy_percent_on_one_ap_reads_with_its_band_wlan_and_device_type() -> None:
    cause = root_cause.parse_impact_summary(
        body(
            [("AP-Leeds-Backroom", 70.0), ("AP-Leeds-Front", 20.0), ("AP-Leeds-Office", 10.0)],
            band=[item("band", "24", "24", 80.0), item("band", "5", "5", 20.0)],
            wlan=[item("wlan_id", "w1", "Store-Staff", 60.0), item("wlan_id", "w2", "Guest", 40.0)],
            device_type=[item("device_type", "z", "Zebra scanner", 64.0), item("device_type", "i", "iPhone", 36.0)],
        ),
        "weak-signal",
        "Weak Signal",
    )
    assert cause is not None
    assert cause.summary == (
        "Weak Signal: 70 % on AP-Leeds-Backroom (2.4 GHz, SSID Store-Staff), mostly Zebra scanner clients"
    )
    assert [round(i.share_pct, 6) for i in cause.lists["ap"]] == [70.0, 20.0, 10.0]


def test_no_ap_holding_half_the_minutes_is_spread_across_every_ap_with_degraded_minutes() -> None:
    aps = [(f"AP-{n}", 10.0) for n in range(12)] + [("AP-idle", 0.0)]
    cause = root_cause.parse_impact_summary(
        body(aps, band=[item("band", b, b, 40.0) for b in ("24", "5", "6")]), "weak-signal", "Weak Signal"
    )
    assert cause is not None
    assert cause.concentration == "spread" and cause.place_count == 12
    assert cause.summary == "Weak Signal: spread across 12 APs"
    assert "site-wide" in cause.advice


@pytest.mark.parametrize(("share", "expected"), [(50.0, "concentrated"), (49.99, "spread"), (100.0, "concentrated")])
def test_half_of_the_degraded_minutes_on_one_ap_is_the_concentration_threshold(share: float, expected: str) -> None:
    assert root_cause.concentration(share) == expected


@pytest.mark.parametrize(("share", "text"), [(99.8, "99 %"), (100.0, "100 %"), (0.2, "1 %"), (64.4, "64 %")])
def test_shares_never_round_to_all_or_nothing_unless_they_are(share: float, text: str) -> None:
    assert root_cause.format_share(share) == text


def test_a_wired_body_is_read_best_effort_from_whatever_lists_it_carries() -> None:
    wired = {
        "metric": "switch-health",
        "classifier": "cpu",
        "switch": [item("switch_mac", "aa", "SW-Core-1", 90.0), item("switch_mac", "bb", "SW-Edge-2", 10.0)],
        "interface": [item("interface", "ge-0/0/1", "ge-0/0/1", 55.0)],
    }
    cause = root_cause.parse_impact_summary(wired, "cpu", "CPU")
    assert cause is not None and cause.place == "switch"
    assert cause.summary == "CPU: 90 % on SW-Core-1"
    assert cause.lists["switch"][0].id == "aa"


@pytest.mark.parametrize(
    "hostile",
    [None, [], "text", {"ap": "x"}, {"ap": [{"name": "AP", "degraded": "NaN"}]}, body([("AP-1", 0.0)])],
    ids=["null", "list", "text", "ap-not-a-list", "degraded-not-a-number", "nothing-degraded"],
)
def test_a_body_without_degraded_minutes_gives_no_root_cause(hostile: Any) -> None:
    assert root_cause.parse_impact_summary(hostile, "weak-signal", "Weak Signal") is None


def test_the_json_form_reads_back_to_the_same_root_cause() -> None:
    cause = root_cause.parse_impact_summary(SPEC_EXAMPLE, "client-count", "Client Count")
    assert cause is not None
    document = root_cause.document(cause)
    assert set(document["top"]["ap"][0]) == {"name", "id", "degraded", "total", "share_pct"}
    again = root_cause.from_document(json.loads(json.dumps(document)))
    assert again is not None and again.summary == cause.summary and again.concentration == cause.concentration
    assert root_cause.from_document({"classifier": "x"}) is None


# --- against the simulator ------------------------------------------------------------------------


@pytest.fixture
def org() -> Iterator[MistSimulator]:
    """The special sites and two healthy ones: site 0 critical coverage (70 % on one AP), site 1 spread."""
    with MistSimulator(num_sites=8, token=SIMULATOR_TOKEN) as running:
        yield running


def run(simulator: MistSimulator, state: Any = None, **settings: Any) -> RunResult:
    client = MistClient(simulator.base_url, simulator.token, sleep=lambda seconds: None)
    try:
        return collect(client, CollectionSettings(**settings), NOW, state_directory=state, clock=lambda: NOW)
    finally:
        client.close()


def below(simulator: MistSimulator, limit: float) -> List[Tuple[str, str]]:
    return [
        (site.id, key)
        for site in simulator.sites
        for key, fraction in site.fractions.items()
        if key in ORG_METRICS and fraction is not None and fraction < limit
    ]


def floor(simulator: MistSimulator) -> int:
    """/self, one page of sites and of sites-sle, one /summary per site-metric below 90 %."""
    return 1 + 1 + 1 + len(below(simulator, 0.9))


def causes_of(result: RunResult) -> Dict[Tuple[str, str], root_cause.RootCause]:
    return {
        (site.name, key): metric.root_cause
        for site in result.sites
        for key, metric in site.metrics.items()
        if metric.root_cause is not None
    }


def test_each_critical_and_major_site_metric_costs_exactly_one_impact_summary_call(org: MistSimulator) -> None:
    result = run(org)
    severe = below(org, 0.8)
    assert len(severe) == 4
    calls = [(path, query) for path, query in org.requests_log if path.endswith("/impact-summary")]
    assert len(calls) == len(severe) and all("classifier=" in q and "fields" not in q for _, q in calls)
    assert org.calls == result.api_calls == floor(org) + len(severe)
    causes = causes_of(result)
    assert causes[("Store-0001 London", "coverage")].summary.startswith("Weak Signal: 70 % on AP-0001-01 (2.4 GHz")
    assert causes[("Store-0002 Paris", "time-to-connect")].summary == "DHCP Unresponsive: spread across 6 APs"
    assert ("Store-0003 Berlin", "roaming") not in causes  # warning: no root cause


def test_with_summary_removed_the_top_cells_of_critical_and_major_keep_users_and_aps_from_the_impacted_lists(
    org: MistSimulator,
) -> None:
    org.summary_removed = True
    result = run(org, max_workers=1)
    severe = below(org, 0.8)
    assert org.calls_matching("/impact-summary") == len(severe)
    assert org.calls_matching("/impacted-users") == org.calls_matching("/impacted-aps") == len(severe)
    assert all("limit=1" in query for path, query in org.requests_log if "/impacted-" in path)
    # One /summary answered 404 before the switch to /summary-trend.
    assert org.calls == floor(org) + 1 + 3 * len(severe)
    cells = {}
    for site in result.sites:
        for key, metric in site.metrics.items():
            if metric.top_classifier is not None:
                cells[(site.id, key)] = (metric.top_classifier.users, metric.top_classifier.aps)
    london = org.sites[0]
    assert cells[(london.id, "coverage")] == (80, 8)
    assert all(None not in cells[target] for target in severe)
    assert all(cell == (None, None) for target, cell in cells.items() if target not in severe)


def test_root_cause_none_makes_the_run_it_made_before(org: MistSimulator) -> None:
    result = run(org, root_cause="none")
    assert org.calls == result.api_calls == floor(org)
    assert org.calls_matching("/impact") == 0
    assert causes_of(result) == {}


def test_root_cause_critical_asks_only_for_the_critical_site_metrics(org: MistSimulator) -> None:
    result = run(org, root_cause="critical")
    assert org.calls_matching("/impact-summary") == len(below(org, 0.7)) == 2
    assert {key for _, key in causes_of(result)} == {"coverage", "ap-health"}


def test_a_second_run_within_the_hour_reuses_the_cached_root_causes(org: MistSimulator, tmp_path: Path) -> None:
    first = run(org, tmp_path)
    org.reset_counters()
    second = run(org, tmp_path)
    assert org.calls_matching("/impact-summary") == 0
    assert {k: c.summary for k, c in causes_of(second).items()} == {k: c.summary for k, c in causes_of(first).items()}
    cache = json.loads((tmp_path / root_cause_fetch.CACHE_FILE_NAME).read_text(encoding="utf-8"))
    assert len(cache["entries"]) == 4 and cache["deferred"] == []


def test_a_budget_spent_by_the_breakdowns_defers_the_root_causes_worst_first(
    org: MistSimulator, tmp_path: Path
) -> None:
    # 24 calls an hour less 50 % = 12 usable: 3 org calls, 7 breakdowns, 2 root causes.
    result = run(org, tmp_path, calls_per_hour=24, budget_reserve_pct=50)
    assert org.calls_matching("/impact-summary") == 2 and result.api_calls == 12 == floor(org) + 2
    assert {key for _, key in causes_of(result)} == {"coverage", "ap-health"}  # the two critical ones
    assert any("root cause of 2 critical/major site-metric(s) deferred" in note for note in result.notes)
    cache = json.loads((tmp_path / root_cause_fetch.CACHE_FILE_NAME).read_text(encoding="utf-8"))
    assert len(cache["deferred"]) == 2


def test_a_failing_impact_summary_leaves_the_site_metric_without_root_cause_and_the_run_complete(
    org: MistSimulator,
) -> None:
    org.add_fault(500, times=10, path_contains="/metric/coverage/impact-summary")
    result = run(org)
    assert result.complete
    assert ("Store-0001 London", "coverage") not in causes_of(result)
    assert any("root cause not available" in note for note in result.notes)


def test_the_cache_document_survives_a_round_trip_and_ignores_another_org() -> None:
    cause = root_cause.parse_impact_summary(copy.deepcopy(SPEC_EXAMPLE), "client-count", "Client Count")
    state = root_cause_fetch.CauseState(
        entries={"s/capacity": root_cause_fetch.CauseEntry(NOW, 66.0, "client-count", cause, 12, 3)}, deferred=["x"]
    )
    document = json.loads(json.dumps(root_cause_fetch.cache_document(state, "org", "1d")))
    again = root_cause_fetch.parse_cache(document, "org", "1d")
    entry = again.entries["s/capacity"]
    assert (entry.classifier, entry.users, entry.aps, again.deferred) == ("client-count", 12, 3, ["x"])
    assert entry.cause is not None and cause is not None and entry.cause.summary == cause.summary
    assert root_cause_fetch.parse_cache(document, "other-org", "1d").entries == {}
