"""Damaged state files never stop a run: each is set aside as .corrupt with one warning, and the run goes on."""

from __future__ import annotations

import gzip
import logging
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from conftest import SIMULATOR_TOKEN
from mist_infra_manager.alerting import alert_state
from mist_infra_manager.cli.main import main
from mist_infra_manager.mist import detail_cache
from mist_infra_manager.mist.call_budget import CallMeter
from mist_infra_manager.pipeline.daemon import Daemon, Stopper
from mist_infra_manager.state import fileio, heartbeat, paths
from mist_infra_manager.state.history_store import HistoryStore
from smtp_server import SmtpTestServer

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
ORG_ID = "org-1"
DEEP = b"[" * 100_000 + b"]" * 100_000
DAMAGES: Dict[str, bytes] = {
    "non-UTF-8 byte": b'{"calls": [], "sites": [], "entries": {}, "snapshots": [], "name": "caf\xe9"}',
    "100,000-deep nesting": DEEP,
    "too large": b'{"calls": [], "sites": [], "entries": {}, "snapshots": [], "version": 1, "pad": "xxxxxxxx"}',
    "wrong shape": b"[1, 2, 3]",
}


def day_folder(state: Path) -> Path:
    return state.parent / "history" / NOW.date().isoformat()


# Each state file: where it lives under reports/state, and the run's reading of it with the documented outcome.
def read_heartbeat(state: Path) -> bool:
    return heartbeat.load_state(state / paths.HEARTBEAT_FILE_NAME) == heartbeat.HealthState()


def read_alert_state(state: Path) -> bool:
    return alert_state.load_state(state / paths.ALERT_STATE_FILE_NAME) == {}


def read_meter(state: Path) -> bool:
    return CallMeter(state, lambda: NOW).snapshot() == (0, None)


def read_sites_cache(state: Path) -> bool:
    return detail_cache.load_sites(state, ORG_ID, NOW, 60) is None


def read_detail_cache(state: Path) -> bool:
    loaded = detail_cache.load_detail(state, ORG_ID, "1d")
    return loaded.entries == {} and loaded.deferred == []


def read_rollup(state: Path) -> bool:
    return HistoryStore(state.parent / "history").entries(NOW.date()) == []


def read_snapshot(state: Path) -> bool:
    store = HistoryStore(state.parent / "history")
    return store.last_snapshot(NOW.date()) is None


STATE_FILES: Dict[str, Any] = {
    "heartbeat.json": (lambda state: state / paths.HEARTBEAT_FILE_NAME, read_heartbeat),
    "alert_state.json": (lambda state: state / paths.ALERT_STATE_FILE_NAME, read_alert_state),
    "call_meter.json": (lambda state: state / paths.METER_FILE_NAME, read_meter),
    "sites_cache.json": (lambda state: state / paths.SITES_CACHE_FILE_NAME, read_sites_cache),
    "detail_cache.json": (lambda state: state / paths.DETAIL_CACHE_FILE_NAME, read_detail_cache),
    "rollup.json": (lambda state: day_folder(state) / "rollup.json", read_rollup),
    "snapshot .json.gz": (lambda state: day_folder(state) / "snapshot_20261128T030000Z.json.gz", read_snapshot),
}


def corrupt_warnings(caplog: pytest.LogCaptureFixture, name: str) -> List[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and name in record.getMessage()
    ]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("kind", sorted(STATE_FILES))
def test_every_damaged_state_file_is_set_aside_with_one_warning_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, kind: str, damage: str
) -> None:
    state = tmp_path / "reports" / "state"
    locate, read = STATE_FILES[kind]
    path: Path = locate(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = DAMAGES[damage]
    if path.name.endswith(".gz"):
        content = gzip.compress(content)
    path.write_bytes(content)
    if damage == "too large":
        monkeypatch.setattr(fileio, "MAX_STATE_FILE_BYTES", 64)
        monkeypatch.setattr(fileio, "MAX_DECOMPRESSED_BYTES", 64)
    caplog.set_level(logging.WARNING)

    assert read(state)

    aside = path.with_name(path.name + ".corrupt")
    assert aside.read_bytes() == content
    assert not path.exists()
    warnings = corrupt_warnings(caplog, path.name)
    assert len(warnings) == 1, warnings
    assert "set aside as " + aside.name in warnings[0]


def test_an_older_corrupt_copy_is_replaced_by_the_newer_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "heartbeat.json"
    path.with_name("heartbeat.json.corrupt").write_bytes(b"old damage")
    path.write_bytes(b"\xff\xfe new damage")

    assert fileio.read_json_or_none(path, "heartbeat file") is None
    assert path.with_name("heartbeat.json.corrupt").read_bytes() == b"\xff\xfe new damage"
    assert "not UTF-8 (byte 0)" in caplog.text


# --- End to end: the alert still goes out; the daemon still starts ------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def test_a_run_with_a_corrupt_alert_state_still_emails_the_alert(
    simulator: Any, make_config: Callable[..., Path], tmp_path: Path, smtp: SmtpTestServer
) -> None:
    config_path = make_config(simulator.base_url, {"notifications": {"enabled": True, "email": smtp.email_config()}})
    state_file = tmp_path / "reports" / "state" / paths.ALERT_STATE_FILE_NAME
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(b'{"version": 1, "problems": [{"site_name": "caf\xe9"}]}')

    code = main(["--mode", "report", "--config", str(config_path)], {"MIST_API_TOKEN": SIMULATOR_TOKEN})

    assert code == 0
    assert len(smtp.messages) == 1
    assert smtp.messages[0].subject.startswith("[CRITICAL]")
    assert state_file.with_name("alert_state.json.corrupt").exists()
    assert alert_state.load_state(state_file) != {}
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    assert "alert_state.json is unusable (not UTF-8" in log


