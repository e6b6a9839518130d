"""The history on disk: snapshots, the daily rollup, damaged files, thinning and both retentions."""

from __future__ import annotations

import gzip
import json
import logging
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import email_delivery
from mist_infra_manager.analysis import catalog, trend_analyzer
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import fileio, history_store
from mist_infra_manager.state.history_store import HistoryStore
from result_builders import make_result, site

NOW = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
YESTERDAY = NOW - timedelta(days=1)


def result_at(when: datetime, coverage: Optional[float] = 98.5, sites: int = 3) -> RunResult:
    """Three sites; site s0's coverage as given, the rest healthy."""
    built = [site("s0", "Store Zero", {"coverage": coverage}, num_clients=100)]
    built += [site(f"s{index}", f"Store {index}", num_clients=50) for index in range(1, sites)]
    return make_result(built, now=when)


def snapshot_at(when: datetime, coverage: Optional[float] = 98.5) -> trend_analyzer.Snapshot:
    return trend_analyzer.snapshot_from_result(result_at(when, coverage))


def record(directory: Path, *moments: datetime, coverage: float = 98.5) -> List[Path]:
    """Record a run at each moment (as the runs of those times would) and return the snapshot files."""
    paths = []
    for moment in moments:
        store = HistoryStore(directory)
        paths.append(store.record(snapshot_at(moment, coverage)))
        store.flush()
    return paths


def config_for(
    tmp_path: Path, keep_days: int = 7, reports_keep_days: int = 30, history_directory: Optional[Path] = None
) -> Settings:
    raw = {
        "mist": {"api_token": "test-token"},
        "history": {"directory": str(history_directory or tmp_path / "reports" / "history"), "keep_days": keep_days},
        "trend": {"degradation_threshold_pp": 5},
        "reports": {"directory": str(tmp_path / "reports"), "keep_days": reports_keep_days},
        "notifications": {"enabled": False},
    }
    return config_module.validate(raw, "test-config.yaml", {})


def warnings_of(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


# --- Snapshots and the rollup ---------------------------------------------------------------------------------


def test_a_run_stores_a_gzip_snapshot_and_a_rollup_under_its_utc_date(tmp_path: Path) -> None:
    (path,) = record(tmp_path, NOW)
    assert path == tmp_path / "2025-03-14" / "snapshot_20250314T090000Z.json.gz"
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["format"] == 1 and document["taken_at"] == "2025-03-14T09:00:00Z"
    assert document["metrics"] == list(catalog.METRIC_KEYS)
    assert document["sites"] == ["s0", "s1", "s2"] and document["clients"] == [100, 50, 50]
    assert len(document["pct"]) == len(document["severity"]) == 3 * 7
    rollup = json.loads((tmp_path / "2025-03-14" / "rollup.json").read_text())
    assert rollup["date"] == "2025-03-14"
    assert [entry["file"] for entry in rollup["snapshots"]] == [path.name]
    assert rollup["snapshots"][0]["org"]["coverage"] == rollup["org"]["coverage"]
    assert not [name for name in os.listdir(path.parent) if name.endswith(".tmp")]


def test_a_snapshot_survives_the_round_trip_through_its_file(tmp_path: Path) -> None:
    result = make_result(
        [site("s0", "Zero", {"coverage": (66.0, [("weak-signal", 26.6, 80, 8)]), "roaming": None}, num_clients=None)],
        now=NOW,
    )
    snapshot = trend_analyzer.snapshot_from_result(result)
    decoded = history_store.decode_snapshot(history_store.encode_snapshot(snapshot))
    assert decoded.taken_at == snapshot.taken_at and decoded.site_ids == snapshot.site_ids
    assert decoded.pcts == snapshot.pcts and decoded.severities == snapshot.severities
    assert decoded.clients == [None] and decoded.top_classifiers == snapshot.top_classifiers


def test_a_plain_json_snapshot_is_read_too() -> None:
    document = history_store.snapshot_document(snapshot_at(NOW))
    decoded = history_store.decode_snapshot(json.dumps(document).encode())
    assert decoded.value("s0", "coverage") == (98.5, "info")


def test_runs_in_the_same_second_get_their_own_snapshot_files(tmp_path: Path) -> None:
    first, second = record(tmp_path, NOW, NOW)
    assert first != second and first.exists() and second.exists()
    assert len(HistoryStore(tmp_path).entries(NOW.date())) == 2


def test_the_date_folder_is_the_utc_date_whatever_the_clock_zone(tmp_path: Path) -> None:
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2025, 3, 13, 21, 30, tzinfo=new_york)  # 02:30 UTC on the 14th
    (path,) = record(tmp_path, evening)
    assert path.parent.name == "2025-03-14" and path.name == "snapshot_20250314T023000Z.json.gz"


