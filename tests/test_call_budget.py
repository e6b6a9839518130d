"""The API call meter: the rolling hour, the allowance, the file shared by runs and by processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mist_infra_manager.mist import call_budget
from mist_infra_manager.mist.call_budget import BudgetSettings, CallMeter, PhaseBudget

START = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def at(minutes: float) -> int:
    return int((START + timedelta(minutes=minutes)).timestamp())


def test_the_usable_calls_are_the_hourly_limit_less_the_reserve() -> None:
    assert BudgetSettings(5000, 20).usable_per_hour == 4000
    assert BudgetSettings(5000, 0).usable_per_hour == 5000
    assert BudgetSettings(333, 10).usable_per_hour == 299


def test_only_calls_of_the_last_rolling_hour_count() -> None:
    entries = [(at(0), 100), (at(30), 50), (at(59), 7)]
    assert call_budget.calls_in_window(entries, START + timedelta(minutes=59)) == 157
    assert call_budget.calls_in_window(entries, START + timedelta(minutes=60)) == 57
    assert call_budget.calls_in_window(entries, START + timedelta(minutes=120)) == 0


def test_pruning_merges_entries_of_the_same_second_and_drops_old_ones() -> None:
    entries = [(at(0), 1), (at(10), 2), (at(10), 3), (at(70), 4)]
    assert call_budget.prune(entries, START + timedelta(minutes=65)) == [(at(10), 5), (at(70), 4)]


def test_the_allowance_is_what_is_left_and_zero_while_blocked_by_a_429() -> None:
    settings = BudgetSettings(5000, 20)
    assert call_budget.allowance(settings, 3900, START) == 100
    assert call_budget.allowance(settings, 4500, START) == 0
    assert call_budget.allowance(settings, 0, START, blocked_until=START + timedelta(seconds=1)) == 0
    assert call_budget.allowance(settings, 0, START, blocked_until=START) == 4000


def test_the_meter_is_persisted_across_runs_and_forgets_after_an_hour(tmp_path: Path) -> None:
    clock = FakeClock()
    CallMeter(tmp_path, clock).record(103)
    clock.advance(minutes=15)
    CallMeter(tmp_path, clock).record(12)
    assert CallMeter(tmp_path, clock).snapshot() == (115, None)
    clock.advance(minutes=45)
    assert CallMeter(tmp_path, clock).snapshot() == (12, None)
    document = json.loads((tmp_path / "call_meter.json").read_text(encoding="utf-8"))
    assert document["version"] == 1 and document["window_seconds"] == 3600
    assert document["calls"] == [
        {"at": "2026-11-28T03:00:00Z", "count": 103},
        {"at": "2026-11-28T03:15:00Z", "count": 12},
    ]


def test_a_rate_limit_block_is_kept_until_it_ends(tmp_path: Path) -> None:
    clock = FakeClock()
    meter = CallMeter(tmp_path, clock)
    meter.record(5, blocked_until=START + timedelta(minutes=10))
    assert meter.snapshot() == (5, START + timedelta(minutes=10))
    clock.advance(minutes=10)
    assert meter.snapshot() == (5, None)


def test_a_corrupt_meter_is_set_aside_and_counting_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "call_meter.json").write_text("{not json", encoding="utf-8")
    meter = CallMeter(tmp_path, FakeClock())
    assert meter.snapshot() == (0, None)
    meter.record(3)
    assert meter.snapshot() == (3, None)
    assert (tmp_path / "call_meter.json.corrupt").exists()


def test_malformed_entries_are_ignored() -> None:
    document = {
        "calls": [
            {"at": "2026-11-28T03:00:00Z", "count": 4},
            {"at": "yesterday", "count": 1},
            {"at": "2026-11-28T03:00:00Z", "count": True},
            {"at": "2026-11-28T03:00:00Z", "count": -2},
            "junk",
        ],
        "blocked_until": 17,
    }
    assert call_budget.parse_meter(document) == ([(at(0), 4)], None)
    assert call_budget.parse_meter([1, 2]) == ([], None)


def test_threads_recording_at_once_lose_no_call(tmp_path: Path) -> None:
    clock = FakeClock()

    def record_many() -> None:
        meter = CallMeter(tmp_path, clock)
        for _ in range(25):
            meter.record(1)

    threads = [threading.Thread(target=record_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert CallMeter(tmp_path, clock).snapshot()[0] == 100


def test_two_processes_recording_at_once_lose_no_call(tmp_path: Path) -> None:
    script = (
        "import sys; from datetime import datetime, timezone; from pathlib import Path; "
        f"sys.path.insert(0, {str(PROJECT_ROOT / 'src')!r}); from mist_infra_manager.mist import call_budget; "
        "meter = call_budget.CallMeter(Path(sys.argv[1]), lambda: datetime.now(timezone.utc)); "
        "[meter.record(1) for _ in range(40)]"
    )
    processes = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(3)]
    assert [process.wait(timeout=60) for process in processes] == [0, 0, 0]
    assert CallMeter(tmp_path, lambda: datetime.now(timezone.utc)).snapshot()[0] == 120


def test_a_phase_budget_hands_out_at_most_its_allowance_counting_retries() -> None:
    spent = [0]
    budget = PhaseBudget(3, lambda: spent[0])
    assert budget.take() and budget.take()
    spent[0] = 3  # the second fetch needed a retry
    assert not budget.take()
    assert PhaseBudget(0, lambda: 0).take() is False
    unlimited = PhaseBudget(None, lambda: 10**6)
    assert all(unlimited.take() for _ in range(100))


def test_a_stored_call_an_hour_in_the_future_counts_as_now_with_a_warning(tmp_path: Path, caplog) -> None:
    future = (START + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "call_meter.json").write_text(json.dumps({"calls": [{"at": future, "count": 7}]}), encoding="utf-8")
    clock = FakeClock()
    meter = CallMeter(tmp_path, clock)

    assert meter.snapshot() == (7, None)
    assert "1 call time(s) after now" in caplog.text
    meter.record(1)
    stored = json.loads((tmp_path / "call_meter.json").read_text(encoding="utf-8"))
    assert stored["calls"] == [{"at": "2026-11-28T03:00:00Z", "count": 8}]
    clock.advance(minutes=61)
    assert meter.snapshot() == (0, None)


def test_a_rate_limit_block_ending_in_the_future_is_kept_and_an_absurd_one_is_capped_at_an_hour(
    tmp_path: Path, caplog
) -> None:
    meter_file = tmp_path / "call_meter.json"
    meter_file.write_text(json.dumps({"calls": [], "blocked_until": "2026-11-28T03:30:00Z"}), encoding="utf-8")
    assert CallMeter(tmp_path, FakeClock()).snapshot() == (0, START + timedelta(minutes=30))
    assert caplog.text == ""

    meter_file.write_text(json.dumps({"calls": [], "blocked_until": "2026-12-05T03:00:00Z"}), encoding="utf-8")
    assert CallMeter(tmp_path, FakeClock()).snapshot() == (0, START + timedelta(hours=1))
    assert "shortened to 2026-11-28T04:00:00Z" in caplog.text
    assert call_budget.block_from_retry_after(START, 10**9) == START + timedelta(hours=1)
