"""Alert channels end to end: the simulator's org, loopback receivers for Teams, Slack, PagerDuty and a webhook that
check every payload, the real SMTP server for the email; runs in-process with an injected clock."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from conftest import SIMULATOR_TOKEN
from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import channels, webhook_delivery
from mist_infra_manager.cli.main import main
from mist_infra_manager.pipeline import cycle
from mist_infra_manager.settings import Settings
from smtp_server import SmtpTestServer
from test_channel_payloads import check_pagerduty_event, check_slack_message, check_teams_message
from webhook_receiver import WebhookReceiver

TEAMS_PATH = "/workflows/8f2c/triggers/manual/paths/invoke?api-version=1&sig=TeamsSig0123456789abcdefSECRET"
SLACK_PATH = "/services/T0001/B0002/SlackTokenXyz987654321SECRET"
PAGER_PATH = "/v2/enqueue"
HOOK_PATH = "/mist-hook/ingest"
ROUTING_KEY = "R0ut1ngKey0123456789abcdefSECRET"
HOOK_SECRET = "hmac-shared-secret-4711-SECRET"
CHANNEL_NAMES = ("noc-teams", "noc-slack", "pager", "itsm")


@pytest.fixture(autouse=True)
def private_temp_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The email's fallback alert state goes under tempfile.gettempdir(): keep it inside the test's folder."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@pytest.fixture(autouse=True)
def forget_logging_handlers() -> Iterator[None]:
    """main() points the console handlers at this test's captured streams: drop them when the test ends."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__module__ != "_pytest.logging":
            root.removeHandler(handler)
            handler.close()


@pytest.fixture
def org() -> Iterator[Any]:
    """A small simulator org (its special sites only, and two healthy ones): fast runs, the same problems."""
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    with MistSimulator(num_sites=8, token=SIMULATOR_TOKEN) as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def receivers() -> Iterator[Dict[str, WebhookReceiver]]:
    """One receiver per channel, so that each can answer its own statuses."""
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(WebhookReceiver(status)) for status in (202, 200, 202, 204)]
        yield dict(zip(CHANNEL_NAMES, started))


def environment(receivers: Dict[str, WebhookReceiver]) -> Dict[str, str]:
    return {
        "TEAMS_WEBHOOK_URL": receivers["noc-teams"].url(TEAMS_PATH),
        "SLACK_WEBHOOK_URL": receivers["noc-slack"].url(SLACK_PATH),
        "PD_EVENTS_URL": receivers["pager"].url(PAGER_PATH),
        "PD_ROUTING_KEY": ROUTING_KEY,
        "HOOK_URL": receivers["itsm"].url(HOOK_PATH),
        "MIST_WEBHOOK_SECRET": HOOK_SECRET,
    }


def channel_config() -> List[Dict[str, Any]]:
    # retry_seconds 0: one attempt per message, so no run ever sleeps (retries are tested on their own).
    return [
        {"name": "noc-teams", "type": "teams", "url_env": "TEAMS_WEBHOOK_URL", "retry_seconds": 0},
        {"name": "noc-slack", "type": "slack", "url_env": "SLACK_WEBHOOK_URL", "retry_seconds": 0},
        {
            "name": "pager",
            "type": "pagerduty",
            "url_env": "PD_EVENTS_URL",
            "routing_key_env": "PD_ROUTING_KEY",
            "min_severity": "critical",
            "retry_seconds": 0,
        },
        {
            "name": "itsm",
            "type": "webhook",
            "url_env": "HOOK_URL",
            "secret_env": "MIST_WEBHOOK_SECRET",
            "retry_seconds": 0,
        },
    ]


@pytest.fixture
def setup(make_config: Any, org: Any, smtp: SmtpTestServer, receivers: Dict[str, WebhookReceiver]) -> Dict[str, Any]:
    """The simulator's org with 2 critical and 1 major site-metric (site 1's major time-to-connect healed)."""
    org.set_fraction(1, "time-to-connect", 0.95)
    path = make_config(
        org.base_url,
        {
            "notifications": {
                "enabled": True,
                "repeat_interval": "4h",
                "email": smtp.email_config(),
                "channels": channel_config(),
            }
        },
    )
    return {"path": path, "environ": environment(receivers)}


def run_at(setup: Dict[str, Any], when: datetime) -> int:
    settings: Settings = config_module.load_config(setup["path"], setup["environ"])
    return cycle.run_cycle(settings, "report", clock=lambda: when).exit_code


def counts(receivers: Dict[str, WebhookReceiver]) -> Dict[str, int]:
    return {name: len(receiver.accepted()) for name, receiver in receivers.items()}


def verify_signature(request: Any) -> bool:
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Signature-256"], expected)


