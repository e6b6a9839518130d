"""Every file and folder the tool keeps, named in one place.

All of them live under the reports directory: its `state/` folder (lock, heartbeat, alert state, call meter,
caches, `channels/<name>.json` per alert channel), its `outbox/` (emails not yet accepted, `sent/` for the file
transport, `channels/<name>/` per alert channel) and the report files.
History defaults to `<reports>/history` but may be configured elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Pattern

STATE_DIRECTORY_NAME = "state"
LOCK_FILE_NAME = "run.lock"
PID_FILE_NAME = "run.lock.pid"
HEARTBEAT_FILE_NAME = "heartbeat.json"
ALERT_STATE_FILE_NAME = "alert_state.json"
METER_FILE_NAME = "call_meter.json"
SITES_CACHE_FILE_NAME = "sites_cache.json"
SITEGROUPS_CACHE_FILE_NAME = "sitegroups_cache.json"
SILENCES_FILE_NAME = "silences.json"
DETAIL_CACHE_FILE_NAME = "detail_cache.json"
ROOT_CAUSE_CACHE_FILE_NAME = "root_cause_cache.json"
OUTBOX_DIRECTORY_NAME = "outbox"
FILE_TRANSPORT_DIRECTORY_NAME = "sent"
HISTORY_DIRECTORY_NAME = "history"
# The alert channels' own folders: state/channels/<name>.json and outbox/channels/<name>/.
CHANNELS_DIRECTORY_NAME = "channels"

# The report files of a run: UTC time of the run, `_<n>` added on a clash.
REPORT_NAME_PATTERN: Pattern[str] = re.compile(
    r"^(SUMMARY_REPORT|HEALTH_DASHBOARD)_\d{8}T\d{6}Z(_\d+)?\.(txt|json|html)$"
)
# The same files once report retention has gzip-compressed them (older runs; the newest run stays plain).
COMPRESSED_REPORT_NAME_PATTERN: Pattern[str] = re.compile(
    r"^(SUMMARY_REPORT|HEALTH_DASHBOARD)_\d{8}T\d{6}Z(_\d+)?\.(txt|json|html)\.gz$"
)
# The names the outbox gives its messages: UTC time, sequence, kind, random part (`_<n>` added on a clash).
OUTBOX_NAME_PATTERN: Pattern[str] = re.compile(r"^\d{8}T\d{6}Z-\d{3}-[a-z0-9-]+-[0-9a-f]+(?:_\d+)?\.eml$")


@dataclass(frozen=True)
class StatePaths:
    """The paths of one reports directory (and its history folder)."""

    reports: Path
    history: Path

    @classmethod
    def for_reports(cls, reports: Path) -> StatePaths:
        """Return the paths of a reports directory whose history sits beside its reports."""
        return cls(reports=reports, history=reports / HISTORY_DIRECTORY_NAME)

    @property
    def state(self) -> Path:
        """Return the folder of the lock, heartbeat, alert state, call meter and caches."""
        return self.reports / STATE_DIRECTORY_NAME

    @property
    def lock(self) -> Path:
        """Return the run lock shared by one-shot runs and the daemon."""
        return self.state / LOCK_FILE_NAME

    @property
    def heartbeat(self) -> Path:
        """Return the heartbeat file."""
        return self.state / HEARTBEAT_FILE_NAME

    @property
    def alert_state(self) -> Path:
        """Return the alert state file."""
        return self.state / ALERT_STATE_FILE_NAME

    @property
    def call_meter(self) -> Path:
        """Return the rolling-hour API call meter."""
        return self.state / METER_FILE_NAME

    @property
    def sites_cache(self) -> Path:
        """Return the cached sites list."""
        return self.state / SITES_CACHE_FILE_NAME

    @property
    def sitegroups_cache(self) -> Path:
        """Return the cached Mist site groups (read only when the alert policy names site groups)."""
        return self.state / SITEGROUPS_CACHE_FILE_NAME

    @property
    def silences(self) -> Path:
        """Return the silences made with `silence add`."""
        return self.state / SILENCES_FILE_NAME

    @property
    def detail_cache(self) -> Path:
        """Return the cached classifier breakdowns."""
        return self.state / DETAIL_CACHE_FILE_NAME

    @property
    def root_cause_cache(self) -> Path:
        """Return the cached impact summaries (root causes) of critical and major site-metrics."""
        return self.state / ROOT_CAUSE_CACHE_FILE_NAME

    @property
    def outbox(self) -> Path:
        """Return the folder of emails not yet accepted by the SMTP server."""
        return self.reports / OUTBOX_DIRECTORY_NAME

    @property
    def sent(self) -> Path:
        """Return the folder the file transport writes its emails into."""
        return self.outbox / FILE_TRANSPORT_DIRECTORY_NAME
