"""Daemon mode and the stop signal: a cycle at start, then one per interval, until SIGTERM, SIGINT or Ctrl-Break.

Design:
- The cycle runs in the main thread. A signal only sets the Stopper's flag; the flag is looked at between
  cycles (the wait sleeps in steps of POLL_SECONDS), before every API request and in every retry wait. A stop
  therefore never cuts a report file or an email in half. While an API answer is awaited the flag is looked at
  every 0.25 s too, so a stop takes a fraction of a second during collection, or one SMTP exchange
  (`notifications.email.timeout_seconds`). A second signal stops
  at once (KeyboardInterrupt).
- A failed cycle never stops the daemon: one log line with the reason, the heartbeat, then the next cycle.
  After `monitoring.failure_alert_after` failed cycles in a row one "monitoring is failing" email goes out, and
  one "monitoring recovered" email after the next successful cycle.
- The cadence is start to start: a cycle that outlasts the interval is followed at once by the next one, and
  never by a backlog of missed ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, Optional

import schedule

from mist_infra_manager import logging_setup
from mist_infra_manager.analysis.models import utc_now
from mist_infra_manager.mist.collector import OrgSelectionError
from mist_infra_manager.mist.mist_client import MistApiError
from mist_infra_manager.pipeline import cycle as pipeline
from mist_infra_manager.pipeline.exporter import MetricsExporter
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import heartbeat

logger = logging.getLogger(__name__)

# The longest the daemon sleeps before it looks at the stop flag again.
POLL_SECONDS = 0.25
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGBREAK")
# Failures whose message says it all: no traceback, no exception class name.
EXPECTED_ERRORS = (MistApiError, OrgSelectionError)

Clock = Callable[[], dt.datetime]
SendAlert = Callable[[str, str, dt.datetime], bool]


class StopRequested(KeyboardInterrupt):
    """Raised inside a cycle at its next API request or retry wait once a stop was requested.

    A KeyboardInterrupt, so that no `except Exception` on the way counts it as a failure, and a one-shot run
    ends as on Ctrl-C.
    """


class Stopper:
    """The stop flag, set by the signal handlers (or directly by tests)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.reason: Optional[str] = None
        self._monotonic = monotonic

    @property
    def requested(self) -> bool:
        """Return whether a stop was requested."""
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask the run to stop after the current step."""
        if self.reason is None:
            self.reason = reason

    def check(self) -> None:
        """Raise StopRequested when a stop was requested (the API client calls this before every request)."""
        if self.reason is not None:
            raise StopRequested(self.reason)

    def sleep(self, seconds: float) -> None:
        """Sleep, in steps so that a stop request ends the wait early by raising StopRequested."""
        deadline = self._monotonic() + seconds
        while True:
            self.check()
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, POLL_SECONDS))

    def handle_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        """Signal handler: the first signal requests a stop, a second one stops at once."""
        if self.requested:
            raise KeyboardInterrupt
        self.request(signal.Signals(signum).name)

    def install(self) -> Callable[[], None]:
        """Install handle_signal for SIGTERM, SIGINT and (Windows) SIGBREAK; returns a function restoring the old ones.

        Does nothing outside the main thread, where Python cannot install signal handlers.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: Dict[int, Any] = {}
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            try:
                previous[number] = signal.signal(number, self.handle_signal)
            except (OSError, ValueError):  # a signal this platform cannot catch
                continue

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        return restore


