"""Root cause where a person reads it (issue 18): the email (real SMTP), the text SUMMARY report, the JSON, the HTML
dashboard and a webhook channel, from one report run against the simulator, in-process."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from typing import Any, Dict, Iterator

import pytest

from conftest import SIMULATOR_TOKEN, base_config, deep_merge, write_config
from mist_infra_manager.cli.main import main
from mist_infra_manager.simulator.mist_simulator import MistSimulator
from smtp_server import SmtpTestServer
from webhook_receiver import WebhookReceiver

HOOK_PATH = "/root-cause/ingest"
CONCENTRATED = "Weak Signal: 70 % on AP-0001-01 (2.4 GHz, SSID Store-Staff), mostly Zebra scanner clients"
SPREAD = "DHCP Unresponsive: spread across 6 APs"


@pytest.fixture(autouse=True)
def forget_logging_handlers() -> Iterator[None]:
    """main() points the console handlers at this test's streams: drop them when the test ends."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__module__ != "_pytest.logging":
            root.removeHandler(handler)
            handler.close()


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """One report run of an 8-site org with the email and a webhook channel on (shared by this module's tests)."""
    tmp_path = tmp_path_factory.mktemp("root-cause-run")
    (tmp_path / "system-temp").mkdir()
    with contextlib.ExitStack() as stack:
        # The email's fallback alert state goes under tempfile.gettempdir(): keep it inside the run's folder.
        stack.enter_context(pytest.MonkeyPatch.context()).setattr(tempfile, "tempdir", str(tmp_path / "system-temp"))
        org = stack.enter_context(MistSimulator(num_sites=8, token=SIMULATOR_TOKEN))
        smtp = stack.enter_context(SmtpTestServer())
        hook = stack.enter_context(WebhookReceiver(202))
        notifications = {
            "enabled": True,
            "email": smtp.email_config(),
            "channels": [{"name": "itsm", "type": "webhook", "url_env": "HOOK_URL", "retry_seconds": 0}],
        }
        raw = deep_merge(base_config(org.base_url, tmp_path), {"notifications": notifications})
        path = write_config(tmp_path / "config.yaml", raw)
        assert main(["--config", str(path), "--mode", "report", "--quiet"], {"HOOK_URL": hook.url(HOOK_PATH)}) == 0
        reports = tmp_path / "reports"
        [summary] = sorted(reports.glob("SUMMARY_REPORT_*.txt"))
        [dashboard_json] = sorted(reports.glob("HEALTH_DASHBOARD_*.json"))
        [dashboard_html] = sorted(reports.glob("HEALTH_DASHBOARD_*.html"))
        [message] = smtp.messages
        [request] = hook.accepted()
        yield {
            "org": org,
            "summary": summary.read_text(encoding="utf-8"),
            "json": json.loads(dashboard_json.read_text(encoding="utf-8")),
            "html": dashboard_html.read_text(encoding="utf-8"),
            "email_text": message.body("plain"),
            "email_html": message.body("html"),
            "webhook": request.json(),
        }


def test_the_email_names_the_ap_holding_seventy_percent_next_to_the_action_and_in_the_critical_row(
    report_run: Dict[str, Any],
) -> None:
    text = report_run["email_text"]
    assert f"Root cause: {CONCENTRATED}; concentrated on one AP: check its hardware and placement first" in text
    assert f"      Root cause: {CONCENTRATED}" in text  # the critical row of the classifier breakdown
    assert f"Root cause: {SPREAD}; spread: a site or service problem" in text
    assert CONCENTRATED in report_run["email_html"] and "data-root-cause" in report_run["email_html"]


def test_the_text_summary_report_has_the_root_cause_line_of_each_critical_and_major_site_metric(
    report_run: Dict[str, Any],
) -> None:
    summary = report_run["summary"]
    assert f"   Root cause: {CONCENTRATED}; concentrated on one AP" in summary
    assert f"   Root cause: {SPREAD}; spread: a site or service problem" in summary
    assert summary.count("Root cause:") == 4


def test_the_json_carries_root_cause_top_lists_and_concentration_only_where_there_is_one(
    report_run: Dict[str, Any],
) -> None:
    sites = {site["name"]: site for site in report_run["json"]["sites"]}
    cause = sites["Store-0001 London"]["metrics"]["coverage"]["root_cause"]
    assert cause["concentration"] == "concentrated" and cause["classifier"] == "weak-signal"
    top = cause["top"]["ap"][0]
    assert (top["name"], round(top["share_pct"])) == ("AP-0001-01", 70)
    assert set(top) == {"name", "id", "degraded", "total", "share_pct"}
    assert cause["top"]["band"][0]["name"] == "2.4 GHz"
    spread = sites["Store-0002 Paris"]["metrics"]["time-to-connect"]["root_cause"]
    assert (spread["concentration"], spread["place_count"]) == ("spread", 6)
    assert "root_cause" not in sites["Store-0003 Berlin"]["metrics"]["roaming"]  # warning only


def test_the_html_dashboard_has_a_small_table_per_site_metric_with_a_root_cause(report_run: Dict[str, Any]) -> None:
    html = report_run["html"]
    org: MistSimulator = report_run["org"]
    assert html.count('data-root-cause="') - html.count('data-root-cause="coverage"') >= 4
    assert f'data-root-cause="{org.sites[0].id}/coverage"' in html
    assert f'data-root-cause="{org.sites[1].id}/time-to-connect"' in html
    assert "AP-0001-01 70 %" in html


def test_the_webhook_problem_carries_the_root_cause_line(report_run: Dict[str, Any]) -> None:
    problems = {(p["site"]["name"], p["metric"]): p for p in report_run["webhook"]["problems"]}
    assert problems[("Store-0001 London", "coverage")]["root_cause"].startswith(CONCENTRATED)
    assert problems[("Store-0002 Paris", "time-to-connect")]["root_cause"].startswith(SPREAD)
