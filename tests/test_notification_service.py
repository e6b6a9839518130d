"""Alert emails: content rendered from the result, real SMTP on loopback, no spam across runs, nothing lost."""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from conftest import SIMULATOR_TOKEN, run_main
from email_browser import first_alert
from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import alert_state, email_delivery, notification_service
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.outputs import report_generator
from result_builders import (
    FIXED_NOW,
    HTML_SITE_NAME,
    WEAK_SIGNAL_CRITICAL,
    large_result,
    make_result,
    sample_sites,
    sample_trends,
    site,
)
from smtp_server import SmtpTestServer

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
ESCAPED_HTML_SITE_NAME = "&lt;b&gt;Café &amp; &#34;Bar&#34; &#39;Store&#39;&lt;/b&gt;"
WEAK_SIGNAL_CELL = "26.6% degraded, users=80, aps=8"
SMTP_PASSWORD = "Sm7p-pa55-9f8e7d6c"


# --- Helpers --------------------------------------------------------------------------------------------------


def make_config(
    tmp_path: Path, email: Dict[str, Any], environ: Optional[Dict[str, str]] = None, **notifications: Any
) -> config_module.Config:
    """Return a validated config writing under tmp_path/reports with the given notifications.email section."""
    raw = {
        "mist": {"api_token": "unused-token"},
        "reports": {"directory": str(tmp_path / "reports")},
        "logging": {"file": None},
        "notifications": {"enabled": True, **notifications, "email": email},
    }
    return config_module.validate(raw, "test-config.yaml", environ=environ or {})


def file_email(**overrides: Any) -> Dict[str, Any]:
    return {
        "transport": "file",
        "from_address": "mist-alerts@example.test",
        "recipients": ["noc@example.test"],
        **overrides,
    }


def run_notifications(result: RunResult, config: Any, now: datetime) -> notification_service.NotificationOutcome:
    """What pipeline.run_cycle does in mode report: write the reports, then the emails."""
    files = report_generator.write_reports(result, config.reports.directory)
    return notification_service.process_run(result, files, config, now)


def sample_result(**kwargs: Any) -> RunResult:
    return make_result(sample_sites(), **kwargs)


def render_first_alert(result: RunResult, max_rows: int = 25) -> notification_service.RenderedEmail:
    return first_alert(result, max_rows)


def metric_sections(html: str) -> List[str]:
    """Return the metric keys of the classifier breakdown, in document order (a table or the one-line note)."""
    return re.findall(r'<(?:table|p)\b[^>]*\bdata-metric="([^"]+)"', html)


def outbox_files(config: Any) -> List[Path]:
    return email_delivery.Outbox(config.reports.directory).pending()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    """A plain SMTP server on loopback."""
    with SmtpTestServer() as server:
        yield server


# --- What the email says --------------------------------------------------------------------------------------


def test_the_subject_counts_site_metrics_and_the_sites_they_are_at() -> None:
    rendered = render_first_alert(sample_result())

    assert rendered.kind == "critical"
    assert rendered.subject == "[CRITICAL] Mist SLE: 2 critical, 2 major at 3 of 6 sites - Acme Retail Europe"


def test_a_major_only_run_sends_a_major_alert() -> None:
    result = make_result([site("a", "Store A", {"roaming": (75.0, [])}), site("b", "Store B")])

    rendered = render_first_alert(result)

    assert rendered.subject == "[MAJOR] Mist SLE: 0 critical, 1 major at 1 of 2 sites - Acme Retail Europe"


def test_degradations_alone_send_a_trend_alert() -> None:
    result = make_result([site("site-critical", "Store-0001 London", {"coverage": 85.0})], trends=sample_trends())

    rendered = render_first_alert(result)

    assert rendered.subject == "[TREND] Mist SLE: 2 degradations since yesterday - Acme Retail Europe"
    assert "Store-0001 London" in rendered.html and "93.1% → 66.0%" in rendered.html and "-27.1 pp" in rendered.html
    assert "93.1% -> 66.0% (-27.1 pp, info -> critical)" in rendered.text


def test_one_email_carries_critical_problems_and_degradations_with_the_subject_of_the_highest() -> None:
    rendered = render_first_alert(sample_result(trends=sample_trends()))

    assert rendered.subject == (
        "[CRITICAL] Mist SLE: 2 critical, 2 major at 3 of 6 sites, 2 degradations since yesterday - Acme Retail Europe"
    )
    assert "Trends since yesterday" in rendered.html and "TRENDS SINCE YESTERDAY" in rendered.text


