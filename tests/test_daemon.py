"""Daemon mode: the loop in-process with injected time, and `python src/main.py --daemon` in a subprocess against
the simulator and a loopback SMTP server: first cycle at start, cadence, failures survived and alerted once,
signals, the lock, the heartbeat, and no secret in any output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest

from conftest import MAIN_SCRIPT, SIMULATOR_TOKEN, run_cli, run_main
from mist_infra_manager.mist.mist_client import MistApiError
from mist_infra_manager.pipeline import daemon
from mist_infra_manager.pipeline.daemon import Daemon, ScheduleTicker, Stopper, StopRequested
from mist_infra_manager.simulator.mist_simulator import MistSimulator
from mist_infra_manager.state import heartbeat
from mist_infra_manager.state.run_lock import RunLock
from smtp_server import SmtpTestServer

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
INTERVAL = 60.0
SMTP_USER = "mim-relay"
SMTP_PASSWORD = "relay-pa55-Zk4!wq"
POSIX_SIGNALS = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
# Generous bounds for a loaded test machine; the daemon itself needs a fraction of a second.
STOP_TIMEOUT = 5.0
WAIT_TIMEOUT = 60.0


# --- the loop in-process, with injected time ---------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when the daemon sleeps or a scripted cycle takes time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.sleeps: List[float] = []
        self.on_sleep: Optional[Callable[[], None]] = None

    def monotonic(self) -> float:
        return self.seconds

    def clock(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds
        if self.on_sleep is not None:
            self.on_sleep()


Step = Union[None, str, BaseException]


@dataclass
class Script:
    """A cycle function: each call takes `duration` seconds of fake time and then succeeds (None), fails with a
    reason (str) or raises (an exception); the stopper is asked to stop after the last step."""

    time: FakeTime
    stopper: Stopper
    steps: List[Step]
    durations: Dict[int, float] = field(default_factory=dict)
    starts: List[float] = field(default_factory=list)
    during: Dict[int, Callable[[], None]] = field(default_factory=dict)

    def __call__(self) -> Optional[str]:
        index = len(self.starts)
        self.starts.append(self.time.seconds)
        if index in self.during:
            self.during[index]()
        self.time.seconds += self.durations.get(index, 5.0)
        if index + 1 >= len(self.steps):
            self.stopper.request("test")
        step = self.steps[index]
        if isinstance(step, BaseException):
            raise step
        return step


@dataclass
class Alerts:
    """The alert function: records every (kind, detail) and answers as told."""

    answers: List[Any] = field(default_factory=list)
    sent: List[Tuple[str, str, datetime]] = field(default_factory=list)

    def __call__(self, kind: str, detail: str, now: datetime) -> bool:
        self.sent.append((kind, detail, now))
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, BaseException):
            raise answer
        return bool(answer)

    @property
    def kinds(self) -> List[str]:
        return [kind for kind, _, _ in self.sent]


def run_script(
    tmp_path: Path, steps: List[Step], alerts: Optional[Alerts] = None, **script_options: Any
) -> Tuple[Script, Daemon, Alerts]:
    fake = FakeTime()
    stopper = Stopper(monotonic=fake.monotonic)
    script = Script(fake, stopper, steps, **script_options)
    alerts = alerts or Alerts()
    loop = Daemon(
        script,
        interval_seconds=INTERVAL,
        failure_alert_after=3,
        send_alert=alerts,
        heartbeat_file=heartbeat.heartbeat_path(tmp_path),
        stopper=stopper,
        clock=fake.clock,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        pid=4242,
    )
    loop.run()
    return script, loop, alerts


def read_heartbeat(directory: Path) -> Dict[str, Any]:
    return json.loads(heartbeat.heartbeat_path(directory).read_text(encoding="utf-8"))


def test_the_first_cycle_runs_at_start_then_one_per_interval_start_to_start(tmp_path: Path) -> None:
    script, loop, _ = run_script(tmp_path, [None, None, None])
    assert script.starts == [0.0, 60.0, 120.0]
    assert loop.cycles == 3


def test_a_cycle_that_outlasts_the_interval_is_followed_at_once_and_never_by_a_pile_up(tmp_path: Path) -> None:
    # The first cycle takes two and a half intervals: one cycle follows at once, not three to catch up.
    script, _, _ = run_script(tmp_path, [None, None, None], durations={0: 150.0})
    assert script.starts == [0.0, 150.0, 210.0]


def test_the_daemon_sleeps_in_short_steps_so_a_stop_is_seen_within_a_fraction_of_a_second(tmp_path: Path) -> None:
    script, _, _ = run_script(tmp_path, [None, None])
    fake = script.time
    assert fake.sleeps and max(fake.sleeps) <= daemon.POLL_SECONDS


def test_a_stop_during_the_wait_ends_the_loop_without_another_cycle(tmp_path: Path) -> None:
    fake = FakeTime()
    stopper = Stopper(monotonic=fake.monotonic)
    script = Script(fake, stopper, [None, None, None])

    def stop_at_half_interval() -> None:
        if fake.seconds >= 30:
            stopper.request("SIGTERM")

    fake.on_sleep = stop_at_half_interval
    Daemon(
        script,
        interval_seconds=INTERVAL,
        failure_alert_after=3,
        send_alert=Alerts(),
        heartbeat_file=heartbeat.heartbeat_path(tmp_path),
        stopper=stopper,
        clock=fake.clock,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
    ).run()
    assert script.starts == [0.0]
    assert fake.seconds < 31
    document = read_heartbeat(tmp_path)
    assert document["state"] == "stopped" and document["next_run"] is None


def test_every_kind_of_failure_is_one_log_line_with_the_reason_and_the_next_cycle_follows(
    tmp_path: Path, caplog
) -> None:
    steps: List[Step] = [
        MistApiError("GET /self: cannot connect to http://127.0.0.1:9 (ConnectionError) after 5 attempts"),
        ValueError("bad data: sle_pct is 'n/a'"),
        "email not delivered (kept in the outbox): 127.0.0.1:25 refused",
        None,
    ]
    with caplog.at_level("INFO"):
        script, loop, _ = run_script(tmp_path, steps)
    assert len(script.starts) == 4
    failures = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert failures == [
        "Cycle 1 failed (1 in a row): GET /self: cannot connect to http://127.0.0.1:9 (ConnectionError) after 5 "
        "attempts",
        "Cycle 2 failed (2 in a row): ValueError: bad data: sle_pct is 'n/a'",
        "Cycle 3 failed (3 in a row): email not delivered (kept in the outbox): 127.0.0.1:25 refused",
    ]
    assert loop.state.consecutive_failures == 0


def test_three_failed_cycles_send_exactly_one_failing_alert_and_a_success_one_recovered_alert(tmp_path: Path) -> None:
    steps: List[Step] = ["down", "down", "down", "down", "down", None, None]
    _, _, alerts = run_script(tmp_path, steps)
    assert alerts.kinds == ["failing", "recovered"]
    failing_detail = alerts.sent[0][1]
    assert "The last 3 monitoring cycles" in failing_detail and "Last error: down" in failing_detail
    assert alerts.sent[0][2] == T0 + timedelta(seconds=2 * INTERVAL + 5)
    assert "works again" in alerts.sent[1][1]


def test_a_failure_reason_is_one_line_and_names_the_class_only_for_unexpected_errors() -> None:
    assert daemon.describe_error(MistApiError("GET /self: HTTP 503")) == "GET /self: HTTP 503"
    assert daemon.describe_error(KeyError("sle")) == "KeyError: 'sle'"
    assert daemon.describe_error(ValueError("line one\n  line two")) == "ValueError: line one line two"
    assert daemon.describe_error(RuntimeError()) == "RuntimeError"


def test_fewer_failures_than_the_threshold_send_no_alert(tmp_path: Path) -> None:
    _, _, alerts = run_script(tmp_path, ["down", "down", None, "down", None])
    assert alerts.sent == []


def test_an_alert_that_raises_is_tried_again_after_the_next_cycle(tmp_path: Path) -> None:
    alerts = Alerts(answers=[RuntimeError("template missing"), True])
    _, loop, _ = run_script(tmp_path, ["down"] * 5, alerts=alerts)
    assert alerts.kinds == ["failing", "failing"]
    assert loop.state.failure_alerted


def test_an_alert_left_in_the_outbox_is_not_sent_twice(tmp_path: Path) -> None:
    alerts = Alerts(answers=[False])
    _, loop, _ = run_script(tmp_path, ["down"] * 5, alerts=alerts)
    assert alerts.kinds == ["failing"]
    assert loop.state.failure_alerted


def test_the_heartbeat_after_each_cycle_says_running_with_the_next_run(tmp_path: Path) -> None:
    seen: List[Dict[str, Any]] = []
    script, _, _ = run_script(
        tmp_path,
        [None, "HTTP 503", None],
        during={1: lambda: seen.append(read_heartbeat(tmp_path)), 2: lambda: seen.append(read_heartbeat(tmp_path))},
    )
    after_first, after_second = seen
    assert after_first["state"] == "running" and after_first["daemon"] is True and after_first["pid"] == 4242
    assert after_first["cycles"] == 1 and after_first["interval_minutes"] == 1
    assert after_first["last_success"] == "2026-11-28T03:00:05Z"
    assert after_first["next_run"] == "2026-11-28T03:01:00Z"
    assert after_second["last_failure"] == {"at": "2026-11-28T03:01:05Z", "reason": "HTTP 503"}
    assert after_second["consecutive_failures"] == 1
    assert after_second["last_cycle"]["ok"] is False and after_second["next_run"] == "2026-11-28T03:02:00Z"
    final = read_heartbeat(tmp_path)
    assert final["state"] == "stopped" and final["cycles"] == 3 and final["consecutive_failures"] == 0


def test_a_restarted_daemon_remembers_its_failing_alert_and_sends_the_recovery(tmp_path: Path) -> None:
    _, _, first = run_script(tmp_path, ["down"] * 4)
    _, _, second = run_script(tmp_path, [None])
    assert first.kinds == ["failing"] and second.kinds == ["recovered"]


def test_a_stop_inside_a_cycle_ends_the_daemon_without_counting_a_failure(tmp_path: Path, caplog) -> None:
    with caplog.at_level("INFO"):
        _, loop, alerts = run_script(tmp_path, [None, StopRequested("SIGTERM")])
    assert loop.state.consecutive_failures == 0 and alerts.sent == []
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert read_heartbeat(tmp_path)["state"] == "stopped"


def test_secrets_in_a_failure_reason_are_redacted_in_the_heartbeat(tmp_path: Path) -> None:
    from mist_infra_manager import logging_setup

    logging_setup.add_secret(SMTP_PASSWORD)
    run_script(tmp_path, [f"login with {SMTP_PASSWORD} refused"])
    assert SMTP_PASSWORD not in heartbeat.heartbeat_path(tmp_path).read_text(encoding="utf-8")


def test_the_schedule_ticker_runs_a_due_job_once_and_counts_the_interval_from_its_start() -> None:
    fake = FakeTime()
    runs: List[float] = []

    def job() -> None:
        runs.append(fake.seconds)
        fake.seconds += 25.0

    ticker = ScheduleTicker(job, 10.0, monotonic=fake.monotonic)
    assert ticker.seconds_until_due() == 0
    ticker.run_due()
    assert runs == [0.0]
    # 25 s later the next run, due at 10 s, is due at once; it runs once, not twice.
    assert ticker.seconds_until_due() == 0
    ticker.run_due()
    assert runs == [0.0, 25.0]
    fake.seconds = 30.0
    assert ticker.seconds_until_due() == pytest.approx(5.0)
    ticker.run_due()
    assert runs == [0.0, 25.0]


def test_the_stopper_ends_a_retry_wait_early_and_stops_api_calls() -> None:
    stopper = Stopper()
    stopper.check()
    stopper.sleep(0.01)
    threading.Timer(0.05, stopper.request, args=("SIGTERM",)).start()
    with pytest.raises(StopRequested):
        stopper.sleep(30)
    with pytest.raises(StopRequested):
        stopper.check()
    assert stopper.reason == "SIGTERM"


@POSIX_SIGNALS
def test_the_first_signal_asks_for_a_stop_and_a_second_one_stops_at_once() -> None:
    stopper = Stopper()
    restore = stopper.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stopper.reason == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is not stopper.handle_signal


def test_a_requested_stop_ends_a_cycle_at_its_first_api_call_before_any_file(simulator, make_config, tmp_path) -> None:
    from mist_infra_manager import config as config_module

    loaded = config_module.load_config(make_config(simulator.base_url), {})
    stopper = Stopper()
    stopper.request("SIGTERM")
    with pytest.raises(StopRequested):
        daemon.run_pipeline(loaded, "report", stopper)
    assert simulator.calls == 0
    assert not list((tmp_path / "reports").glob("HEALTH_DASHBOARD_*"))


# --- the daemon in a subprocess ----------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """STARTTLS with AUTH, as a real relay; the password reaches the tool only through MIST_SMTP_PASSWORD."""
    with SmtpTestServer(tls="starttls", username=SMTP_USER, password=SMTP_PASSWORD) as server:
        yield server


def subjects(server: SmtpTestServer, words: str) -> List[str]:
    with server.lock:
        return [message.subject for message in server.messages if words in message.subject]


def bodies(server: SmtpTestServer, words: str) -> List[str]:
    with server.lock:
        return [message.body("plain") for message in server.messages if words in message.subject]


def daemon_email_config(server: SmtpTestServer, api_url: str, make_config) -> Path:  # type: ignore[no-untyped-def]
    return make_config(
        api_url,
        {
            "mist": {"max_retry_wait_seconds": 0, "timeout_seconds": 2},
            "monitoring": {"failure_alert_after": 3},
            "notifications": {"enabled": True, "email": server.email_config(password=None)},
        },
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_daemon(
    config_path: Path, tmp_path: Path, *arguments: str, env: Optional[Dict[str, str]] = None
) -> subprocess.Popen:
    """Start `main.py --daemon` from `/` with its output in files (a pipe nobody reads could fill up)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    environment.update(env or {})
    stdout = (tmp_path / "daemon.stdout").open("w", encoding="utf-8")
    stderr = (tmp_path / "daemon.stderr").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(MAIN_SCRIPT), "--daemon", "--config", str(config_path), *arguments],
        cwd="/",
        env=environment,
        stdout=stdout,
        stderr=stderr,
    )
    stdout.close()
    stderr.close()
    return process