def test_the_baseline_is_the_stored_snapshot_nearest_to_24_hours_earlier(tmp_path: Path) -> None:
    record(tmp_path, NOW - timedelta(hours=30), NOW - timedelta(hours=24, minutes=10), NOW - timedelta(hours=20))
    baseline = HistoryStore(tmp_path).baseline(NOW)
    assert baseline is not None and baseline.taken_at == NOW - timedelta(hours=24, minutes=10)


def test_shortly_after_midnight_the_baseline_can_come_from_two_dates_back(tmp_path: Path) -> None:
    now = datetime(2025, 3, 14, 0, 30, tzinfo=timezone.utc)
    record(
        tmp_path, datetime(2025, 3, 12, 23, 0, tzinfo=timezone.utc), datetime(2025, 3, 13, 4, 0, tzinfo=timezone.utc)
    )
    baseline = HistoryStore(tmp_path).baseline(now)
    assert baseline is not None and baseline.taken_at == datetime(2025, 3, 12, 23, 0, tzinfo=timezone.utc)


# --- Damaged history ------------------------------------------------------------------------------------------


def test_a_corrupt_snapshot_is_skipped_with_one_warning_and_the_next_candidate_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = record(tmp_path, YESTERDAY - timedelta(hours=1), YESTERDAY)
    bad.write_bytes(b'{"format": 1, "taken_at": ')
    with caplog.at_level(logging.WARNING):
        store = HistoryStore(tmp_path)
        baseline = store.baseline(NOW)
        store.flush()
    assert baseline is not None and baseline.taken_at == YESTERDAY - timedelta(hours=1)
    assert len(warnings_of(caplog)) == 1 and bad.name in warnings_of(caplog)[0]
    assert bad.with_name(bad.name + ".corrupt").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        HistoryStore(tmp_path).baseline(NOW)
    assert warnings_of(caplog) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # a truncated gzip stream
        lambda data: gzip.compress(b'{"format": 1, "taken_at": "2025-03-13T09:00:00Z", "metrics": []}'),
        lambda data: gzip.compress(b"[1, 2, 3]"),
        lambda data: b"",
    ],
    ids=["truncated", "missing-columns", "not-a-snapshot", "empty"],
)
def test_a_partial_snapshot_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any) -> None:
    (path,) = record(tmp_path, YESTERDAY)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert HistoryStore(tmp_path).baseline(NOW) is None
    assert len(warnings_of(caplog)) == 1


def test_a_snapshot_listed_but_missing_is_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, gone = record(tmp_path, YESTERDAY - timedelta(hours=1), YESTERDAY)
    gone.unlink()
    with caplog.at_level(logging.WARNING):
        store = HistoryStore(tmp_path)
        baseline = store.baseline(NOW)
        store.flush()
        HistoryStore(tmp_path).baseline(NOW)
    assert baseline is not None and baseline.taken_at == YESTERDAY - timedelta(hours=1)
    assert len(warnings_of(caplog)) == 1


