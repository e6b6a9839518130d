"""Scale: the call formula, the budget and its deferrals, the caches, the worker bound, a simulated hour.

Every test runs against the simulator over loopback HTTP with an injected clock (shared with the simulator's
rate limiter where it matters); nothing sleeps and nothing is timed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from conftest import MAIN_SCRIPT, SIMULATOR_TOKEN, run_cli, run_main
from mist_infra_manager.analysis.models import DETAIL_DEFERRED, DETAIL_FETCHED, RunResult
from mist_infra_manager.mist import detail_cache
from mist_infra_manager.mist.collector import CollectionSettings, collect, detail_targets, plan_details
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.simulator.mist_simulator import MistSimulator

START = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
ORG_METRICS = ("time-to-connect", "successful-connect", "coverage", "roaming", "throughput", "capacity", "ap-health")
SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2}


class FakeClock:
    """One clock for the tool (aware datetimes) and the simulator (epoch seconds), moved by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def collect_once(
    simulator: MistSimulator, state: Path, clock: FakeClock, *, retry_wait: float = 60, **settings: Any
) -> RunResult:
    client = MistClient(
        simulator.base_url,
        simulator.token,
        max_workers=settings.get("max_workers", 8),
        max_retry_wait_seconds=retry_wait,
        sleep=lambda seconds: None,
    )
    try:
        return collect(client, CollectionSettings(**settings), clock(), state_directory=state, clock=clock)
    finally:
        client.close()


def severity(fraction: float) -> str:
    return "critical" if fraction < 0.7 else "major" if fraction < 0.8 else "warning"


def degraded_worst_first(simulator: MistSimulator) -> List[Tuple[str, str]]:
    """(site id, metric key) of every site-metric below 90 %, in the documented order: severity, SLE %, clients."""
    found = [
        (site, key, fraction)
        for site in simulator.sites
        for key, fraction in site.fractions.items()
        if key in ORG_METRICS and fraction is not None and fraction < 0.9
    ]
    found.sort(key=lambda f: (SEVERITY_RANK[severity(f[2])], f[2], -f[0].num_clients, f[0].name.lower()))
    return [(site.id, key) for site, key, _ in found]


def severe_count(simulator: MistSimulator) -> int:
    """Return the critical and major site-metrics: each costs one impact-summary call (sle.root_cause: major)."""
    return sum(
        1
        for site in simulator.sites
        for key, fraction in site.fractions.items()
        if key in ORG_METRICS and fraction is not None and fraction < 0.8
    )


def summary_targets(simulator: MistSimulator) -> List[Tuple[str, str]]:
    """(site id, site metric id) of each /summary call, in the order the simulator received them."""
    return [(path.split("/")[4], path.split("/")[9]) for path, _ in simulator.requests_log if path.endswith("/summary")]


def site_metric_id(key: str) -> str:
    return "failed-to-connect" if key == "successful-connect" else key


def details(result: RunResult) -> Dict[Tuple[str, str], str]:
    return {(site.id, key): metric.detail for site in result.sites for key, metric in site.metrics.items()}


def meter_total(state: Path) -> int:
    document = json.loads((state / "call_meter.json").read_text(encoding="utf-8"))
    return sum(entry["count"] for entry in document["calls"])


@pytest.fixture
def org40():  # type: ignore[no-untyped-def]
    """40 sites, 10 of them with exactly one metric below 90 %."""
    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, degraded_share=0.25) as running:
        yield running


# --- the call formula and the caches ---------------------------------------------------------------


