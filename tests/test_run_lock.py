"""The run lock: one collection at a time per reports directory, a refused run exits 3 naming the holder,
and a lock left by a killed process never blocks the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT, SIMULATOR_TOKEN, run_cli, run_main
from mist_infra_manager.state import run_lock
from mist_infra_manager.state.run_lock import LockedError, RunLock

CLOSED_PORT_URL = "http://127.0.0.1:9"

HOLDER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {src!r})
    from mist_infra_manager.state.run_lock import RunLock
    lock = RunLock(__import__("pathlib").Path({reports!r}))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(120)
    """
)


def start_holder(reports: Path) -> subprocess.Popen:
    """Start a process holding the lock of reports; returns once it holds it."""
    script = HOLDER_SCRIPT.format(src=str(PROJECT_ROOT / "src"), reports=str(reports))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_a_second_lock_on_the_same_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path, pid=4242), pytest.raises(LockedError) as refused:
        RunLock(tmp_path).acquire()
    assert refused.value.pid == 4242
    assert str(refused.value).startswith("another run (pid 4242) is in progress")
    assert refused.value.lock_path == tmp_path / "state" / "run.lock"


def test_the_lock_can_be_taken_again_once_released_and_the_pid_file_is_gone(tmp_path: Path) -> None:
    first = RunLock(tmp_path)
    first.acquire()
    assert (tmp_path / "state" / "run.lock.pid").read_text(encoding="utf-8").strip() == str(os.getpid())
    first.release()
    assert not (tmp_path / "state" / "run.lock.pid").exists()
    with RunLock(tmp_path) as second:
        assert second.held
    assert not second.held


def test_locks_of_different_reports_directories_do_not_interfere(tmp_path: Path) -> None:
    with RunLock(tmp_path / "a"), RunLock(tmp_path / "b") as other:
        assert other.held


def test_a_leftover_lock_and_pid_file_without_a_living_holder_do_not_block(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "run.lock").write_text("", encoding="utf-8")
    (state / "run.lock.pid").write_text("999999\n", encoding="utf-8")
    with RunLock(tmp_path) as lock:
        assert lock.held
        assert (state / "run.lock.pid").read_text(encoding="utf-8").strip() == str(os.getpid())


def test_a_lock_held_by_a_process_that_was_killed_does_not_block_the_next_run(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    with pytest.raises(LockedError) as refused:
        RunLock(tmp_path).acquire()
    assert refused.value.pid == holder.pid
    holder.kill()
    holder.wait(timeout=10)
    assert (tmp_path / "state" / "run.lock.pid").exists()  # nothing cleaned up after the kill
    with RunLock(tmp_path) as lock:
        assert lock.held


def test_a_refused_run_names_an_unknown_holder_when_the_pid_file_is_missing(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        (tmp_path / "state" / "run.lock.pid").unlink()
        with pytest.raises(LockedError, match=r"another run \(pid unknown\) is in progress"):
            RunLock(tmp_path).acquire()


def test_the_lock_lives_in_the_state_folder_of_the_reports_directory(tmp_path: Path) -> None:
    assert run_lock.lock_path(tmp_path) == tmp_path / "state" / "run.lock"


@pytest.mark.e2e  # the lock is held by this process: the run must be another one
def test_a_one_shot_run_against_a_held_lock_exits_3_at_once_without_a_traceback(make_config, tmp_path: Path) -> None:
    config_path = make_config(CLOSED_PORT_URL)
    with RunLock(tmp_path / "reports"):
        completed = run_cli(["--mode", "report", "--config", str(config_path)], timeout=60)
    assert completed.returncode == 3, completed.stderr
    assert f"another run (pid {os.getpid()}) is in progress" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert not list((tmp_path / "reports").glob("HEALTH_DASHBOARD_*"))
    # Refused before any work: the heartbeat of the holder is not touched.
    assert not (tmp_path / "reports" / "state" / "heartbeat.json").exists()
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    assert "another run" in log and SIMULATOR_TOKEN not in log


def test_a_one_shot_run_after_a_killed_holder_runs_normally(simulator, make_config, tmp_path: Path) -> None:
    holder = start_holder(tmp_path / "reports")
    holder.kill()
    holder.wait(timeout=10)
    completed = run_main(["--mode", "report", "--quiet", "--config", str(make_config(simulator.base_url))])
    assert completed.returncode == 0, completed.stderr
    assert len(list((tmp_path / "reports").glob("HEALTH_DASHBOARD_*.json"))) == 1
