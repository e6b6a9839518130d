"""Tests of the Mist API simulator, over real HTTP with requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests

from mist_infra_manager.simulator.mist_simulator import (
    ENABLED_SITE_METRICS,
    ORG_METRIC_KEYS,
    SITE_TO_ORG_METRIC,
    UNKNOWN_CLASSIFIER,
    MistSimulator,
    SimSite,
    build_sites,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "examples"
FIXED_NOW = 1760545815.0
TIMEOUT_S = 10
KINDS = ("critical", "major", "warning", "no_data", "html_name", "major_multi", "healthy")


class FakeClock:
    """A settable clock for the simulator (no sleeping in tests)."""

    def __init__(self, now: float = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def session(sim: MistSimulator, token: Optional[str] = None) -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = f"Token {token or sim.token}"
    return client


def get(sim: MistSimulator, path: str, **params: Any) -> requests.Response:
    with session(sim) as client:
        return client.get(sim.base_url + path, params=params, timeout=TIMEOUT_S)


def site_path(site: SimSite, rest: str) -> str:
    return f"/api/v1/sites/{site.id}/sle/site/{site.id}/{rest}"


def first_of_kind(sim: MistSimulator, kind: str) -> SimSite:
    return next(site for site in sim.sites if site.kind == kind)


def known(values: List[Optional[float]]) -> float:
    return sum(value for value in values if value is not None)


@pytest.fixture(scope="module")
def org() -> Iterator[MistSimulator]:
    """A read-only 40-site org with a fixed clock; tests that change state make their own."""
    with MistSimulator(40, clock=FakeClock()) as sim:
        yield sim


@pytest.fixture
def make_sim() -> Iterator[Callable[..., MistSimulator]]:
    started: List[MistSimulator] = []

    def factory(num_sites: int = 40, **kwargs: Any) -> MistSimulator:
        kwargs.setdefault("clock", FakeClock())
        sim = MistSimulator(num_sites, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


# --- lifecycle -------------------------------------------------------------------------------------


def test_start_returns_a_local_base_url_and_the_context_manager_stops_serving() -> None:
    sim = MistSimulator(3)
    with sim:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
        assert get(sim, "/api/v1/self").status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.base_url + "/api/v1/self", timeout=TIMEOUT_S)


@pytest.mark.e2e
def test_command_line_prints_the_base_url_and_stops_cleanly_on_sigterm() -> None:
    command = [sys.executable, "-m", "mist_infra_manager.simulator", "--port", "0", "--sites", "5"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            pattern = r"Mist simulator on (http://127\.0\.0\.1:\d+) \(org ([0-9a-f-]{36}), token sim-token\)\n"
            match = re.fullmatch(pattern, line)
            assert match, line
            response = requests.get(
                match.group(1) + "/api/v1/self", headers={"Authorization": "Token sim-token"}, timeout=TIMEOUT_S
            )
            assert response.json()["privileges"][0]["org_id"] == match.group(2)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=TIMEOUT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()


# --- paging ----------------------------------------------------------------------------------------


def test_sites_are_paged_by_headers_when_page_cap_is_seven(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(40, page_cap=7)
    client = session(sim)
    ids: List[str] = []
    page = 1
    while True:
        response = client.get(
            f"{sim.base_url}/api/v1/orgs/{sim.org_id}/sites", params={"limit": 100, "page": page}, timeout=TIMEOUT_S
        )
        assert response.headers["X-Page-Total"] == "40"
        assert response.headers["X-Page-Limit"] == "7"
        assert response.headers["X-Page-Page"] == str(page)
        ids += [site["id"] for site in response.json()]
        if len(ids) >= int(response.headers["X-Page-Total"]):
            break
        page += 1
    assert page == 6
    assert ids == [site.id for site in sim.sites]


def test_sites_sle_is_paged_by_body_when_page_cap_is_seven(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(40, page_cap=7)
    ids: List[str] = []
    pages = 0
    while True:
        body = get(
            sim, f"/api/v1/orgs/{sim.org_id}/insights/sites-sle", sle="wifi", duration="1d", limit=1000, page=pages + 1
        ).json()
        pages += 1
        assert (body["limit"], body["page"], body["total"]) == (7, pages, 40)
        ids += [result["site_id"] for result in body["results"]]
        if body["limit"] * body["page"] >= body["total"]:
            break
    assert pages == 6
    assert ids == [site.id for site in sim.sites]


def test_limit_defaults_to_one_hundred_and_a_smaller_limit_is_honoured(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(150)
    first = get(sim, f"/api/v1/orgs/{sim.org_id}/sites")
    second = get(sim, f"/api/v1/orgs/{sim.org_id}/sites", page=2)
    small = get(sim, f"/api/v1/orgs/{sim.org_id}/insights/sites-sle", limit=5).json()
    assert (len(first.json()), first.headers["X-Page-Limit"]) == (100, "100")
    assert len(second.json()) == 50
    assert (small["limit"], len(small["results"])) == (5, 5)


def test_a_page_past_the_end_is_empty(org: MistSimulator) -> None:
    assert get(org, f"/api/v1/orgs/{org.org_id}/sites", page=9).json() == []
    assert get(org, f"/api/v1/orgs/{org.org_id}/insights/sites-sle", page=9).json()["results"] == []


def test_ten_thousand_sites_serve_a_thousand_result_page(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(10_000, degraded_share=0.05)
    sites = get(sim, f"/api/v1/orgs/{sim.org_id}/sites", limit=1000, page=10)
    body = get(sim, f"/api/v1/orgs/{sim.org_id}/insights/sites-sle", limit=1000, page=10).json()
    assert [site["id"] for site in sites.json()] == [site.id for site in sim.sites[9000:]]
    assert [result["site_id"] for result in body["results"]] == [site.id for site in sim.sites[9000:]]
    assert sites.headers["X-Page-Total"] == "10000"


# --- auth and not-found ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer sim-token", "sim-token"], ids=["missing", "bearer", "bare"])
def test_request_without_a_token_header_gets_401_credentials_not_provided(
    org: MistSimulator, header: Optional[str]
) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(org.base_url + "/api/v1/self", headers=headers, timeout=TIMEOUT_S)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_request_with_a_wrong_token_gets_401_invalid_token(org: MistSimulator) -> None:
    response = session(org, "not-the-token").get(org.base_url + "/api/v1/self", timeout=TIMEOUT_S)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_unknown_org_site_and_metric_answer_404_with_the_id(org: MistSimulator) -> None:
    site = org.sites[0]
    stranger = str(uuid.UUID(int=1))
    assert get(org, f"/api/v1/orgs/{stranger}/sites").json() == {"id": stranger}
    assert get(org, f"/api/v1/sites/{stranger}/sle/site/{stranger}/metrics").json() == {"id": stranger}
    response = get(org, site_path(site, "metric/roaming-v3/summary"))
    assert (response.status_code, response.json()) == (404, {"id": "roaming-v3"})


def test_unknown_path_answers_404_not_found(org: MistSimulator) -> None:
    response = get(org, "/api/v1/no/such/thing")
    assert (response.status_code, response.json()) == (404, {"detail": "Not found"})


# --- faults ----------------------------------------------------------------------------------------


def test_429_fault_carries_the_example_body_and_a_retry_after_header(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    sim.add_fault(429, retry_after=2)
    limited = get(sim, "/api/v1/self")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json() == json.loads((EXAMPLES / "error_429.json").read_text(encoding="utf-8"))
    assert get(sim, "/api/v1/self").status_code == 200


def test_429_fault_without_retry_after_sends_no_retry_after_header(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    sim.add_fault(429)
    response = get(sim, "/api/v1/self")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_503_fault_answers_the_given_number_of_times_then_service_resumes(
    make_sim: Callable[..., MistSimulator],
) -> None:
    sim = make_sim(5)
    sim.add_fault(503, times=2)
    statuses = [get(sim, "/api/v1/self") for _ in range(3)]
    assert [response.status_code for response in statuses] == [503, 503, 200]
    assert isinstance(statuses[0].json()["detail"], str)
    assert sim.calls == 3


def test_faults_only_hit_requests_whose_path_contains_the_filter(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    site = sim.sites[0]
    sim.add_fault(500, path_contains="/summary")
    assert get(sim, "/api/v1/self").status_code == 200
    assert get(sim, site_path(site, "metric/coverage/classifiers")).status_code == 200
    assert get(sim, site_path(site, "metric/coverage/summary")).status_code == 500
    assert get(sim, site_path(site, "metric/coverage/summary")).status_code == 200


def test_malformed_fault_answers_200_with_a_body_that_is_not_json(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    sim.add_fault(200, malformed=True)
    response = get(sim, f"/api/v1/orgs/{sim.org_id}/sites")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert len(get(sim, f"/api/v1/orgs/{sim.org_id}/sites").json()) == 5


def test_delay_fault_makes_a_shorter_client_timeout_expire(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    sim.add_fault(200, delay_seconds=30)
    with pytest.raises(requests.Timeout):
        session(sim).get(sim.base_url + "/api/v1/self", timeout=0.2)
    assert get(sim, "/api/v1/self").status_code == 200


def test_delay_fault_then_answers_normally_or_with_its_error_status(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    sim.add_fault(200, delay_seconds=0.05)
    sim.add_fault(504, delay_seconds=0.05)
    assert get(sim, "/api/v1/self").json()["privileges"][0]["org_id"] == sim.org_id
    assert get(sim, "/api/v1/self").status_code == 504


# --- summary removal -------------------------------------------------------------------------------


def test_removed_summary_answers_404_while_summary_trend_answers_200(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5, summary_removed=True)
    site = sim.sites[0]
    removed = get(sim, site_path(site, "metric/coverage/summary"))
    trend = get(sim, site_path(site, "metric/coverage/summary-trend"))
    assert removed.status_code == 404
    assert "id" in removed.json()
    assert trend.status_code == 200
    assert "impact" not in trend.json()
    assert "events" not in trend.json()


def test_summary_removal_can_be_switched_at_runtime(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    path = site_path(sim.sites[0], "metric/coverage/summary")
    assert get(sim, path).status_code == 200
    sim.summary_removed = True
    assert get(sim, path).status_code == 404
    sim.summary_removed = False
    assert get(sim, path).status_code == 200


# --- summary consistency ---------------------------------------------------------------------------

CONSISTENCY_CASES = [
    pytest.param(kind, metric, id=f"{kind}-{metric}") for kind in KINDS for metric in ENABLED_SITE_METRICS
]


def _sites_sle_result(sim: MistSimulator, site: SimSite) -> Dict[str, Any]:
    body = get(sim, f"/api/v1/orgs/{sim.org_id}/insights/sites-sle", sle="wifi", limit=1, page=site.index + 1)
    result: Dict[str, Any] = body.json()["results"][0]
    assert result["site_id"] == site.id
    return result


@pytest.mark.parametrize(("kind", "metric"), CONSISTENCY_CASES)
def test_summary_degraded_share_equals_the_sites_sle_fraction(org: MistSimulator, kind: str, metric: str) -> None:
    site = first_of_kind(org, kind)
    result = _sites_sle_result(org, site)
    samples = get(org, site_path(site, f"metric/{metric}/summary"), duration="1d").json()["sle"]["samples"]
    total, degraded = known(samples["total"]), known(samples["degraded"])
    key = SITE_TO_ORG_METRIC[metric]
    if kind == "no_data":
        assert total == 0
        assert set(result) == {"site_id", "ap-availability"}
    else:
        assert total > 0
        assert 1 - degraded / total == pytest.approx(result[key], abs=1e-9)


@pytest.mark.parametrize(("kind", "metric"), CONSISTENCY_CASES)
def test_classifiers_share_the_sle_totals_and_split_its_degraded_in_every_bucket(
    org: MistSimulator, kind: str, metric: str
) -> None:
    site = first_of_kind(org, kind)
    body = get(org, site_path(site, f"metric/{metric}/summary"), duration="1d").json()
    samples = body["sle"]["samples"]
    assert len(samples["total"]) == len(samples["degraded"]) == len(samples["value"]) == 24
    for classifier in body["classifiers"]:
        assert classifier["samples"]["total"] == samples["total"]
        assert classifier["samples"]["duration"] == [value or 0 for value in classifier["samples"]["degraded"]]
        assert classifier["impact"]["num_users"] <= classifier["impact"]["total_users"] == site.num_clients
        assert classifier["impact"]["num_aps"] <= classifier["impact"]["total_aps"] == site.num_aps
    for bucket, degraded in enumerate(samples["degraded"]):
        parts = [classifier["samples"]["degraded"][bucket] for classifier in body["classifiers"]]
        if degraded is None:
            assert parts == [None] * len(parts)
        else:
            assert sum(parts) == pytest.approx(degraded, rel=1e-9, abs=1e-12)
            assert degraded <= samples["total"][bucket]


@pytest.mark.parametrize(("kind", "metric"), CONSISTENCY_CASES)
def test_summary_trend_carries_the_same_numbers_without_impact_or_events(
    org: MistSimulator, kind: str, metric: str
) -> None:
    site = first_of_kind(org, kind)
    summary = get(org, site_path(site, f"metric/{metric}/summary")).json()
    trend = get(org, site_path(site, f"metric/{metric}/summary-trend")).json()
    assert set(summary) - set(trend) == {"impact", "events"}
    assert trend["sle"] == summary["sle"]
    for with_impact, without in zip(summary["classifiers"], trend["classifiers"]):
        assert {**without, "impact": with_impact["impact"]} == with_impact


def test_one_day_summary_has_24_hourly_buckets_with_null_and_zero_buckets(org: MistSimulator) -> None:
    body = get(org, site_path(org.sites[0], "metric/time-to-connect/summary"), duration="1d").json()
    samples = body["sle"]["samples"]
    assert (body["start"], body["end"], body["sle"]["interval"]) == (FIXED_NOW - 86400, FIXED_NOW, 3600)
    assert samples["total"][1] is samples["degraded"][1] is samples["value"][1] is None
    assert [samples["total"][4], samples["total"][5]] == [0, 0]
    assert body["sle"]["y_label"] == "seconds"
    assert all(1 < value < 10 for value in samples["value"] if value is not None)


@pytest.mark.parametrize(
    ("params", "span_s"),
    [({"duration": "1d"}, 86400), ({"duration": "12h"}, 43200), ({"duration": "90m"}, 5400), ({}, 86400)]
    + [({"duration": "2w"}, 1209600), ({"start": "-3d", "end": "now"}, 259200)],
    ids=["1d", "12h", "90m", "default", "2w", "relative-start"],
)
def test_windows_end_at_the_clock_and_span_the_duration(
    org: MistSimulator, params: Dict[str, str], span_s: int
) -> None:
    summary = get(org, site_path(org.sites[0], "metric/coverage/summary"), **params).json()
    sites_sle = get(org, f"/api/v1/orgs/{org.org_id}/insights/sites-sle", **params).json()
    for body in (summary, sites_sle):
        assert (body["start"], body["end"]) == (FIXED_NOW - span_s, FIXED_NOW)


# --- the deterministic org -------------------------------------------------------------------------


def test_critical_site_has_coverage_066_with_weak_signal_at_26_6_points_and_80_users_on_8_aps(
    org: MistSimulator,
) -> None:
    site = org.sites[0]
    assert (site.kind, site.fractions["coverage"], site.fractions["time-to-connect"]) == ("critical", 0.66, 0.93)
    body = get(org, site_path(site, "metric/coverage/summary")).json()
    total = known(body["sle"]["samples"]["total"])
    by_name = {classifier["name"]: classifier for classifier in body["classifiers"]}
    shares = {name: 100 * known(c["samples"]["degraded"]) / total for name, c in by_name.items()}
    assert shares == pytest.approx({"weak-signal": 26.6, "asymmetry-uplink": 5.0, "asymmetry-downlink": 2.4})
    assert (by_name["weak-signal"]["impact"]["num_users"], by_name["weak-signal"]["impact"]["num_aps"]) == (80, 8)
    others = [site.fractions[key] for key in ORG_METRIC_KEYS if key not in ("coverage", "time-to-connect")]
    assert all(value is not None and value >= 0.95 for value in others)


@pytest.mark.parametrize(
    ("kind", "metric", "fraction", "top"),
    [
        ("major", "time-to-connect", 0.75, "dhcp-unresponsive"),
        ("warning", "roaming", 0.85, "signal-quality-sticky-client"),
        ("html_name", "capacity", 0.88, "wifi-interference"),
        ("major_multi", "failed-to-connect", 0.78, "dhcp-discover-unresponsive"),
        ("major_multi", "ap-health", 0.68, "ap-disconnected-ap-unreachable"),
        ("major_multi", "coverage", 0.89, "weak-signal"),
    ],
)
def test_degraded_metric_of_each_special_site_has_its_fraction_and_largest_classifier(
    org: MistSimulator, kind: str, metric: str, fraction: float, top: str
) -> None:
    site = first_of_kind(org, kind)
    assert _sites_sle_result(org, site)[SITE_TO_ORG_METRIC[metric]] == fraction
    body = get(org, site_path(site, f"metric/{metric}/summary")).json()
    largest = max(body["classifiers"], key=lambda classifier: known(classifier["samples"]["degraded"]))
    assert largest["name"] == top


def test_special_sites_sit_at_the_documented_indices(org: MistSimulator) -> None:
    kinds = [site.kind for site in org.sites]
    assert kinds[:6] == ["critical", "major", "warning", "no_data", "html_name", "major_multi"]
    assert set(kinds[6:]) == {"healthy"}


def test_only_the_degraded_metrics_of_special_sites_fall_below_095(org: MistSimulator) -> None:
    low = {
        (site.kind, key)
        for site in org.sites[:6]
        for key in ORG_METRIC_KEYS
        if site.fractions[key] is not None and (site.fractions[key] or 0) < 0.95
    }
    assert low == {
        ("critical", "coverage"),
        ("critical", "time-to-connect"),
        ("major", "time-to-connect"),
        ("warning", "roaming"),
        ("html_name", "capacity"),
        ("major_multi", "successful-connect"),
        ("major_multi", "ap-health"),
        ("major_multi", "coverage"),
    }


def test_healthy_sites_keep_every_metric_between_092_and_0999(org: MistSimulator) -> None:
    healthy = [site for site in org.sites if site.kind == "healthy"]
    assert len(healthy) == 34
    for site in healthy:
        assert all(0.92 <= (site.fractions[key] or 0) <= 0.999 for key in ORG_METRIC_KEYS), site.name
        assert 4 <= site.num_aps <= 40
        assert 10 <= site.num_clients <= 500
        assert re.fullmatch(r"Store-\d{4} [A-Z][a-z]+", site.name)


def test_no_data_site_sends_only_site_id_and_ap_availability_and_all_zero_summaries(org: MistSimulator) -> None:
    site = first_of_kind(org, "no_data")
    assert set(_sites_sle_result(org, site)) == {"site_id", "ap-availability"}
    body = get(org, site_path(site, "metric/coverage/summary")).json()
    assert body["sle"]["samples"]["total"] == [0] * 24
    assert body["sle"]["samples"]["degraded"] == [0] * 24
    assert body["impact"]["num_users"] == 0


def test_html_name_site_name_survives_the_json_round_trip(org: MistSimulator) -> None:
    site = first_of_kind(org, "html_name")
    listed = get(org, f"/api/v1/orgs/{org.org_id}/sites", limit=1, page=site.index + 1).json()[0]
    assert listed["name"] == site.name == "<b>Caf\u00e9 & \"Bar\" 'Store'</b>"
    assert all(char in site.name for char in "<&\"'")


def test_throughput_has_an_unknown_future_classifier_with_a_small_share(org: MistSimulator) -> None:
    site = org.sites[10]
    assert UNKNOWN_CLASSIFIER in get(org, site_path(site, "metric/throughput/classifiers")).json()
    body = get(org, site_path(site, "metric/throughput/summary")).json()
    degraded = {c["name"]: known(c["samples"]["degraded"]) for c in body["classifiers"]}
    assert degraded[UNKNOWN_CLASSIFIER] / sum(degraded.values()) == pytest.approx(0.03)
    for metric in ENABLED_SITE_METRICS:
        if metric != "throughput":
            assert UNKNOWN_CLASSIFIER not in get(org, site_path(site, f"metric/{metric}/classifiers")).json()


def test_site_metrics_use_failed_to_connect_and_classifiers_keep_ip_services_casing(org: MistSimulator) -> None:
    site = org.sites[0]
    metrics = get(org, site_path(site, "metrics")).json()
    assert "failed-to-connect" in metrics["enabled"]
    assert "successful-connect" not in metrics["enabled"] + metrics["supported"]
    assert set(metrics["enabled"]) <= set(metrics["supported"])
    assert "IP-Services" in get(org, site_path(site, "metric/time-to-connect/classifiers")).json()
    assert get(org, site_path(site, "metric/coverage/classifiers")).json() == [
        "weak-signal",
        "asymmetry-uplink",
        "asymmetry-downlink",
    ]


def test_self_lists_the_org_and_any_extra_orgs(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(3, extra_orgs=2, org_name="Test Org")
    privileges = get(sim, "/api/v1/self").json()["privileges"]
    assert [entry["scope"] for entry in privileges] == ["org"] * 3
    assert privileges[0] == {**privileges[0], "org_id": sim.org_id, "name": "Test Org"}
    assert len({entry["org_id"] for entry in privileges}) == 3
    assert len({entry["name"] for entry in privileges}) == 3


def test_site_ids_are_distinct_uuids(org: MistSimulator) -> None:
    ids = [site.id for site in org.sites]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(site_id)) == site_id for site_id in ids + [org.org_id])


def test_two_simulators_serve_identical_bodies(make_sim: Callable[..., MistSimulator]) -> None:
    first, second = make_sim(40, page_cap=7), make_sim(40, page_cap=7)
    paths = [
        ("/api/v1/self", {}),
        (f"/api/v1/orgs/{first.org_id}/sites", {"page": 3}),
        (f"/api/v1/orgs/{first.org_id}/insights/sites-sle", {"page": 2}),
    ]
    for site in first.sites[:8]:
        for metric in ENABLED_SITE_METRICS:
            paths.append((site_path(site, f"metric/{metric}/summary"), {}))
    for path, params in paths:
        assert get(first, path, **params).content == get(second, path, **params).content, path


# --- degraded_share mode ---------------------------------------------------------------------------


@pytest.mark.parametrize(("num_sites", "share"), [(40, 0.25), (1000, 0.1), (1000, 0.05), (10_000, 0.02)])
def test_degraded_share_gives_exactly_that_many_sites_with_one_metric_below_090(num_sites: int, share: float) -> None:
    sites = build_sites(num_sites, share)
    degraded = [site for site in sites if any((site.fractions[k] or 1) < 0.90 for k in ORG_METRIC_KEYS)]
    assert len(degraded) == round(share * num_sites)
    assert (sites[0].kind, sites[0].fractions["coverage"]) == ("critical", 0.66)
    for site in degraded:
        low = [key for key in ORG_METRIC_KEYS if (site.fractions[key] or 1) < 0.90]
        assert len(low) == 1
        assert all(
            (site.fractions[key] or 0) >= 0.92 for key in ORG_METRIC_KEYS if key not in low + ["time-to-connect"]
        )
    later = degraded[1:]
    assert {next(k for k in ORG_METRIC_KEYS if (s.fractions[k] or 1) < 0.90) for s in later} == set(ORG_METRIC_KEYS)
    assert {site.kind for site in later} == {"critical", "major", "warning"}
    assert {site.kind for site in sites} - {"critical", "major", "warning"} == {"healthy"}
    gaps = [b.index - a.index for a, b in zip(degraded, degraded[1:])]
    assert max(gaps) - min(gaps) <= 1


def test_degraded_share_zero_gives_an_all_healthy_org() -> None:
    sites = build_sites(200, 0.0)
    assert {site.kind for site in sites} == {"healthy"}
    assert all((site.fractions[key] or 0) >= 0.92 for site in sites for key in ORG_METRIC_KEYS)


# --- counters, concurrency and rate limiting -------------------------------------------------------


def test_calls_and_requests_log_record_every_request_in_order(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5)
    get(sim, "/api/v1/self")
    get(sim, f"/api/v1/orgs/{sim.org_id}/sites", limit=2)
    requests.get(sim.base_url + "/api/v1/self", timeout=TIMEOUT_S)
    assert sim.calls == 3
    assert sim.requests_log == [
        ("/api/v1/self", ""),
        (f"/api/v1/orgs/{sim.org_id}/sites", "limit=2"),
        ("/api/v1/self", ""),
    ]
    assert (sim.calls_matching("/self"), sim.calls_matching("/sites"), sim.calls_matching("/nothing")) == (2, 1, 0)


def test_max_concurrent_counts_requests_in_flight_at_once(make_sim: Callable[..., MistSimulator]) -> None:
    sim = make_sim(5, latency_ms=300)
    workers = 6

    def call(_: int) -> int:
        return session(sim).get(sim.base_url + "/api/v1/self", timeout=TIMEOUT_S).status_code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(call, range(workers)))
    assert statuses == [200] * workers
    assert 2 <= sim.max_concurrent <= workers
    sim.reset_counters()
    assert (sim.calls, sim.requests_log, sim.max_concurrent) == (0, [], 0)


def test_calls_per_hour_answers_429_with_retry_after_until_the_rolling_hour_frees_a_slot(
    make_sim: Callable[..., MistSimulator],
) -> None:
    clock = FakeClock(1_000_000.0)
    sim = make_sim(5, calls_per_hour=3, clock=clock)
    for offset in (0, 100, 200):
        clock.now = 1_000_000.0 + offset
        assert get(sim, "/api/v1/self").status_code == 200
    limited = get(sim, "/api/v1/self")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3400")
    assert limited.json() == json.loads((EXAMPLES / "error_429.json").read_text(encoding="utf-8"))
    clock.now = 1_000_000.0 + 3600
    assert get(sim, "/api/v1/self").status_code == 200
    again = get(sim, "/api/v1/self")
    assert (again.status_code, again.headers["Retry-After"]) == (429, "100")
    assert sim.calls == 6


# --- endpoints for the Bruno collection ------------------------------------------------------------


def test_worst_sites_by_sle_lists_the_lowest_coverage_first(org: MistSimulator) -> None:
    body = get(org, f"/api/v1/orgs/{org.org_id}/insights/worst-sites-by-sle", sle="coverage", limit=3).json()
    assert {"start", "end", "interval", "results"} <= set(body)
    assert [result["site_id"] for result in body["results"]][:2] == [org.sites[0].id, org.sites[5].id]
    assert [result["coverage"] for result in body["results"]] == sorted(r["coverage"] for r in body["results"])


def test_alarm_search_reports_every_metric_below_090(org: MistSimulator) -> None:
    body = get(org, f"/api/v1/orgs/{org.org_id}/alarms/search", duration="1d").json()
    assert body["total"] == len(body["results"]) == 7
    assert {"critical", "major", "warn"} == {alarm["severity"] for alarm in body["results"]}
    assert all(alarm["site_id"] in {site.id for site in org.sites[:6]} for alarm in body["results"])


def test_ap_stats_list_every_ap_with_disconnected_ones_at_the_poor_ap_health_site(org: MistSimulator) -> None:
    healthy, poor = org.sites[6], first_of_kind(org, "major_multi")
    healthy_aps = get(org, f"/api/v1/sites/{healthy.id}/stats/devices", type="ap").json()
    poor_aps = get(org, f"/api/v1/sites/{poor.id}/stats/devices", type="ap").json()
    assert len(healthy_aps) == healthy.num_aps
    assert {ap["status"] for ap in healthy_aps} == {"connected"}
    assert sum(ap["num_clients"] for ap in healthy_aps) == healthy.num_clients
    assert sum(ap["status"] == "disconnected" for ap in poor_aps) == round(poor.num_aps * 0.32)
    assert {"id", "mac", "name", "model", "status", "num_clients"} <= set(poor_aps[0])


def test_set_fraction_changes_sites_sle_and_the_summary_even_after_they_were_served() -> None:
    with MistSimulator(num_sites=10, token="t") as simulator:
        headers = {"Authorization": "Token t"}
        url = f"{simulator.base_url}/api/v1/orgs/{simulator.org_id}/insights/sites-sle"
        site = simulator.sites[7]
        summary_url = f"{simulator.base_url}/api/v1/sites/{site.id}/sle/site/{site.id}/metric/coverage/summary"
        requests.get(url, headers=headers, timeout=5)
        requests.get(summary_url, headers=headers, timeout=5)
        simulator.set_fraction(7, "coverage", 0.5)
        results = requests.get(url, headers=headers, timeout=5).json()["results"]
        assert next(r for r in results if r["site_id"] == site.id)["coverage"] == 0.5
        samples = requests.get(summary_url, headers=headers, timeout=5).json()["sle"]["samples"]
        pairs = [(t, d) for t, d in zip(samples["total"], samples["degraded"]) if t is not None and d is not None]
        assert abs(1 - sum(d for _, d in pairs) / sum(t for t, _ in pairs) - 0.5) < 1e-9
        assert simulator.sites[8].fractions.get("coverage") != 0.5