def secrets_of(environ: Dict[str, str]) -> List[str]:
    return [*environ.values(), TEAMS_PATH.split("sig=")[1], SLACK_PATH, ROUTING_KEY, HOOK_SECRET]


def everything_written(tmp_path: Path) -> str:
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in tmp_path.rglob("*") if path.is_file())


def test_two_critical_and_one_major_go_once_to_each_channel_then_remind_then_resolve(
    setup: Dict[str, Any],
    receivers: Dict[str, WebhookReceiver],
    smtp: SmtpTestServer,
    org: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["--config", str(setup["path"]), "--mode", "report", "--quiet"], setup["environ"]) == 0
    assert counts(receivers) == {"noc-teams": 1, "noc-slack": 1, "pager": 2, "itsm": 1}
    [card_request] = receivers["noc-teams"].accepted()
    card = check_teams_message(card_request.json())
    assert "2 critical, 1 major" in card["body"][0]["text"]
    [slack_request] = receivers["noc-slack"].accepted()
    assert check_slack_message(slack_request.json())["text"].startswith("[CRITICAL]")
    events = [request.json() for request in receivers["pager"].accepted()]
    for event in events:
        check_pagerduty_event(event, ROUTING_KEY)
    assert [event["event_action"] for event in events] == ["trigger", "trigger"]
    assert [event["payload"]["severity"] for event in events] == ["critical", "critical"]
    keys = [event["dedup_key"] for event in events]
    org_id = keys[0].split(":")[0]
    sites = {org.sites[0].id: "coverage", org.sites[5].id: "ap-health"}
    assert sorted(keys) == sorted(f"{org_id}:{site}:{metric}" for site, metric in sites.items())
    [hook_request] = receivers["itsm"].accepted()
    assert hook_request.headers["Content-Type"] == "application/json"
    assert verify_signature(hook_request)
    body = hook_request.json()
    assert body["schema_version"] == 1 and body["kind"] == "critical"
    assert body["counts"] == {"critical": 2, "major": 1, "trend": 0, "resolved": 0}
    assert {(p["site"]["name"], p["metric"], p["severity"]) for p in body["problems"]} == {
        ("Store-0001 London", "coverage", "critical"),
        ("Store-0006 Amsterdam", "ap-health", "critical"),
        ("Store-0006 Amsterdam", "successful-connect", "major"),
    }
    assert [m.subject[:10] for m in smtp.messages] == ["[CRITICAL]"]

    started = datetime.now(timezone.utc)
    assert run_at(setup, started + timedelta(hours=1)) == 0
    assert counts(receivers) == {"noc-teams": 1, "noc-slack": 1, "pager": 2, "itsm": 1}
    assert len(smtp.messages) == 1

    assert run_at(setup, started + timedelta(hours=5)) == 0
    assert counts(receivers) == {"noc-teams": 2, "noc-slack": 2, "pager": 2, "itsm": 2}
    assert len(smtp.messages) == 2
    reminder = receivers["itsm"].accepted()[1].json()
    assert {p["reason"] for p in reminder["problems"]} == {"repeat"}
    assert check_teams_message(receivers["noc-teams"].accepted()[1].json())["body"][1]["text"].startswith("Reminder")

    org.set_fraction(0, "coverage", 0.97)
    assert run_at(setup, started + timedelta(hours=5, minutes=15)) == 0
    assert counts(receivers) == {"noc-teams": 3, "noc-slack": 3, "pager": 3, "itsm": 3}
    resolve = receivers["pager"].accepted()[2].json()
    assert resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": f"{org_id}:{org.sites[0].id}:coverage",
    }
    resolved_body = receivers["itsm"].accepted()[2].json()
    assert resolved_body["kind"] == "resolved"
    assert [(p["site"]["name"], p["metric"]) for p in resolved_body["resolved"]] == [("Store-0001 London", "coverage")]
    assert check_slack_message(receivers["noc-slack"].accepted()[2].json())["text"].startswith("[RESOLVED]")
    assert smtp.messages[-1].subject.startswith("[RESOLVED]")

    output = capsys.readouterr()
    seen = "\n".join([caplog.text, output.out, output.err, everything_written(tmp_path)])
    assert "Channel noc-slack" in seen
    for secret in secrets_of(setup["environ"]):
        assert secret not in seen


