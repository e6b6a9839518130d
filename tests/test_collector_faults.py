"""Issue 12 on the collector's side: hostile /summary bodies, unreadable values, short pages, the run deadline.

Every case runs against the simulator over loopback; a hostile body is served with `add_fault(200, body=...)`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from itertools import count
from pathlib import Path
from typing import Any, Callable, Dict, List

import requests

from conftest import SIMULATOR_TOKEN
from mist_infra_manager import config as config_module
from mist_infra_manager.analysis import trend_analyzer
from mist_infra_manager.analysis.models import (
    ALERT_SEVERITIES,
    DETAIL_DEFERRED,
    DETAIL_FETCHED,
    DETAIL_UNAVAILABLE,
    RunResult,
)
from mist_infra_manager.cli.main import main
from mist_infra_manager.mist import collector
from mist_infra_manager.mist.collector import CollectionSettings, collect
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.pipeline import cycle
from mist_infra_manager.simulator.mist_simulator import MistSimulator, SimSite

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
SIMULATED_METRIC_KEYS = (
    "time-to-connect",
    "successful-connect",
    "coverage",
    "roaming",
    "throughput",
    "capacity",
    "ap-health",
)


def run_collection(
    simulator: MistSimulator, monotonic: Callable[[], float] = lambda: 0.0, **settings: Any
) -> RunResult:
    client = MistClient(simulator.base_url, simulator.token, sleep=lambda seconds: None)
    try:
        return collect(client, CollectionSettings(**settings), NOW, monotonic=monotonic)
    finally:
        client.close()


def coverage_summary_path(site: SimSite) -> str:
    return f"/sites/{site.id}/sle/site/{site.id}/metric/coverage/summary"


def summary_bytes(total: List[Any], degraded: List[Any], classifiers: Dict[str, List[Any]]) -> bytes:
    body = {
        "start": 1764298800,
        "end": 1764385200,
        "sle": {"name": "coverage", "samples": {"total": total, "degraded": degraded, "value": [None] * len(total)}},
        "impact": {"num_users": 1, "num_aps": 1, "total_users": 10, "total_aps": 2},
        "classifiers": [
            {"name": name, "samples": {"total": total, "degraded": bad, "duration": bad}}
            for name, bad in classifiers.items()
        ],
        "events": [],
    }
    return json.dumps(body).encode()


def serve_critical_coverage_with(simulator: MistSimulator, body: bytes) -> SimSite:
    """Make site 0's coverage critical (so its detail is fetched) and answer its /summary with body."""
    simulator.set_fraction(0, "coverage", 0.5)
    site = simulator.sites[0]
    simulator.add_fault(200, times=2, path_contains=coverage_summary_path(site), body=body)
    return site


def coverage_of(result: RunResult, site: SimSite) -> Any:
    return next(s for s in result.sites if s.id == site.id).metrics["coverage"]


# --- case 4: one hostile /summary body does not end the run ----------------------------------------------


def test_a_summary_nested_a_hundred_thousand_deep_is_unavailable_with_a_note_and_the_run_goes_on(simulator) -> None:
    site = serve_critical_coverage_with(simulator, b'{"sle":' + b"[" * 100_000 + b"]" * 100_000 + b"}")

    result = run_collection(simulator)

    coverage = coverage_of(result, site)
    assert coverage.detail == DETAIL_UNAVAILABLE and coverage.severity == "critical"
    assert any(site.name in note and "nested too deep" in note for note in result.notes)
    others = [
        m for s in result.sites for m in s.metrics.values() if m.severity in ALERT_SEVERITIES and m is not coverage
    ]
    assert others and all(m.detail == DETAIL_FETCHED for m in others)
    assert result.complete


def test_a_summary_whose_finite_totals_sum_past_float_range_is_unavailable_and_the_json_is_written(
    simulator,
) -> None:
    body = summary_bytes([1.7e308, 1.7e308], [1e308, 1e308], {"weak-signal": [1e308, 1e308]})
    site = serve_critical_coverage_with(simulator, body)

    result = run_collection(simulator)

    assert coverage_of(result, site).detail == DETAIL_UNAVAILABLE
    assert any("too large" in note for note in result.notes)
    # allow_nan=False is what refused the report before: every number must be finite.
    json.dumps(report_generator.dashboard_document(result), allow_nan=False)


# --- case 15: the two numbers ----------------------------------------------------------------------------