def test_a_corrupt_rollup_is_rebuilt_from_the_snapshot_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record(tmp_path, YESTERDAY - timedelta(hours=2), YESTERDAY)
    rollup = tmp_path / YESTERDAY.date().isoformat() / "rollup.json"
    expected = json.loads(rollup.read_text())
    rollup.write_text("{ not json")
    with caplog.at_level(logging.WARNING):
        store = HistoryStore(tmp_path)
        baseline = store.baseline(NOW)
        store.flush()
    assert baseline is not None and baseline.taken_at == YESTERDAY
    assert len(warnings_of(caplog)) == 1
    rebuilt = json.loads(rollup.read_text())
    assert [entry["file"] for entry in rebuilt["snapshots"]] == [entry["file"] for entry in expected["snapshots"]]
    assert rebuilt["org"] == expected["org"]


def test_a_rollup_of_the_wrong_shape_is_rebuilt_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record(tmp_path, YESTERDAY)
    (tmp_path / YESTERDAY.date().isoformat() / "rollup.json").write_text('["not", "a", "rollup"]')
    with caplog.at_level(logging.WARNING):
        assert HistoryStore(tmp_path).baseline(NOW) is not None
    assert len(warnings_of(caplog)) == 1


def test_a_snapshot_written_without_its_rollup_entry_is_picked_up(tmp_path: Path) -> None:
    # A run stopped between writing its snapshot and its rollup.
    store = HistoryStore(tmp_path)
    store.record(snapshot_at(YESTERDAY))
    assert not (tmp_path / YESTERDAY.date().isoformat() / "rollup.json").exists()
    later = HistoryStore(tmp_path)
    baseline = later.baseline(NOW)
    assert baseline is not None and baseline.taken_at == YESTERDAY
    assert later.entries(YESTERDAY.date())[0].org["coverage"] is not None


def test_other_files_in_a_date_folder_are_ignored_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record(tmp_path, YESTERDAY)
    folder = tmp_path / YESTERDAY.date().isoformat()
    (folder / "notes.json").write_text("{ broken")
    (folder / "snapshot_nonsense.json").write_text("x")
    with caplog.at_level(logging.WARNING):
        assert HistoryStore(tmp_path).baseline(NOW) is not None
    assert warnings_of(caplog) == []
    assert (folder / "notes.json").read_text() == "{ broken"


# --- Thinning ---------------------------------------------------------------------------------------------------


def test_snapshots_too_old_to_be_a_baseline_are_thinned_to_the_last_of_their_date(tmp_path: Path) -> None:
    two_days_ago = [datetime(2025, 3, 12, hour, tzinfo=timezone.utc) for hour in (6, 12, 18)]
    yesterday = [datetime(2025, 3, 13, hour, tzinfo=timezone.utc) for hour in (3, 7, 9, 12)]
    record(tmp_path, *two_days_ago, *yesterday)
    store = HistoryStore(tmp_path)
    store.baseline(NOW)
    for day in (date(2025, 3, 12), date(2025, 3, 13)):
        store.entries(day)
    store.thin(NOW)
    store.flush()
    assert sorted(os.listdir(tmp_path / "2025-03-12")) == ["rollup.json", "snapshot_20250312T180000Z.json.gz"]
    # 03:00 yesterday is 30 h old: gone; 07:00 (26 h) is a candidate still; 12:00 is the last of the date.
    assert sorted(os.listdir(tmp_path / "2025-03-13")) == [
        "rollup.json",
        "snapshot_20250313T070000Z.json.gz",
        "snapshot_20250313T090000Z.json.gz",
        "snapshot_20250313T120000Z.json.gz",
    ]
    rollup = json.loads((tmp_path / "2025-03-12" / "rollup.json").read_text())
    assert [entry["file"] for entry in rollup["snapshots"]] == [None, None, "snapshot_20250312T180000Z.json.gz"]
    # The org values of the thinned runs stay: the day's value does not change.
    assert all(entry["org"]["coverage"] is not None for entry in rollup["snapshots"])