def output_of(tmp_path: Path) -> Tuple[str, str]:
    return (
        (tmp_path / "daemon.stdout").read_text(encoding="utf-8"),
        (tmp_path / "daemon.stderr").read_text(encoding="utf-8"),
    )


def wait_for(condition: Callable[[], Any], process: subprocess.Popen, tmp_path: Path, what: str) -> Any:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            out, err = output_of(tmp_path)
            pytest.fail(f"the daemon exited with {process.returncode} while waiting for {what}:\n{out}\n{err}")
        time.sleep(0.05)
    out, err = output_of(tmp_path)
    pytest.fail(f"timed out waiting for {what}:\n{out}\n{err}")


def heartbeat_or_empty(reports: Path) -> Dict[str, Any]:
    try:
        return read_heartbeat(reports)
    except (OSError, ValueError):
        return {}


@pytest.fixture
def daemon_processes() -> Iterator[List[subprocess.Popen]]:
    """Kill whatever daemon a failed test left running."""
    started: List[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@POSIX_SIGNALS
def test_the_daemon_from_root_writes_its_first_dashboard_refuses_a_one_shot_run_and_exits_0_on_sigterm(
    simulator, make_config, tmp_path, daemon_processes
) -> None:
    reports = tmp_path / "reports"
    process = start_daemon(make_config(simulator.base_url), tmp_path, "--interval", "15")
    daemon_processes.append(process)
    first = wait_for(lambda: heartbeat_or_empty(reports).get("cycles") == 1, process, tmp_path, "the first cycle")
    assert first
    assert len(list(reports.glob("HEALTH_DASHBOARD_*.json"))) == 1
    document = read_heartbeat(reports)
    assert document["state"] == "running" and document["pid"] == process.pid and document["daemon"] is True
    assert document["interval_minutes"] == 15 and document["last_cycle"]["ok"] is True
    next_run = heartbeat.parse_iso(document["next_run"])
    cycle_start = heartbeat.parse_iso(document["last_cycle"]["started_at"])
    assert next_run is not None and cycle_start is not None
    until_next = next_run - cycle_start
    assert timedelta(minutes=14) <= until_next <= timedelta(minutes=15, seconds=1)

    refused = run_cli(["--mode", "report", "--config", str(tmp_path / "config.yaml")], timeout=60)
    assert refused.returncode == 3
    assert f"another run (pid {process.pid}) is in progress" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert process.poll() is None

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0
    out, err = output_of(tmp_path)
    assert "Traceback" not in out + err
    assert "Stopping on SIGTERM after 1 cycle(s)" in out
    assert "Run done: 40 sites" in out
    assert read_heartbeat(reports)["state"] == "stopped"
    assert len(list(reports.glob("HEALTH_DASHBOARD_*.json"))) == 1
    with RunLock(reports) as lock:  # released on the way out
        assert lock.held


@POSIX_SIGNALS
def test_cycles_repeat_at_a_short_interval_and_ctrl_c_stops_with_exit_0_and_no_traceback(
    simulator, make_config, tmp_path, daemon_processes
) -> None:
    reports = tmp_path / "reports"
    process = start_daemon(make_config(simulator.base_url), tmp_path, "--interval", "0.005", "--mode", "report")
    daemon_processes.append(process)
    wait_for(lambda: heartbeat_or_empty(reports).get("cycles", 0) >= 3, process, tmp_path, "three cycles")
    assert len(list(reports.glob("HEALTH_DASHBOARD_*.json"))) >= 3
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_TIMEOUT) == 0
    out, err = output_of(tmp_path)
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in err
    assert "Stopping on SIGINT" in out
    assert not list(reports.glob(".*.tmp"))


