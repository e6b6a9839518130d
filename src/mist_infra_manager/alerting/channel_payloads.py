"""The bodies the alert channels post, built from an AlertView: pure functions, no I/O.

teams_message: a Teams Workflows message carrying one Adaptive Card (version 1.4, under 28 KB).
slack_message: a Slack incoming-webhook message in Block Kit, within Slack's block limits, with a `text` fallback.
pagerduty_event: one Events API v2 event per problem (the routing key is added at send time, never stored).
webhook_body: the versioned JSON body of the generic webhook (docs/alerts.md documents it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

WEBHOOK_SCHEMA_VERSION = 1
PRODUCT = "Mist Infrastructure Manager"

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_VERSION = "1.4"
# Teams refuses a message over 28 KB; keep a margin for what the Workflow adds.
TEAMS_MAX_BYTES = 26_000
TEAMS_MAX_PROBLEMS = 15

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_CHARS = 2_900
SLACK_MAX_HEADER_CHARS = 149
SLACK_MAX_FIELDS = 10
SLACK_MAX_FIELD_CHARS = 1_990
# Header, why, counts, divider, "and N more", resolved, actions, context: the rest may be problems.
SLACK_MAX_PROBLEMS = 20
SLACK_MAX_TEXT_CHARS = 3_000

PAGERDUTY_MAX_SUMMARY_CHARS = 1_000
# PagerDuty severities for the tool's problem kinds.
PAGERDUTY_SEVERITIES = {"critical": "critical", "major": "error", "test": "info", "monitoring": "error"}

# Site names come from the API: a bound per name keeps one long name from eating a card's budget.
NAME_CHARS = 120
MAX_ACTIONS = 5


@dataclass(frozen=True)
class ProblemView:
    """One problem as a channel shows it."""

    site_id: str
    site_name: str
    metric: str
    metric_name: str
    severity: str
    reason: str
    sle_pct: Optional[float]
    classifier: Optional[str] = None
    users: Optional[int] = None
    aps: Optional[int] = None
    first_seen: Optional[str] = None


@dataclass(frozen=True)
class AlertView:
    """What one message says: kind critical|major|trend|resolved|test|monitoring-failing|monitoring-recovered."""

    kind: str
    org_id: str
    org_name: str
    title: str
    why: str
    generated_at: str
    problems: Tuple[ProblemView, ...] = ()
    resolved: Tuple[ProblemView, ...] = ()
    actions: Tuple[str, ...] = ()
    detail: str = ""
    counts: Dict[str, int] = field(default_factory=dict)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def pct(value: Optional[float]) -> str:
    """Return an SLE % as shown in messages: `66.0%`, `n/a` without data."""
    return "n/a" if value is None else f"{value:.1f}%"


def problem_line(problem: ProblemView) -> str:
    """Return one plain line for a problem: `Site A - Coverage 66.0% (critical, new)`."""
    return (
        f"{_cut(problem.site_name, NAME_CHARS)} - {problem.metric_name} {pct(problem.sle_pct)} "
        f"({problem.severity}, {problem.reason})"
    )


def _impact(problem: ProblemView) -> str:
    parts = [problem.classifier or "no classifier detail"]
    if problem.users is not None:
        parts.append(f"{problem.users} users")
    if problem.aps is not None:
        parts.append(f"{problem.aps} APs")
    return ", ".join(parts)


def encoded_size(document: Any) -> int:
    """Return the bytes of a document as the channels send it (compact UTF-8 JSON)."""
    return len(encode(document))


def encode(document: Any) -> bytes:
    """Return the body bytes of a document: compact UTF-8 JSON (the webhook signature covers these bytes)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- Microsoft Teams (Workflows webhook, Adaptive Card) -------------------------------------------------------


_TEAMS_COLORS = {"critical": "attention", "major": "warning", "resolved": "good", "monitoring-recovered": "good"}