def test_a_receiver_down_for_two_runs_gets_its_messages_once_in_order_while_the_others_are_served_on_time(
    setup: Dict[str, Any], receivers: Dict[str, WebhookReceiver], org: Any, tmp_path: Path
) -> None:
    slack = receivers["noc-slack"]
    slack.default_status = 503
    started = datetime.now(timezone.utc)
    assert run_at(setup, started) == 1
    assert counts(receivers) == {"noc-teams": 1, "noc-slack": 0, "pager": 2, "itsm": 1}
    outbox = tmp_path / "reports" / "outbox" / "channels" / "noc-slack"
    [waiting] = [path for path in outbox.iterdir() if path.is_file()]
    assert oct(waiting.stat().st_mode & 0o777) == "0o600"

    org.set_fraction(0, "coverage", 0.97)
    assert run_at(setup, started + timedelta(minutes=15)) == 1
    assert counts(receivers) == {"noc-teams": 2, "noc-slack": 0, "pager": 3, "itsm": 2}
    assert len([path for path in outbox.iterdir() if path.is_file()]) == 2

    slack.default_status = 200
    assert run_at(setup, started + timedelta(minutes=30)) == 0
    texts = [request.json()["text"] for request in slack.accepted()]
    assert [text[:10] for text in texts] == ["[CRITICAL]", "[RESOLVED]"]
    assert run_at(setup, started + timedelta(minutes=45)) == 0
    assert len(slack.accepted()) == 2
    assert counts(receivers) == {"noc-teams": 2, "noc-slack": 2, "pager": 3, "itsm": 2}
    assert not [path for path in outbox.iterdir() if path.is_file()]


