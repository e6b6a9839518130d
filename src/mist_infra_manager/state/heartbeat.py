"""The heartbeat: `reports.directory/state/heartbeat.json`, written after every cycle so an outside check can tell
a working monitor from a stalled or failing one.

The pure part (`HealthState`, `record_cycle`, `alert_kind`, `document`) takes plain values; `load_state` and
`write` are the file edges. The health counters carry over from one process to the next through the file, so
a restarted daemon still knows it had already sent the "monitoring is failing" email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional

from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import SHARED_FILE_MODE, atomic_write_json, expect_object, read_json_or_none

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATE_DIRECTORY_NAME = paths.STATE_DIRECTORY_NAME
HEARTBEAT_FILE_NAME = paths.HEARTBEAT_FILE_NAME

# Values of the "state" field.
RUNNING = "running"  # a daemon between (or in) cycles; next_run says when the next cycle starts
STOPPED = "stopped"  # a daemon that stopped on a signal
FINISHED = "finished"  # a one-shot run that ended

FAILING = "failing"
RECOVERED = "recovered"


def heartbeat_path(reports_directory: Path) -> Path:
    """Return the heartbeat file of a reports directory."""
    return reports_directory / STATE_DIRECTORY_NAME / HEARTBEAT_FILE_NAME


def iso(moment: Optional[datetime]) -> Optional[str]:
    """Return an ISO 8601 UTC time with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any) -> Optional[datetime]:
    """Return the aware datetime of an ISO 8601 text, None when absent or malformed."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class HealthState:
    """The monitor's health across cycles and processes."""

    last_success: Optional[datetime] = None
    last_failure: Optional[datetime] = None
    last_failure_reason: Optional[str] = None
    consecutive_failures: int = 0
    # The first failed cycle of the current run of failures.
    failing_since: Optional[datetime] = None
    # The "monitoring is failing" alert went out (or was logged, email being off) and no "recovered" one yet.
    failure_alerted: bool = False


@dataclass(frozen=True)
class CycleRecord:
    """One cycle as the heartbeat shows it; reason is None for a successful cycle."""

    started_at: datetime
    finished_at: datetime
    seconds: float
    reason: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Return whether the cycle succeeded."""
        return self.reason is None


def record_cycle(state: HealthState, cycle: CycleRecord) -> HealthState:
    """Return the health state after one more cycle."""
    if cycle.ok:
        return replace(state, last_success=cycle.finished_at, consecutive_failures=0, failing_since=None)
    return replace(
        state,
        last_failure=cycle.finished_at,
        last_failure_reason=cycle.reason,
        consecutive_failures=state.consecutive_failures + 1,
        failing_since=state.failing_since or cycle.started_at,
    )


def alert_kind(state: HealthState, failure_alert_after: int) -> Optional[str]:
    """Return FAILING or RECOVERED when that email is due in this state, else None."""
    if state.consecutive_failures >= failure_alert_after and not state.failure_alerted:
        return FAILING
    if state.consecutive_failures == 0 and state.failure_alerted:
        return RECOVERED
    return None


def state_from_document(document: Any) -> HealthState:
    """Return the health state a heartbeat document carries; anything malformed counts as absent."""
    if not isinstance(document, dict):
        return HealthState()
    failure = document.get("last_failure")
    failure = failure if isinstance(failure, dict) else {}
    reason = failure.get("reason")
    count = document.get("consecutive_failures")
    return HealthState(
        last_success=parse_iso(document.get("last_success")),
        last_failure=parse_iso(failure.get("at")),
        last_failure_reason=reason if isinstance(reason, str) else None,
        consecutive_failures=count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0,
        failing_since=parse_iso(document.get("failing_since")),
        failure_alerted=document.get("failure_alerted") is True,
    )


def document(
    state: HealthState,
    *,
    status: str,
    pid: int,
    daemon: bool,
    mode: str,
    interval_minutes: Optional[float],
    started_at: datetime,
    updated_at: datetime,
    cycles: int,
    last_cycle: Optional[CycleRecord],
    next_run: Optional[datetime],
) -> Dict[str, Any]:
    """Return the heartbeat JSON document."""
    return {
        "schema_version": SCHEMA_VERSION,
        "state": status,
        "pid": pid,
        "daemon": daemon,
        "mode": mode,
        "interval_minutes": interval_minutes,
        "started_at": iso(started_at),
        "updated_at": iso(updated_at),
        "cycles": cycles,
        "last_cycle": None
        if last_cycle is None
        else {
            "started_at": iso(last_cycle.started_at),
            "finished_at": iso(last_cycle.finished_at),
            "seconds": round(last_cycle.seconds, 3),
            "ok": last_cycle.ok,
            "reason": last_cycle.reason,
        },
        "last_success": iso(state.last_success),
        "last_failure": None
        if state.last_failure is None
        else {"at": iso(state.last_failure), "reason": state.last_failure_reason},
        "consecutive_failures": state.consecutive_failures,
        "failing_since": iso(state.failing_since),
        "failure_alerted": state.failure_alerted,
        "next_run": iso(next_run),
    }


def load_state(path: Path) -> HealthState:
    """Return the health state of the heartbeat file at path (a fresh one when missing or corrupt)."""
    document = read_json_or_none(
        path,
        "heartbeat file",
        check=expect_object("schema_version"),
        outcome="the health counters start afresh and the heartbeat is rewritten",
    )
    return state_from_document(document)


def write(path: Path, heartbeat: Dict[str, Any]) -> bool:
    """Write the heartbeat atomically; returns False (with a warning) when it cannot be written."""
    try:
        # Group-readable: a monitoring agent in the tool's group checks it.
        atomic_write_json(path, heartbeat, mode=SHARED_FILE_MODE)
    except OSError as error:
        logger.warning("Cannot write the heartbeat %s: %s", path, error)
        return False
    return True