def test_a_cold_run_costs_one_plus_two_calls_per_thousand_sites_plus_one_per_degraded_and_one_per_severe_metric(
    tmp_path: Path,
) -> None:
    with MistSimulator(num_sites=2100, token=SIMULATOR_TOKEN, degraded_share=0.02) as simulator:
        result = collect_once(simulator, tmp_path, FakeClock())
        degraded = len(degraded_worst_first(simulator))
        assert degraded == 42
        severe = severe_count(simulator)
        assert severe == 28 and simulator.calls_matching("/impact-summary") == severe
        assert simulator.calls == result.api_calls == 1 + 2 * math.ceil(2100 / 1000) + degraded + severe
        assert meter_total(tmp_path) == simulator.calls
        assert sorted(summary_targets(simulator)) == sorted(
            (site, site_metric_id(key)) for site, key in degraded_worst_first(simulator)
        )


def test_a_run_within_the_hour_reuses_the_sites_list_and_the_unmoved_detail_marked_with_its_age(
    org40: MistSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = collect_once(org40, tmp_path, clock)
    org40.reset_counters()
    clock.advance(minutes=25)
    second = collect_once(org40, tmp_path, clock)
    assert org40.calls == second.api_calls == 2  # /self and one sites-sle page
    assert org40.calls_matching("/sites?") == 0 and org40.calls_matching("/summary") == 0
    for site_id, key in degraded_worst_first(org40):
        before = next(s for s in first.sites if s.id == site_id).metrics[key]
        after = next(s for s in second.sites if s.id == site_id).metrics[key]
        assert before.detail == after.detail == DETAIL_FETCHED
        assert before.detail_age_minutes is None and after.detail_age_minutes == 25
        assert after.classifiers == before.classifiers and after.source == "summary"
    assert [site.name for site in second.sites] == [site.name for site in first.sites]


def test_after_sixty_minutes_the_sites_list_and_the_detail_are_fetched_again(
    org40: MistSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock)
    org40.reset_counters()
    clock.advance(minutes=60)
    result = collect_once(org40, tmp_path, clock)
    assert org40.calls == 1 + 2 + 10 + severe_count(org40)
    assert org40.calls_matching("/orgs/") == 2 and org40.calls_matching("/summary") == 10
    assert org40.calls_matching("/impact-summary") == severe_count(org40) == 7
    assert all(m.detail_age_minutes is None for site in result.sites for m in site.metrics.values())


def test_zero_minute_settings_turn_both_caches_off(org40: MistSimulator, tmp_path: Path) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock, sites_cache_minutes=0, detail_reuse_minutes=0)
    org40.reset_counters()
    clock.advance(minutes=1)
    collect_once(org40, tmp_path, clock, sites_cache_minutes=0, detail_reuse_minutes=0)
    assert org40.calls == 1 + 2 + 10 + severe_count(org40)
    assert not (tmp_path / "sites_cache.json").exists()


def test_detail_whose_sle_moved_one_point_or_more_is_fetched_again(org40: MistSimulator, tmp_path: Path) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock)
    moved, unmoved = degraded_worst_first(org40)[:2]
    path = tmp_path / "detail_cache.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["entries"][f"{moved[0]}/{moved[1]}"]["sle_pct"] += 1.0
    document["entries"][f"{unmoved[0]}/{unmoved[1]}"]["sle_pct"] -= 0.99
    path.write_text(json.dumps(document), encoding="utf-8")
    org40.reset_counters()
    clock.advance(minutes=5)
    result = collect_once(org40, tmp_path, clock)
    assert summary_targets(org40) == [(moved[0], site_metric_id(moved[1]))]
    by_id = {site.id: site for site in result.sites}
    assert by_id[moved[0]].metrics[moved[1]].detail_age_minutes is None
    assert by_id[unmoved[0]].metrics[unmoved[1]].detail_age_minutes == 5


def test_an_sle_that_moves_in_the_api_by_two_points_gets_a_fresh_breakdown(
    org40: MistSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock)
    site_id, key = degraded_worst_first(org40)[0]
    site = org40.site_by_id(site_id)
    assert site is not None and site.fractions[key] is not None
    org40.set_fraction(site.index, key, site.fractions[key] + 0.02)
    org40.reset_counters()
    clock.advance(minutes=15)
    result = collect_once(org40, tmp_path, clock)
    assert summary_targets(org40) == [(site_id, site_metric_id(key))]
    assert next(s for s in result.sites if s.id == site_id).metrics[key].detail_age_minutes is None


