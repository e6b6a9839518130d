"""The metrics of the last completed cycle: kept between cycles, served on `metrics.listen`, written to
`metrics.textfile`. A scrape reads what the last cycle left; it never calls the API.

The exposition is rendered once per cycle (prometheus_client's generate_latest) and every scrape gets those
bytes: rendering 10,000 sites takes seconds, longer than Prometheus' default scrape timeout of 10 s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Tuple

from mist_infra_manager import __version__
from mist_infra_manager.alerting import channels
from mist_infra_manager.alerting.email_delivery import Outbox
from mist_infra_manager.analysis.models import RunResult, utc_now
from mist_infra_manager.mist import call_budget
from mist_infra_manager.outputs import metrics, metrics_server
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import paths

logger = logging.getLogger(__name__)


class MetricsServerError(Exception):
    """The metrics endpoint cannot listen where `metrics.listen` says."""


@dataclass
class MetricsExporter:
    """Holds the latest snapshot; record() after each cycle, latest() at each scrape."""

    config: Settings
    clock: Callable[[], float] = time.time
    last_success: Optional[float] = None
    _last_result: Optional[RunResult] = None
    _latest: Optional[metrics.MetricsSnapshot] = field(default=None, repr=False)
    _body: bytes = field(default=b"", repr=False)

    def latest(self) -> Optional[metrics.MetricsSnapshot]:
        """Return the snapshot of the last cycle, None before the first."""
        return self._latest

    def body(self) -> bytes:
        """Return the exposition of the last cycle (empty before the first)."""
        return self._body

    def record(self, result: Optional[RunResult], seconds: float) -> metrics.MetricsSnapshot:
        """Record a cycle (result None: it failed before its end) and write the textfile when configured."""
        complete = result is not None and result.complete
        if result is not None:
            # The SLE series show the last completed collection, also an incomplete one (it says so).
            self._last_result = result
        if complete:
            self.last_success = self.clock()
        calls_total, remaining = self._api_figures()
        health = metrics.ToolHealth(
            version=__version__,
            last_success_timestamp=self.last_success,
            cycle_duration_seconds=seconds,
            collection_complete=complete,
            api_calls_total=calls_total,
            api_budget_remaining=remaining,
            alerts_pending=len(Outbox(self.config.reports.directory).pending()) + channels.pending_count(self.config),
        )
        self._latest = metrics.MetricsSnapshot(self._last_result, health, self.config.metrics.sites)
        self._body = metrics.exposition(self._latest)
        self._write_textfile(self._body)
        return self._latest

    def _api_figures(self) -> Tuple[int, Optional[int]]:
        meter = call_budget.CallMeter(paths.StatePaths.for_reports(self.config.reports.directory).state, utc_now)
        used, _ = meter.snapshot()
        mist = self.config.mist
        usable = call_budget.BudgetSettings(mist.calls_per_hour, mist.budget_reserve_pct).usable_per_hour
        return meter.total(), max(0, usable - used)

    def _write_textfile(self, body: bytes) -> None:
        path = self.config.metrics.textfile
        if path is None:
            return
        try:
            # Group-readable like the reports: node_exporter runs in the tool's group.
            metrics.write_textfile(path, body, self.config.reports.file_mode)
        except OSError as error:
            logger.error("Cannot write the metrics textfile %s: %s", path, error.strerror or error)

    def serve(self) -> Optional[Any]:
        """Start the /metrics endpoint when `metrics.listen` is set; returns the server (shutdown() stops it)."""
        address = self.config.metrics.address
        if address is None:
            return None
        host, port = address
        try:
            server = metrics_server.serve(host, port, self.body)
        except OSError as error:
            raise MetricsServerError(
                f"metrics.listen: cannot listen on {host}:{port}: {error.strerror or error}"
            ) from None
        logger.info("Prometheus metrics on http://%s:%d/metrics", host, server.server_port)
        return server
