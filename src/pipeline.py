"""One run of the tool: collect, then the outputs the mode asks for. Shared by one-shot runs and the daemon."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, List, Mapping, Optional

import collector
import report_generator
from mist_client import MistClient
from models import RunResult
from report_generator import ReportFiles

logger = logging.getLogger(__name__)

MODES = ("monitor", "insights", "report", "all")


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(timezone.utc)


@dataclass
class CycleOutcome:
    """What one run produced: the result, the files written, the text for the console and the exit code."""

    result: RunResult
    files: Optional[ReportFiles] = None
    console: List[str] = field(default_factory=list)
    exit_code: int = 0


def make_client(config: Mapping[str, Any]) -> MistClient:
    """Return a Mist client for a validated configuration."""
    mist = config["mist"]
    return MistClient(
        mist["base_url"],
        mist["api_token"],
        timeout_seconds=mist["timeout_seconds"],
        max_workers=mist["max_workers"],
        max_retry_wait_seconds=mist["max_retry_wait_seconds"],
    )


def run_cycle(
    config: Mapping[str, Any],
    mode: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    client: Optional[MistClient] = None,
) -> CycleOutcome:
    """Collect once and produce the mode's outputs; raises MistApiError and OrgSelectionError for fatal failures."""
    own_client = client is None
    active_client = client or make_client(config)
    try:
        result = collector.collect(
            active_client,
            collector.CollectionSettings.from_config(config),
            clock(),
            fetch_detail=mode != "insights",
        )
    finally:
        if own_client:
            active_client.close()
    outcome = CycleOutcome(result=result)
    if mode in ("monitor", "all"):
        outcome.console.append(report_generator.render("monitor.txt.j2", result))
    if mode in ("insights", "all"):
        outcome.console.append(report_generator.render("insights.txt.j2", result))
    if mode in ("report", "all"):
        outcome.files = report_generator.write_reports(result, config["reports"]["directory"])
    if not result.complete:
        logger.error(
            "Data incomplete: %d API call(s) failed; the reports say so. First: %s",
            len(result.problems),
            result.problems[0],
        )
        outcome.exit_code = 1
    counts = result.severity_counts
    logger.info(
        "Run done: %d sites, %d critical, %d major, %d warning site-metrics, %d API calls",
        len(result.sites),
        counts["critical"],
        counts["major"],
        counts["warning"],
        result.api_calls,
    )
    return outcome