def test_a_site_missing_from_the_cached_sites_list_makes_the_run_fetch_the_list_again(
    org40: MistSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock)
    path = tmp_path / "sites_cache.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    newest = document["sites"].pop()
    path.write_text(json.dumps(document), encoding="utf-8")
    org40.reset_counters()
    clock.advance(minutes=5)
    result = collect_once(org40, tmp_path, clock)
    assert sum(1 for path, _ in org40.requests_log if path.endswith("/sites")) == 1
    assert newest["name"] in [site.name for site in result.sites]
    assert not any("missing from the sites list" in note for note in result.notes)
    assert len(json.loads(path.read_text(encoding="utf-8"))["sites"]) == 40


def test_the_cache_of_another_sle_window_or_org_is_not_reused() -> None:
    state = detail_cache.DetailState(
        entries={"s/coverage": detail_cache.DetailEntry(START, 66.0, "summary", [])}, deferred=["s/roaming"]
    )
    document = detail_cache.detail_document(state, "org-1", "1d")
    assert detail_cache.parse_detail(document, "org-1", "1d") == state
    assert detail_cache.parse_detail(document, "org-1", "7d").entries == {}
    assert detail_cache.parse_detail(document, "org-2", "1d") == detail_cache.DetailState()


def test_a_removed_summary_is_remembered_so_later_runs_go_straight_to_summary_trend(tmp_path: Path) -> None:
    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, degraded_share=0.25, summary_removed=True) as simulator:
        clock = FakeClock()
        first = collect_once(simulator, tmp_path, clock, max_workers=1, detail_reuse_minutes=0)
        assert first.detail_source == "summary-trend"
        simulator.reset_counters()
        clock.advance(minutes=15)
        second = collect_once(simulator, tmp_path, clock, max_workers=1, detail_reuse_minutes=0)
        assert simulator.calls_matching("/summary-trend") == 10
        assert simulator.calls_matching("/summary") == 10
        assert second.detail_source == "summary-trend"
        assert any("summary-trend" in note for note in second.notes)


# --- the budget and deferral -----------------------------------------------------------------------


def test_a_small_budget_fetches_the_worst_site_metrics_first_and_defers_the_rest(
    org40: MistSimulator, tmp_path: Path
) -> None:
    # 10 calls an hour less 30 % = 7 usable; the org calls take 3, leaving 4 for classifier detail.
    result = collect_once(org40, tmp_path, FakeClock(), calls_per_hour=10, budget_reserve_pct=30)
    worst = degraded_worst_first(org40)
    assert sorted(summary_targets(org40)) == sorted((site, site_metric_id(key)) for site, key in worst[:4])
    states = details(result)
    assert [states[target] for target in worst] == [DETAIL_FETCHED] * 4 + [DETAIL_DEFERRED] * 6
    assert result.deferred_count == 6 and result.api_calls == 7 == meter_total(tmp_path)
    assert any("API call budget" in note for note in result.notes)
    # What was not measured in detail keeps its measured SLE and severity: never healthy.
    by_id = {site.id: site for site in result.sites}
    for site_id, key in worst[4:]:
        assert by_id[site_id].status != "healthy" and by_id[site_id].metrics[key].severity != "info"
    cache = json.loads((tmp_path / "detail_cache.json").read_text(encoding="utf-8"))
    assert cache["deferred"] == [f"{site}/{key}" for site, key in worst[4:]]


