"""Wired and WAN SLEs beside Wi-Fi (issue 16) against the simulator: the JSON, the classifier breakdowns, the
email, the call count, the application-health spellings, and the default configuration left as it was."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest

from conftest import SIMULATOR_TOKEN, run_main
from mist_infra_manager.analysis import sle_monitor, sle_types
from mist_infra_manager.mist import collector
from mist_infra_manager.outputs import metrics as prometheus_metrics
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.simulator.mist_simulator import CLASSIFIERS, MistSimulator, SimSite
from smtp_server import SmtpTestServer
from webhook_receiver import WebhookReceiver

ALL_TYPES = {"sle": {"types": ["wifi", "wired", "wan"]}}
WIRED_KEYS = ["switch-health", "switch-throughput", "switch-bandwidth"]
WAN_KEYS = ["gateway-health", "wan-link-health", "application-health"]
# Our metric key -> the simulator's org key (the schema's spelling).
ORG_KEYS = {**{key: key for key in WIRED_KEYS + WAN_KEYS}, "application-health": "application_health"}
# The simulator's default org: site 7 has the switch problem, 5 has Wi-Fi only (and is critical on it).
SWITCH_PROBLEM_SITE = 7
WIFI_ONLY_SITE = 5
APPLICATION_SITE = 10
NUM_SITES = 40


@pytest.fixture
def sim() -> Iterator[MistSimulator]:
    with MistSimulator(num_sites=NUM_SITES, token=SIMULATOR_TOKEN) as running:
        yield running


def run_report(make_config: Any, simulator: MistSimulator, overrides: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """Run --mode report in-process and return the dashboard JSON (the reports folder is per config name)."""
    directory = Path(make_config(simulator.base_url)).parent / f"reports-{name}"
    merged: Dict[str, Any] = {"reports": {"directory": str(directory)}, **overrides}
    config_path = make_config(simulator.base_url, merged, name=f"{name}.yaml")
    completed = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])
    assert completed.returncode == 0, completed.stderr
    [path] = directory.glob("HEALTH_DASHBOARD_*.json")
    document: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def site_doc(document: Mapping[str, Any], site: SimSite) -> Dict[str, Any]:
    found: Dict[str, Any] = next(entry for entry in document["sites"] if entry["id"] == site.id)
    return found


def expected_pct(fraction: float) -> float:
    """The JSON's sle_pct of a sites-sle fraction: rounded down to 2 decimals."""
    return math.floor(round(fraction * 100, 9) * 100) / 100


def degraded_site_metrics(simulator: MistSimulator, wifi_only: bool = False) -> int:
    """Site-metrics below 0.90 the tool fetches detail for (Wi-Fi without ap-availability; wired and WAN)."""
    count = 0
    for site in simulator.sites:
        values: List[Optional[float]] = [f for key, f in site.fractions.items() if key != "ap-availability"]
        if not wifi_only:
            values += list(site.type_fractions.values())
        count += sum(1 for fraction in values if fraction is not None and fraction < 0.9)
    return count


def test_the_json_holds_the_wired_and_wan_metrics_of_every_site_that_has_them_with_the_simulator_values(
    sim: MistSimulator, make_config: Any
) -> None:
    document = run_report(make_config, sim, ALL_TYPES, "all")

    assert document["types"] == ["wifi", "wired", "wan"]
    assert document["complete"] is True
    with_wired = [site for site in sim.sites if site.has_type("wired")]
    with_wan = [site for site in sim.sites if site.has_type("wan")]
    assert 0 < len(with_wired) < NUM_SITES and 0 < len(with_wan) < NUM_SITES
    for site in sim.sites:
        entry = site_doc(document, site)
        assert entry["num_switches"] == (site.num_switches if site.has_type("wired") else None)
        assert entry["num_gateways"] == (site.num_gateways if site.has_type("wan") else None)
        for key in WIRED_KEYS + WAN_KEYS:
            metric = entry["metrics"][key]
            fraction = site.type_fractions.get(ORG_KEYS[key])
            if fraction is None:
                assert (metric["sle_pct"], metric["severity"]) == (None, "no_data"), (site.name, key)
            else:
                assert metric["sle_pct"] == expected_pct(fraction), (site.name, key)


