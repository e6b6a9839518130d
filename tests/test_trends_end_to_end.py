"""Trends end to end: runs of the pipeline against the simulator on days the injected clock chooses."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Tuple

import pytest

from conftest import SIMULATOR_TOKEN, base_config, deep_merge, run_main, write_config
from mist_infra_manager import config as config_module
from mist_infra_manager.pipeline import cycle as pipeline
from mist_infra_manager.pipeline.cycle import CycleOutcome
from mist_infra_manager.simulator.mist_simulator import MistSimulator

TODAY = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
YESTERDAY = TODAY - timedelta(days=1)
NUM_SITES = 12
# The site whose coverage the tests move: any site the simulator builds healthy.
SITE_INDEX = 5
EMAIL_TO_FILES = {
    "notifications": {
        "enabled": True,
        "email": {
            "enabled": True,
            "transport": "file",
            "from_address": "mist@example.com",
            "recipients": ["noc@example.com"],
        },
    }
}


def run_at(
    tmp_path: Path,
    when: datetime,
    *,
    coverage: Optional[float] = None,
    mode: str = "report",
    overrides: Optional[Mapping[str, Any]] = None,
) -> Tuple[CycleOutcome, str]:
    """Run the pipeline as at `when` against an all-healthy simulator; coverage sets the test site's fraction.

    Returns the outcome and the test site's name.
    """
    simulator = MistSimulator(
        num_sites=NUM_SITES, token=SIMULATOR_TOKEN, degraded_share=0.0, clock=lambda: when.timestamp()
    )
    target = simulator.sites[SITE_INDEX]
    if coverage is not None:
        simulator.set_fraction(SITE_INDEX, "coverage", coverage)
    with simulator:
        raw = deep_merge(base_config(simulator.base_url, tmp_path), overrides or {})
        config = config_module.validate(raw, "test", environ={})
        outcome = pipeline.run_cycle(config, mode, clock=lambda: when)
    return outcome, target.name


def history(tmp_path: Path) -> Path:
    return tmp_path / "reports" / "history"


def trend_warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and record.name in ("mist_infra_manager.state.history_store", "mist_infra_manager.state.fileio")
    ]


def test_a_drop_from_98_5_to_91_5_since_yesterday_is_a_degradation_with_a_trend_email(tmp_path: Path) -> None:
    run_at(tmp_path, YESTERDAY, coverage=0.985, overrides=EMAIL_TO_FILES)
    outcome, site_name = run_at(tmp_path, TODAY, coverage=0.915, overrides=EMAIL_TO_FILES)

    trends = outcome.result.trends
    assert trends is not None and trends["baseline"] is True
    assert trends["compared_with"] == "2025-03-13T09:00:00Z"
    assert [
        (d["site_name"], d["metric"], d["previous_pct"], d["current_pct"], d["delta_pp"])
        for d in trends["degradations"]
    ] == [(site_name, "coverage", 98.5, 91.5, -7.0)]

    assert outcome.files is not None
    dashboard = json.loads(outcome.files.dashboard_json.read_text(encoding="utf-8"))
    assert dashboard["trends"] == trends
    summary = outcome.files.summary_txt.read_text(encoding="utf-8")
    assert "TRENDS" in summary and f"{site_name} - Coverage: 98.5% → 91.5% (-7.0 pp)" in summary

    assert outcome.notification is not None
    (eml,) = outcome.notification.written_eml
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "TREND" in str(message["Subject"]).upper()
    body = message.get_body(("plain",))
    assert body is not None and site_name in body.get_content()


def test_the_first_run_says_no_baseline_yet(tmp_path: Path) -> None:
    outcome, _ = run_at(tmp_path, TODAY)
    trends = outcome.result.trends
    assert trends is not None and trends["baseline"] is False and trends["compared_with"] is None
    assert trends["degradations"] == [] and trends["improvements"] == []
    assert outcome.files is not None
    assert "no baseline yet" in outcome.files.summary_txt.read_text(encoding="utf-8")
    assert "no baseline yet" in outcome.files.dashboard_txt.read_text(encoding="utf-8")
    assert json.loads(outcome.files.dashboard_json.read_text(encoding="utf-8"))["trends"]["baseline"] is False


def corrupt_rollup(folder: Path) -> None:
    (folder / "rollup.json").write_text('{"format": 1, "snapshots": [', encoding="utf-8")


def corrupt_extra_snapshot(folder: Path) -> None:
    # A damaged snapshot beside the good one, the latest of the date: read for the day's value, and skipped.
    (folder / "snapshot_20250313T091000Z.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")


def unrelated_json(folder: Path) -> None:
    (folder / "notes.json").write_text("{ not json", encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "warnings"),
    # A file the tool did not write is not read at all.
    [(corrupt_rollup, 1), (corrupt_extra_snapshot, 1), (unrelated_json, 0)],
)
def test_a_corrupt_json_file_in_yesterdays_folder_changes_nothing_but_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None], warnings: int
) -> None:
    clean = tmp_path / "clean"
    damaged = tmp_path / "damaged"
    for root in (clean, damaged):
        run_at(root, YESTERDAY, coverage=0.985, mode="insights")
    damage(history(damaged) / "2025-03-13")

    expected, _ = run_at(clean, TODAY, coverage=0.915, mode="insights")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        got, _ = run_at(damaged, TODAY, coverage=0.915, mode="insights")

    assert got.result.trends == expected.result.trends
    assert len(trend_warnings(caplog)) == warnings, trend_warnings(caplog)


def test_a_history_folder_from_two_months_ago_and_old_reports_are_gone_after_the_run(tmp_path: Path) -> None:
    old_folder = history(tmp_path) / "2025-01-10"
    old_folder.mkdir(parents=True)
    (old_folder / "snapshot_20250110T090000Z.json.gz").write_bytes(b"old")
    kept_folder = history(tmp_path) / "2025-03-08"
    kept_folder.mkdir()
    reports = tmp_path / "reports"
    (reports / "SUMMARY_REPORT_20250110T090000Z.txt").write_text("old report", encoding="utf-8")
    (reports / "SUMMARY_REPORT_20250301T090000Z.txt").write_text("recent report", encoding="utf-8")
    (reports / "my-own-notes.txt").write_text("a user's file", encoding="utf-8")

    run_at(tmp_path, TODAY, mode="monitor")

    assert not old_folder.exists() and kept_folder.exists()
    assert not (reports / "SUMMARY_REPORT_20250110T090000Z.txt").exists()
    assert (reports / "SUMMARY_REPORT_20250301T090000Z.txt").exists()
    assert (reports / "my-own-notes.txt").exists()


@pytest.mark.parametrize("mode", ["monitor", "insights", "report", "all"])
def test_every_mode_stores_a_snapshot_of_its_run(tmp_path: Path, mode: str) -> None:
    outcome, _ = run_at(tmp_path, TODAY, mode=mode)
    folder = history(tmp_path) / "2025-03-14"
    assert sorted(os.listdir(folder)) == ["rollup.json", "snapshot_20250314T090000Z.json.gz"]
    assert outcome.result.trends is not None


def test_the_command_line_run_writes_todays_history(tmp_path: Path, simulator: MistSimulator) -> None:
    config_path = write_config(tmp_path / "config.yaml", base_config(simulator.base_url, tmp_path))
    completed = run_main(["--mode", "insights", "--quiet", "--config", str(config_path)])
    assert completed.returncode == 0, completed.stderr
    folders = os.listdir(history(tmp_path))
    assert len(folders) == 1
    assert any(name.startswith("snapshot_") for name in os.listdir(history(tmp_path) / folders[0]))
