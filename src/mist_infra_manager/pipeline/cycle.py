"""One run of the tool: collect, then the outputs the mode asks for. Shared by one-shot runs and the daemon."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, List, Optional

from mist_infra_manager.alerting import notification_service
from mist_infra_manager.analysis.models import RunResult, utc_now
from mist_infra_manager.mist import collector
from mist_infra_manager.mist.mist_client import MistClient
from mist_infra_manager.outputs import report_generator
from mist_infra_manager.outputs.report_generator import ReportFiles
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import history_store, paths

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


def make_client(
    config: Settings,
    *,
    on_call: Optional[Callable[[], None]] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MistClient:
    """Return a Mist client for a validated configuration.

    on_call runs before every request and sleep does the retry waits: the daemon's stop signal hooks in there.
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
    )


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
    try:
        result = collector.collect(
            active_client,
            collector.CollectionSettings.from_config(config, interval_minutes),
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
    outcome = CycleOutcome(result=result)
    # Before any output, which all render result.trends; then the run's snapshot and retention (never raises).
    history_store.update_history(result, config)
    if mode in ("monitor", "all"):
        outcome.console.append(report_generator.render("monitor.txt.j2", result))
    if mode in ("insights", "all"):
        outcome.console.append(report_generator.render("insights.txt.j2", result))
    if mode in ("report", "all"):
        outcome.files = report_generator.write_reports(result, config.reports.directory)
        # After the files: the email attaches the SUMMARY_REPORT just written. An email not sent exits 1.
        outcome.notification = notification_service.process_run(result, outcome.files, config, clock())
        if outcome.notification.failed:
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
