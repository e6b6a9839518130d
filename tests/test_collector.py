"""One collection against the simulator: the numbers of the dashboard, the calls it costs, the fallbacks."""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from mist_infra_manager.analysis.models import DETAIL_FETCHED, DETAIL_SKIPPED, DETAIL_UNAVAILABLE
from mist_infra_manager.mist.collector import CollectionSettings, collect
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.simulator.mist_simulator import MistSimulator

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
SITE_METRIC_ID = {
    "time-to-connect": "time-to-connect",
    "successful-connect": "failed-to-connect",
    "coverage": "coverage",
    "roaming": "roaming",
    "throughput": "throughput",
    "capacity": "capacity",
    "ap-health": "ap-health",
}


def run_collection(simulator: MistSimulator, **settings):  # type: ignore[no-untyped-def]
    client = MistClient(simulator.base_url, simulator.token, sleep=lambda seconds: None)
    try:
        return collect(client, CollectionSettings(**settings), NOW)
    finally:
        client.close()


def test_every_site_metric_equals_the_sites_sle_fraction_times_100(capped_simulator) -> None:
    result = run_collection(capped_simulator)
    assert len(result.sites) == 40
    by_id = {site.id: site for site in result.sites}
    for simulated in capped_simulator.sites:
        site = by_id[simulated.id]
        assert site.name == simulated.name
        for key, fraction in simulated.fractions.items():
            if key not in SITE_METRIC_ID:
                continue
            if fraction is None:
                assert site.metrics[key].sle_pct is None
                assert site.metrics[key].severity == "no_data"
            else:
                assert math.isclose(site.metrics[key].sle_pct, 100 * fraction, abs_tol=1e-9)


def test_exactly_one_summary_call_is_made_per_site_metric_below_ninety_percent(capped_simulator) -> None:
    result = run_collection(capped_simulator)
    degraded = {
        (simulated.id, SITE_METRIC_ID[key])
        for simulated in capped_simulator.sites
        for key, fraction in simulated.fractions.items()
        if key in SITE_METRIC_ID and fraction is not None and fraction < 0.9
    }
    summary_calls = [path for path, _ in capped_simulator.requests_log if path.endswith("/summary")]
    called = {(path.split("/")[4], path.split("/")[9]) for path in summary_calls}
    assert len(summary_calls) == len(degraded) > 0
    assert called == degraded
    assert result.api_calls == 1 + 6 + 6 + len(degraded)
    assert result.complete


def test_the_critical_coverage_site_has_the_weak_signal_cell_of_the_dashboard(capped_simulator) -> None:
    result = run_collection(capped_simulator)
    critical = result.sites[0]
    coverage = critical.metrics["coverage"]
    assert critical.status == "critical" and coverage.severity == "critical"
    assert coverage.detail == DETAIL_FETCHED and coverage.source == "summary"
    top = coverage.classifiers[0]
    assert (top.id, round(top.degraded_pct, 1), top.users, top.aps) == ("weak-signal", 26.6, 80, 8)
    assert math.isclose(sum(stat.degraded_pct for stat in coverage.classifiers), 100 - coverage.sle_pct)
    assert math.isclose(sum(stat.share_pct for stat in coverage.classifiers), 100.0)


def test_the_no_data_site_is_no_data_and_never_healthy(capped_simulator) -> None:
    result = run_collection(capped_simulator)
    no_data = [site for site in result.sites if site.status == "no_data"]
    assert [site.id for site in no_data] == [s.id for s in capped_simulator.sites if s.kind == "no_data"]
    assert result.summary["no_data"] == 1
    assert all(metric.sle_pct is None for metric in no_data[0].metrics.values())


def test_a_removed_summary_switches_to_summary_trend_for_the_rest_of_the_run(simulator) -> None:
    simulator.summary_removed = True
    result = run_collection(simulator, max_workers=1)
    assert simulator.calls_matching("/summary-trend") > 1
    assert simulator.calls_matching("/summary") - simulator.calls_matching("/summary-trend") == 1
    assert result.detail_source == "summary-trend"
    coverage = result.sites[0].metrics["coverage"]
    assert coverage.source == "summary-trend"
    assert round(coverage.classifiers[0].degraded_pct, 1) == 26.6
    assert coverage.classifiers[0].users is None and coverage.classifiers[0].aps is None
    assert any("summary-trend" in note for note in result.notes)


def test_a_failed_summary_marks_the_metric_unavailable_and_the_run_incomplete(simulator) -> None:
    simulator.add_fault(500, times=20, path_contains="/metric/coverage/summary")
    result = run_collection(simulator)
    assert not result.complete
    assert any("Coverage" in problem for problem in result.problems)
    assert result.sites[0].metrics["coverage"].detail == DETAIL_UNAVAILABLE
    assert result.sites[0].metrics["coverage"].severity == "critical"


def test_classifier_detail_none_makes_no_summary_call(simulator) -> None:
    result = run_collection(simulator, classifier_detail="none")
    assert simulator.calls_matching("/summary") == 0
    assert all(m.detail == DETAIL_SKIPPED for site in result.sites for m in site.metrics.values())


def test_classifier_detail_all_fetches_every_site_metric(simulator) -> None:
    run_collection(simulator, classifier_detail="all")
    assert simulator.calls_matching("/summary") == 40 * 7


def test_sites_come_worst_first_and_insights_by_priority(simulator) -> None:
    result = run_collection(simulator)
    assert [site.status for site in result.sites[:2]] == ["critical", "critical"]
    assert result.insights[0].severity == "critical"
    assert result.insights[0].sle_pct <= result.insights[1].sle_pct
    assert result.overall_status == "critical"


def test_a_metric_neither_summary_endpoint_knows_is_unavailable_without_failing_the_run(simulator) -> None:
    site = simulator.sites[0]
    simulator.add_fault(404, times=2, path_contains=f"/sites/{site.id}/sle/site/{site.id}/metric/coverage/summary")
    result = run_collection(simulator, max_workers=1)
    coverage = next(s for s in result.sites if s.id == site.id).metrics["coverage"]
    assert coverage.detail == DETAIL_UNAVAILABLE and coverage.severity == "critical"
    assert result.complete and not result.problems
    assert result.detail_source == "summary"


class ShortPagesHandler(BaseHTTPRequestHandler):
    """An org whose sites list announces 12 sites in X-Page-Total but only ever serves 10."""

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        page = int(parse_qs(split.query).get("page", ["1"])[0])
        headers = {}
        if split.path.endswith("/self"):
            body: object = {"privileges": [{"scope": "org", "org_id": "org-1", "name": "Short Org"}]}
        elif split.path.endswith("/sites"):
            body = [{"id": f"site-{i}", "name": f"Site {i}"} for i in range(10)] if page == 1 else []
            headers = {"X-Page-Total": "12", "X-Page-Limit": "1000", "X-Page-Page": str(page)}
        else:
            results = [{"site_id": f"site-{i}", "coverage": 0.99} for i in range(10)] if page == 1 else []
            body = {"results": results, "total": 10, "limit": 1000, "page": page}
        data = json.dumps(body).encode()
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_fewer_sites_than_announced_makes_the_run_incomplete() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShortPagesHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = MistClient(f"http://127.0.0.1:{server.server_address[1]}", "token", sleep=lambda seconds: None)
    try:
        result = collect(client, CollectionSettings(), NOW)
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert len(result.sites) == 10
    assert not result.complete
    assert any("got 10 items, the API announced 12" in problem for problem in result.problems)