def test_a_summary_whose_valid_buckets_total_zero_but_names_classifiers_is_unavailable(simulator) -> None:
    body = summary_bytes([0, 0, None], [0, 0, None], {"weak-signal": [0, 0, None], "asymmetry-uplink": [0, 0, None]})
    site = serve_critical_coverage_with(simulator, body)

    result = run_collection(simulator)

    coverage = coverage_of(result, site)
    assert coverage.detail == DETAIL_UNAVAILABLE
    assert coverage.classifiers == []
    text = report_generator.render("monitor.txt.j2", result)
    assert "classifier detail unavailable" in text


def test_a_summary_of_exactly_80_percent_is_warning_in_the_json_the_insights_and_the_text() -> None:
    with MistSimulator(num_sites=3, token=SIMULATOR_TOKEN) as simulator:
        # sites-sle has no coverage value for site 0, so its SLE % comes from its summary: 100 × (23 − 4.6) / 23.
        simulator.set_fraction(0, "coverage", None)
        site = simulator.sites[0]
        simulator.add_fault(
            200,
            times=2,
            path_contains=coverage_summary_path(site),
            body=summary_bytes([23], [4.6], {"weak-signal": [4.6]}),
        )

        result = run_collection(simulator, classifier_detail="all")

    coverage = coverage_of(result, site)
    assert (coverage.sle_pct, coverage.severity, coverage.detail) == (80.0, "warning", DETAIL_FETCHED)
    document = report_generator.dashboard_document(result)
    json_site = next(s for s in document["sites"] if s["id"] == site.id)
    assert json_site["metrics"]["coverage"]["sle_pct"] == 80.0
    assert json_site["metrics"]["coverage"]["severity"] == "warning"
    insight = next(i for i in document["insights"] if i["site_id"] == site.id and i["metric"] == "coverage")
    assert insight["severity"] == "warning" and insight["sle_pct"] == 80.0
    text = report_generator.render("monitor.txt.j2", result)
    assert "Coverage: 80.0% warning" in text
    assert "80.0% major" not in text


# --- case 9: unreadable values are never healthy ---------------------------------------------------------


def set_everywhere(simulator: MistSimulator, key: str, value: Any) -> None:
    for index in range(len(simulator.sites)):
        simulator.set_fraction(index, key, value)


def test_nan_for_a_metric_on_every_site_makes_the_run_incomplete_and_no_site_healthy(simulator) -> None:
    set_everywhere(simulator, "capacity", float("nan"))

    result = run_collection(simulator)

    assert not result.complete
    assert any("could not be read" in problem and "Capacity" in problem for problem in result.problems)
    assert all(site.metrics["capacity"].severity == "no_data" for site in result.sites)
    assert "healthy" not in {site.status for site in result.sites}
    assert result.summary["healthy"] == 0


def test_percentages_instead_of_fractions_make_the_run_incomplete_and_no_site_healthy(simulator) -> None:
    set_everywhere(simulator, "roaming", 95)

    result = run_collection(simulator)

    assert not result.complete
    assert any("40 site(s)" in problem for problem in result.problems)
    assert all(site.metrics["roaming"].severity == "no_data" for site in result.sites)
    assert "healthy" not in {site.status for site in result.sites}