def test_degraded_wired_and_wan_metrics_carry_their_classifier_breakdown_named_from_the_api(
    sim: MistSimulator, make_config: Any
) -> None:
    document = run_report(make_config, sim, ALL_TYPES, "detail")

    switch = site_doc(document, sim.sites[SWITCH_PROBLEM_SITE])
    health = switch["metrics"]["switch-health"]
    assert (health["sle_pct"], health["severity"], health["detail"]) == (72.0, "major", "fetched")
    assert {c["id"] for c in health["classifiers"]} == set(CLASSIFIERS["switch-health"])
    top = health["classifiers"][0]
    assert (top["id"], top["name"], top["share_pct"]) == ("switch-unreachable", "Switch Unreachable", 60.0)
    assert top["aps"] is None and top["users"] > 0
    degraded = [
        (entry["name"], key)
        for entry in document["sites"]
        for key in WIRED_KEYS + WAN_KEYS
        if entry["metrics"][key]["severity"] in ("critical", "major", "warning")
    ]
    assert len(degraded) == 3
    for entry in document["sites"]:
        for key in WIRED_KEYS + WAN_KEYS:
            metric = entry["metrics"][key]
            if metric["severity"] in ("critical", "major", "warning"):
                assert metric["detail"] == "fetched" and metric["classifiers"], (entry["name"], key)
    insight_metrics = {insight["metric"] for insight in document["insights"]}
    assert {"switch-health", "wan-link-health", "application-health"} <= insight_metrics


def test_a_wifi_only_site_is_no_data_on_wired_and_wan_and_keeps_its_wifi_status(
    sim: MistSimulator, make_config: Any
) -> None:
    site = sim.sites[WIFI_ONLY_SITE]
    assert not site.has_type("wired") and not site.has_type("wan")

    wifi = site_doc(run_report(make_config, sim, {}, "wifi"), site)
    everything = site_doc(run_report(make_config, sim, ALL_TYPES, "all"), site)

    assert {everything["metrics"][key]["severity"] for key in WIRED_KEYS + WAN_KEYS} == {"no_data"}
    assert everything["status"] == wifi["status"] == "critical"
    assert everything["num_switches"] is None and everything["num_gateways"] is None


def test_the_calls_stay_at_the_floor_one_org_call_per_type_plus_one_per_degraded_site_metric(
    sim: MistSimulator, make_config: Any
) -> None:
    document = run_report(make_config, sim, ALL_TYPES, "calls")

    degraded = degraded_site_metrics(sim)
    impact = impact_summary_calls(sim)
    assert impact == severe_site_metrics(document), "one root cause per critical/major site-metric of every type"
    # 1 (/self) + 4 × ceil(40 / 1000) (sites, sites-sle wifi, wired, wan) + one /summary per degraded site-metric
    # + one impact-summary per critical/major site-metric (sle.root_cause: major, the default).
    assert document["api"]["calls"] == sim.calls == 1 + 4 + degraded + impact
    sle_queries = sorted(query for path, query in sim.requests_log if path.endswith("/insights/sites-sle"))
    assert [q.split("sle=")[1].split("&")[0] for q in sle_queries] == ["wan", "wifi", "wired"]
    assert sum(1 for path, _ in sim.requests_log if path.endswith("/summary")) == degraded


def impact_summary_calls(sim: MistSimulator) -> int:
    return sum(1 for path, _ in sim.requests_log if path.endswith("/impact-summary"))


def severe_site_metrics(document: Dict[str, Any]) -> int:
    return sum(
        1
        for entry in document["sites"]
        for metric in entry["metrics"].values()
        if metric["severity"] in ("critical", "major") and metric["detail"] == "fetched"
    )


