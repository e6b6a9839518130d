"""The API call budget: a meter of the calls of the last rolling hour, shared by every run of a reports directory.

Mist allows `mist.calls_per_hour` calls per token and hour; `mist.budget_reserve_pct` of them stay free for
the token's other users. The meter lives in `reports.directory/state/call_meter.json`, so cron runs and the
daemon see each other's calls. The pure part (pruning, counting, the allowance) takes plain values; the
`CallMeter` edge reads and merges the file under a lock and writes it atomically.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import (
    PRIVATE_FILE_MODE,
    atomic_write_json,
    expect_object,
    make_private_directory,
    read_json_or_none,
)

logger = logging.getLogger(__name__)

METER_FILE_NAME = paths.METER_FILE_NAME
METER_VERSION = 1
WINDOW_SECONDS = 3600
# A rate-limit block ends at most this far ahead (Retry-After is capped at an hour too); a stored block
# beyond it comes from a clock that jumped or a damaged file and would stop every run for days.
MAX_BLOCK_SECONDS = 3600
# How long a writer waits for another process holding the meter's lock before it gives up on recording.
LOCK_TIMEOUT_SECONDS = 10.0

# One meter entry: (whole UTC second, calls recorded at that second).
Entry = Tuple[int, int]


@dataclass(frozen=True)
class BudgetSettings:
    """The budget part of the configuration."""

    calls_per_hour: int = 5000
    reserve_pct: float = 20.0

    @property
    def usable_per_hour(self) -> int:
        """Return the calls per rolling hour this tool may spend: the limit less the reserve, rounded down."""
        return max(0, math.floor(self.calls_per_hour * (100.0 - self.reserve_pct) / 100.0))


def _epoch(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def prune(entries: List[Entry], now: datetime) -> List[Entry]:
    """Return the entries of the rolling hour ending at now, oldest first, one per second."""
    cutoff = _epoch(now) - WINDOW_SECONDS
    merged: Dict[int, int] = {}
    for second, count in entries:
        if second > cutoff and count > 0:
            merged[second] = merged.get(second, 0) + count
    return sorted(merged.items())


def calls_in_window(entries: List[Entry], now: datetime) -> int:
    """Return the calls recorded in the rolling hour ending at now."""
    return sum(count for _, count in prune(entries, now))


def allowance(
    settings: BudgetSettings,
    used: int,
    now: datetime,
    blocked_until: Optional[datetime] = None,
) -> int:
    """Return how many more calls may be spent now: the usable hourly calls less those used, 0 while blocked."""
    if blocked_until is not None and now < blocked_until:
        return 0
    return max(0, settings.usable_per_hour - used)


def parse_meter(document: Any) -> Tuple[List[Entry], Optional[datetime]]:
    """Return (entries, blocked_until) of a meter document; malformed parts are ignored."""
    if not isinstance(document, dict):
        return [], None
    entries: List[Entry] = []
    raw_calls = document.get("calls")
    for item in raw_calls if isinstance(raw_calls, list) else []:
        if not isinstance(item, dict):
            continue
        moment = parse_time(item.get("at"))
        count = item.get("count")
        if moment is None or isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            continue
        entries.append((_epoch(moment), count))
    return entries, parse_time(document.get("blocked_until"))


def calls_total_of(document: Any) -> int:
    """Return the calls counted since the meter file was created (0 when it does not say)."""
    total = document.get("calls_total") if isinstance(document, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else 0


def clamp_to_now(
    entries: List[Entry], blocked_until: Optional[datetime], now: datetime
) -> Tuple[List[Entry], Optional[datetime], int]:
    """Return (entries, blocked_until, entries clamped) with past calls stored in the future moved to now.

    Calls are past events: one stored after now comes from a clock that jumped back and would count in every
    rolling hour until the clock catches up. A block's end belongs in the future and is kept, capped at
    MAX_BLOCK_SECONDS from now.
    """
    second = _epoch(now)
    clamped = sum(1 for moment, _ in entries if moment > second)
    if clamped:
        entries = [(min(moment, second), count) for moment, count in entries]
    limit = now + timedelta(seconds=MAX_BLOCK_SECONDS)
    if blocked_until is not None and blocked_until > limit:
        blocked_until = limit
    return entries, blocked_until, clamped


def meter_document(entries: List[Entry], blocked_until: Optional[datetime], calls_total: int = 0) -> Dict[str, Any]:
    """Return the JSON document of a meter."""
    return {
        "version": METER_VERSION,
        "window_seconds": WINDOW_SECONDS,
        "blocked_until": format_time(blocked_until),
        # Never pruned: the Prometheus counter mist_infra_manager_api_calls_total.
        "calls_total": calls_total,
        "calls": [
            {"at": format_time(datetime.fromtimestamp(second, tz=timezone.utc)), "count": count}
            for second, count in entries
        ],
    }


def format_time(moment: Optional[datetime]) -> Optional[str]:
    """Return an ISO 8601 UTC time with a Z, to the second, or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> Optional[datetime]:
    """Return the aware UTC datetime of an ISO 8601 text, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class CallMeter:
    """The persisted meter of one reports directory; every method re-reads the file, so runs share it."""

    def __init__(self, state_directory: Path, clock: Callable[[], datetime]) -> None:
        self.path = state_directory / METER_FILE_NAME
        self._clock = clock

    def now(self) -> datetime:
        """Return the meter's clock reading."""
        return self._clock()

    def _read(self, now: datetime) -> Tuple[List[Entry], Optional[datetime]]:
        document = read_json_or_none(
            self.path, "API call meter", check=expect_object("calls"), outcome="the meter starts empty"
        )
        entries, stored_block = parse_meter(document)
        entries, blocked_until, clamped = clamp_to_now(entries, stored_block, now)
        if clamped:
            logger.warning(
                "The API call meter %s holds %d call time(s) after now (the clock went back?); counted as now",
                self.path,
                clamped,
            )
        if blocked_until != stored_block:
            logger.warning(
                "The API call meter %s holds a rate-limit block until %s, more than %d s ahead; shortened to %s",
                self.path,
                format_time(stored_block),
                MAX_BLOCK_SECONDS,
                format_time(blocked_until),
            )
        return entries, blocked_until

    def snapshot(self) -> Tuple[int, Optional[datetime]]:
        """Return (calls in the last rolling hour, blocked_until) as the file says now."""
        now = self._clock()
        entries, blocked_until = self._read(now)
        if blocked_until is not None and blocked_until <= now:
            blocked_until = None
        return calls_in_window(entries, now), blocked_until

    def total(self) -> int:
        """Return the calls recorded since the meter file was created."""
        return calls_total_of(
            read_json_or_none(
                self.path, "API call meter", check=expect_object("calls"), outcome="the meter starts empty"
            )
        )

    def record(self, calls: int, *, blocked_until: Optional[datetime] = None) -> None:
        """Add calls made now (and a rate-limit block) to the file; read, merge and written under a lock."""
        if calls <= 0 and blocked_until is None:
            return
        # Imported here: only runs that made calls need it, and it costs start-up time.
        import filelock

        lock = filelock.FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS, mode=PRIVATE_FILE_MODE)
        try:
            make_private_directory(self.path.parent)
            with lock:
                now = self._clock()
                entries, stored_block = self._read(now)
                if calls > 0:
                    entries.append((_epoch(now), calls))
                block = max((b for b in (stored_block, blocked_until) if b is not None and b > now), default=None)
                total = self.total() + max(calls, 0)
                atomic_write_json(self.path, meter_document(prune(entries, now), block, total))
        except filelock.Timeout:
            logger.warning(
                "The API call meter %s is locked by another process; %d call(s) not recorded", self.path, calls
            )
        except OSError as error:
            logger.warning("Cannot write the API call meter %s: %s", self.path, error)


class PhaseBudget:
    """A thread-safe allowance for one phase: each fetch takes one call; retries seen on the client count too."""

    def __init__(self, allowance: Optional[int], spent: Callable[[], int]) -> None:
        self.allowance = allowance
        self._spent = spent
        self._taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Return True and count one call when the allowance has room for it, else False."""
        if self.allowance is None:
            return True
        with self._lock:
            used = max(self._taken, self._spent())
            if used + 1 > self.allowance:
                return False
            self._taken = used + 1
            return True


def block_from_retry_after(now: datetime, retry_after: Optional[float]) -> Optional[datetime]:
    """Return when a 429's Retry-After ends, or None without one."""
    if retry_after is None:
        return None
    return now + timedelta(seconds=min(max(retry_after, 0.0), MAX_BLOCK_SECONDS))
