"""Alert state: what is new, escalated, due again or resolved; the state file survives restarts and corruption."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from mist_infra_manager.alerting import alert_state
from mist_infra_manager.alerting.alert_state import Decision, Entry, Key, Problem
from mist_infra_manager.analysis.models import RunResult
from result_builders import FIXED_NOW, WEAK_SIGNAL_CRITICAL, make_result, sample_trends, site

FOUR_HOURS = timedelta(hours=4)


def _result(
    coverage: object = WEAK_SIGNAL_CRITICAL, roaming: object = 97.0, trends: Optional[dict] = None
) -> RunResult:
    return make_result(
        [
            site("site-a", "Store A", {"coverage": coverage, "roaming": roaming}),  # type: ignore[dict-item]
            site("site-b", "Store B"),
        ],
        trends=trends,
    )


def _decide(previous: Dict[Key, Entry], result: RunResult, now: datetime) -> Decision:
    return alert_state.decide(
        previous,
        alert_state.current_problems(result),
        alert_state.site_metric_severities(result),
        trends_computed=result.trends is not None,
        now=now,
        repeat_interval=FOUR_HOURS,
    )


def _run(previous: Dict[Key, Entry], result: RunResult, now: datetime) -> tuple:
    """One run that delivers whatever it decides to send: returns (decision, state after)."""
    decision = _decide(previous, result, now)
    return decision, alert_state.next_state(previous, decision, now, alert_sent=True, resolved_sent=True)


def test_a_critical_site_metric_is_a_new_problem_on_the_first_run() -> None:
    decision = _decide({}, _result(), FIXED_NOW)

    assert decision.send_alert
    assert [problem.key for problem in decision.problems] == [("site-a", "coverage", "critical")]
    assert decision.reasons[("site-a", "coverage", "critical")] == alert_state.REASON_NEW


def test_warnings_alone_never_raise_an_alert() -> None:
    decision = _decide({}, _result(coverage=85.0), FIXED_NOW)

    assert decision.problems == []
    assert not decision.send_alert


def test_the_same_problems_within_the_repeat_interval_send_nothing() -> None:
    _, state = _run({}, _result(), FIXED_NOW)

    decision = _decide(state, _result(), FIXED_NOW + timedelta(minutes=15))

    assert not decision.send_alert
    assert decision.reasons[("site-a", "coverage", "critical")] == alert_state.REASON_ACTIVE


def test_a_problem_still_active_after_the_repeat_interval_is_sent_again() -> None:
    _, state = _run({}, _result(), FIXED_NOW)

    decision = _decide(state, _result(), FIXED_NOW + FOUR_HOURS)

    assert decision.send_alert
    assert decision.reasons[("site-a", "coverage", "critical")] == alert_state.REASON_REPEAT


def test_a_daily_cron_run_gets_its_email_every_day_but_15_minute_runs_do_not_get_96_copies() -> None:
    state: Dict[Key, Entry] = {}
    daily_sends = 0
    for day in range(5):
        decision, state = _run(state, _result(), FIXED_NOW + timedelta(days=day))
        daily_sends += decision.send_alert
    assert daily_sends == 5

    state = {}
    frequent_sends = 0
    for quarter in range(96):
        decision, state = _run(state, _result(), FIXED_NOW + timedelta(minutes=15 * quarter))
        frequent_sends += decision.send_alert
    assert frequent_sends == 6  # once at the start, then every 4 h


def test_major_to_critical_is_an_escalation_and_is_sent_at_once() -> None:
    _, state = _run({}, _result(coverage=(75.0, [])), FIXED_NOW)

    decision = _decide(state, _result(), FIXED_NOW + timedelta(minutes=15))

    assert decision.send_alert
    assert decision.reasons[("site-a", "coverage", "critical")] == alert_state.REASON_ESCALATED
    assert ("site-a", "coverage", "major") not in alert_state.next_state(
        state, decision, FIXED_NOW, alert_sent=True, resolved_sent=True
    )


def test_critical_to_major_is_not_a_reason_to_email_and_keeps_the_last_email_time() -> None:
    _, state = _run({}, _result(), FIXED_NOW)
    later = FIXED_NOW + timedelta(minutes=15)

    decision, after = _run(state, _result(coverage=(75.0, [])), later)

    assert not decision.send_alert
    assert decision.reasons[("site-a", "coverage", "major")] == alert_state.REASON_DEESCALATED
    assert decision.resolved == []
    entry = after[("site-a", "coverage", "major")]
    assert entry.last_sent == FIXED_NOW and entry.first_seen == FIXED_NOW


def test_an_emailed_problem_now_warning_or_healthy_is_resolved() -> None:
    _, state = _run({}, _result(), FIXED_NOW)

    decision, after = _run(state, _result(coverage=85.0), FIXED_NOW + timedelta(hours=1))

    assert [entry.key for entry in decision.resolved] == [("site-a", "coverage", "critical")]
    assert not decision.send_alert
    assert after == {}


def test_a_resolved_problem_that_could_not_be_reported_is_kept_for_the_next_run() -> None:
    _, state = _run({}, _result(), FIXED_NOW)
    decision = _decide(state, _result(coverage=97.0), FIXED_NOW + timedelta(hours=1))

    after = alert_state.next_state(state, decision, FIXED_NOW, alert_sent=True, resolved_sent=False)

    assert list(after) == [("site-a", "coverage", "critical")]


def test_a_site_metric_without_data_this_run_keeps_its_problem_unchanged() -> None:
    _, state = _run({}, _result(), FIXED_NOW)

    decision, after = _run(state, _result(coverage=None), FIXED_NOW + timedelta(hours=1))

    assert decision.resolved == [] and not decision.send_alert
    assert after[("site-a", "coverage", "critical")] == state[("site-a", "coverage", "critical")]


def test_a_problem_never_emailed_counts_as_new_on_the_next_run() -> None:
    decision = _decide({}, _result(), FIXED_NOW)
    state = alert_state.next_state({}, decision, FIXED_NOW, alert_sent=False, resolved_sent=True)

    again = _decide(state, _result(), FIXED_NOW + timedelta(minutes=15))

    assert again.send_alert
    assert again.reasons[("site-a", "coverage", "critical")] == alert_state.REASON_NEW


def test_trend_degradations_are_problems_keyed_trend_and_clear_silently() -> None:
    trends = sample_trends()
    trends["degradations"] = [trends["degradations"][0]]
    decision, state = _run({}, _result(coverage=85.0, trends=trends), FIXED_NOW)

    assert decision.send_alert
    assert [problem.key for problem in decision.problems] == [("site-critical", "coverage", "trend")]

    kept_decision, kept = _run(state, _result(coverage=85.0, trends=None), FIXED_NOW + timedelta(hours=1))
    assert not kept_decision.send_alert and list(kept) == [("site-critical", "coverage", "trend")]

    no_more = dict(trends, degradations=[])
    cleared_decision, cleared = _run(kept, _result(coverage=85.0, trends=no_more), FIXED_NOW + timedelta(hours=2))
    assert cleared_decision.resolved == [] and cleared == {}


def test_a_site_gone_from_the_org_is_forgotten_without_a_resolved_email() -> None:
    _, state = _run({}, _result(), FIXED_NOW)
    other_org = make_result([site("site-b", "Store B")])

    decision, after = _run(state, other_org, FIXED_NOW + timedelta(hours=1))

    assert decision.resolved == [] and after == {}


def test_the_state_file_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    _, state = _run({}, _result(), FIXED_NOW)
    path = alert_state.state_path(tmp_path / "reports")

    alert_state.save_state(path, state, FIXED_NOW)

    assert path == tmp_path / "reports" / "state" / "alert_state.json"
    assert alert_state.load_state(path) == state
    assert [item.name for item in path.parent.iterdir()] == ["alert_state.json"]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == 1
    assert document["problems"][0] == {
        "site_id": "site-a",
        "site_name": "Store A",
        "metric": "coverage",
        "kind": "critical",
        "sle_pct": 66.0,
        "first_seen": "2025-03-14T06:00:00Z",
        "last_seen": "2025-03-14T06:00:00Z",
        "last_sent": "2025-03-14T06:00:00Z",
    }


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"version": 1, "problems": [{"kind": "bogus"}]}', '["a list"]', '{"version": 99, "problems": []}'],
)
def test_a_corrupt_state_file_is_set_aside_with_a_warning_never_a_crash(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = alert_state.state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        state = alert_state.load_state(path)

    assert state == {}
    assert not path.exists()
    assert (path.parent / "alert_state.json.corrupt").read_text(encoding="utf-8") == content
    assert any("alert state file" in record.getMessage() for record in caplog.records)


def test_a_missing_state_file_is_an_empty_state(tmp_path: Path) -> None:
    assert alert_state.load_state(alert_state.state_path(tmp_path)) == {}


def test_problems_list_critical_before_major_before_trend() -> None:
    result = make_result(
        [site("a", "A", {"roaming": (75.0, [])}), site("b", "B", {"coverage": WEAK_SIGNAL_CRITICAL})],
        trends=sample_trends(),
    )

    kinds: List[str] = [problem.kind for problem in alert_state.current_problems(result)]

    assert kinds == ["critical", "major", "trend", "trend"]
    assert isinstance(alert_state.current_problems(result)[0], Problem)


def test_times_of_past_events_later_than_now_are_clamped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = alert_state.state_path(tmp_path)
    future = FIXED_NOW + timedelta(days=3)
    entry = alert_state.Entry("s1", "Site 1", "coverage", "critical", 60.0, future, future, future)
    kept = alert_state.Entry("s2", "Site 2", "coverage", "major", 75.0, FIXED_NOW, FIXED_NOW, None)
    alert_state.save_state(path, {entry.key: entry, kept.key: kept}, future)

    with caplog.at_level(logging.WARNING):
        state = alert_state.load_state(path, FIXED_NOW)

    clamped = state[entry.key]
    assert (clamped.first_seen, clamped.last_seen, clamped.last_sent) == (FIXED_NOW, FIXED_NOW, FIXED_NOW)
    assert state[kept.key] == kept
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "1 problem(s) carry times later than now" in warning and str(path) in warning


def test_the_state_records_the_outbox_names_it_decided(tmp_path: Path) -> None:
    path = alert_state.state_path(tmp_path)
    name = "20250314T060000Z-001-critical-abc123.eml"
    alert_state.save_state(path, {}, FIXED_NOW, [name, "../../etc/passwd"])

    stored = alert_state.StateStore(tmp_path).load(FIXED_NOW)

    assert stored.outbox == [name] and stored.entries == {}