def test_notify_test_reports_each_channel_and_the_email_and_fails_when_one_is_down(
    setup: Dict[str, Any],
    receivers: Dict[str, WebhookReceiver],
    smtp: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["notify-test", "--config", str(setup["path"]), "--quiet"], setup["environ"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["email", *CHANNEL_NAMES]
    assert all("delivered" in line and "not delivered" not in line for line in lines)
    assert smtp.messages[0].subject.startswith("[TEST]")
    events = [request.json() for request in receivers["pager"].accepted()]
    assert [(e["event_action"], e.get("payload", {}).get("severity")) for e in events] == [
        ("trigger", "info"),
        ("resolve", None),
    ]
    assert events[0]["dedup_key"] == events[1]["dedup_key"]
    assert check_teams_message(receivers["noc-teams"].accepted()[0].json())["body"][0]["text"].startswith("[TEST]")
    assert verify_signature(receivers["itsm"].accepted()[0])

    receivers["noc-slack"].default_status = 500
    assert main(["notify-test", "--config", str(setup["path"]), "--channel", "noc-slack"], setup["environ"]) == 1
    output = capsys.readouterr().out
    assert output.strip() == "noc-slack: not delivered: HTTP 500"
    assert SLACK_PATH not in output

    assert main(["notify-test", "--config", str(setup["path"]), "--channel", "nope"], setup["environ"]) == 2


def test_retries_follow_retry_after_and_backoff_until_a_2xx(receivers: Dict[str, WebhookReceiver]) -> None:
    receiver = receivers["itsm"]
    receiver.statuses = [503, 503]
    sleeps: List[float] = []
    poster = webhook_delivery.HttpPoster(timeout_seconds=2, retry_seconds=30, sleep=sleeps.append)
    result = poster.post(receiver.url("/x"), b"{}", webhook_delivery.headers_for(b"{}", None))
    assert result.accepted and result.status == 204
    assert sleeps == [1.0, 2.0]
    assert [request.status for request in receiver.requests] == [503, 503, 204]

    receiver.statuses, receiver.retry_after, sleeps[:] = [429], "7", []
    assert poster.post(receiver.url("/x"), b"{}", {}).accepted
    assert sleeps == [7.0]

    receiver.statuses, receiver.retry_after = [429], "3600"
    refused = poster.post(receiver.url("/x"), b"{}", {})
    assert not refused.accepted and refused.reason == "HTTP 429, Retry-After 3600 s"
    poster.close()


def test_the_daemon_notices_go_to_every_channel_and_page_then_resolve(
    setup: Dict[str, Any], receivers: Dict[str, WebhookReceiver]
) -> None:
    settings = config_module.load_config(setup["path"], setup["environ"])
    now = datetime.now(timezone.utc)
    assert channels.send_monitoring_notice(settings, "failing", "3 cycles failed", now)
    assert channels.send_monitoring_notice(settings, "recovered", "works again", now)
    assert counts(receivers) == {"noc-teams": 2, "noc-slack": 2, "pager": 2, "itsm": 2}
    teams = check_teams_message(receivers["noc-teams"].accepted()[0].json())
    assert "monitoring is failing" in teams["body"][0]["text"]
    trigger, resolve = (request.json() for request in receivers["pager"].accepted())
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert receivers["itsm"].accepted()[1].json()["kind"] == "monitoring-recovered"


def test_channel_errors_name_their_path_and_never_echo_a_url() -> None:
    secret_url = "http://hooks.example.com/services/T0/B0/LEAK"
    raw = {
        "mist": {"api_token": "t"},
        "notifications": {
            "email": {"enabled": False},
            "channels": [
                {"name": "a", "type": "teams", "url_env": "MISSING_URL"},
                {"name": "a", "type": "slack", "url": secret_url},
                {"name": "p", "type": "pagerduty"},
                {"name": "email", "type": "webhook", "url": "https://x.example/h", "routing_key": "k"},
                {"name": "w", "type": "webhok", "url": "https://x.example/h"},
            ],
        },
    }
    with pytest.raises(config_module.ConfigError) as caught:
        config_module.validate(raw, "c.yaml", environ={})
    errors = caught.value.errors
    assert errors == [
        "c.yaml: notifications.channels[0].url_env: the environment variable MISSING_URL is not set",
        "c.yaml: notifications.channels[1].name: 'a' is already the name of another channel",
        "c.yaml: notifications.channels[1].url: expected an https:// URL (http only for 127.0.0.1)",
        "c.yaml: notifications.channels[2].routing_key: required for type pagerduty (or routing_key_env)",
        "c.yaml: notifications.channels[3].name: expected lower-case letters, digits, - or _ (not 'email'), "
        "got 'email'",
        "c.yaml: notifications.channels[3].routing_key: not used by type webhook",
        "c.yaml: notifications.channels[4].type: expected one of teams, slack, pagerduty, webhook, got 'webhok' "
        "(did you mean 'webhook'?)",
    ]
    assert "LEAK" not in "\n".join(errors)


def test_channel_urls_keys_and_secrets_are_secrets_of_the_settings(setup: Dict[str, Any]) -> None:
    settings = config_module.load_config(setup["path"], setup["environ"])
    assert set(secrets_of(setup["environ"])[:6]) <= set(settings.secrets())
    assert "SECRET" not in repr(settings.notifications.channels)
    from mist_infra_manager.cli.config_commands import effective_settings

    shown = str(effective_settings(settings))
    for secret in secrets_of(setup["environ"]):
        assert secret not in shown


def test_the_daemon_sends_its_failing_notice_to_the_channels_even_with_email_off(
    tmp_path: Path, receivers: Dict[str, WebhookReceiver]
) -> None:
    from mist_infra_manager.pipeline import daemon

    raw = {
        "mist": {"api_token": "unused-token"},
        "reports": {"directory": str(tmp_path / "reports")},
        "logging": {"file": None},
        "notifications": {"email": {"enabled": False}, "channels": channel_config()},
    }
    settings = config_module.validate(raw, "c.yaml", environ=environment(receivers))
    receivers["noc-slack"].default_status = 503
    delivered = daemon.send_monitoring_alert(settings, "failing", "3 cycles failed", datetime.now(timezone.utc))
    assert not delivered
    assert counts(receivers) == {"noc-teams": 1, "noc-slack": 0, "pager": 1, "itsm": 1}
    receivers["noc-slack"].default_status = 200
    assert channels.flush_all(settings)
    [notice] = receivers["noc-slack"].accepted()
    assert notice.json()["text"].startswith("[FAILING] Mist SLE monitoring is failing")


def test_pagerduty_resolves_the_last_problem_and_a_critical_channel_resolves_a_fall_to_major(tmp_path: Path) -> None:
    from result_builders import WEAK_SIGNAL_CRITICAL, make_result, site

    raw = {
        "mist": {"api_token": "unused-token"},
        "reports": {"directory": str(tmp_path / "reports")},
        "logging": {"file": None},
        "notifications": {"email": {"enabled": False}, "channels": channel_config()},
    }
    # Nothing listens on these ports: every message waits, which is enough to read what was decided.
    variables = ("TEAMS_WEBHOOK_URL", "SLACK_WEBHOOK_URL", "PD_EVENTS_URL", "HOOK_URL", "PD_ROUTING_KEY")
    environ = {key: "http://127.0.0.1:9/x" if key.endswith("URL") else "key" for key in variables}
    environ["MIST_WEBHOOK_SECRET"] = "secret"
    settings = config_module.validate(raw, "c.yaml", environ=environ)
    now = datetime.now(timezone.utc)
    critical = make_result([site("s1", "Store 1", {"coverage": WEAK_SIGNAL_CRITICAL})])
    channels.process_run(critical, settings, now)
    for sle_pct in (75.0, 97.0):  # major, then healthy
        channels.process_run(make_result([site("s1", "Store 1", {"coverage": sle_pct})]), settings, now)
    queued = channels.ChannelOutbox(tmp_path / "reports", "pager").pending()
    actions = [json_body(path)["event_action"] for path in queued]
    assert actions == ["trigger", "resolve"]
    assert json_body(queued[1])["dedup_key"] == f"{critical.org_id}:s1:coverage"
    assert "routing_key" not in queued[0].read_text(encoding="utf-8")


def json_body(path: Path) -> Dict[str, Any]:
    import json

    document: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["body"]
    return document
