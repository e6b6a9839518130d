"""The channel bodies keep the receivers' rules: Adaptive Card 1.4 under 28 KB, Slack's Block Kit limits, the
PagerDuty Events v2 fields, the versioned webhook body. The check_* helpers are shared with test_channels."""

from __future__ import annotations

import json
from typing import Any, Dict

from mist_infra_manager.alerting import channel_payloads as payloads
from mist_infra_manager.alerting.channel_payloads import AlertView, ProblemView

TEAMS_LIMIT_BYTES = 28 * 1024


def check_teams_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """Assert the Workflows message shape and size; return its card."""
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: Dict[str, Any] = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert tuple(int(part) for part in card["version"].split(".")) <= (1, 4)
    assert all(element["type"] in ("TextBlock", "FactSet", "Container", "ColumnSet") for element in card["body"])
    assert len(json.dumps(message).encode("utf-8")) < TEAMS_LIMIT_BYTES
    return card


def check_slack_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """Assert Slack's Block Kit limits and the text fallback; return the message."""
    assert isinstance(message["text"], str) and message["text"]
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) < 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) < 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10 and all(len(field["text"]) <= 2000 for field in fields)
    return message


def check_pagerduty_event(event: Dict[str, Any], routing_key: str) -> None:
    """Assert the Events API v2 fields of a trigger or resolve."""
    assert event["routing_key"] == routing_key
    assert event["event_action"] in ("trigger", "resolve")
    assert event["dedup_key"]
    if event["event_action"] == "trigger":
        payload = event["payload"]
        assert 0 < len(payload["summary"]) < 1024
        assert payload["source"]
        assert payload["severity"] in ("critical", "error", "warning", "info")
        assert {"sle_pct", "severity", "top_classifier", "users", "aps"} <= set(payload["custom_details"])


def problem(index: int, severity: str = "critical") -> ProblemView:
    return ProblemView(
        site_id=f"site-{index}",
        site_name=f"<b>Caf\u00e9 & 'Bar'</b> number {index} " + "x" * 200,
        metric="coverage",
        metric_name="Coverage",
        severity=severity,
        reason="new",
        sle_pct=61.25,
        classifier="Weak Signal",
        users=80,
        aps=8,
        first_seen="2025-03-14T06:00:00Z",
    )


def view(count: int) -> AlertView:
    problems = tuple(problem(index, "critical" if index % 2 else "major") for index in range(count))
    return AlertView(
        kind="critical",
        org_id="org-1",
        org_name="Acme Retail",
        title="[CRITICAL] Mist SLE: many problems - Acme Retail",
        why="Many new problems.",
        generated_at="2025-03-14T06:00:00Z",
        problems=problems,
        resolved=problems[:30],
        actions=("Review AP placement.",) * 5,
        counts=payloads.counts_of(problems, problems[:30]),
    )


def test_a_teams_card_shows_at_most_fifteen_problems_then_and_n_more() -> None:
    card = check_teams_message(payloads.teams_message(view(40)))
    containers = [element for element in card["body"] if element["type"] == "Container"]
    assert len(containers) == 15
    assert any(element.get("text") == "and 25 more" for element in card["body"])


def test_a_teams_card_with_huge_names_shrinks_below_28_kb() -> None:
    big = view(15)
    huge = tuple(ProblemView(**{**p.__dict__, "classifier": "y" * 3000}) for p in big.problems)
    check_teams_message(payloads.teams_message(AlertView(**{**big.__dict__, "problems": huge})))


def test_a_slack_message_keeps_the_block_limits_with_hundreds_of_problems() -> None:
    message = check_slack_message(payloads.slack_message(view(300)))
    assert message["blocks"][0]["type"] == "header"
    assert any("and 280 more" in block.get("text", {}).get("text", "") for block in message["blocks"])
    assert "&lt;b&gt;Caf\u00e9 &amp;" in json.dumps(message, ensure_ascii=False)


def test_a_pagerduty_trigger_has_the_events_v2_fields_and_a_short_summary() -> None:
    alert = view(1)
    key = payloads.dedup_key("org-1", "site-0", "coverage")
    event = dict(payloads.pagerduty_trigger(alert, alert.problems[0], key, "error"), routing_key="rk")
    check_pagerduty_event(event, "rk")
    assert event["dedup_key"] == "org-1:site-0:coverage"
    assert event["payload"]["custom_details"]["sle_pct"] == 61.25


def test_the_webhook_body_is_versioned_and_lists_problems_and_resolved() -> None:
    body = payloads.webhook_body(view(3))
    assert body["schema_version"] == 1 and body["org"] == {"id": "org-1", "name": "Acme Retail"}
    assert body["counts"] == {"critical": 1, "major": 2, "trend": 0, "resolved": 3}
    first = body["problems"][0]
    assert set(first) >= {"site", "metric", "severity", "sle_pct", "top_classifier", "users", "aps", "first_seen"}
    assert len(body["resolved"]) == 3