@POSIX_SIGNALS
def test_sigterm_in_the_middle_of_a_slow_cycle_stops_within_seconds_without_half_written_files(
    make_config, tmp_path, daemon_processes
) -> None:
    reports = tmp_path / "reports"
    # 0.2 s per request, one at a time: the first cycle takes about ten seconds.
    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, latency_ms=200, degraded_share=0.5) as slow:
        config_path = make_config(slow.base_url, {"mist": {"max_workers": 1}, "sle": {"classifier_detail": "all"}})
        process = start_daemon(config_path, tmp_path, "--interval", "15")
        daemon_processes.append(process)
        wait_for(lambda: slow.calls >= 3, process, tmp_path, "the cycle's first API calls")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) == 0
    out, err = output_of(tmp_path)
    assert "Traceback" not in out + err
    assert "Cycle 1 stopped before its end" in out
    assert not list(reports.glob("HEALTH_DASHBOARD_*")) and not list(reports.glob(".*.tmp"))
    assert read_heartbeat(reports)["state"] == "stopped"


@POSIX_SIGNALS
def test_an_unreachable_api_fails_cycles_without_stopping_sends_one_failing_email_then_one_recovered_email(
    smtp_server, make_config, tmp_path, daemon_processes
) -> None:
    port = free_port()
    reports = tmp_path / "reports"
    config_path = daemon_email_config(smtp_server, f"http://127.0.0.1:{port}", make_config)
    process = start_daemon(
        config_path, tmp_path, "--interval", "0.005", "--verbose", env={"MIST_SMTP_PASSWORD": SMTP_PASSWORD}
    )
    daemon_processes.append(process)

    wait_for(lambda: heartbeat_or_empty(reports).get("consecutive_failures", 0) >= 5, process, tmp_path, "5 failures")
    assert process.poll() is None
    assert len(subjects(smtp_server, "monitoring is failing")) == 1
    assert subjects(smtp_server, "recovered") == []
    assert "cannot connect" in bodies(smtp_server, "monitoring is failing")[0]
    document = read_heartbeat(reports)
    assert document["failure_alerted"] is True and "cannot connect" in document["last_failure"]["reason"]

    # The API comes back on the same port.
    with MistSimulator(num_sites=10, token=SIMULATOR_TOKEN, port=port):
        wait_for(lambda: subjects(smtp_server, "recovered"), process, tmp_path, "the recovered email")
        cycles = read_heartbeat(reports)["cycles"]
        wait_for(lambda: heartbeat_or_empty(reports).get("cycles", 0) >= cycles + 2, process, tmp_path, "2 more cycles")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) == 0

    assert len(subjects(smtp_server, "monitoring is failing")) == 1
    assert len(subjects(smtp_server, "monitoring recovered")) == 1
    final = read_heartbeat(reports)
    assert final["consecutive_failures"] == 0 and final["failure_alerted"] is False
    out, err = output_of(tmp_path)
    assert "Cycle 1 failed (1 in a row): GET /self: cannot connect" in err
    assert "Traceback" not in out + err
    log = (tmp_path / "mist_infra_manager.log").read_text(encoding="utf-8")
    with smtp_server.lock:
        mails = "".join(message.data.decode("utf-8", "replace") for message in smtp_server.messages)
    everything = out + err + log + json.dumps(final) + mails
    assert SIMULATOR_TOKEN not in everything and SMTP_PASSWORD not in everything


