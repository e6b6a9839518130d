"""Prometheus metrics: the exposition parsed with prometheus_client's own parser, from results and from the daemon."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import SIMULATOR_TOKEN
from mist_infra_manager.cli.main import main
from mist_infra_manager.outputs import metrics
from mist_infra_manager.simulator import MistSimulator
from result_builders import make_result, site
from test_daemon import daemon_processes, free_port, start_daemon, wait_for  # noqa: F401

WEAK_SIGNAL_62 = (62.0, [("weak-signal", 26.6, 80, 8), ("asymmetry-uplink", 5.0, 23, 3)])
HEALTH = metrics.ToolHealth(version="9.9.9", last_success_timestamp=1_700_000_000.0, collection_complete=True)
SCRAPE_TIMEOUT_SECONDS = 5

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    """Return every sample of an exposition by (name, sorted labels), parsed by prometheus_client."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def named(samples: Samples, name: str) -> Dict[Tuple[Tuple[str, str], ...], float]:
    return {labels: value for (sample_name, labels), value in samples.items() if sample_name == name}


def sample_result() -> Any:
    return make_result(
        [
            site("site-leeds", 'Leeds <&"store">', {"coverage": WEAK_SIGNAL_62}, num_aps=8, num_clients=80),
            site("site-york", "York", {"coverage": 95.0}, num_aps=2, num_clients=20),
        ]
    )


def test_every_site_metric_with_data_is_a_ratio_and_its_severity_is_one() -> None:
    result = sample_result()
    samples = samples_of(metrics.exposition(metrics.MetricsSnapshot(result, HEALTH)).decode())

    ratios = named(samples, "mist_sle_ratio")
    for entry in result.sites:
        for key, metric in entry.metrics.items():
            labels = (("metric", key), ("org_id", result.org_id), ("site", entry.name), ("site_id", entry.id))
            if metric.sle_pct is None:
                assert labels not in ratios
            else:
                assert ratios[labels] == pytest.approx(metric.sle_pct / 100)
            severity = (*labels[:2], ("severity", metric.severity), *labels[2:])
            assert named(samples, "mist_sle_severity")[tuple(sorted(severity))] == 1


def test_the_classifier_series_are_the_fetched_breakdowns() -> None:
    result = sample_result()
    samples = samples_of(metrics.exposition(metrics.MetricsSnapshot(result, HEALTH)).decode())

    expected = {
        (entry.id, key, stat.id): stat.degraded_pct / 100
        for entry in result.sites
        for key, metric in entry.metrics.items()
        if metric.detail == "fetched"
        for stat in metric.classifiers
        if stat.degraded_pct is not None
    }
    got = {
        (dict(labels)["site_id"], dict(labels)["metric"], dict(labels)["classifier"]): value
        for labels, value in named(samples, "mist_sle_classifier_degraded_ratio").items()
    }
    assert expected and got == pytest.approx(expected)


def test_the_tools_own_health_is_exported() -> None:
    health = metrics.ToolHealth(
        version="1.2.3",
        last_success_timestamp=1_700_000_000.0,
        cycle_duration_seconds=12.5,
        collection_complete=False,
        api_calls_total=321,
        api_budget_remaining=3900,
        alerts_pending=2,
    )
    samples = samples_of(metrics.exposition(metrics.MetricsSnapshot(None, health)).decode())

    assert samples[("mist_infra_manager_build_info", (("version", "1.2.3"),))] == 1
    assert samples[("mist_infra_manager_last_success_timestamp_seconds", ())] == 1_700_000_000.0
    assert samples[("mist_infra_manager_cycle_duration_seconds", ())] == 12.5
    assert samples[("mist_infra_manager_collection_complete", ())] == 0
    assert samples[("mist_infra_manager_api_calls_total", ())] == 321
    assert samples[("mist_infra_manager_api_budget_remaining", ())] == 3900
    assert samples[("mist_infra_manager_alerts_pending", ())] == 2
    assert not named(samples, "mist_sle_ratio")


def test_affected_exports_only_sites_below_the_warning_threshold_plus_org_values() -> None:
    result = sample_result()
    samples = samples_of(metrics.exposition(metrics.MetricsSnapshot(result, HEALTH, metrics.SITES_AFFECTED)).decode())

    sites = {dict(labels)["site"] for labels in named(samples, "mist_sle_ratio")}
    assert sites == {'Leeds <&"store">'}
    org = named(samples, "mist_org_sle_ratio")
    assert org[(("metric", "coverage"), ("org_id", result.org_id))] == pytest.approx(
        (62.0 * 80 + 95.0 * 20) / 100 / 100
    )