def test_the_trend_section_shows_sparklines_and_bars_without_svg_in_the_email() -> None:
    trends = sample_trends()
    rendered = render_first_alert(sample_result(trends=trends))

    assert trends["org"]["coverage"]["sparkline"] in rendered.html
    assert trends["org"]["coverage"]["sparkline"] in rendered.text
    assert 'data-table="trend-org"' in rendered.html and 'data-table="trend-degradations"' in rendered.html
    assert "<svg" not in rendered.html
    assert ESCAPED_HTML_SITE_NAME in rendered.html.split('data-table="trend-degradations"')[1]


def test_a_first_day_without_baseline_says_so() -> None:
    rendered = render_first_alert(sample_result(trends=sample_trends(baseline=False)))

    assert "No baseline yet" in rendered.html and "No baseline yet" in rendered.text


def test_the_breakdown_has_one_section_per_metric_in_the_seed_order() -> None:
    html = render_first_alert(sample_result()).html

    assert metric_sections(html) == [metric.key for metric in catalog.METRICS]
    assert "SLE Classifier Breakdown" in html


def test_a_metric_without_affected_site_shows_one_line_instead_of_an_empty_table() -> None:
    rendered = render_first_alert(sample_result())

    assert re.search(r'<p [^>]*data-metric="roaming">all sites at or above 90 %</p>', rendered.html)
    assert not re.search(r'<table [^>]*data-metric="roaming"', rendered.html)
    assert "Throughput: all sites at or above 90 %" in rendered.text


def test_classifier_cells_read_exactly_degraded_users_aps_and_leave_out_unknown_counts() -> None:
    rendered = render_first_alert(sample_result())

    assert f'<td style="font-weight:bold">{WEAK_SIGNAL_CELL}</td>' in rendered.html
    assert f"Weak Signal: {WEAK_SIGNAL_CELL}" in rendered.text
    assert "<td>1.5% degraded</td>" in rendered.html  # IP-Services: users and aps unknown
    assert "<td>1.0% degraded, aps=1</td>" in rendered.html  # an unknown classifier id keeps its column
    assert "Unknown Future Classifier" in rendered.html


def test_rows_are_worst_first_with_the_severity_word_in_each_row() -> None:
    html = render_first_alert(sample_result()).html
    coverage = html.split('data-metric="coverage"')[1].split("</table>")[0]

    assert coverage.index("Store-0001 London") < coverage.index("Store-0006 Amsterdam")
    assert ">CRITICAL</td>" in coverage and ">WARNING</td>" in coverage
    assert "66.0% critical" in coverage and "89.0% warning" in coverage


def test_a_deferred_classifier_detail_says_so_in_its_row() -> None:
    html = render_first_alert(sample_result()).html
    connects = html.split('data-metric="successful-connect"')[1].split("</table>")[0]

    assert "classifier detail deferred to the next run (API call budget)" in connects


def test_the_recommended_action_of_each_critical_sites_top_classifier_is_given() -> None:
    rendered = render_first_alert(sample_result())
    actions = rendered.html.split("Recommended actions")[1].split("</table>")[0]

    assert catalog.recommended_action("weak-signal") in actions
    assert catalog.recommended_action("ap-disconnected-ap-unreachable") in actions
    assert f"Action: {catalog.recommended_action('weak-signal')}" in rendered.text


def test_the_status_grid_shows_each_affected_site_and_every_metric_coloured_with_its_word() -> None:
    html = render_first_alert(sample_result()).html
    grid = html.split('data-table="status-grid"')[1].split("</table>")[0]

    assert grid.count("<tr>") == 4  # critical, critical, major, warning sites; not the healthy or no-data ones
    assert 'bgcolor="#fdecea" style="color:#8e1b1b;font-weight:bold;white-space:nowrap">66.0% critical</td>' in grid
    assert "Store-0010 Dublin" not in grid and "Store-0004 Madrid" not in grid


def test_site_names_holding_markup_ampersands_and_quotes_are_escaped_in_the_html() -> None:
    rendered = render_first_alert(sample_result(trends=sample_trends()))

    assert ESCAPED_HTML_SITE_NAME in rendered.html
    assert "<b>Café" not in rendered.html and '"Bar"' not in rendered.html
    assert HTML_SITE_NAME in rendered.text


