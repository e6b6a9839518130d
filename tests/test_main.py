"""The command line end to end: `python src/main.py` in a subprocess started from `/`, as cron does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import pytest

from conftest import SIMULATOR_TOKEN, run_cli
from mist_infra_manager.cli.main import main
from mist_infra_manager.simulator import mist_simulator
from mist_infra_manager.simulator.mist_simulator import MistSimulator
from smtp_server import SmtpTestServer


def report_files(directory: Path) -> dict:
    return {
        pattern: sorted(directory.glob(pattern))
        for pattern in ("SUMMARY_REPORT_*.txt", "HEALTH_DASHBOARD_*.txt", "HEALTH_DASHBOARD_*.json")
    }


def all_written_text(tmp_path: Path) -> str:
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace") for path in tmp_path.rglob("*") if path.is_file()
    )


def test_report_mode_from_root_writes_the_three_files_with_every_site_and_exits_zero(
    capped_simulator, make_config, tmp_path
) -> None:
    config_path = make_config(capped_simulator.base_url)
    completed = run_cli(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    files = report_files(tmp_path / "reports")
    assert all(len(paths) == 1 for paths in files.values()), files
    dashboard = json.loads(files["HEALTH_DASHBOARD_*.json"][0].read_text(encoding="utf-8"))
    assert dashboard["schema_version"] == 1
    assert dashboard["summary"]["sites_total"] == 40 and len(dashboard["sites"]) == 40
    assert dashboard["complete"] is True
    degraded = sum(
        1
        for site in capped_simulator.sites
        for key, fraction in site.fractions.items()
        if key != "ap-availability" and fraction is not None and fraction < 0.9
    )
    assert capped_simulator.calls_matching("/summary") == degraded
    assert dashboard["api"]["calls"] == capped_simulator.calls == 1 + 6 + 6 + degraded
    coverage = dashboard["sites"][0]["metrics"]["coverage"]
    assert coverage["sle_pct"] == 66.0 and coverage["severity"] == "critical"
    assert coverage["classifiers"][0] == {
        "id": "weak-signal",
        "name": "Weak Signal",
        "degraded_pct": 26.6,
        "share_pct": pytest.approx(78.24, abs=0.01),
        "users": 80,
        "aps": 8,
    }


def test_rate_limits_and_server_errors_on_the_way_change_nothing_but_the_time(
    capped_simulator, make_config, tmp_path
) -> None:
    capped_simulator.add_fault(429, times=3, path_contains="/sites", retry_after=0)
    capped_simulator.add_fault(503, times=2, path_contains="/summary")
    config_path = make_config(capped_simulator.base_url)
    completed = run_cli(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    dashboard = json.loads(report_files(tmp_path / "reports")["HEALTH_DASHBOARD_*.json"][0].read_text())
    assert dashboard["complete"] is True
    assert dashboard["summary"]["sites_total"] == 40
    assert dashboard["sites"][0]["metrics"]["coverage"]["classifiers"][0]["degraded_pct"] == 26.6


def test_a_wrong_token_exits_one_with_one_line_and_writes_no_report(capped_simulator, make_config, tmp_path) -> None:
    config_path = make_config(capped_simulator.base_url, {"mist": {"api_token": "not-the-right-token-123456"}})
    completed = run_cli(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1 and "rejected the token" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert "not-the-right-token-123456" not in completed.stderr + completed.stdout
    assert not list((tmp_path / "reports").glob("SUMMARY_REPORT_*"))


def test_a_bad_smtp_port_exits_two_naming_the_key_without_a_traceback(tmp_path, make_config) -> None:
    config_path = make_config("http://127.0.0.1:9", {"notifications": {"email": {"smtp_port": "twenty-five"}}})
    completed = run_cli(["--config", str(config_path)])
    assert completed.returncode == 2
    assert f"{config_path}: notifications.email.smtp_port: expected an integer, got 'twenty-five'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_every_config_error_is_listed_at_once(tmp_path, make_config) -> None:
    config_path = make_config("http://127.0.0.1:9", {"mist": {"max_workerz": 4}, "thresholds": {"critical": "low"}})
    completed = run_cli(["--config", str(config_path)])
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert any("mist.max_workerz: unknown key (did you mean 'max_workers'?)" in line for line in lines)
    assert any("thresholds.critical: expected a number, got 'low'" in line for line in lines)


def test_a_missing_config_file_says_how_to_create_it_with_config_init(tmp_path) -> None:
    completed = run_cli(["--config", str(tmp_path / "nope.yaml")])
    assert completed.returncode == 2
    assert "config file not found" in completed.stderr and "config init" in completed.stderr


def test_the_token_is_in_no_file_and_no_output_even_with_verbose(capped_simulator, make_config, tmp_path) -> None:
    config_path = make_config(capped_simulator.base_url)
    completed = run_cli(["--mode", "all", "--verbose", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    assert "Weak Signal: 26.6% degraded, users=80, aps=8" in completed.stdout
    assert (tmp_path / "mist_infra_manager.log").exists()
    written = all_written_text(tmp_path / "reports") + (tmp_path / "mist_infra_manager.log").read_text()
    for text in (completed.stdout, completed.stderr, written):
        assert SIMULATOR_TOKEN not in text


def test_the_token_from_the_environment_overrides_the_file(capped_simulator, make_config, tmp_path) -> None:
    config_path = make_config(capped_simulator.base_url, {"mist": {"api_token": "stale-token"}})
    completed = run_cli(["--mode", "insights", "--config", str(config_path)], env={"MIST_API_TOKEN": SIMULATOR_TOKEN})
    assert completed.returncode == 0, completed.stderr
    assert "INSIGHTS - Acme Retail Europe" in completed.stdout


def test_insights_mode_makes_no_summary_call_and_writes_no_file(capped_simulator, make_config, tmp_path) -> None:
    config_path = make_config(capped_simulator.base_url)
    completed = run_cli(["--mode", "insights", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    assert capped_simulator.calls_matching("/summary") == 0
    assert "CRITICAL" in completed.stdout
    assert not list((tmp_path / "reports").glob("SUMMARY_REPORT_*"))


def test_an_unreachable_api_exits_one_with_one_line(make_config) -> None:
    config_path = make_config("http://127.0.0.1:9", {"mist": {"timeout_seconds": 1, "max_retry_wait_seconds": 1}})
    completed = run_cli(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 1
    assert "cannot connect" in completed.stderr and "Traceback" not in completed.stderr


def test_a_token_seeing_several_orgs_without_org_id_lists_them(make_config) -> None:
    with MistSimulator(num_sites=3, token=SIMULATOR_TOKEN, extra_orgs=1) as simulator:
        config_path = make_config(simulator.base_url)
        completed = run_cli(["--mode", "insights", "--config", str(config_path)])
        assert completed.returncode == 1
        assert simulator.org_id in completed.stderr and simulator.extra_org_ids[0] in completed.stderr
        assert "mist.org_id" in completed.stderr
        config_path = make_config(simulator.base_url, {"mist": {"org_id": simulator.org_id}})
        assert run_cli(["--mode", "insights", "--config", str(config_path)]).returncode == 0


def test_incomplete_data_exits_one_and_the_files_say_so(capped_simulator, make_config, tmp_path) -> None:
    capped_simulator.add_fault(500, times=50, path_contains="/metric/coverage/summary")
    config_path = make_config(capped_simulator.base_url, {"mist": {"max_retry_wait_seconds": 1}})
    completed = run_cli(["--mode", "report", "--config", str(config_path)])
    assert completed.returncode == 1
    files = report_files(tmp_path / "reports")
    assert "DATA INCOMPLETE" in files["SUMMARY_REPORT_*.txt"][0].read_text()
    assert json.loads(files["HEALTH_DASHBOARD_*.json"][0].read_text())["complete"] is False


def test_version_and_bad_options(tmp_path) -> None:
    assert run_cli(["--version"]).stdout.startswith("mist-infra-manager ")
    bad = run_cli(["--mode", "sometimes"])
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_the_demo_needs_no_config_and_no_token_and_writes_the_reports_and_the_alert_email(tmp_path) -> None:
    demo_directory = tmp_path / "demo"
    completed = run_cli(["--demo"], env={"MIST_DEMO_DIRECTORY": str(demo_directory)})
    assert completed.returncode == 0, completed.stderr
    assert "Weak Signal: 26.6% degraded, users=80, aps=8" in completed.stdout
    files = report_files(demo_directory)
    assert all(len(paths) == 1 for paths in files.values()), files
    emails = list((demo_directory / "outbox" / "sent").glob("*.eml"))
    assert len(emails) == 1 and str(emails[0]) in completed.stdout
    assert "[CRITICAL]" in emails[0].read_text(encoding="utf-8")

    again = run_cli(["--demo"], env={"MIST_DEMO_DIRECTORY": str(demo_directory)})
    assert again.returncode == 0 and "Email: none" in again.stdout
    assert len(list((demo_directory / "outbox" / "sent").glob("*.eml"))) == 1


def test_the_demo_runs_the_mode_it_is_given(tmp_path) -> None:
    completed = run_cli(["--demo", "--mode", "insights"], env={"MIST_DEMO_DIRECTORY": str(tmp_path / "demo")})
    assert completed.returncode == 0, completed.stderr
    assert "INSIGHTS - Acme Retail Europe" in completed.stdout and "SLE MONITOR" not in completed.stdout
    assert "writes no report files" in completed.stdout


# --- Hostile text from the API: control characters in names, the token echoed by an error body ---------------------

HOSTILE_NAME = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil"
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\x00", "\u202e")


class EchoingSimulator(MistSimulator):
    """The simulator, but the first site's coverage /summary answers 400 with the token in its detail."""

    def _respond(self, method: str, path: str, query_string: str, auth: Optional[str]) -> Any:
        if f"/sites/{self.sites[0].id}/sle/" in path and path.endswith("/metric/coverage/summary"):
            return mist_simulator._error(400, detail=f"bad request for Token {self.token}")
        return super()._respond(method, path, query_string, auth)