# --- the daemon's endpoint and the textfile -----------------------------------------------------------------------


def scrape(port: int) -> str:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.text


def scrape_or_empty(port: int) -> Samples:
    try:
        return samples_of(scrape(port))
    except requests.RequestException:
        return {}


def newest_dashboard(reports: Path) -> Dict[str, Any]:
    return json.loads(sorted(reports.glob("HEALTH_DASHBOARD_*.json"))[-1].read_text(encoding="utf-8"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_daemon_serves_the_last_completed_cycle_and_a_failed_cycle_sets_complete_to_0(
    make_config: Any,
    tmp_path: Path,
    daemon_processes: List[Any],  # noqa: F811
) -> None:
    port = free_port()
    with MistSimulator(num_sites=12, token=SIMULATOR_TOKEN) as simulator:
        config_path = make_config(
            simulator.base_url,
            {"metrics": {"listen": f"127.0.0.1:{port}"}, "mist": {"max_retry_wait_seconds": 0}},
        )
        process = start_daemon(config_path, tmp_path, "--interval", "0.02", "--mode", "report")
        daemon_processes.append(process)
        first = wait_for(
            lambda: named(scrape_or_empty(port), "mist_infra_manager_last_success_timestamp_seconds"),
            process,
            tmp_path,
            "a first completed cycle",
        )
        samples = scrape_or_empty(port)
        dashboard = newest_dashboard(tmp_path / "reports")
        ratios = named(samples, "mist_sle_ratio")
        for entry in dashboard["sites"]:
            for key, value in entry["metrics"].items():
                labels = (
                    ("metric", key),
                    ("org_id", dashboard["org"]["id"]),
                    ("site", entry["name"]),
                    ("site_id", entry["id"]),
                )
                if value["sle_pct"] is not None:
                    assert ratios[labels] == pytest.approx(value["sle_pct"] / 100)
        wait_for(
            lambda: named(scrape_or_empty(port), "mist_infra_manager_last_success_timestamp_seconds") != first,
            process,
            tmp_path,
            "last_success to move forward",
        )
        simulator.add_fault(503, times=10_000, path_contains="/insights/sites-sle")
        wait_for(
            lambda: named(scrape_or_empty(port), "mist_infra_manager_collection_complete").get(()) == 0,
            process,
            tmp_path,
            "a failed cycle",
        )
        failed = scrape_or_empty(port)
        assert named(failed, "mist_sle_ratio"), "the SLE series keep the last completed values"
        kept = named(failed, "mist_infra_manager_last_success_timestamp_seconds")
        assert wait_for(
            lambda: named(scrape_or_empty(port), "mist_infra_manager_collection_complete").get(()) == 0,
            process,
            tmp_path,
            "another failed cycle",
        )
        assert named(scrape_or_empty(port), "mist_infra_manager_last_success_timestamp_seconds") == kept
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_one_shot_report_run_writes_the_textfile_atomically(
    simulator: MistSimulator, make_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    textfile = tmp_path / "textfile" / "mist.prom"
    config_path = make_config(simulator.base_url, {"metrics": {"textfile": str(textfile)}})

    assert main(["--mode", "report", "--quiet", "--config", str(config_path)], {}) == 0
    samples = samples_of(textfile.read_text(encoding="utf-8"))
    dashboard = newest_dashboard(tmp_path / "reports")
    assert len(named(samples, "mist_sle_ratio")) == sum(
        1 for entry in dashboard["sites"] for value in entry["metrics"].values() if value["sle_pct"] is not None
    )
    assert samples[("mist_infra_manager_collection_complete", ())] == 1
    assert samples[("mist_infra_manager_api_calls_total", ())] > 0
    assert [path.name for path in textfile.parent.iterdir()] == ["mist.prom"], "no temporary file left behind"
    assert textfile.stat().st_mode & 0o777 == 0o640


def test_a_listen_address_that_is_taken_is_one_line_and_exit_1(
    simulator: MistSimulator, make_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_path = make_config(simulator.base_url, {"metrics": {"listen": f"127.0.0.1:{port}"}})
        code = main(["--daemon", "--config", str(config_path)], {})

    assert code == 1
    err = capsys.readouterr().err
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


@pytest.mark.parametrize("listen", ["9101", "localhost:", "127.0.0.1:99999", "host:port"])
def test_a_bad_listen_address_is_a_config_error_naming_the_key(
    listen: str, make_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = make_config("http://127.0.0.1:9", {"metrics": {"listen": listen}})

    assert main(["--mode", "report", "--config", str(config_path)], {}) == 2
    assert "metrics.listen: expected host:port" in capsys.readouterr().err