def test_the_html_is_made_for_mail_clients_tables_and_inline_styles_no_scripts_or_remote_images() -> None:
    html = render_first_alert(sample_result(trends=sample_trends())).html

    assert "<script" not in html.lower()
    assert "<img" not in html.lower() and "url(" not in html.lower() and "@import" not in html.lower()
    assert not re.search(r'\b(src|href|background)="?(https?:)?//', html, re.IGNORECASE)
    assert "<div style=" in html and html.count("<table") >= 10
    # One <style> block in the head, an enhancement only (dark mode, stacking on phones): every table and cell
    # still carries its colours inline for Outlook desktop, which ignores it.
    assert html.lower().count("<style") == 1 and html.index("</style>") < html.index("</head>")
    assert 'bgcolor="#fdecea" style="color:#8e1b1b;font-weight:bold;white-space:nowrap">66.0% critical</td>' in html


def test_tables_are_capped_with_a_pointer_to_the_attachment() -> None:
    sites = [site(f"s{index:02d}", f"Store {index:02d}", {"coverage": (60.0 + index, [])}) for index in range(30)]

    rendered = render_first_alert(make_result(sites), max_rows=25)

    coverage = rendered.html.split('data-metric="coverage"')[1].split("</table>")[0]
    assert coverage.count("<tr>") == 25
    assert "and 5 more sites: see the attached report" in rendered.html
    assert "and 5 more sites: see the attached report" in rendered.text


@pytest.mark.slow
def test_a_ten_thousand_site_org_gives_an_html_body_under_100_kb() -> None:
    result = large_result(total_sites=10_000, affected=2_000)

    rendered = render_first_alert(result)

    assert len(rendered.html.encode("utf-8")) < 100_000
    assert metric_sections(rendered.html) == [metric.key for metric in catalog.METRICS]
    assert "more sites: see the attached report" in rendered.html
    assert rendered.subject.endswith(" of 10000 sites - Acme Retail Europe")


def test_the_email_html_matches_the_golden_file() -> None:
    html = render_first_alert(sample_result(trends=sample_trends())).html
    golden = GOLDEN / "alert_email.html"

    if UPDATE_GOLDEN:
        golden.write_text(html, encoding="utf-8")
    assert html == golden.read_text(encoding="utf-8"), "the email HTML changed: rerun with UPDATE_GOLDEN=1 and review"


# --- The message ----------------------------------------------------------------------------------------------


def test_transport_file_writes_a_multipart_eml_with_both_parts_and_the_summary_attachment(tmp_path: Path) -> None:
    config = make_config(tmp_path, file_email())
    result = sample_result()

    outcome = run_notifications(result, config, FIXED_NOW)

    assert not outcome.failed and outcome.sent == [] and len(outcome.written_eml) == 1
    path = outcome.written_eml[0]
    assert path.parent == tmp_path / "reports" / "outbox" / "sent"
    assert outbox_files(config) == []
    message = email_delivery.message_from_bytes(path.read_bytes(), policy=email_delivery.policy.default)
    assert message.get_content_type() == "multipart/mixed"
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/plain",
    ]
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["SUMMARY_REPORT_20250314T060000Z.txt"]
    summary = (tmp_path / "reports" / "SUMMARY_REPORT_20250314T060000Z.txt").read_bytes()
    assert attachments[0].get_content().encode("utf-8") == summary
    assert message["To"] == "noc@example.test" and message["Date"] == "Fri, 14 Mar 2025 06:00:00 +0000"


# --- Real SMTP ------------------------------------------------------------------------------------------------


def test_plain_smtp_delivers_the_alert_to_every_recipient(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())

    outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert not outcome.failed
    assert outcome.sent == ["[CRITICAL] Mist SLE: 2 critical, 2 major at 3 of 6 sites - Acme Retail Europe"]
    [received] = smtp.messages
    assert received.mail_from == "mist-alerts@example.test"
    assert received.rcpt_tos == ["noc@example.test", "oncall@example.test"]
    assert WEAK_SIGNAL_CELL in received.body("html") and WEAK_SIGNAL_CELL in received.body("plain")
    assert ESCAPED_HTML_SITE_NAME in received.body("html")
    assert received.attachment_names() == ["SUMMARY_REPORT_20250314T060000Z.txt"]