def _teams_problem(problem: ProblemView) -> Dict[str, Any]:
    facts = [
        {"title": "Severity", "value": f"{problem.severity} ({problem.reason})"},
        {"title": "SLE", "value": pct(problem.sle_pct)},
        {"title": "Top classifier", "value": _impact(problem)},
    ]
    if problem.first_seen:
        facts.append({"title": "Since", "value": problem.first_seen})
    return {
        "type": "Container",
        "separator": True,
        "items": [
            {
                "type": "TextBlock",
                "text": f"{_cut(problem.site_name, NAME_CHARS)} - {problem.metric_name}",
                "weight": "Bolder",
                "wrap": True,
            },
            {"type": "FactSet", "facts": facts},
        ],
    }


def _teams_card(view: AlertView, shown: int) -> Dict[str, Any]:
    body: List[Dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": view.title,
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
            "color": _TEAMS_COLORS.get(view.kind, "default"),
        },
        {"type": "TextBlock", "text": view.why, "wrap": True},
    ]
    if view.counts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": str(v)} for k, v in view.counts.items()]})
    if view.detail:
        body.append({"type": "TextBlock", "text": view.detail, "wrap": True, "isSubtle": True})
    body.extend(_teams_problem(problem) for problem in view.problems[:shown])
    if len(view.problems) > shown:
        body.append({"type": "TextBlock", "text": f"and {len(view.problems) - shown} more", "isSubtle": True})
    if view.resolved:
        lines = [problem_line(problem) for problem in view.resolved[:shown]]
        if len(view.resolved) > shown:
            lines.append(f"and {len(view.resolved) - shown} more")
        body.append({"type": "TextBlock", "text": "Resolved", "weight": "Bolder", "separator": True})
        body.append({"type": "TextBlock", "text": "\n\n".join(lines), "wrap": True})
    if view.actions:
        body.append({"type": "TextBlock", "text": "Recommended actions", "weight": "Bolder", "separator": True})
        body.append({"type": "TextBlock", "text": "\n\n".join(f"- {a}" for a in view.actions), "wrap": True})
    body.append({"type": "TextBlock", "text": f"{PRODUCT} - {view.generated_at}", "isSubtle": True, "size": "Small"})
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }


def teams_message(view: AlertView) -> Dict[str, Any]:
    """Return the Workflows message: one Adaptive Card, at most 15 problems, fewer when over TEAMS_MAX_BYTES."""
    shown = TEAMS_MAX_PROBLEMS
    while True:
        message = {
            "type": "message",
            "attachments": [
                {"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": _teams_card(view, shown)}
            ],
        }
        if encoded_size(message) <= TEAMS_MAX_BYTES or shown == 0:
            return message
        shown = shown * 2 // 3


# --- Slack (incoming webhook, Block Kit) ----------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack mrkdwn reserves these three; a site name such as "<b>Cafe & Bar</b>" must show as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> Dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SLACK_MAX_SECTION_CHARS)}}


def _slack_problem(problem: ProblemView) -> Dict[str, Any]:
    name = _slack_escape(_cut(problem.site_name, NAME_CHARS))
    text = (
        f"*{name}* - {_slack_escape(problem.metric_name)} *{pct(problem.sle_pct)}* "
        f"({problem.severity}, {problem.reason})\n{_slack_escape(_impact(problem))}"
    )
    if problem.first_seen:
        text += f"; since {problem.first_seen}"
    return _section(text)