def write_config(tmp_path: Path, base_url: str, **mist: Any) -> Path:
    raw = {
        "mist": {"api_token": SIMULATOR_TOKEN, "base_url": base_url, "timeout_seconds": 5, **mist},
        "reports": {"directory": str(tmp_path / "reports")},
        "history": {"directory": str(tmp_path / "reports" / "history")},
        "logging": {"file": str(tmp_path / "mist_infra_manager.log")},
        "notifications": {"enabled": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def dashboard(tmp_path: Path) -> Dict[str, Any]:
    (path,) = sorted((tmp_path / "reports").glob("HEALTH_DASHBOARD_*.json"))
    document: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_a_report_run_with_nan_everywhere_exits_1_with_the_problem_in_the_json(simulator, tmp_path) -> None:
    set_everywhere(simulator, "coverage", float("nan"))

    code = main(["--mode", "report", "--config", str(write_config(tmp_path, simulator.base_url))], {})

    assert code == 1
    document = dashboard(tmp_path)
    assert document["complete"] is False
    assert any("could not be read" in problem for problem in document["problems"])
    assert document["summary"]["healthy"] == 0


def test_an_announced_total_of_100_sites_with_8_delivered_exits_1_and_is_listed_in_problems(tmp_path) -> None:
    with MistSimulator(num_sites=8, token=SIMULATOR_TOKEN) as simulator:
        path = f"/api/v1/orgs/{simulator.org_id}/insights/sites-sle"
        real = requests.get(
            simulator.base_url + path,
            params={"sle": "wifi", "duration": "1d", "limit": 1000, "page": 1},
            headers={"Authorization": f"Token {SIMULATOR_TOKEN}"},
            timeout=5,
        ).json()
        assert len(real["results"]) == 8
        lying = dict(real, total=100)
        simulator.add_fault(200, times=1, path_contains="/insights/sites-sle", body=json.dumps(lying).encode())

        code = main(["--mode", "report", "--config", str(write_config(tmp_path, simulator.base_url))], {})

    assert code == 1
    document = dashboard(tmp_path)
    assert document["complete"] is False
    assert any("got 8 results, the API announced 100" in problem for problem in document["problems"])


# --- the run deadline ------------------------------------------------------------------------------------


def ticking_clock() -> Callable[[], float]:
    """Return a monotonic clock that moves one second each time it is read."""
    ticks = count()
    return lambda: float(next(ticks))


def test_past_the_run_deadline_no_more_summary_calls_are_made_and_the_rest_is_deferred(simulator) -> None:
    # Read at the start (0 s), then before each fetch: 1 s (fetched), 2 s (deadline reached), ...
    result = run_collection(
        simulator, monotonic=ticking_clock(), classifier_detail="all", max_workers=1, run_timeout_seconds=2
    )

    assert simulator.calls_matching("/summary") == 1
    deferred = [m for s in result.sites for m in s.metrics.values() if m.detail == DETAIL_DEFERRED]
    assert len(deferred) == 40 * len(SIMULATED_METRIC_KEYS) - 1
    assert not result.complete
    assert f"run deadline of 2 s reached: {len(deferred)} site-metrics not fetched" in result.problems
    assert len(result.sites) == 40


def test_a_run_past_its_deadline_still_writes_its_reports_and_exits_1(simulator, tmp_path) -> None:
    config_path = write_config(tmp_path, simulator.base_url, run_timeout_seconds=1)
    settings = config_module.load_config(config_path, {})

    outcome = cycle.run_cycle(settings, "report", clock=lambda: NOW, monotonic=ticking_clock())

    assert outcome.exit_code == 1
    assert outcome.files is not None
    document = dashboard(tmp_path)
    assert document["complete"] is False
    assert any(problem.startswith("run deadline of 1 s reached:") for problem in document["problems"])
    assert document["deferred"] > 0


def test_the_run_deadline_is_the_configured_one_capped_by_the_daemon_interval(simulator, tmp_path) -> None:
    settings = config_module.load_config(write_config(tmp_path, simulator.base_url), {})

    assert settings.mist.run_timeout_seconds == 600
    assert CollectionSettings.from_config(settings).run_timeout_seconds == 600
    assert CollectionSettings.from_config(settings, interval_minutes=5).run_timeout_seconds == 300
    assert CollectionSettings.from_config(settings, interval_minutes=15).run_timeout_seconds == 600
    assert collector.effective_run_timeout(600, None) == 600


# --- case 7, the collector's side: the classifier phase never spends more than its budget ----------------


def test_the_summary_trend_fallback_after_a_404_never_spends_past_the_call_budget(tmp_path) -> None:
    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, summary_removed=True) as simulator:
        client = MistClient(simulator.base_url, simulator.token, sleep=lambda seconds: None)
        try:
            # 10 calls an hour less 30 % = 7 usable: 3 org calls, 4 for the classifier phase, on 8 workers at once.
            settings = CollectionSettings(calls_per_hour=10, budget_reserve_pct=30, max_workers=8)
            result = collect(client, settings, NOW, state_directory=tmp_path / "state")
        finally:
            client.close()
        detail_calls = simulator.calls_matching("/summary")

    assert detail_calls <= 4
    assert result.api_calls <= 7
    assert result.deferred_count > 0


def test_client_counts_near_the_float_limit_give_finite_org_averages_and_a_writable_json(simulator) -> None:
    path = f"/api/v1/orgs/{simulator.org_id}/insights/sites-sle"
    real = requests.get(
        simulator.base_url + path,
        params={"sle": "wifi", "duration": "1d", "limit": 1000, "page": 1},
        headers={"Authorization": f"Token {SIMULATOR_TOKEN}"},
        timeout=5,
    ).json()
    for entry in real["results"]:
        entry["num_clients"] = 1.7e308
    simulator.add_fault(200, times=1, path_contains="/insights/sites-sle", body=json.dumps(real).encode())

    result = run_collection(simulator, classifier_detail="none")

    averages = trend_analyzer.org_values(trend_analyzer.snapshot_from_result(result))
    assert all(value is None or 0 <= value <= 100 for value in averages.values())
    json.dumps(report_generator.dashboard_document(result), allow_nan=False)
