"""The alert policy against the Mist simulator, as a NOC would meet it: profiles by site group, min_clients,
silences from the command line, maintenance windows in each site's own timezone, the acute short window and
incidents, through real runs with the email on the aiosmtpd test server."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from conftest import base_config, deep_merge, run_main
from mist_infra_manager import config as config_module
from mist_infra_manager.pipeline import cycle
from mist_infra_manager.settings import Settings
from smtp_server import SmtpTestServer

LEEDS, LYON, MUNICH, BERLIN = 6, 7, 8, 2  # simulator site indexes: "Store-0007 Leeds", ...
WAREHOUSES = {
    "name": "warehouses",
    "site_groups": ["Warehouses"],
    "thresholds": {"critical": 50, "major": 60, "warning": 75},
}


@pytest.fixture(autouse=True)
def private_temp_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback alert state goes under tempfile.gettempdir(): keep it inside the test's folder."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def write(make_config: Any, simulator: Any, smtp: SmtpTestServer, overrides: Dict[str, Any]) -> Path:
    email = {"notifications": {"enabled": True, "email": smtp.email_config()}}
    path: Path = make_config(simulator.base_url, deep_merge(email, overrides))
    return path


def run(path: Path) -> None:
    completed = run_main(["--config", str(path), "--mode", "report", "--quiet"])
    assert completed.returncode == 0, completed.stderr


def dashboard(reports: Path) -> Dict[str, Any]:
    newest = sorted(reports.glob("HEALTH_DASHBOARD_*.json"))[-1]
    document: Dict[str, Any] = json.loads(newest.read_text(encoding="utf-8"))
    return document


def site_named(document: Dict[str, Any], fragment: str) -> Dict[str, Any]:
    return next(site for site in document["sites"] if fragment in site["name"])


def alerted(reports: Path) -> List[tuple]:
    state = json.loads((reports / "state" / "alert_state.json").read_text(encoding="utf-8"))
    return sorted((problem["site_name"], problem["metric"], problem["kind"]) for problem in state["problems"])


def changes(message: Any) -> List[str]:
    """Return the "why this email" lines of an alert's text part."""
    text = message.body("plain").replace("\r\n", "\n")
    section = text.split("WHY THIS EMAIL", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines()[2:]]