def slack_message(view: AlertView) -> Dict[str, Any]:
    """Return the incoming-webhook message: Block Kit blocks within Slack's limits and a plain `text` fallback."""
    blocks: List[Dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(view.title, SLACK_MAX_HEADER_CHARS)}},
        _section(_slack_escape(view.why)),
    ]
    if view.counts:
        fields = [
            {"type": "mrkdwn", "text": _cut(f"*{key}*: {value}", SLACK_MAX_FIELD_CHARS)}
            for key, value in list(view.counts.items())[:SLACK_MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    if view.detail:
        blocks.append(_section(_slack_escape(view.detail)))
    if view.problems:
        blocks.append({"type": "divider"})
        blocks.extend(_slack_problem(problem) for problem in view.problems[:SLACK_MAX_PROBLEMS])
        if len(view.problems) > SLACK_MAX_PROBLEMS:
            blocks.append(_section(f"and {len(view.problems) - SLACK_MAX_PROBLEMS} more"))
    if view.resolved:
        lines = [_slack_escape(problem_line(problem)) for problem in view.resolved]
        blocks.append(_section("*Resolved*\n" + "\n".join(lines)))
    if view.actions:
        blocks.append(_section("*Recommended actions*\n" + "\n".join(f"- {_slack_escape(a)}" for a in view.actions)))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{PRODUCT} - {view.generated_at}"}]})
    return {"text": _cut(view.title, SLACK_MAX_TEXT_CHARS), "blocks": blocks[:SLACK_MAX_BLOCKS]}


# --- PagerDuty (Events API v2) --------------------------------------------------------------------------------


def dedup_key(org_id: str, site_id: str, metric: str) -> str:
    """Return the PagerDuty dedup_key of a site-metric problem, stable across runs: `<org>:<site>:<metric>`."""
    return f"{org_id}:{site_id}:{metric}"


def pagerduty_trigger(view: AlertView, problem: ProblemView, key: str, severity: str) -> Dict[str, Any]:
    """Return a trigger event (without routing_key) for one problem; severity is a PagerDuty severity."""
    summary = f"[{problem.severity.upper()}] {view.org_name}: {problem_line(problem)}"
    return {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": _cut(summary, PAGERDUTY_MAX_SUMMARY_CHARS),
            "source": _cut(problem.site_name or problem.site_id, NAME_CHARS),
            "severity": severity,
            "timestamp": view.generated_at,
            "component": problem.metric,
            "group": view.org_name,
            "class": "mist-sle",
            "custom_details": {
                "org": view.org_name,
                "site": problem.site_name,
                "site_id": problem.site_id,
                "metric": problem.metric_name,
                "severity": problem.severity,
                "sle_pct": None if problem.sle_pct is None else round(problem.sle_pct, 2),
                "top_classifier": problem.classifier,
                "users": problem.users,
                "aps": problem.aps,
                "first_seen": problem.first_seen,
                "reason": problem.reason,
            },
        },
        "client": PRODUCT,
    }


def pagerduty_resolve(key: str) -> Dict[str, Any]:
    """Return the resolve event (without routing_key) of a dedup_key."""
    return {"event_action": "resolve", "dedup_key": key}


# --- Generic webhook ------------------------------------------------------------------------------------------


def _webhook_problem(problem: ProblemView) -> Dict[str, Any]:
    return {
        "site": {"id": problem.site_id, "name": problem.site_name},
        "metric": problem.metric,
        "metric_name": problem.metric_name,
        "severity": problem.severity,
        "reason": problem.reason,
        "sle_pct": None if problem.sle_pct is None else round(problem.sle_pct, 2),
        "top_classifier": problem.classifier,
        "users": problem.users,
        "aps": problem.aps,
        "first_seen": problem.first_seen,
    }


def webhook_body(view: AlertView) -> Dict[str, Any]:
    """Return the generic webhook body (schema_version 1; see docs/alerts.md)."""
    return {
        "schema_version": WEBHOOK_SCHEMA_VERSION,
        "source": PRODUCT,
        "kind": view.kind,
        "org": {"id": view.org_id, "name": view.org_name},
        "title": view.title,
        "summary": view.why,
        "detail": view.detail or None,
        "generated_at": view.generated_at,
        "counts": dict(view.counts),
        "problems": [_webhook_problem(problem) for problem in view.problems],
        "resolved": [_webhook_problem(problem) for problem in view.resolved],
        "actions": list(view.actions),
    }


def message_for(channel_type: str, view: AlertView) -> Dict[str, Any]:
    """Return the one message of a teams, slack or webhook channel for a view."""
    builders = {"teams": teams_message, "slack": slack_message, "webhook": webhook_body}
    return builders[channel_type](view)


def counts_of(problems: Sequence[ProblemView], resolved: Sequence[ProblemView]) -> Dict[str, int]:
    """Return the counts a message shows: problems by severity, then resolved."""
    counts = {kind: sum(1 for p in problems if p.severity == kind) for kind in ("critical", "major", "trend")}
    counts["resolved"] = len(resolved)
    return counts