class ScheduleTicker:
    """Runs a job with the `schedule` library: at once, then every interval, start to start.

    schedule plans the next run an interval after a job *ended*, in naive local wall-clock time. The daemon wants
    the interval from start to start, unaffected by DST changes or clock steps, so before each look at the
    scheduler the job's next_run is set from a deadline on the monotonic clock. A job that ran longer than the
    interval is due at once, and runs once: schedule never runs a missed job twice.
    """

    def __init__(
        self,
        job: Callable[[], None],
        interval_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function = job
        self._interval = interval_seconds
        self._monotonic = monotonic
        self._due = monotonic()
        self._scheduler = schedule.Scheduler()
        # schedule works with a float interval (a timedelta); its annotation says int.
        self._job = self._scheduler.every(interval_seconds).seconds.do(self._run)  # type: ignore[arg-type]

    def _run(self) -> None:
        self._due = self._monotonic() + self._interval
        self._function()

    def seconds_until_due(self) -> float:
        """Return the seconds until the next run, 0 when it is due."""
        return max(0.0, self._due - self._monotonic())

    def run_due(self) -> None:
        """Run the job when it is due."""
        self._job.next_run = dt.datetime.now() + dt.timedelta(seconds=self.seconds_until_due())
        self._scheduler.run_pending()


def describe_error(error: BaseException) -> str:
    """Return the one-line reason of a failed cycle."""
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    if isinstance(error, EXPECTED_ERRORS):
        return text
    return f"{type(error).__name__}: {text}"


def outcome_failure(outcome: pipeline.CycleOutcome) -> Optional[str]:
    """Return why a cycle that ran to its end failed, None when it succeeded."""
    if outcome.exit_code == 0:
        return None
    result = outcome.result
    if not result.complete and result.problems:
        return f"data incomplete: {len(result.problems)} API call(s) failed; first: {result.problems[0]}"
    if outcome.write_failure is not None:
        return outcome.write_failure
    notification = outcome.notification
    if notification is not None and notification.failed:
        first = f": {notification.errors[0]}" if notification.errors else ""
        return f"email not delivered (kept in the outbox){first}"
    return f"the cycle ended with exit code {outcome.exit_code} (see the log)"


class Daemon:
    """The daemon loop; every edge (the cycle, the alert email, the clocks and the sleep) is handed in."""

    def __init__(
        self,
        cycle: Callable[[], Optional[str]],
        *,
        interval_seconds: float,
        failure_alert_after: int,
        send_alert: SendAlert,
        heartbeat_file: Path,
        stopper: Stopper,
        mode: str = "all",
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        pid: Optional[int] = None,
    ) -> None:
        """cycle runs one cycle and returns None on success or the reason it failed; it may also raise."""
        self._cycle = cycle
        self.interval_seconds = interval_seconds
        self._failure_alert_after = failure_alert_after
        self._send_alert = send_alert
        self.heartbeat_file = heartbeat_file
        self._stopper = stopper
        self._mode = mode
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._pid = os.getpid() if pid is None else pid
        self.cycles = 0
        self.state = heartbeat.HealthState()
        self._started_at = clock()
        self._last_cycle: Optional[heartbeat.CycleRecord] = None
        self._ticker: Optional[ScheduleTicker] = None

    def run(self) -> None:
        """Run cycles until a stop is requested; returns after writing the heartbeat as stopped."""
        self.state = heartbeat.load_state(self.heartbeat_file)
        self._started_at = self._clock()
        self._ticker = ScheduleTicker(self._one_cycle, self.interval_seconds, monotonic=self._monotonic)
        # "running" at once: the first cycle of a large org takes minutes, and the file still tells the last process.
        self._write_heartbeat(heartbeat.RUNNING, self._started_at)
        try:
            while not self._stopper.requested:
                self._ticker.run_due()
                wait = self._ticker.seconds_until_due()
                if wait > 0 and not self._stopper.requested:
                    self._sleep(min(wait, POLL_SECONDS))
        except StopRequested:
            logger.info("Cycle %d stopped before its end", self.cycles)
        finally:
            # Also on a second signal (KeyboardInterrupt); a crash leaves "running", which next_run shows as stale.
            if self._stopper.requested:
                logger.info("Stopping on %s after %d cycle(s)", self._stopper.reason, self.cycles)
                self._write_heartbeat(heartbeat.STOPPED, None)

    def _one_cycle(self) -> None:
        self.cycles += 1
        number = self.cycles
        started_at = self._clock()
        started = self._monotonic()
        try:
            reason = self._cycle()
        except StopRequested:
            raise
        except Exception as error:  # any failure of a cycle is logged and survived
            reason = describe_error(error)
            if not isinstance(error, EXPECTED_ERRORS):  # a bug or bad data: the traceback helps, in the debug log
                logger.debug("Cycle %d failed; the traceback:", number, exc_info=True)
        record = heartbeat.CycleRecord(
            started_at=started_at,
            finished_at=self._clock(),
            seconds=self._monotonic() - started,
            reason=None if reason is None else logging_setup.redact(reason),
        )
        previous = self.state
        self.state = heartbeat.record_cycle(previous, record)
        self._last_cycle = record
        if not record.ok:
            logger.error("Cycle %d failed (%d in a row): %s", number, self.state.consecutive_failures, record.reason)
        self._alert_if_due(record)
        next_run = self._next_run()
        logger.debug("Next cycle at %s", heartbeat.iso(next_run))
        self._write_heartbeat(heartbeat.RUNNING, next_run)

    def _next_run(self) -> dt.datetime:
        wait = self._ticker.seconds_until_due() if self._ticker is not None else self.interval_seconds
        return self._clock() + dt.timedelta(seconds=wait)

    def _alert_if_due(self, record: heartbeat.CycleRecord) -> None:
        kind = heartbeat.alert_kind(self.state, self._failure_alert_after)
        if kind is None:
            return
        if kind == heartbeat.FAILING:
            logger.warning(
                "Monitoring is failing: %d failed cycles in a row since %s",
                self.state.consecutive_failures,
                heartbeat.iso(self.state.failing_since),
            )
        else:
            logger.info("Monitoring recovered")
        detail = self._alert_detail(kind, record)
        try:
            delivered = self._send_alert(kind, detail, record.finished_at)
        except Exception as error:  # the alert must not take the daemon down either
            logger.error(
                "The 'monitoring %s' email failed (trying again after the next cycle): %s", kind, describe_error(error)
            )
            return
        if not delivered:
            # notification_service keeps an undelivered message in the outbox, which later runs send: no resend.
            logger.warning("The 'monitoring %s' email was not delivered now; it waits in the outbox", kind)
        self.state = replace(self.state, failure_alerted=kind == heartbeat.FAILING)

    def _alert_detail(self, kind: str, record: heartbeat.CycleRecord) -> str:
        where = f"on {socket.gethostname()} (pid {self._pid}, reports in {self.heartbeat_file.parent.parent})"
        if kind == heartbeat.FAILING:
            return (
                f"The last {self.state.consecutive_failures} monitoring cycles {where} failed, the first at "
                f"{heartbeat.iso(self.state.failing_since)}. Last error: {record.reason}. The daemon keeps "
                f"trying every {self.interval_seconds / 60:g} min; the heartbeat is {self.heartbeat_file}."
            )
        return (
            f"Monitoring {where} works again: the cycle of {heartbeat.iso(record.started_at)} succeeded. "
            f"The last failure was at {heartbeat.iso(self.state.last_failure)}: {self.state.last_failure_reason}."
        )

    def _write_heartbeat(self, status: str, next_run: Optional[dt.datetime]) -> None:
        heartbeat.write(
            self.heartbeat_file,
            heartbeat.document(
                self.state,
                status=status,
                pid=self._pid,
                daemon=True,
                mode=self._mode,
                interval_minutes=self.interval_seconds / 60,
                started_at=self._started_at,
                updated_at=self._clock(),
                cycles=self.cycles,
                last_cycle=self._last_cycle,
                next_run=next_run,
            ),
        )


def run_pipeline(
    config: Settings,
    mode: str,
    stopper: Stopper,
    *,
    show_progress: bool = False,
    clock: Clock = utc_now,
    exporter: Optional[MetricsExporter] = None,
    interval_minutes: Optional[float] = None,
) -> pipeline.CycleOutcome:
    """Run one collection and its outputs with the stop flag hooked into the API client.

    The exporter, when given, records the cycle (also a failed one) for the metrics endpoint and textfile;
    interval_minutes, the daemon's interval, caps the run deadline.
    """
    client = pipeline.make_client(config, on_call=stopper.check, sleep=stopper.sleep, check_stop=stopper.check)
    started = time.monotonic()
    outcome: Optional[pipeline.CycleOutcome] = None
    try:
        outcome = pipeline.run_cycle(
            config, mode, clock=clock, client=client, show_progress=show_progress, interval_minutes=interval_minutes
        )
        return outcome
    finally:
        client.close()
        if exporter is not None:
            _export(exporter, None if outcome is None else outcome.result, time.monotonic() - started)


def _export(exporter: MetricsExporter, result: Optional[Any], seconds: float) -> None:
    try:
        exporter.record(result, seconds)
    except Exception as error:  # metrics are a view: they never fail a cycle
        logger.error("Metrics not updated: %s", describe_error(error))


def make_exporter(config: Settings, state: heartbeat.HealthState) -> Optional[MetricsExporter]:
    """Return an exporter when metrics are configured, its last success taken from the heartbeat."""
    if config.metrics.address is None and config.metrics.textfile is None:
        return None
    last = state.last_success
    return MetricsExporter(config, last_success=None if last is None else last.timestamp())


def run_once(
    config: Settings,
    mode: str,
    stopper: Stopper,
    *,
    show_progress: bool = False,
    clock: Clock = utc_now,
) -> pipeline.CycleOutcome:
    """Run a one-shot cycle and record it in the heartbeat; raises what the cycle raises."""
    path = heartbeat.heartbeat_path(config.reports.directory)
    state = heartbeat.load_state(path)
    started_at = clock()
    started = time.monotonic()

    def record(reason: Optional[str]) -> None:
        cycle = heartbeat.CycleRecord(
            started_at=started_at,
            finished_at=clock(),
            seconds=time.monotonic() - started,
            reason=None if reason is None else logging_setup.redact(reason),
        )
        document = heartbeat.document(
            heartbeat.record_cycle(state, cycle),
            status=heartbeat.FINISHED,
            pid=os.getpid(),
            daemon=False,
            mode=mode,
            interval_minutes=None,
            started_at=started_at,
            updated_at=cycle.finished_at,
            cycles=1,
            last_cycle=cycle,
            next_run=None,
        )
        heartbeat.write(path, document)

    try:
        outcome = run_pipeline(
            config, mode, stopper, show_progress=show_progress, clock=clock, exporter=make_exporter(config, state)
        )
    except Exception as error:
        record(describe_error(error))
        raise
    record(outcome_failure(outcome))
    return outcome


def send_monitoring_alert(config: Settings, kind: str, detail: str, now: dt.datetime) -> bool:
    """Send the monitoring alert email through notification_service; returns whether it was delivered.

    False means it waits in the outbox. With email off there is no one to tell: the log line is the alert.
    """
    from mist_infra_manager.alerting import channels, notification_service

    # Every alert channel hears it too (Teams, Slack, PagerDuty, webhooks); an undelivered notice waits in its outbox.
    safe_detail = logging_setup.redact(detail)
    channels_delivered = channels.send_monitoring_notice(config, kind, safe_detail, now)
    notifications = config.notifications
    if not (notifications.email_enabled):
        logger.info("No 'monitoring %s' email: email notifications are off", kind)
        return channels_delivered
    return bool(notification_service.send_monitoring_alert(config, kind, detail, now)) and channels_delivered


def run_daemon(config: Settings, mode: str, interval_minutes: float, stopper: Stopper) -> None:
    """Run the daemon for a validated configuration until a stop is requested."""
    reports_directory = config.reports.directory
    exporter = make_exporter(config, heartbeat.load_state(heartbeat.heartbeat_path(reports_directory)))
    server = exporter.serve() if exporter is not None else None

    def cycle() -> Optional[str]:
        from mist_infra_manager.alerting import channels, notification_service

        # Before collecting: a queued alert must not wait for the API to come back. A disk fault here must not
        # keep the cycle (and its alert) from running.
        try:
            notification_service.flush_outbox(config)
        except OSError as error:
            logger.error("The outbox could not be sent before the cycle: %s", error)
        try:
            channels.flush_all(config)
        except OSError as error:
            logger.error("The channel outboxes could not be sent before the cycle: %s", error)
        return outcome_failure(
            run_pipeline(config, mode, stopper, exporter=exporter, interval_minutes=interval_minutes)
        )

    def send_alert(kind: str, detail: str, now: dt.datetime) -> bool:
        return send_monitoring_alert(config, kind, detail, now)

    daemon = Daemon(
        cycle,
        interval_seconds=interval_minutes * 60,
        failure_alert_after=config.monitoring.failure_alert_after,
        send_alert=send_alert,
        heartbeat_file=heartbeat.heartbeat_path(reports_directory),
        stopper=stopper,
        mode=mode,
    )
    logger.info(
        "Daemon started (pid %d): mode %s, a cycle every %g min, reports in %s; SIGTERM or Ctrl-C stops it",
        os.getpid(),
        mode,
        interval_minutes,
        reports_directory,
    )
    try:
        daemon.run()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    logger.info("Daemon stopped")
