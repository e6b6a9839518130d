"""Unit tests of the pure parts of the collector: choosing the org, merging sites, picking detail targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from mist_infra_manager.analysis import sle_monitor
from mist_infra_manager.analysis.models import SiteResult
from mist_infra_manager.mist import collector

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "examples"
ORG_ID = "7f3c2a91-5d4e-4b8a-9c21-3e6f0d8b1a42"
OTHER_ORG_ID = "b5a4c3d2-e1f0-4a9b-8c7d-6e5f4a3b2c1d"
LONDON = "4b1e2c3d-8a9f-4e7b-b2c1-0d9e8f7a6b51"


def load_example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


# --- find_org ----------------------------------------------------------------------------------------------


def test_a_token_seeing_two_orgs_stops_with_both_ids_and_names() -> None:
    with pytest.raises(collector.OrgSelectionError) as caught:
        collector.find_org(load_example("self.json"), None)

    message = str(caught.value)
    assert "2 orgs" in message
    assert "mist.org_id" in message
    assert f"{ORG_ID} (Acme Retail Europe)" in message
    assert f"{OTHER_ORG_ID} (Acme Labs)" in message


def test_a_configured_org_id_is_taken_with_its_name() -> None:
    assert collector.find_org(load_example("self.json"), ORG_ID) == (ORG_ID, "Acme Retail Europe")


def test_a_configured_org_known_only_through_a_site_privilege_gets_the_org_name() -> None:
    assert collector.find_org(load_example("self.json"), OTHER_ORG_ID) == (OTHER_ORG_ID, "Acme Labs")


def test_a_configured_org_the_token_does_not_list_is_named_by_its_id() -> None:
    assert collector.find_org(load_example("self.json"), "unlisted-org") == ("unlisted-org", "unlisted-org")


def test_a_token_of_a_single_org_needs_no_configured_org_id() -> None:
    body = {"privileges": [{"scope": "org", "role": "read", "org_id": ORG_ID, "name": "Acme Retail Europe"}]}

    assert collector.find_org(body, None) == (ORG_ID, "Acme Retail Europe")


def test_an_empty_configured_org_id_counts_as_none() -> None:
    body = {"privileges": [{"scope": "org", "role": "read", "org_id": ORG_ID, "name": "Acme"}]}

    assert collector.find_org(body, "") == (ORG_ID, "Acme")


def test_site_privileges_in_one_org_make_one_org_named_by_org_name() -> None:
    body = {
        "privileges": [
            {"scope": "site", "org_id": ORG_ID, "org_name": "Acme", "site_id": "s1", "name": "Site 1"},
            {"scope": "site", "org_id": ORG_ID, "org_name": "Acme", "site_id": "s2", "name": "Site 2"},
        ]
    }

    assert collector.find_org(body, None) == (ORG_ID, "Acme")


def test_the_org_privilege_name_wins_over_a_site_privilege_in_either_order() -> None:
    site = {"scope": "site", "org_id": ORG_ID, "org_name": "from site", "site_id": "s1", "name": "Site 1"}
    org = {"scope": "org", "org_id": ORG_ID, "name": "from org"}

    assert collector.find_org({"privileges": [site, org]}, None) == (ORG_ID, "from org")
    assert collector.find_org({"privileges": [org, site]}, None) == (ORG_ID, "from org")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"privileges": []},
        {"privileges": None},
        {"privileges": [{"scope": "msp", "msp_id": "m1", "name": "MSP"}]},
        {"privileges": ["junk", {"scope": "org"}, {"scope": "org", "org_id": ""}]},
    ],
)
def test_a_token_without_org_or_site_privileges_stops_with_a_hint(body: Dict[str, Any]) -> None:
    with pytest.raises(collector.OrgSelectionError, match="no org or site privileges"):
        collector.find_org(body, None)


# --- merge_sites ---------------------------------------------------------------------------------------------


def merged(site_list: List[Any], sle_results: List[Any]) -> tuple:
    return collector.merge_sites(site_list, sle_results, sle_monitor.DEFAULT_THRESHOLDS)


def test_the_example_sites_get_their_names_from_the_list_and_their_sles_from_sites_sle() -> None:
    sites, notes = merged(load_example("sites.json"), load_example("insights_sites_sle.json")["results"])

    assert [s.name for s in sites] == ["London-HQ", "Paris-Office", "Berlin-Warehouse", "NYC-Branch"]
    london = sites[0]
    assert london.id == LONDON
    assert london.metrics["coverage"].sle_pct == pytest.approx(95.81, abs=0.005)
    assert (london.num_aps, london.num_clients) == (14, 186)
    assert notes == []


def test_a_site_without_an_sle_result_is_kept_with_no_data() -> None:
    sites, notes = merged(
        [{"id": "s1", "name": "Quiet"}, {"id": "s2", "name": "Busy"}], [{"site_id": "s2", "coverage": 0.5}]
    )

    quiet = sites[0]
    assert (quiet.id, quiet.name, quiet.status) == ("s1", "Quiet", "no_data")
    assert all(metric.severity == "no_data" for metric in quiet.metrics.values())
    assert sites[1].status == "critical"
    assert notes == []


def test_an_sle_result_for_a_site_missing_from_the_list_is_kept_by_id_with_a_note() -> None:
    sites, notes = merged([{"id": "s1", "name": "Known"}], [{"site_id": "s1"}, {"site_id": "ghost", "coverage": 0.8}])

    assert [(s.id, s.name) for s in sites] == [("s1", "Known"), ("ghost", "ghost")]
    assert sites[1].metrics["coverage"].sle_pct == pytest.approx(80.0)
    assert len(notes) == 1
    assert "1 site(s)" in notes[0]
    assert "missing from the sites list" in notes[0]


def test_duplicate_sites_are_dropped() -> None:
    site_list = [{"id": "s1", "name": "First"}, {"id": "s1", "name": "Again"}, {"id": "s2", "name": "Other"}]
    sites, _ = merged(site_list, [{"site_id": "s1", "coverage": 0.95}, {"site_id": "s1", "coverage": 0.95}])

    assert [(s.id, s.name) for s in sites] == [("s1", "First"), ("s2", "Other")]


def test_a_site_without_a_usable_name_is_named_by_its_id_and_junk_entries_are_skipped() -> None:
    site_list = [{"id": "s1", "name": ""}, {"id": "s2"}, {"name": "no id"}, "junk", None, {"id": 5}]
    sites, _ = merged(site_list, ["junk", {"site_id": None}])

    assert [(s.id, s.name) for s in sites] == [("s1", "s1"), ("s2", "s2")]


def test_merged_sites_use_the_given_thresholds() -> None:
    strict = {"critical": 97.0, "major": 98.0, "warning": 99.0}
    sites, _ = collector.merge_sites([{"id": "s1", "name": "A"}], [{"site_id": "s1", "coverage": 0.975}], strict)

    assert sites[0].metrics["coverage"].severity == "major"


# --- detail_targets --------------------------------------------------------------------------------------------


def make_site(name: str, sles: Dict[str, Optional[float]], num_clients: int = 10) -> SiteResult:
    result: Dict[str, Any] = {"site_id": f"id-{name}", "num_clients": num_clients}
    result.update({key: None if pct is None else pct / 100 for key, pct in sles.items()})
    return sle_monitor.build_site(f"id-{name}", name, result)


def pairs(targets: List[tuple]) -> List[tuple]:
    return [(site.name, metric.key) for site, metric in targets]


def test_degraded_detail_targets_only_metrics_below_warning_worst_first() -> None:
    sites = [
        make_site("A", {"coverage": 85.0, "roaming": 95.0}),
        make_site("B", {"coverage": 60.0, "throughput": 79.0}),
        make_site("C", {"capacity": 99.0}),
    ]

    assert pairs(collector.detail_targets(sites, "degraded")) == [
        ("B", "coverage"),
        ("B", "throughput"),
        ("A", "coverage"),
    ]


def test_detail_targets_at_equal_severity_and_sle_put_more_clients_first_then_name() -> None:
    sites = [
        make_site("b-site", {"coverage": 85.0}, num_clients=5),
        make_site("a-site", {"coverage": 85.0}, num_clients=5),
        make_site("big", {"coverage": 85.0}, num_clients=50),
    ]

    assert pairs(collector.detail_targets(sites, "degraded")) == [
        ("big", "coverage"),
        ("a-site", "coverage"),
        ("b-site", "coverage"),
    ]


def test_all_detail_targets_every_site_metric_worst_first() -> None:
    sites = [make_site("A", {"coverage": 95.0}), make_site("B", {"coverage": 75.0, "roaming": 99.0})]
    targets = collector.detail_targets(sites, "all")

    assert len(targets) == 2 * 7
    assert pairs(targets)[:3] == [("B", "coverage"), ("A", "coverage"), ("B", "roaming")]
    assert {metric.severity for _, metric in targets[3:]} == {"no_data"}


def test_no_detail_targets_nothing() -> None:
    sites = [make_site("B", {"coverage": 50.0})]

    assert collector.detail_targets(sites, "none") == []