def test_site_metrics_deferred_by_the_last_run_go_first_in_the_next(org40: MistSimulator, tmp_path: Path) -> None:
    clock = FakeClock()
    settings = {"calls_per_hour": 10, "budget_reserve_pct": 30, "detail_reuse_minutes": 0, "sites_cache_minutes": 0}
    collect_once(org40, tmp_path, clock, **settings)
    worst = degraded_worst_first(org40)
    org40.reset_counters()
    clock.advance(minutes=61)
    result = collect_once(org40, tmp_path, clock, **settings)
    assert sorted(summary_targets(org40)) == sorted((site, site_metric_id(key)) for site, key in worst[4:8])
    states = details(result)
    assert [states[target] for target in worst] == [DETAIL_DEFERRED] * 4 + [DETAIL_FETCHED] * 4 + [DETAIL_DEFERRED] * 2


def test_a_spent_budget_defers_every_detail_and_makes_no_summary_call(org40: MistSimulator, tmp_path: Path) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock, calls_per_hour=5, budget_reserve_pct=0)
    org40.reset_counters()
    clock.advance(minutes=15)
    result = collect_once(org40, tmp_path, clock, calls_per_hour=5, budget_reserve_pct=0, detail_reuse_minutes=0)
    assert org40.calls_matching("/summary") == 0
    assert result.deferred_count == 10 and result.complete