def test_a_warehouse_at_62_percent_is_warning_under_its_profile_while_a_store_at_62_is_critical_and_alerted(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_site_group(LEEDS, "Warehouses")
    simulator.set_fraction(LEEDS, "coverage", 0.62)
    simulator.set_fraction(LYON, "coverage", 0.62)

    run(write(make_config, simulator, smtp, {"policy": {"profiles": [WAREHOUSES]}}))
    document = dashboard(tmp_path / "reports")

    leeds, lyon = site_named(document, "Leeds"), site_named(document, "Lyon")
    assert (leeds["profile"], leeds["metrics"]["coverage"]["severity"]) == ("warehouses", "warning")
    assert leeds["metrics"]["coverage"]["thresholds"] == {"critical": 50, "major": 60, "warning": 75}
    assert "Warehouses" in leeds["site_groups"] and leeds["timezone"] == "Europe/London"
    assert (lyon["profile"], lyon["metrics"]["coverage"]["severity"]) == ("default", "critical")
    problems = alerted(tmp_path / "reports")
    assert ("Store-0008 Lyon", "coverage", "critical") in problems
    assert not [p for p in problems if "Leeds" in p[0]]
    assert "Store-0007 Leeds: profile warehouses (critical < 50, major < 60, warning < 75)" in smtp.messages[0].body(
        "plain"
    )
    assert simulator.calls_matching("/sitegroups") == 1


def test_a_site_with_3_clients_at_50_percent_is_reported_and_not_alerted_under_min_clients_5(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_clients(LYON, 3)
    simulator.set_fraction(LYON, "coverage", 0.50)

    run(write(make_config, simulator, smtp, {"policy": {"min_clients": 5}}))

    coverage = site_named(dashboard(tmp_path / "reports"), "Lyon")["metrics"]["coverage"]
    assert coverage["severity"] == "critical"
    assert coverage["muted"] == {"by": "min_clients", "reason": "3 clients, below policy.min_clients 5", "until": None}
    assert not [p for p in alerted(tmp_path / "reports") if "Lyon" in p[0]]
    assert "Store-0008 Lyon - Coverage 50.0% [critical]: 3 clients, below policy.min_clients 5" in smtp.messages[
        0
    ].body("plain")


def test_a_silence_mutes_leeds_until_it_is_expired_and_then_leeds_alerts_as_new(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_fraction(LEEDS, "coverage", 0.55)
    path = write(make_config, simulator, smtp, {})
    reports = tmp_path / "reports"

    added = run_main(
        ["silence", "add", "--site", "Leeds*", "--for", "2h", "--reason", "switch swap", "--config", str(path)]
    )
    assert added.returncode == 0, added.stderr
    run(path)

    coverage = site_named(dashboard(reports), "Leeds")["metrics"]["coverage"]
    assert coverage["muted"]["by"] == "silence" and coverage["muted"]["reason"].endswith("switch swap")
    assert coverage["muted"]["until"] is not None
    assert "switch swap until" in next(reports.glob("SUMMARY_REPORT_*.txt")).read_text(encoding="utf-8")
    assert not [p for p in alerted(reports) if "Leeds" in p[0]]
    assert not [line for line in changes(smtp.messages[-1]) if "Leeds" in line]

    silence_id = json.loads((reports / "state" / "silences.json").read_text())["silences"][0]["id"]
    assert "active" in run_main(["silence", "list", "--config", str(path)]).stdout
    assert run_main(["silence", "expire", silence_id, "--config", str(path)]).returncode == 0
    run(path)

    assert "NEW        [CRITICAL] Store-0007 Leeds - Coverage: 55.0%" in changes(smtp.messages[-1])
    assert ("Store-0007 Leeds", "coverage", "critical") in alerted(reports)


def test_a_silence_of_an_unknown_metric_or_an_end_in_the_past_is_a_usage_error(
    simulator: Any, make_config: Any, smtp: SmtpTestServer
) -> None:
    path = str(write(make_config, simulator, smtp, {}))

    wrong_metric = run_main(
        ["silence", "add", "--group", "Stores GB", "--metric", "wifi", "--for", "1h", "--reason", "x", "--config", path]
    )
    past = run_main(["silence", "add", "--site", "x", "--until", "2020-01-01T00:00", "--reason", "x", "--config", path])

    assert wrong_metric.returncode == 2 and "--metric: expected one of time-to-connect" in wrong_metric.stderr
    assert past.returncode == 2 and "would end before it starts" in past.stderr


def cycle_config(simulator: Any, smtp: SmtpTestServer, tmp_path: Path, policy: Dict[str, Any]) -> Settings:
    raw = deep_merge(
        base_config(simulator.base_url, tmp_path),
        {"notifications": {"enabled": True, "email": smtp.email_config()}, "policy": policy},
    )
    return config_module.validate(raw, "test.yaml", {})


def problem_sites(outcome: cycle.CycleOutcome) -> List[str]:
    assert outcome.notification is not None and outcome.notification.decision is not None
    return [problem.site_name for problem in outcome.notification.decision.problems]


def test_a_site_in_its_maintenance_window_in_its_own_timezone_is_not_alerted_and_an_hour_later_it_is(
    simulator: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_fraction(BERLIN, "coverage", 0.55)
    # 13:00-14:00 in Berlin is 12:00-13:00 UTC in December: read in UTC, 12:30 would be outside the window.
    settings = cycle_config(
        simulator,
        smtp,
        tmp_path,
        {"maintenance": [{"name": "switch-swap", "sites": ["Store-0003*"], "weekly": "wed 13:00-14:00"}]},
    )
    during = datetime(2026, 12, 2, 12, 30, tzinfo=timezone.utc)

    first = cycle.run_cycle(settings, "report", clock=lambda: during)
    second = cycle.run_cycle(settings, "report", clock=lambda: during + timedelta(hours=1))

    coverage = next(s for s in first.result.sites if s.name == "Store-0003 Berlin").metrics["coverage"]
    assert coverage.muted_reason == "maintenance window switch-swap"
    assert coverage.muted_until == datetime(2026, 12, 2, 13, 0, tzinfo=timezone.utc)
    assert "Store-0003 Berlin" not in problem_sites(first)
    assert "Store-0003 Berlin" in problem_sites(second)
    assert second.notification is not None and second.notification.decision is not None
    berlin = [p for p in second.notification.decision.problems if p.site_name == "Store-0003 Berlin"]
    assert second.notification.decision.reasons[berlin[0].key] == "new"


def test_a_metric_whose_last_hour_is_40_percent_while_its_day_is_92_alerts_as_acute_in_the_first_run_after_the_drop(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_fraction(MUNICH, "throughput", 0.92)
    path = write(make_config, simulator, smtp, {"sle": {"alert_window": "1h"}})
    run(path)
    before = len(smtp.messages)
    assert not [p for p in alerted(tmp_path / "reports") if "Munich" in p[0]]

    simulator.set_short_fraction(MUNICH, "throughput", 0.40)
    run(path)

    assert len(smtp.messages) == before + 1
    assert "NEW        [CRITICAL ACUTE] Store-0009 Munich - Throughput: 40.0%" in changes(smtp.messages[-1])
    throughput = site_named(dashboard(tmp_path / "reports"), "Munich")["metrics"]["throughput"]
    assert (throughput["sle_pct"], throughput["severity"], throughput["alert_window_pct"], throughput["acute"]) == (
        92.0,
        "info",
        40.0,
        True,
    )
    assert "Store-0009 Munich - Throughput: 40.0% over the last 1h, 92.0% over 1d (info)" in smtp.messages[-1].body(
        "plain"
    )
    short_window_calls = [query for path, query in simulator.requests_log if "sites-sle" in path and "1h" in query]
    assert len(short_window_calls) == 2  # one per run: 40 sites fit one page


def test_six_sites_sharing_time_to_connect_and_dhcp_unresponsive_arrive_as_one_incident_at_the_top(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    stores = [10, 12, 14, 16, 18, 20]
    for index in stores:
        simulator.set_classifiers(index, "time-to-connect", 0.60, {"dhcp-unresponsive": 0.9, "association": 0.1})
    path = write(make_config, simulator, smtp, {"policy": {"incident_min_sites": 5}})

    run(path)

    document = dashboard(tmp_path / "reports")
    incident = document["incidents"][0]
    assert (incident["key"], incident["severity"]) == ("incident:time-to-connect:dhcp-unresponsive", "critical")
    names = {site["site_name"] for site in incident["sites"]}
    assert {simulator.sites[index].name for index in stores} <= names
    text = smtp.messages[-1].body("plain")
    headline = f"DHCP Unresponsive degrades Time to Connect at {len(names)} sites (6 critical)"
    assert text.index("INCIDENTS") < text.index("WHY THIS EMAIL") < text.index("RECOMMENDED ACTIONS")
    assert headline in changes(smtp.messages[-1])[0]
    assert headline in smtp.messages[-1].body("html")
    incident_problems = [p for p in alerted(tmp_path / "reports") if p[1] == "time-to-connect"]
    assert len(incident_problems) == 1 and incident_problems[0][0].startswith(headline)

    simulator.set_classifiers(22, "time-to-connect", 0.60, {"dhcp-unresponsive": 1.0})
    sent = len(smtp.messages)
    run(path)

    assert len(dashboard(tmp_path / "reports")["incidents"][0]["sites"]) == len(names) + 1
    assert len(smtp.messages) == sent  # a site joining an open incident is not a new alert


def test_without_a_policy_the_json_and_the_api_calls_are_as_before(
    simulator: Any, make_config: Any, tmp_path: Path
) -> None:
    completed = run_main(["--config", str(make_config(simulator.base_url)), "--mode", "report", "--quiet"])

    document = dashboard(tmp_path / "reports")
    assert completed.returncode == 0, completed.stderr
    assert "incidents" not in document and "alert_window" not in document["window"]
    assert all("profile" not in site for site in document["sites"])
    assert all(
        set(metric)
        <= {"name", "sle_pct", "severity", "detail", "classifiers", "source", "detail_age_minutes", "root_cause"}
        for site in document["sites"]
        for metric in site["metrics"].values()
    )
    assert simulator.calls_matching("/sitegroups") == 0


def test_the_demo_shows_a_profile_an_acute_alert_and_an_incident(tmp_path: Path) -> None:
    completed = run_main(["--demo"], env={"MIST_DEMO_DIRECTORY": str(tmp_path / "demo")})

    document = dashboard(tmp_path / "demo")
    assert completed.returncode == 0, completed.stderr
    assert {site["profile"] for site in document["sites"]} == {"default", "warehouses"}
    assert [key for site in document["sites"] for key, m in site["metrics"].items() if m.get("acute")] == ["throughput"]
    assert document["incidents"][0]["key"] == "incident:time-to-connect:dhcp-unresponsive"
    assert "INCIDENTS" in completed.stdout and "ACUTE" in completed.stdout


def test_a_silence_of_a_site_group_mutes_its_sites_even_without_a_policy_section(
    simulator: Any, make_config: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    simulator.set_fraction(LYON, "coverage", 0.55)  # Lyon is in "Stores FR"
    path = write(make_config, simulator, smtp, {})
    added = run_main(
        [
            "silence",
            "add",
            "--group",
            "Stores FR",
            "--metric",
            "coverage",
            "--until",
            "2099-01-01T00:00Z",
            "--reason",
            "RF survey",
            "--config",
            str(path),
        ]
    )
    assert added.returncode == 2  # at most 90 days

    added = run_main(
        [
            "silence",
            "add",
            "--group",
            "Stores FR",
            "--metric",
            "coverage",
            "--for",
            "1d",
            "--reason",
            "RF survey",
            "--config",
            str(path),
        ]
    )
    assert added.returncode == 0, added.stderr
    run(path)

    document = dashboard(tmp_path / "reports")
    assert site_named(document, "Lyon")["metrics"]["coverage"]["muted"]["by"] == "silence"
    assert not [p for p in alerted(tmp_path / "reports") if "Lyon" in p[0]]
    assert ("Store-0001 London", "coverage", "critical") in alerted(tmp_path / "reports")
    assert "profile" not in site_named(document, "Lyon") and "incidents" not in document
    assert simulator.calls_matching("/sitegroups") == 1


def test_an_incident_reaches_a_webhook_channel_as_one_problem_first(
    simulator: Any, make_config: Any, tmp_path: Path
) -> None:
    from webhook_receiver import WebhookReceiver

    stores = [10, 12, 14, 16, 18]
    for index in stores:
        simulator.set_classifiers(index, "time-to-connect", 0.60, {"dhcp-unresponsive": 1.0})
    with WebhookReceiver(204) as receiver:
        hook = {"name": "itsm", "type": "webhook", "url": receiver.url("/hook"), "retry_seconds": 0}
        path = make_config(
            simulator.base_url,
            {
                "notifications": {"enabled": True, "email": {"enabled": False}, "channels": [hook]},
                "policy": {"incident_min_sites": 5},
            },
        )
        run(path)
        bodies = [request.body.decode("utf-8") for request in receiver.accepted()]

    assert len(bodies) == 1
    assert "DHCP Unresponsive degrades Time to Connect at 6 sites" in bodies[0]
    assert all(simulator.sites[index].name not in bodies[0] for index in stores)


def test_an_acute_problem_alone_names_itself_in_the_subject(
    simulator: Any, make_config: Any, smtp: SmtpTestServer
) -> None:
    for index, site in enumerate(simulator.sites):  # a healthy org but for one hour at Munich
        for key, value in site.fractions.items():
            if value is not None and value < 0.9:
                simulator.set_fraction(index, key, 0.95)
    simulator.set_short_fraction(MUNICH, "throughput", 0.40)

    run(write(make_config, simulator, smtp, {"sle": {"alert_window": "1h"}}))

    assert smtp.messages[-1].subject.startswith("[CRITICAL] Mist SLE: 1 acute - ")


def test_a_sites_cache_without_timezones_is_fetched_again_when_a_policy_needs_them(
    simulator: Any, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    now = datetime(2026, 12, 2, 12, 30, tzinfo=timezone.utc)
    cache = tmp_path / "reports" / "state" / "sites_cache.json"
    cache.parent.mkdir(parents=True)
    old_sites = [{"id": site.id, "name": site.name} for site in simulator.sites]
    cache.write_text(
        json.dumps(
            {"version": 1, "org_id": simulator.org_id, "fetched_at": "2026-12-02T12:20:00Z", "sites": old_sites}
        ),
        encoding="utf-8",
    )
    settings = cycle_config(simulator, smtp, tmp_path, {"min_clients": 1})

    result = cycle.run_cycle(settings, "monitor", clock=lambda: now).result

    assert next(s for s in result.sites if s.name == "Store-0003 Berlin").timezone == "Europe/Berlin"
    assert [path for path, _ in simulator.requests_log if path.endswith("/sites")]
    assert "Europe/Berlin" in cache.read_text(encoding="utf-8")
