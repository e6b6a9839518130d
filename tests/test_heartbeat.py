"""The heartbeat: the health counters across cycles, the alert decision, the JSON document and the file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mist_infra_manager.state import heartbeat
from mist_infra_manager.state.heartbeat import FAILING, RECOVERED, CycleRecord, HealthState

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def cycle(minute: int, reason: str | None = None) -> CycleRecord:
    started = T0 + timedelta(minutes=minute)
    return CycleRecord(started_at=started, finished_at=started + timedelta(seconds=4), seconds=4.0, reason=reason)


def after(*cycles: CycleRecord, state: HealthState | None = None) -> HealthState:
    current = state or HealthState()
    for record in cycles:
        current = heartbeat.record_cycle(current, record)
    return current


def test_failed_cycles_count_up_and_remember_when_the_failing_began_and_why() -> None:
    state = after(cycle(0), cycle(15, "API down"), cycle(30, "API still down"))
    assert state.consecutive_failures == 2
    assert state.failing_since == T0 + timedelta(minutes=15)
    assert state.last_failure == T0 + timedelta(minutes=30, seconds=4)
    assert state.last_failure_reason == "API still down"
    assert state.last_success == T0 + timedelta(seconds=4)


def test_a_successful_cycle_resets_the_count_and_keeps_the_last_failure_for_the_record() -> None:
    state = after(cycle(0, "down"), cycle(15))
    assert state.consecutive_failures == 0 and state.failing_since is None
    assert state.last_failure_reason == "down"
    assert state.last_success == T0 + timedelta(minutes=15, seconds=4)


def test_the_failing_alert_is_due_once_the_threshold_is_reached_and_not_again_once_given() -> None:
    two = after(cycle(0, "x"), cycle(15, "x"))
    three = heartbeat.record_cycle(two, cycle(30, "x"))
    assert heartbeat.alert_kind(two, 3) is None
    assert heartbeat.alert_kind(three, 3) == FAILING
    alerted = HealthState(consecutive_failures=4, failure_alerted=True)
    assert heartbeat.alert_kind(alerted, 3) is None


def test_the_recovered_alert_is_due_only_after_a_failing_alert() -> None:
    recovered_after_alert = heartbeat.record_cycle(HealthState(consecutive_failures=5, failure_alerted=True), cycle(0))
    recovered_without_alert = heartbeat.record_cycle(HealthState(consecutive_failures=2), cycle(0))
    assert heartbeat.alert_kind(recovered_after_alert, 3) == RECOVERED
    assert heartbeat.alert_kind(recovered_without_alert, 3) is None


def test_the_document_holds_last_success_last_failure_with_reason_and_next_run() -> None:
    state = after(cycle(0), cycle(15, "GET /self: cannot connect"))
    document = heartbeat.document(
        state,
        status=heartbeat.RUNNING,
        pid=4242,
        daemon=True,
        mode="all",
        interval_minutes=15,
        started_at=T0,
        updated_at=T0 + timedelta(minutes=15, seconds=5),
        cycles=2,
        last_cycle=cycle(15, "GET /self: cannot connect"),
        next_run=T0 + timedelta(minutes=30),
    )
    assert document == {
        "schema_version": 1,
        "state": "running",
        "pid": 4242,
        "daemon": True,
        "mode": "all",
        "interval_minutes": 15,
        "started_at": "2026-11-28T03:00:00Z",
        "updated_at": "2026-11-28T03:15:05Z",
        "cycles": 2,
        "last_cycle": {
            "started_at": "2026-11-28T03:15:00Z",
            "finished_at": "2026-11-28T03:15:04Z",
            "seconds": 4.0,
            "ok": False,
            "reason": "GET /self: cannot connect",
        },
        "last_success": "2026-11-28T03:00:04Z",
        "last_failure": {"at": "2026-11-28T03:15:04Z", "reason": "GET /self: cannot connect"},
        "consecutive_failures": 1,
        "failing_since": "2026-11-28T03:15:00Z",
        "failure_alerted": False,
        "next_run": "2026-11-28T03:30:00Z",
    }


def test_the_health_state_survives_a_write_and_a_load(tmp_path: Path) -> None:
    state = HealthState(
        last_success=T0,
        last_failure=T0 + timedelta(minutes=45),
        last_failure_reason="HTTP 503",
        consecutive_failures=3,
        failing_since=T0 + timedelta(minutes=15),
        failure_alerted=True,
    )
    path = heartbeat.heartbeat_path(tmp_path / "reports")
    document = heartbeat.document(
        state,
        status=heartbeat.STOPPED,
        pid=1,
        daemon=True,
        mode="all",
        interval_minutes=15,
        started_at=T0,
        updated_at=T0,
        cycles=4,
        last_cycle=None,
        next_run=None,
    )
    assert heartbeat.write(path, document)
    assert path == tmp_path / "reports" / "state" / "heartbeat.json"
    assert json.loads(path.read_text(encoding="utf-8"))["state"] == "stopped"
    assert heartbeat.load_state(path) == state


def test_a_missing_or_corrupt_heartbeat_starts_a_fresh_state(tmp_path: Path) -> None:
    path = tmp_path / "state" / "heartbeat.json"
    assert heartbeat.load_state(path) == HealthState()
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert heartbeat.load_state(path) == HealthState()
    assert (path.parent / "heartbeat.json.corrupt").exists()


def test_malformed_fields_count_as_absent() -> None:
    document = {
        "last_success": "yesterday",
        "last_failure": "not a mapping",
        "consecutive_failures": True,
        "failing_since": 12,
        "failure_alerted": "yes",
    }
    assert heartbeat.state_from_document(document) == HealthState()
    assert heartbeat.state_from_document(["a list"]) == HealthState()


def test_an_unwritable_heartbeat_is_a_warning_not_an_error(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    assert heartbeat.write(blocker / "heartbeat.json", {"state": "running"}) is False
    assert "Cannot write the heartbeat" in caplog.text


@pytest.mark.parametrize("content", [b'{"schema_version": 1, "state": "\xff"}', b"[" * 100_000, b'["running"]'])
def test_an_undecodable_too_deep_or_wrong_shaped_heartbeat_is_set_aside_and_starts_afresh(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state" / "heartbeat.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    assert heartbeat.load_state(path) == HealthState()
    assert (path.parent / "heartbeat.json.corrupt").read_bytes() == content
    assert "heartbeat is rewritten" in caplog.text