@POSIX_SIGNALS
def test_an_smtp_server_that_is_down_fails_cycles_and_the_failing_alert_arrives_from_the_outbox_once_it_is_back(
    smtp_server, simulator, make_config, tmp_path, daemon_processes
) -> None:
    smtp_server.stop()
    reports = tmp_path / "reports"
    config_path = daemon_email_config(smtp_server, simulator.base_url, make_config)
    process = start_daemon(config_path, tmp_path, "--interval", "0.005", env={"MIST_SMTP_PASSWORD": SMTP_PASSWORD})
    daemon_processes.append(process)

    wait_for(lambda: heartbeat_or_empty(reports).get("failure_alerted"), process, tmp_path, "the failing alert")
    assert "email not delivered" in read_heartbeat(reports)["last_failure"]["reason"]
    smtp_server.start()
    wait_for(lambda: subjects(smtp_server, "recovered"), process, tmp_path, "the recovered email")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0
    assert len(subjects(smtp_server, "monitoring is failing")) == 1
    assert len(subjects(smtp_server, "monitoring recovered")) == 1
    out, err = output_of(tmp_path)
    assert "Traceback" not in out + err and SMTP_PASSWORD not in out + err


@POSIX_SIGNALS
def test_a_queued_failing_alert_goes_out_once_smtp_is_back_even_while_the_api_is_still_down(
    smtp_server, make_config, tmp_path, daemon_processes
) -> None:
    smtp_server.stop()
    reports = tmp_path / "reports"
    config_path = daemon_email_config(smtp_server, f"http://127.0.0.1:{free_port()}", make_config)
    process = start_daemon(config_path, tmp_path, "--interval", "0.005", env={"MIST_SMTP_PASSWORD": SMTP_PASSWORD})
    daemon_processes.append(process)

    wait_for(lambda: heartbeat_or_empty(reports).get("failure_alerted"), process, tmp_path, "the failing alert")
    assert list((reports / "outbox").glob("*.eml"))
    smtp_server.start()
    wait_for(lambda: subjects(smtp_server, "monitoring is failing"), process, tmp_path, "the queued failing email")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0
    assert len(subjects(smtp_server, "monitoring is failing")) == 1
    assert not list((reports / "outbox").glob("*.eml"))


def test_a_failed_one_shot_run_exits_1_and_records_the_failure_in_the_heartbeat(make_config, tmp_path) -> None:
    completed = run_main(
        [
            "--mode",
            "report",
            "--config",
            str(make_config(f"http://127.0.0.1:{free_port()}", {"mist": {"max_retry_wait_seconds": 0}})),
        ]
    )
    assert completed.returncode == 1
    document = read_heartbeat(tmp_path / "reports")
    assert document["state"] == "finished" and document["daemon"] is False and document["next_run"] is None
    assert document["consecutive_failures"] == 1 and "cannot connect" in document["last_failure"]["reason"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--interval", "5"], "--interval applies only with --daemon"),
        (["--daemon", "--interval", "0"], "--interval: expected minutes greater than 0, got 0"),
        (["--daemon", "--demo"], "--daemon and --demo exclude each other"),
    ],
)
def test_bad_daemon_options_are_usage_errors(arguments: List[str], message: str) -> None:
    completed = run_main(arguments)
    assert completed.returncode == 2
    assert message in completed.stderr