def test_a_half_hour_cadence_over_three_days_keeps_few_files_and_the_baseline_24_hours_back(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    start = datetime(2025, 3, 12, 0, 0, tzinfo=timezone.utc)
    for step in range(3 * 48):
        moment = start + timedelta(minutes=30 * step)
        result = result_at(moment, coverage=90.0 + moment.hour / 4)
        history_store.update_history(result, config)
    assert result.trends is not None and result.trends["compared_with"] == "2025-03-13T23:30:00Z"
    directory = config.history.directory
    # Files older than 27 h are thinned to the last of their date; the rollups keep every run's org values.
    files = {day: sorted(os.listdir(directory / day)) for day in sorted(os.listdir(directory))}
    assert files["2025-03-12"] == ["rollup.json", "snapshot_20250312T233000Z.json.gz"]
    # Yesterday's from 27 h before the last run (23:30 on the 14th) on: they can still be a baseline.
    assert files["2025-03-13"][1:] == [
        f"snapshot_20250313T{hhmm}00Z.json.gz" for hhmm in ("2030", "2100", "2130", "2200", "2230", "2300", "2330")
    ]
    assert len(files["2025-03-14"]) == 1 + 48
    rollup = json.loads((directory / "2025-03-12" / "rollup.json").read_text())
    assert len(rollup["snapshots"]) == 48 and rollup["org"] == rollup["snapshots"][-1]["org"]
    series = result.trends["org"]["coverage"]["series_7d"]
    assert [point["pct"] for point in series] == [None] * 4 + [rollup["org"]["coverage"]] * 3


# --- Retention ----------------------------------------------------------------------------------------------------


def test_date_folders_older_than_keep_days_are_deleted_whole_and_nothing_else(tmp_path: Path) -> None:
    for name in ("2025-01-14", "2025-03-06", "2025-03-07", "2025-03-14", "2025-02-30", "my-notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file.txt").write_text("x")
    (tmp_path / "2025-01-01").write_text("a file named like a date")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    (tmp_path / "2025-01-02").symlink_to(outside, target_is_directory=True)
    removed = history_store.prune_history(tmp_path, NOW.date(), keep_days=7)
    assert [path.name for path in removed] == ["2025-01-14", "2025-03-06"]
    assert sorted(os.listdir(tmp_path)) == [
        "2025-01-01",
        "2025-01-02",
        "2025-02-30",
        "2025-03-07",
        "2025-03-14",
        "my-notes",
    ]
    assert (outside / "keep.txt").exists()


def test_a_missing_history_directory_prunes_nothing(tmp_path: Path) -> None:
    assert history_store.prune_history(tmp_path / "absent", NOW.date(), 7) == []
    assert history_store.prune_reports(tmp_path / "absent", NOW, 30) == []


def test_old_report_files_are_deleted_by_the_time_in_their_name_and_nothing_else(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    sent = reports / "outbox" / "sent"
    sent.mkdir(parents=True)
    old, recent = "20250201T090000Z", "20250301T090000Z"
    names = [
        f"SUMMARY_REPORT_{old}.txt",
        f"HEALTH_DASHBOARD_{old}.json",
        f"HEALTH_DASHBOARD_{old}_1.html",
        f"SUMMARY_REPORT_{recent}.txt",
        f"SUMMARY_REPORT_{old}.txt.bak",
        f"my_notes_{old}.txt",
        "SUMMARY_REPORT_latest.txt",
    ]
    for name in names:
        (reports / name).write_text("x")
    (reports / f"HEALTH_DASHBOARD_{old}.txt").mkdir()
    (reports / "outbox" / f"{old}-001-critical-a1b2c3.eml").write_text("queued, not yet delivered")
    (sent / f"{old}-001-critical-a1b2c3.eml").write_text("x")
    (sent / f"{old}-002-trend-d4e5f6_1.eml").write_text("x")
    (sent / f"{recent}-001-critical-a1b2c3.eml").write_text("x")
    (sent / "mine.eml").write_text("x")
    removed = history_store.prune_reports(reports, NOW, keep_days=30)
    assert sorted(path.name for path in removed) == sorted(
        [
            f"SUMMARY_REPORT_{old}.txt",
            f"HEALTH_DASHBOARD_{old}.json",
            f"HEALTH_DASHBOARD_{old}_1.html",
            f"{old}-001-critical-a1b2c3.eml",
            f"{old}-002-trend-d4e5f6_1.eml",
        ]
    )
    assert (reports / f"SUMMARY_REPORT_{recent}.txt").exists()
    assert (reports / f"SUMMARY_REPORT_{old}.txt.bak").exists() and (reports / f"my_notes_{old}.txt").exists()
    assert (reports / f"HEALTH_DASHBOARD_{old}.txt").is_dir()
    assert (reports / "outbox" / f"{old}-001-critical-a1b2c3.eml").exists()
    assert sorted(os.listdir(sent)) == [f"{recent}-001-critical-a1b2c3.eml", "mine.eml"]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def run_files(moment: datetime, suffix: str = "") -> List[Tuple[str, datetime]]:
    """The four report files of one run at moment, as (name, time)."""
    tag = stamp(moment) + suffix
    names = [f"SUMMARY_REPORT_{tag}.txt", f"HEALTH_DASHBOARD_{tag}.txt", f"HEALTH_DASHBOARD_{tag}.json"]
    return [(name, moment) for name in names + [f"HEALTH_DASHBOARD_{tag}.html"]]


def test_recent_runs_stay_plain_older_ones_are_compressed_and_past_48_hours_one_run_per_date_stays() -> None:
    every_quarter = [NOW - timedelta(minutes=15 * back) for back in range(1, 4 * 24 * 4)]  # four days back
    files = [item for moment in every_quarter for item in run_files(moment)]

    plan = history_store.plan_report_retention(files, NOW, keep_days=30)

    by_name = dict(files)
    kept_runs = {stamp(by_name[name]) for name in plan.keep}
    compressed_runs = {stamp(by_name[name]) for name in plan.compress}
    deleted_runs = {stamp(by_name[name]) for name in plan.delete}
    plain_limit = NOW - history_store.REPORT_PLAIN_FOR
    assert kept_runs == {stamp(moment) for moment in every_quarter if moment > plain_limit}
    every_run_limit = NOW - history_store.REPORT_EVERY_RUN_FOR
    last_of_older_dates = {"20250311T234500Z", "20250310T234500Z"}
    assert (
        compressed_runs
        == {stamp(moment) for moment in every_quarter if every_run_limit < moment <= plain_limit} | last_of_older_dates
    )
    assert deleted_runs == {stamp(moment) for moment in every_quarter} - kept_runs - compressed_runs
    assert len(plan.keep) + len(plan.compress) + len(plan.delete) == len(files)


def test_files_older_than_keep_days_are_deleted_even_the_last_of_their_date_and_compressed_ones_stay_compressed() -> (
    None
):
    old = NOW - timedelta(days=31)
    last_of_a_date = datetime(2025, 3, 1, 23, 45, tzinfo=timezone.utc)
    files = [
        (f"HEALTH_DASHBOARD_{stamp(old)}.json.gz", old),
        (f"HEALTH_DASHBOARD_{stamp(last_of_a_date)}.json.gz", last_of_a_date),
    ]
    files += run_files(NOW - timedelta(minutes=15))

    plan = history_store.plan_report_retention(files, NOW, keep_days=30)

    assert plan.delete == (f"HEALTH_DASHBOARD_{stamp(old)}.json.gz",)
    assert f"HEALTH_DASHBOARD_{stamp(last_of_a_date)}.json.gz" in plan.keep and plan.compress == ()


def test_the_newest_run_stays_plain_however_old_so_the_latest_dashboard_is_always_readable() -> None:
    long_ago = NOW - timedelta(days=10)
    plan = history_store.plan_report_retention(run_files(long_ago) + run_files(long_ago, "_1"), NOW, keep_days=30)

    assert sorted(plan.keep) == sorted(name for name, _ in run_files(long_ago, "_1"))
    assert sorted(plan.compress) == [] and len(plan.delete) == 4  # same date, not the last run of it


def test_report_retention_compresses_deletes_and_leaves_other_files_alone(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    recent, middle, thinned = NOW - timedelta(hours=1), NOW - timedelta(hours=30), NOW - timedelta(days=3, hours=2)
    last_of_that_date = datetime.combine(thinned.date(), datetime.max.time(), timezone.utc).replace(microsecond=0)
    for moment in (recent, middle, thinned, last_of_that_date):
        for name, _ in run_files(moment):
            (reports / name).write_text(f"report of {stamp(moment)}\n" * 50, encoding="utf-8")
    (reports / f"notes_{stamp(middle)}.txt").write_text("mine")
    (reports / f"HEALTH_DASHBOARD_{stamp(thinned)}_7.json").symlink_to(reports / f"notes_{stamp(middle)}.txt")

    removed = history_store.prune_reports(reports, NOW, keep_days=30)

    names = sorted(os.listdir(reports))
    assert sorted(path.name for path in removed) == sorted(name for name, _ in run_files(thinned))
    assert f"HEALTH_DASHBOARD_{stamp(recent)}.json" in names
    middle_json = reports / f"HEALTH_DASHBOARD_{stamp(middle)}.json.gz"
    assert gzip.decompress(middle_json.read_bytes()).decode("utf-8").startswith(f"report of {stamp(middle)}")
    assert not (reports / f"HEALTH_DASHBOARD_{stamp(middle)}.json").exists()
    assert f"SUMMARY_REPORT_{stamp(last_of_that_date)}.txt.gz" in names
    assert f"notes_{stamp(middle)}.txt" in names and f"HEALTH_DASHBOARD_{stamp(thinned)}_7.json" in names


def test_a_month_of_hourly_runs_keeps_6_hours_plain_48_hours_of_every_run_then_one_run_per_date() -> None:
    files: List[Tuple[str, datetime]] = []
    start = NOW - timedelta(days=32)
    for number in range(32 * 24):
        moment = start + timedelta(hours=number)
        plan = history_store.plan_report_retention(files, moment, keep_days=30)
        gone, compress = set(plan.delete), set(plan.compress)
        files = [(name + ".gz" if name in compress else name, when) for name, when in files if name not in gone]
        files.append((f"HEALTH_DASHBOARD_{stamp(moment)}.json", moment))

    plain = [when for name, when in files if not name.endswith(".gz")]
    assert len(plain) == 6 and min(plain) == files[-1][1] - timedelta(hours=5)
    recent = [when for _, when in files if when > files[-1][1] - history_store.REPORT_EVERY_RUN_FOR]
    assert len(recent) == 48
    older = sorted(when for _, when in files if when not in recent)
    assert 27 <= len(older) <= 30 and all(when.hour == 23 for when in older)
    assert len({when.date() for when in older}) == len(older)


# --- The run's hook ----------------------------------------------------------------------------------------------


def test_update_history_sets_the_trends_and_records_the_run(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    first = result_at(YESTERDAY, coverage=98.5)
    history_store.update_history(first, config)
    assert first.trends is not None and first.trends["baseline"] is False
    second = result_at(NOW, coverage=91.5)
    history_store.update_history(second, config)
    assert second.trends is not None and second.trends["compared_with"] == "2025-03-13T09:00:00Z"
    assert [(d["site_id"], d["metric"], d["delta_pp"]) for d in second.trends["degradations"]] == [
        ("s0", "coverage", -7.0)
    ]
    history = config.history.directory
    assert sorted(os.listdir(history)) == ["2025-03-13", "2025-03-14"]


def test_a_run_without_any_data_stores_no_snapshot(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    empty = make_result([site("s0", "Zero", default_pct=None)], now=NOW)
    history_store.update_history(empty, config)
    assert empty.trends is not None and empty.trends["baseline"] is False
    assert not (config.history.directory / "2025-03-14").exists()


def test_a_history_that_cannot_be_written_is_logged_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path, history_directory=tmp_path / "a-file")
    (tmp_path / "a-file").write_text("not a folder")
    result = result_at(NOW)
    with caplog.at_level(logging.ERROR):
        history_store.update_history(result, config)
    assert result.trends is not None
    assert any("a-file" in message for message in warnings_of(caplog))


@pytest.mark.slow
def test_a_week_of_history_for_10000_sites_gives_every_degraded_site_its_7_day_line(tmp_path: Path) -> None:
    sites = [
        site(f"site-{index:05d}-0000-0000-0000-000000000000", f"Store {index}", num_clients=100 + index % 300)
        for index in range(10_000)
    ]
    for index in range(0, 10_000, 10):  # a tenth of the sites degraded today: their 7-day lines are read
        sites[index] = site(sites[index].id, sites[index].name, {"coverage": 85.0})
    result = make_result(sites, now=NOW)
    snapshot = trend_analyzer.snapshot_from_result(result)
    data = history_store.encode_snapshot(snapshot)
    # A week at a 15-minute cadence, after thinning: the last run of each earlier date, a day of runs before now.
    store = HistoryStore(tmp_path)
    moments = [NOW - timedelta(days=days, hours=10) for days in range(2, 7)]
    moments += [NOW - timedelta(minutes=15 * step) for step in range(1, 110)]
    for moment in moments:
        folder = tmp_path / moment.date().isoformat()
        name = f"snapshot_{moment.strftime('%Y%m%dT%H%M%SZ')}.json.gz"
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        store.entries(moment.date()).append(history_store.Entry(moment, name, trend_analyzer.org_values(snapshot)))
        store._dirty.add(moment.date())
    store.flush()
    history_store.update_history(result, config_for(tmp_path.parent / "x", history_directory=tmp_path))
    assert result.trends is not None and result.trends["baseline"] is True
    assert len(result.trends["sites_7d"]) == 1_000


def test_the_names_the_outbox_gives_are_the_ones_retention_recognizes(tmp_path: Path) -> None:
    outbox = email_delivery.Outbox(tmp_path)
    for kind in ("critical", "trend", "monitoring-failing", "Résolved!"):
        assert history_store.SENT_EML_PATTERN.match(
            outbox.new_name(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), kind)
        )


@pytest.mark.parametrize(
    "content",
    # mtime=0: the same bytes in every process, so parallel workers collect the same test ids.
    [
        gzip.compress(b'{"format": 1, "taken_at": "\xff"}', mtime=0),
        gzip.compress(b"[" * 100_000, mtime=0),
        gzip.compress(b"[1]", mtime=0),
    ],
    ids=["not-utf-8", "too-deep", "wrong-shape"],
)
def test_an_undecodable_too_deep_or_wrong_shaped_snapshot_is_set_aside_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    good, bad = record(tmp_path, YESTERDAY - timedelta(hours=1), YESTERDAY)
    bad.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        baseline = HistoryStore(tmp_path).baseline(NOW)
    assert baseline is not None and baseline.taken_at == YESTERDAY - timedelta(hours=1)
    assert len(warnings_of(caplog)) == 1 and bad.with_name(bad.name + ".corrupt").read_bytes() == content


def test_a_snapshot_larger_than_the_limit_once_decompressed_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (good,) = record(tmp_path, YESTERDAY)
    monkeypatch.setattr(fileio, "MAX_DECOMPRESSED_BYTES", 100)
    with caplog.at_level(logging.WARNING):
        assert HistoryStore(tmp_path).last_snapshot(YESTERDAY.date()) is None
    assert "once decompressed" in caplog.text and good.with_name(good.name + ".corrupt").exists()


def test_a_rollup_of_the_wrong_shape_is_set_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record(tmp_path, YESTERDAY)
    rollup = tmp_path / YESTERDAY.date().isoformat() / "rollup.json"
    rollup.write_text('{"format": 1, "snapshots": "many"}')
    with caplog.at_level(logging.WARNING):
        entries = HistoryStore(tmp_path).entries(YESTERDAY.date())
    assert len(entries) == 1 and rollup.with_name("rollup.json.corrupt").exists()
    assert len(warnings_of(caplog)) == 1