def test_the_daemon_starts_with_a_corrupt_heartbeat_and_rewrites_it(tmp_path: Path) -> None:
    heartbeat_file = heartbeat.heartbeat_path(tmp_path)
    heartbeat_file.parent.mkdir(parents=True)
    heartbeat_file.write_bytes(DEEP)
    ticks = [0.0]
    stopper = Stopper(monotonic=lambda: ticks[0])
    cycles: List[float] = []

    def cycle() -> None:
        cycles.append(ticks[0])
        stopper.request("test")

    def sleep(seconds: float) -> None:
        ticks[0] += seconds

    Daemon(
        cycle,
        interval_seconds=60.0,
        failure_alert_after=3,
        send_alert=lambda kind, detail, now: True,
        heartbeat_file=heartbeat_file,
        stopper=stopper,
        clock=lambda: NOW + timedelta(seconds=ticks[0]),
        monotonic=lambda: ticks[0],
        sleep=sleep,
        pid=4242,
    ).run()

    assert cycles == [0.0]
    written = fileio.read_json_or_none(heartbeat_file, "heartbeat file")
    assert written is not None and written["state"] == heartbeat.STOPPED and written["cycles"] == 1
    assert heartbeat_file.with_name("heartbeat.json.corrupt").read_bytes() == DEEP


# --- File modes ---------------------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
@pytest.mark.parametrize("file_mode", [None, "0644"])
def test_every_file_gets_its_mode_whatever_the_umask(
    simulator: Any, make_config: Callable[..., Path], tmp_path: Path, open_umask: None, file_mode: Any
) -> None:
    reports_section: Dict[str, Any] = {} if file_mode is None else {"file_mode": file_mode}
    email = {"enabled": True, "transport": "file", "from_address": "a@example.test", "recipients": ["b@example.test"]}
    config_path = make_config(
        simulator.base_url, {"reports": reports_section, "notifications": {"enabled": True, "email": email}}
    )

    assert main(["--mode", "report", "--config", str(config_path)], {}) == 0

    reports = tmp_path / "reports"
    report_mode = 0o640 if file_mode is None else 0o644
    report_files = [path for path in reports.iterdir() if paths.REPORT_NAME_PATTERN.match(path.name)]
    assert len(report_files) >= 3 and {mode_of(path) for path in report_files} == {report_mode}
    assert mode_of(reports / "state" / "heartbeat.json") == 0o640
    private = [
        *(reports / "state").glob("*.json"),
        *(reports / "history").rglob("*.*"),
        *(reports / "outbox").rglob("*.eml"),
    ]
    private = [path for path in private if path.name != "heartbeat.json"]
    names = {path.name for path in private}
    assert {"alert_state.json", "call_meter.json", "rollup.json"} <= names
    assert any(name.endswith(".eml") for name in names) and any(name.endswith(".json.gz") for name in names)
    assert {mode_of(path) for path in private} == {0o600}
    for folder in (reports / "state", reports / "history", reports / "history" / NOW.date().isoformat()):
        if folder.exists():
            assert mode_of(folder) == 0o700, folder
    assert mode_of(reports / "outbox" / "sent") == 0o700


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_atomic_writes_are_private_by_default_and_take_the_mode_asked(tmp_path: Path, open_umask: None) -> None:
    private = tmp_path / "state" / "alert_state.json"
    shared = tmp_path / "reports" / "SUMMARY.txt"

    fileio.atomic_write_json(private, {"version": 1})
    fileio.atomic_write_text(shared, "report\n", mode=0o644)

    assert mode_of(private) == 0o600 and mode_of(private.parent) == 0o700
    assert mode_of(shared) == 0o644 and mode_of(shared.parent) == 0o777