def test_the_default_configuration_collects_wifi_alone_as_before(sim: MistSimulator, make_config: Any) -> None:
    document = run_report(make_config, sim, {}, "default")

    assert document["types"] == ["wifi"]
    assert all(
        set(entry) == {"id", "name", "status", "num_aps", "num_clients", "metrics"} for entry in document["sites"]
    )
    assert all(len(entry["metrics"]) == 7 for entry in document["sites"])
    assert not any("sle=wired" in query or "sle=wan" in query for _, query in sim.requests_log)
    assert sim.calls == 1 + 2 + degraded_site_metrics(sim, wifi_only=True) + impact_summary_calls(sim)


def test_application_health_falls_back_to_the_underscore_id_on_404(make_config: Any) -> None:
    with MistSimulator(num_sites=12, token=SIMULATOR_TOKEN, application_health_ids=("application_health",)) as sim:
        document = run_report(make_config, sim, ALL_TYPES, "underscore")
        asked = [path.split("/metric/")[1] for path, _ in sim.requests_log if "/metric/application" in path]

    metric = site_doc(document, sim.sites[APPLICATION_SITE])["metrics"]["application-health"]
    assert metric["detail"] == "fetched"
    assert metric["classifiers"][0]["name"] == "Application Latency"
    assert asked == ["application-health/summary", "application_health/summary"]


def test_application_health_is_unavailable_when_both_ids_answer_404(make_config: Any) -> None:
    with MistSimulator(num_sites=12, token=SIMULATOR_TOKEN, application_health_ids=()) as sim:
        document = run_report(make_config, sim, ALL_TYPES, "neither")

    metric = site_doc(document, sim.sites[APPLICATION_SITE])["metrics"]["application-health"]
    assert metric["severity"] == "warning"
    assert metric["detail"] == "unavailable"
    assert document["complete"] is True


def test_the_email_has_a_classifier_table_per_degraded_wired_and_wan_metric(make_config: Any) -> None:
    with SmtpTestServer() as smtp, MistSimulator(num_sites=12, token=SIMULATOR_TOKEN) as sim:
        email = {"notifications": {"enabled": True, "email": smtp.email_config()}}
        run_report(make_config, sim, {**ALL_TYPES, **email}, "email")
        [received] = smtp.messages

    html, text = received.body("html"), received.body("plain")
    for key, name in (("switch-health", "Switch Health"), ("wan-link-health", "WAN Link Health")):
        assert f'data-metric="{key}"' in html
        assert f"{name}: 1 site below 90 %" in text
    assert "Switch Unreachable" in html and "ISP Reachability" in html
    assert 'data-type="wired"' in html and 'data-type="wan"' in html


def test_the_text_status_grid_has_a_column_group_per_type(sim: MistSimulator, make_config: Any) -> None:
    run_report(make_config, sim, ALL_TYPES, "grid")
    [path] = (Path(make_config(sim.base_url)).parent / "reports-grid").glob("HEALTH_DASHBOARD_*.txt")
    lines = path.read_text(encoding="utf-8").splitlines()

    header = next(number for number, line in enumerate(lines) if line.startswith("Site  "))
    groups, names = lines[header - 1], lines[header]
    assert "-- Wi-Fi" in groups and "-- Wired" in groups and "-- WAN" in groups
    assert names.count(" |") == 2 and "Sw Health" in names and "GW Health" in names
    assert groups.index("-- Wired") == names.index("|", names.index("AP Health")) + 1
    assert report_generator.GRID_GROUP_SEPARATOR == " |"