def run_in_process_with_email(simulator: MistSimulator, make_config, server: SmtpTestServer, capsys) -> tuple:
    """Run `--mode all` in-process against simulator with email to server; return (exit code, console)."""
    config_path = make_config(
        simulator.base_url,
        {"notifications": {"enabled": True, "email": server.email_config()}, "mist": {"max_retry_wait_seconds": 1}},
    )
    code = main(["--mode", "all", "--config", str(config_path)], environ={})
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def email_texts(server: SmtpTestServer) -> List[str]:
    """Return every part of every message the SMTP server received, as read by a mail client (CRLF read as LF)."""
    texts = []
    for received in server.messages:
        texts += [received.subject, received.body("plain"), received.body("html")]
        texts += [part.get_content() for part in received.message.iter_attachments()]
    return [text.replace("\r\n", "\n") for text in texts]


def test_control_characters_in_api_names_reach_no_console_log_report_or_email_raw(
    make_config, tmp_path, capsys
) -> None:
    with MistSimulator(num_sites=6, token=SIMULATOR_TOKEN, org_name=f"Org {HOSTILE_NAME}") as simulator:
        simulator.sites[0].name = HOSTILE_NAME
        with SmtpTestServer() as server:
            code, console = run_in_process_with_email(simulator, make_config, server, capsys)

    assert code == 0, console
    reports = tmp_path / "reports"
    texts = [path.read_text(encoding="utf-8") for pattern in ("*.txt", "*.html") for path in reports.glob(pattern)]
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    emails = email_texts(server)
    assert len(texts) == 3 and len(server.messages) == 1
    for text in [console, log, *texts, *emails]:
        assert not [control for control in RAW_CONTROLS if control in text], text[:300]
        assert "\nFAKE LOG LINE" not in text
    # Shown escaped, so the NOC sees something odd is in the name.
    escaped = "\\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil"
    assert escaped in server.messages[0].subject
    assert all(escaped in text for text in [console, *texts, *emails[1:]])
    # JSON escapes control characters itself and keeps the name as the API's data.
    (dashboard,) = reports.glob("HEALTH_DASHBOARD_*.json")
    assert "\x1b" not in dashboard.read_text(encoding="utf-8")
    assert json.loads(dashboard.read_text(encoding="utf-8"))["sites"][0]["name"] == HOSTILE_NAME


def test_a_token_echoed_by_an_api_error_body_is_in_no_report_email_console_or_log(
    make_config, tmp_path, capsys
) -> None:
    with EchoingSimulator(num_sites=6, token=SIMULATOR_TOKEN) as simulator, SmtpTestServer() as server:
        code, console = run_in_process_with_email(simulator, make_config, server, capsys)

    assert code == 1, console  # the run is incomplete: one call failed
    reports = tmp_path / "reports"
    outputs = [path.read_text(encoding="utf-8") for path in reports.glob("*_*.*")]
    dashboard = json.loads(next(reports.glob("HEALTH_DASHBOARD_*.json")).read_text(encoding="utf-8"))
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    assert len(outputs) == 4 and len(server.messages) == 1
    assert "bad request for Token [REDACTED]" in dashboard["problems"][0]
    for text in [console, log, *outputs, *email_texts(server)]:
        assert SIMULATOR_TOKEN not in text
        assert SIMULATOR_TOKEN[:24] not in text