def test_starttls_with_a_self_signed_certificate_is_refused_when_verify_tls_is_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SmtpTestServer(tls="starttls") as server:
        config = make_config(tmp_path, server.email_config(verify_tls=True))
        with caplog.at_level(logging.ERROR):
            outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert outcome.failed and server.messages == []
    assert len(outbox_files(config)) == 1
    [error] = outcome.errors
    assert f"TLS certificate of 127.0.0.1:{server.port} not trusted" in error
    assert "verify_tls: false" in error
    ours = [record for record in caplog.records if not record.name.startswith("mail.")]  # aiosmtpd's own
    errors = [record.getMessage() for record in ours if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0] and "kept as" in errors[0]


def test_starttls_with_verify_tls_off_sends(tmp_path: Path) -> None:
    with SmtpTestServer(tls="starttls") as server:
        config = make_config(tmp_path, server.email_config(verify_tls=False))
        outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert not outcome.failed and len(server.messages) == 1


def test_implicit_tls_on_use_ssl_sends(tmp_path: Path) -> None:
    with SmtpTestServer(tls="implicit") as server:
        config = make_config(tmp_path, server.email_config())
        outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert config.notifications.email.use_ssl
    assert not outcome.failed and len(server.messages) == 1


def test_smtp_auth_with_the_password_from_the_environment_sends(tmp_path: Path) -> None:
    with SmtpTestServer(tls="starttls", username="alerts", password=SMTP_PASSWORD) as server:
        email = server.email_config(password=None)
        config = make_config(tmp_path, email, environ={"MIST_SMTP_PASSWORD": SMTP_PASSWORD})
        outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert not outcome.failed and len(server.messages) == 1
    assert server.auth_attempts == ["alerts"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_plain_smtp_auth_sends(tmp_path: Path) -> None:
    with SmtpTestServer(username="alerts", password=SMTP_PASSWORD, auth_require_tls=False) as server:
        config = make_config(tmp_path, server.email_config())
        outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert not outcome.failed and len(server.messages) == 1


def test_a_refused_login_fails_clearly_without_showing_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SmtpTestServer(tls="starttls", username="alerts", password="the-right-one") as server:
        config = make_config(tmp_path, server.email_config(password=SMTP_PASSWORD))
        with caplog.at_level(logging.DEBUG):
            outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert outcome.failed and server.messages == []
    assert "SMTP login to 127.0.0.1" in outcome.errors[0] and "refused: 535" in outcome.errors[0]
    assert SMTP_PASSWORD not in caplog.text and SMTP_PASSWORD not in " ".join(outcome.errors)
    assert SMTP_PASSWORD not in repr(email_delivery.SmtpSettings.from_config(config.notifications.email))


def test_with_the_server_down_the_alert_waits_in_the_outbox_and_the_next_run_delivers_it(tmp_path: Path) -> None:
    server = SmtpTestServer().start()
    port = server.port
    server.stop()
    config = make_config(tmp_path, server.email_config())

    down = run_notifications(sample_result(), config, FIXED_NOW)

    assert down.failed and down.sent == [] and len(down.queued) == 1
    assert f"cannot connect to 127.0.0.1:{port}" in down.errors[0]
    assert outbox_files(config) == down.queued

    server.start()
    try:
        assert server.port == port
        back = run_notifications(sample_result(), config, FIXED_NOW + timedelta(minutes=15))
    finally:
        server.stop()

    assert not back.failed
    assert back.sent == ["[CRITICAL] Mist SLE: 2 critical, 2 major at 3 of 6 sites - Acme Retail Europe"]
    assert len(server.messages) == 1 and outbox_files(config) == []


def test_the_outbox_is_sent_oldest_first_before_the_new_alert(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    outbox = email_delivery.Outbox(config.reports.directory)
    for minute, subject in ((30, "second"), (0, "first")):
        message = email_delivery.build_message(
            subject=subject,
            sender="mist-alerts@example.test",
            recipients=["noc@example.test", "oncall@example.test"],
            text=subject,
            now=FIXED_NOW + timedelta(minutes=minute),
            kind="critical",
        )
        outbox.put(email_delivery.message_bytes(message), outbox.new_name(FIXED_NOW + timedelta(minutes=minute), "x"))

    outcome = run_notifications(sample_result(), config, FIXED_NOW + timedelta(hours=1))

    assert [message.subject for message in smtp.messages][:2] == ["first", "second"]
    assert smtp.messages[0].rcpt_tos == ["noc@example.test", "oncall@example.test"]
    assert len(smtp.messages) == 3 and outcome.sent[:2] == ["first", "second"]
    assert outbox_files(config) == []


def test_a_message_the_server_rejects_stays_in_the_outbox(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    smtp.reject_data = True

    outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert outcome.failed and "refused the message: 554" in outcome.errors[0]
    assert len(outbox_files(config)) == 1


# --- No spam --------------------------------------------------------------------------------------------------


def test_an_immediate_second_run_sends_nothing(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    run_notifications(sample_result(), config, FIXED_NOW)

    second = run_notifications(sample_result(), config, FIXED_NOW + timedelta(minutes=15))

    assert len(smtp.messages) == 1 and second.sent == [] and not second.failed
    assert "already emailed" in second.summary


def test_an_escalation_is_emailed_at_once(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    run_notifications(make_result([site("a", "Store A", {"coverage": (75.0, [])})]), config, FIXED_NOW)

    run_notifications(
        make_result([site("a", "Store A", {"coverage": WEAK_SIGNAL_CRITICAL})]),
        config,
        FIXED_NOW + timedelta(minutes=15),
    )

    assert [message.subject.split("]")[0] for message in smtp.messages] == ["[MAJOR", "[CRITICAL"]
    assert "ESCALATED" in smtp.messages[1].body("plain")


def test_active_problems_are_repeated_after_the_repeat_interval(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config(), repeat_interval="2h")
    for minutes in (0, 60, 119, 120, 180, 240):
        run_notifications(sample_result(), config, FIXED_NOW + timedelta(minutes=minutes))

    assert len(smtp.messages) == 3  # at 0, 120 and 240 minutes
    assert "Reminder: 4 problems still active since the email at 2025-03-14T06:00:00Z" in smtp.messages[1].body("plain")


def test_a_resolved_email_follows_when_alerted_problems_clear(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    run_notifications(make_result([site("a", HTML_SITE_NAME, {"coverage": WEAK_SIGNAL_CRITICAL})]), config, FIXED_NOW)

    for hours in (1, 2):
        now = FIXED_NOW + timedelta(hours=hours)
        run_notifications(make_result([site("a", HTML_SITE_NAME, {"coverage": 92.0})], now=now), config, now)

    assert len(smtp.messages) == 2
    resolved = smtp.messages[1]
    assert resolved.subject == "[RESOLVED] Mist SLE: 1 problem cleared at 1 site - Acme Retail Europe"
    assert ESCAPED_HTML_SITE_NAME in resolved.body("html")
    assert "was critical 66.0%, now 92.0% (info)" in resolved.body("plain")
    assert resolved.attachment_names() == ["SUMMARY_REPORT_20250314T070000Z.txt"]


def test_no_resolved_email_when_send_resolved_is_off(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config(), send_resolved=False)
    run_notifications(make_result([site("a", "Store A", {"coverage": WEAK_SIGNAL_CRITICAL})]), config, FIXED_NOW)

    run_notifications(make_result([site("a", "Store A", {"coverage": 92.0})]), config, FIXED_NOW + timedelta(hours=1))

    assert len(smtp.messages) == 1
    assert alert_state.load_state(alert_state.state_path(tmp_path / "reports")) == {}


def test_a_new_problem_email_also_lists_what_resolved_since(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    run_notifications(make_result([site("a", "Store A", {"coverage": WEAK_SIGNAL_CRITICAL})]), config, FIXED_NOW)

    run_notifications(
        make_result([site("a", "Store A", {"coverage": 95.0}), site("b", "Store B", {"roaming": (75.0, [])})]),
        config,
        FIXED_NOW + timedelta(minutes=15),
    )

    assert len(smtp.messages) == 2
    assert smtp.messages[1].subject.startswith("[MAJOR]")
    assert "Resolved since the last email" in smtp.messages[1].body("html")


def test_a_corrupt_state_file_is_set_aside_and_the_run_still_emails(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())
    state_file = alert_state.state_path(tmp_path / "reports")
    state_file.parent.mkdir(parents=True)
    state_file.write_text('{"version": 1, "problems": [', encoding="utf-8")

    outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert not outcome.failed and len(smtp.messages) == 1
    assert state_file.with_name("alert_state.json.corrupt").exists()
    assert alert_state.load_state(state_file) != {}


@pytest.mark.parametrize("switch", [{"enabled": False}, {"email_enabled": False}])
def test_with_notifications_or_email_disabled_nothing_happens(tmp_path: Path, switch: Dict[str, bool]) -> None:
    email = file_email(enabled=switch.get("email_enabled", True))
    config = make_config(tmp_path, email, enabled=switch.get("enabled", True))

    outcome = run_notifications(sample_result(), config, FIXED_NOW)

    assert outcome.sent == [] and outcome.written_eml == [] and not outcome.failed
    assert not (tmp_path / "reports" / "outbox").exists()
    assert not alert_state.state_path(tmp_path / "reports").exists()


# --- Monitoring alerts (daemon) -------------------------------------------------------------------------------


def test_monitoring_failing_and_recovered_emails_are_short_plain_messages(tmp_path: Path, smtp: SmtpTestServer) -> None:
    config = make_config(tmp_path, smtp.email_config())

    failing = notification_service.send_monitoring_alert(
        config, "failing", "3 cycles failed: cannot reach api.eu.mist.com (token unused-token)", FIXED_NOW
    )
    recovered = notification_service.send_monitoring_alert(config, "recovered", "cycle succeeded", FIXED_NOW)

    assert failing and recovered
    first, second = smtp.messages
    assert first.subject.startswith("[FAILING] Mist SLE monitoring is failing on ")
    assert second.subject.startswith("[RECOVERED] Mist SLE monitoring recovered on ")
    assert first.message.get_content_type() == "text/plain"
    assert "cannot reach api.eu.mist.com" in first.body("plain")
    assert "unused-token" not in first.body("plain")


def test_a_monitoring_alert_that_cannot_be_sent_waits_in_the_outbox(tmp_path: Path) -> None:
    server = SmtpTestServer().start()
    server.stop()
    config = make_config(tmp_path, server.email_config())

    delivered = notification_service.send_monitoring_alert(config, "failing", "API down", FIXED_NOW)

    assert delivered is False
    assert len(outbox_files(config)) == 1
    with pytest.raises(ValueError):
        notification_service.send_monitoring_alert(config, "bogus", "x", FIXED_NOW)


def test_a_monitoring_alert_with_transport_file_is_written(tmp_path: Path) -> None:
    config = make_config(tmp_path, file_email())

    assert notification_service.send_monitoring_alert(config, "recovered", "ok again", FIXED_NOW)
    assert len(list((tmp_path / "reports" / "outbox" / "sent").glob("*monitoring-recovered*.eml"))) == 1


# --- End to end: the CLI against the simulator ----------------------------------------------------------------


def _simulator_config(make_config_file: Any, base_url: str, server: SmtpTestServer, name: str) -> Path:
    return make_config_file(
        base_url,
        {"notifications": {"enabled": True, "email": server.email_config()}},
        name=name,
    )


def test_a_report_run_against_the_simulator_emails_once_then_nothing_then_survives_an_outage(
    tmp_path: Path, make_config: Any
) -> None:
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    smtp_server = SmtpTestServer().start()
    try:
        with MistSimulator(num_sites=30, token=SIMULATOR_TOKEN) as simulator:
            config_path = _simulator_config(make_config, simulator.base_url, smtp_server, "first.yaml")
            first = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])
            second = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])

        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        [received] = smtp_server.messages
        assert received.subject.startswith("[CRITICAL] Mist SLE: ")
        assert received.subject.endswith(" of 30 sites - Acme Retail Europe")
        html, text = received.body("html"), received.body("plain")
        assert metric_sections(html) == [metric.key for metric in catalog.METRICS]
        assert WEAK_SIGNAL_CELL in html and WEAK_SIGNAL_CELL in text
        assert ESCAPED_HTML_SITE_NAME in html and "<b>Café" not in html
        [attachment] = received.attachment_names()
        assert re.fullmatch(r"SUMMARY_REPORT_\d{8}T\d{6}Z\.txt", attachment)

        # The server goes down and a new critical site appears (site 16's roaming in this simulator org).
        smtp_server.stop()
        with MistSimulator(num_sites=30, token=SIMULATOR_TOKEN, degraded_share=0.2) as simulator:
            config_path = _simulator_config(make_config, simulator.base_url, smtp_server, "outage.yaml")
            outage = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])
            outbox = sorted((tmp_path / "reports" / "outbox").glob("*.eml"))
            assert outage.returncode == 1
            assert len(outbox) == 1
            error_lines = [line for line in outage.stderr.splitlines() if "Email not sent" in line]
            assert len(error_lines) == 1 and "cannot connect to 127.0.0.1" in error_lines[0]

            smtp_server.start()
            back = run_main(["--config", str(config_path), "--mode", "report", "--quiet"])

        assert back.returncode == 0, back.stderr
        assert list((tmp_path / "reports" / "outbox").glob("*.eml")) == []
        assert len(smtp_server.messages) == 2
        delivered = smtp_server.messages[1]
        assert delivered.subject.startswith("[CRITICAL]")
        assert "NEW" in delivered.body("plain") and "Roaming" in delivered.body("plain")
    finally:
        smtp_server.stop()


def test_the_smtp_password_never_shows_in_console_or_log(tmp_path: Path, make_config: Any) -> None:
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    server = SmtpTestServer(tls="starttls", username="alerts", password="another-one")
    with server, MistSimulator(num_sites=30, token=SIMULATOR_TOKEN) as simulator:
        email = server.email_config(password=None)
        config_path = make_config(simulator.base_url, {"notifications": {"enabled": True, "email": email}})
        completed = run_main(
            ["--config", str(config_path), "--mode", "report", "--verbose"],
            env={"MIST_SMTP_PASSWORD": SMTP_PASSWORD},
        )

    assert completed.returncode == 1
    assert "SMTP login to 127.0.0.1" in completed.stderr
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    for text in (completed.stdout, completed.stderr, log):
        assert SMTP_PASSWORD not in text


# --- Control characters and secrets never reach the email -------------------------------------------------------

CONTROL_NAME = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil"
ESCAPED_CONTROL_NAME = "\\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil"
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\x00", "\u202e")


def received_parts(received: Any) -> List[str]:
    """Return the Subject, the text and HTML bodies and the attachments as a mail client reads them (LF lines)."""
    parts = [received.subject, received.body("plain"), received.body("html")]
    parts += [part.get_content() for part in received.message.iter_attachments()]
    return [part.replace("\r\n", "\n") for part in parts]


def test_control_characters_in_names_are_escaped_in_the_subject_bodies_and_attachment(
    tmp_path: Path, smtp: SmtpTestServer
) -> None:
    sites = sample_sites()
    sites[0].name = CONTROL_NAME
    config = make_config(tmp_path, smtp.email_config())

    outcome = run_notifications(make_result(sites, org_name=f"Org {CONTROL_NAME}"), config, FIXED_NOW)

    assert not outcome.failed and len(smtp.messages) == 1
    subject, *bodies = received_parts(smtp.messages[0])
    assert subject.endswith(f"sites - Org {ESCAPED_CONTROL_NAME}")
    for part in (subject, *bodies):
        assert not [control for control in RAW_CONTROLS if control in part]
        assert "\nFAKE LOG LINE" not in part
        assert ESCAPED_CONTROL_NAME in part


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_smtp_password_echoed_in_a_problem_is_in_no_part_of_the_email(tmp_path: Path) -> None:
    problem = f"Store-0001 London / Coverage: GET /x: HTTP 400: wrong secret {SMTP_PASSWORD}"
    with SmtpTestServer(username="alerts", password=SMTP_PASSWORD, auth_require_tls=False) as server:
        config = make_config(tmp_path, server.email_config())
        outcome = run_notifications(make_result(sample_sites(), problems=[problem]), config, FIXED_NOW)

    assert not outcome.failed and len(server.messages) == 1
    parts = received_parts(server.messages[0])
    assert all(SMTP_PASSWORD not in part for part in parts)
    assert any("wrong secret [REDACTED]" in part for part in parts)


def test_the_monitoring_alert_shows_an_api_message_escaped_and_without_an_echoed_token(
    smtp: SmtpTestServer, tmp_path
) -> None:
    config = make_config(tmp_path, smtp.email_config())
    detail = f"3 cycles failed: HTTP 400: {CONTROL_NAME} Token tok-echoed-4f3e2d1c0b9a8877665544332211"

    assert notification_service.send_monitoring_alert(config, "failing", detail, FIXED_NOW)

    body = smtp.messages[0].body("plain").replace("\r\n", "\n")
    assert ESCAPED_CONTROL_NAME in body and "Token [REDACTED]" in body
    assert not [control for control in RAW_CONTROLS if control in body] and "tok-echoed" not in body