def test_wired_and_wan_metrics_become_prometheus_samples_with_the_device_counts() -> None:
    thresholds = sle_monitor.DEFAULT_THRESHOLDS
    sites = [sle_monitor.build_site("s1", "Lyon", {"site_id": "s1", "coverage": 0.97}, thresholds)]
    wired = [{"site_id": "s1", "num_switches": 3, "switch-health": 0.72}]
    sle_types.merge_types(sites, {"wired": wired}, thresholds)
    result = collector.finish_result(
        sites=sites,
        org_id="org",
        org_name="Org",
        now=datetime(2026, 12, 2, tzinfo=timezone.utc),
        settings=collector.CollectionSettings(types=("wifi", "wired")),
        window_start=None,
        window_end=None,
        api_calls=3,
        base_url="http://127.0.0.1",
        problems=[],
        notes=[],
        detail_source=None,
    )

    families = {family.name: family for family in prometheus_metrics.sle_families(result, "all")}

    ratios = {sample.labels["metric"]: sample.value for sample in families["mist_sle_ratio"].samples}
    assert ratios["switch-health"] == pytest.approx(0.72)
    assert "switch-throughput" not in ratios
    assert [sample.value for sample in families["mist_site_switches"].samples] == [3]
    assert "mist_site_gateways" not in families


def test_a_switch_problem_alerts_on_a_webhook_channel_like_a_wifi_one(make_config: Any) -> None:
    with WebhookReceiver(202) as receiver, MistSimulator(num_sites=12, token=SIMULATOR_TOKEN) as sim:
        hook = {"name": "itsm", "type": "webhook", "url_env": "HOOK_URL", "retry_seconds": 0}
        notifications = {"notifications": {"enabled": True, "email": {"enabled": False}, "channels": [hook]}}
        directory = Path(make_config(sim.base_url)).parent / "reports-hook"
        config_path = make_config(
            sim.base_url, {**ALL_TYPES, **notifications, "reports": {"directory": str(directory)}}, name="hook.yaml"
        )
        completed = run_main(
            ["--config", str(config_path), "--mode", "report", "--quiet"], env={"HOOK_URL": receiver.url("/hook")}
        )
        accepted = receiver.accepted()
    assert len(accepted) == 1, completed.stderr + completed.stdout
    [request] = accepted

    assert completed.returncode == 0, completed.stderr
    problems = {(p["site"]["name"], p["metric"], p["severity"]) for p in request.json()["problems"]}
    assert (sim.sites[SWITCH_PROBLEM_SITE].name, "switch-health", "major") in problems
    assert not any(metric in ("switch-throughput", "gateway-health") for _, metric, _ in problems)


def test_a_failed_wired_call_makes_the_run_incomplete_and_the_wifi_and_wan_data_still_report(
    sim: MistSimulator, make_config: Any
) -> None:
    sim.add_fault(404, path_contains="/insights/sites-sle", query_contains="sle=wired")
    config_path = make_config(sim.base_url, ALL_TYPES, name="failed.yaml")

    completed = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])

    assert completed.returncode == 1
    [path] = (Path(config_path).parent / "reports").glob("HEALTH_DASHBOARD_*.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["complete"] is False
    assert [p for p in document["problems"] if "sle=wired" in p] == document["problems"]
    assert len(document["problems"]) == 1
    assert not any("wired" in note for note in document["notes"])
    assert all(entry["metrics"]["switch-health"]["severity"] == "no_data" for entry in document["sites"])
    switch = site_doc(document, sim.sites[SWITCH_PROBLEM_SITE])
    assert switch["metrics"]["coverage"]["sle_pct"] is not None
    assert site_doc(document, sim.sites[8])["metrics"]["wan-link-health"]["severity"] == "warning"


def test_history_from_wifi_only_runs_and_runs_with_every_type_make_one_trend(
    sim: MistSimulator, make_config: Any
) -> None:
    run_report(make_config, sim, {}, "before")
    document = run_report(make_config, sim, ALL_TYPES, "after")

    org = document["trends"]["org"]
    assert {"coverage", "switch-health", "application-health"} <= set(org)
    assert org["switch-health"]["name"] == "Switch Health"
    assert org["switch-health"]["current_pct"] is not None
    assert org["coverage"]["current_pct"] is not None
