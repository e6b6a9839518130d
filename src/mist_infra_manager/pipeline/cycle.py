"""One run of the tool: collect, then the outputs the mode asks for. Shared by one-shot runs and the daemon.

The alert path comes before everything that writes to disk can stop it: history never raises, a report file
that cannot be written (disk full, a folder the user cannot write) is logged in one line, makes exit 1 and is a
note in the email, and the email attaches the summary rendered from memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, List, Optional

from mist_infra_manager.alerting import channels, notification_service
from mist_infra_manager.analysis import policy
from mist_infra_manager.analysis.models import RunResult, utc_now
from mist_infra_manager.mist import collector
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.outputs.report_generator import ReportFiles
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import history_store, paths, silences

logger = logging.getLogger(__name__)

STATE_DIRECTORY_NAME = paths.STATE_DIRECTORY_NAME


@dataclass
class CycleOutcome:
    """What one run produced: the result, the files written, the text for the console and the exit code."""

    result: RunResult
    files: Optional[ReportFiles] = None
    console: List[str] = field(default_factory=list)
    exit_code: int = 0
    notification: Optional[notification_service.NotificationOutcome] = None
    # Teams, Slack, PagerDuty and webhook channels (alerting/channels.py).
    channels: Optional[channels.ChannelsOutcome] = None
    # The one line saying why the report files could not be written, None when they were.
    write_failure: Optional[str] = None


def make_client(
    config: Settings,
    *,
    on_call: Optional[Callable[[], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
    check_stop: Optional[Callable[[], None]] = None,
) -> MistClient:
    """Return a Mist client for a validated configuration.

    on_call runs before every request, sleep does the retry waits and check_stop runs while an answer is awaited
    (at least every 0.25 s): the daemon's stop signal hooks in there, so a stop never waits for a slow answer.
    """
    mist = config.mist
    return MistClient(
        mist.base_url,
        mist.api_token or "",
        timeout_seconds=mist.timeout_seconds,
        max_workers=mist.max_workers,
        max_retry_wait_seconds=mist.max_retry_wait_seconds,
        sleep=sleep,
        on_call=on_call,
        proxy=mist.proxy,
        ca_bundle=None if mist.ca_bundle is None else str(mist.ca_bundle),
        environ=dict(config.network_environment),
        check_stop=check_stop,
    )


def _update_history(result: RunResult, config: Settings) -> None:
    """Record the run in the history; a failure to write it never stops the alert path (logged in one line)."""
    try:
        history_store.update_history(result, config)
    except OSError as error:
        logger.error("History could not be updated in %s: %s", config.history.directory, error.strerror or error)


def run_cycle(
    config: Settings,
    mode: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    client: Optional[MistClient] = None,
    show_progress: bool = False,
    interval_minutes: Optional[float] = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> CycleOutcome:
    """Collect once and produce the mode's outputs; raises MistApiError and OrgSelectionError for fatal failures.

    show_progress: a progress bar for the classifier phase, drawn only when stderr is a terminal.
    interval_minutes: the daemon's interval, which caps the run deadline (mist.run_timeout_seconds);
    monotonic: the clock of that deadline.
    """
    started = time.monotonic()
    own_client = client is None
    active_client = client or make_client(config)
    active_silences = silences.load_silences(config.reports.directory)
    try:
        settings = collector.CollectionSettings.from_config(config, interval_minutes)
        settings.site_groups_wanted = any(item.group is not None and item.active(clock()) for item in active_silences)
        result = collector.collect(
            active_client,
            settings,
            clock(),
            fetch_detail=mode != "insights",
            # The call meter and the caches, shared by every run of this reports directory.
            state_directory=config.reports.directory / STATE_DIRECTORY_NAME,
            clock=clock,
            show_progress=show_progress,
            monotonic=monotonic,
        )
    finally:
        if own_client:
            active_client.close()
    # Alert policy: silences (state/silences.json), maintenance, minimum impact, inhibition and incidents.
    result.alert_window = config.sle.alert_window
    policy.apply_policy(result, config.policy, active_silences, clock())
    outcome = CycleOutcome(result=result)
    # Before any output, which all render result.trends; then the run's snapshot and retention.
    _update_history(result, config)
    if mode in ("monitor", "all"):
        outcome.console.append(report_generator.render("monitor.txt.j2", result))
    if mode in ("insights", "all"):
        outcome.console.append(report_generator.render("insights.txt.j2", result))
    if mode in ("report", "all"):
        notes: List[str] = []
        try:
            outcome.files = report_generator.write_reports(result, config.reports.directory, config.reports.file_mode)
        except OSError as error:
            note = f"Report files could not be written to {config.reports.directory}: {error.strerror or error}"
            logger.error("%s", note)
            notes.append(note)
            outcome.write_failure = note
            outcome.exit_code = 1
        # The alert goes out whether or not the files exist: its attachment is rendered from the result.
        outcome.notification = notification_service.process_run(result, outcome.files, config, clock(), notes=notes)
        if outcome.notification.failed:
            outcome.exit_code = 1
        # Each channel has its own state and outbox: one failing never changes what the email or another does.
        outcome.channels = channels.process_run(result, config, clock())
        if outcome.channels.failed:
            outcome.exit_code = 1
    # The rendering context of this result is not needed after its outputs; a daemon should not hold it.
    report_generator.forget_context()
    if not result.complete:
        logger.error(
            "Data incomplete: %d problem(s); the reports say so. First: %s",
            len(result.problems),
            result.problems[0],
        )
        outcome.exit_code = 1
    counts = result.severity_counts
    logger.info(
        "Run done: %d sites, %d critical, %d major, %d warning site-metrics, %d API calls, %.1f s",
        len(result.sites),
        counts["critical"],
        counts["major"],
        counts["warning"],
        result.api_calls,
        time.monotonic() - started,
    )
    return outcome