def test_an_insights_run_counts_its_calls_and_leaves_the_deferred_list_alone(
    org40: MistSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    collect_once(org40, tmp_path, clock, calls_per_hour=10, budget_reserve_pct=30)
    deferred_before = json.loads((tmp_path / "detail_cache.json").read_text(encoding="utf-8"))["deferred"]
    clock.advance(minutes=1)
    client = MistClient(org40.base_url, org40.token, sleep=lambda seconds: None)
    try:
        collect(client, CollectionSettings(), clock(), fetch_detail=False, state_directory=tmp_path, clock=clock)
    finally:
        client.close()
    assert json.loads((tmp_path / "detail_cache.json").read_text(encoding="utf-8"))["deferred"] == deferred_before
    assert meter_total(tmp_path) == org40.calls == 7 + 2


def test_a_429_beyond_the_wait_cap_stops_the_classifier_phase_keeps_what_was_fetched_and_defers_the_rest(
    org40: MistSimulator, tmp_path: Path
) -> None:
    worst = degraded_worst_first(org40)
    third_site = worst[2][0]
    org40.add_fault(429, times=1, path_contains=f"/sites/{third_site}/sle", retry_after=600)
    clock = FakeClock()
    result = collect_once(org40, tmp_path, clock, max_workers=1, retry_wait=60)
    states = details(result)
    assert [states[target] for target in worst] == [DETAIL_FETCHED] * 2 + [DETAIL_DEFERRED] * 8
    assert org40.calls_matching("/summary") == 3
    assert result.complete and result.deferred_count == 8
    assert any("rate limit" in note for note in result.notes)
    by_id = {site.id: site for site in result.sites}
    assert all(by_id[site].metrics[key].severity in SEVERITY_RANK for site, key in worst)
    meter = json.loads((tmp_path / "call_meter.json").read_text(encoding="utf-8"))
    assert meter["blocked_until"] == "2026-11-28T03:10:00Z"
    # Within the 429's Retry-After the next run spends nothing on detail; the deferred wait their turn.
    org40.reset_counters()
    clock.advance(minutes=5)
    blocked = collect_once(org40, tmp_path, clock, max_workers=1)
    assert org40.calls_matching("/summary") == 0 and blocked.deferred_count == 8
    org40.reset_counters()
    clock.advance(minutes=6)
    collect_once(org40, tmp_path, clock, max_workers=1)
    assert summary_targets(org40) == [(site, site_metric_id(key)) for site, key in worst[2:]]


def test_a_429_on_an_org_call_fails_the_run_cleanly_and_blocks_the_next(org40: MistSimulator, tmp_path: Path) -> None:
    from mist_infra_manager.mist.mist_client import RateLimitError

    org40.add_fault(429, times=1, path_contains="/insights/sites-sle", retry_after=900)
    clock = FakeClock()
    with pytest.raises(RateLimitError):
        collect_once(org40, tmp_path, clock)
    meter = json.loads((tmp_path / "call_meter.json").read_text(encoding="utf-8"))
    assert meter["blocked_until"] == "2026-11-28T03:15:00Z"
    assert sum(entry["count"] for entry in meter["calls"]) == org40.calls


def test_a_429_beyond_the_wait_cap_ends_a_report_run_with_exit_zero_and_the_deferred_count(
    org40: MistSimulator, make_config: Any, tmp_path: Path
) -> None:
    org40.add_fault(429, times=1, path_contains="/summary", retry_after=3600)
    config_path = make_config(org40.base_url, {"mist": {"max_workers": 1}})
    completed = run_main(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    dashboard = json.loads(next((tmp_path / "reports").glob("HEALTH_DASHBOARD_*.json")).read_text(encoding="utf-8"))
    assert dashboard["deferred"] == 10
    assert dashboard["overall_status"] == "critical"
    report = next((tmp_path / "reports").glob("SUMMARY_REPORT_*.txt")).read_text(encoding="utf-8")
    assert "deferred" in report


def test_plan_puts_reused_detail_aside_then_last_runs_deferred_first_within_the_allowance() -> None:
    from mist_infra_manager.analysis.sle_monitor import build_site

    sites = [build_site(f"s{i}", f"Site {i}", {"coverage": 0.60 + i / 100, "num_clients": 10}) for i in range(5)]
    targets = detail_targets(sites, "degraded")
    assert [site.id for site, _ in targets] == ["s0", "s1", "s2", "s3", "s4"]
    state = detail_cache.DetailState(
        entries={"s0/coverage": detail_cache.DetailEntry(START - timedelta(minutes=5), 60.5, "summary", [])},
        deferred=["s4/coverage", "s3/coverage"],
    )
    plan = plan_details(targets, state, START, 60, allowance=3)
    assert [site.id for site, _, _ in plan.reused] == ["s0"]
    assert [site.id for site, _ in plan.fetch] == ["s3", "s4", "s1"]
    assert [site.id for site, _ in plan.deferred] == ["s2"]
    # Sixty minutes after its fetch the entry is too old: everything is fetched, last run's deferred first.
    unlimited = plan_details(targets, state, START + timedelta(minutes=55), 60, allowance=None)
    assert [site.id for site, _ in unlimited.fetch] == ["s3", "s4", "s0", "s1", "s2"]
    assert unlimited.reused == [] and unlimited.deferred == []


# --- concurrency -----------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_the_worker_pool_never_has_more_requests_in_flight_than_max_workers(workers: int, tmp_path: Path) -> None:
    with MistSimulator(num_sites=12, token=SIMULATOR_TOKEN, latency_ms=15) as simulator:
        collect_once(simulator, tmp_path, FakeClock(), max_workers=workers, classifier_detail="all")
        assert simulator.calls_matching("/summary") == 12 * 7
        assert simulator.max_concurrent == workers


def test_later_pages_of_the_org_calls_are_fetched_side_by_side_within_the_worker_bound(tmp_path: Path) -> None:
    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, latency_ms=15, page_cap=5) as simulator:
        result = collect_once(simulator, tmp_path, FakeClock(), max_workers=4, classifier_detail="none")
        assert len(result.sites) == 40 and result.summary["sites_total"] == 40
        assert simulator.calls == 1 + 8 + 8
        # Side by side (more than one in flight), never above the bound; how many overlap depends on the load.
        assert 2 <= simulator.max_concurrent <= 4
        # The next run reads the sites list from the cache and pages sites-sle with all four workers.
        simulator.reset_counters()
        collect_once(simulator, tmp_path, FakeClock(), max_workers=4, classifier_detail="none")
        assert simulator.calls == 1 + 8 and 2 <= simulator.max_concurrent <= 4


@pytest.mark.e2e
def test_no_progress_bar_is_drawn_when_stderr_is_a_pipe(org40: MistSimulator, make_config: Any) -> None:
    completed = run_cli(["--mode", "report", "--config", str(make_config(org40.base_url))])
    assert completed.returncode == 0, completed.stderr
    assert "Classifier detail" not in completed.stderr and "\r" not in completed.stderr


def read_all(descriptor: int, process: subprocess.Popen) -> str:
    import select

    chunks = []
    while True:
        ready, _, _ = select.select([descriptor], [], [], 0.1)
        if ready:
            try:
                data = os.read(descriptor, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("quiet", [False, True])
def test_the_progress_bar_is_drawn_on_a_terminal_unless_quiet(
    quiet: bool, org40: MistSimulator, make_config: Any
) -> None:
    import fcntl
    import pty
    import struct
    import termios

    config_path = make_config(org40.base_url, {"sle": {"classifier_detail": "all"}})
    leader, follower = pty.openpty()
    # A fresh pseudo-terminal is 0 columns wide, where tqdm draws an empty bar; real terminals have a size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    arguments = [sys.executable, str(MAIN_SCRIPT), "--mode", "report", "--config", str(config_path)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    process = subprocess.Popen(
        arguments + (["--quiet"] if quiet else []),
        cwd="/",
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    try:
        output = read_all(leader, process)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    assert ("Classifier detail" in output) is not quiet


# --- the budget over time --------------------------------------------------------------------------


def test_the_meter_adds_up_the_calls_of_every_cli_run(org40: MistSimulator, make_config: Any, tmp_path: Path) -> None:
    config_path = make_config(org40.base_url)
    for _ in range(2):
        assert run_main(["--mode", "report", "--quiet", "--config", str(config_path)]).returncode == 0
    assert meter_total(tmp_path / "reports" / "state") == org40.calls == (1 + 2 + 10 + severe_count(org40)) + 2


@pytest.mark.slow
def test_an_hour_of_fifteen_minute_cycles_on_ten_thousand_sites_stays_within_five_thousand_calls(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with MistSimulator(
        num_sites=10_000, token=SIMULATOR_TOKEN, degraded_share=0.05, calls_per_hour=5000, clock=clock.epoch
    ) as simulator:
        calls: List[int] = []
        for _ in range(5):
            simulator.reset_counters()
            result = collect_once(simulator, tmp_path, clock)
            assert result.complete and result.deferred_count == 0
            assert not any("rate limit" in note for note in result.notes)
            calls.append(simulator.calls)
            clock.advance(minutes=15)
        # Cold; then sites list and detail reused; at +60 min both expire and are fetched again.
        cold = 1 + 20 + 500 + severe_count(simulator)
        assert calls == [cold, 11, 11, 11, cold]
        assert meter_total(tmp_path) == sum(calls[1:])


@pytest.mark.slow
def test_a_tight_budget_spreads_the_detail_over_the_hour_without_a_single_429(tmp_path: Path) -> None:
    clock = FakeClock()
    # 2,000 sites with 200 degraded site-metrics, and a token limit of 250 calls an hour (200 usable).
    with MistSimulator(
        num_sites=2000, token=SIMULATOR_TOKEN, degraded_share=0.1, calls_per_hour=250, clock=clock.epoch
    ) as simulator:
        settings = {"calls_per_hour": 250, "budget_reserve_pct": 20, "detail_reuse_minutes": 120}
        deferred: List[int] = []
        for _ in range(6):
            result = collect_once(simulator, tmp_path, clock, **settings)
            assert result.complete and not any("rate limit" in note for note in result.notes)
            deferred.append(result.deferred_count)
            clock.advance(minutes=15)
        assert simulator.calls_matching("/summary") == 200
        assert deferred == [5, 5, 5, 5, 0, 0]
