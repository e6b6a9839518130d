"""The history of runs on disk: one compact snapshot per run, a small daily rollup, and retention.

Layout under `history.directory` (all dates and times UTC):

    <YYYY-MM-DD>/rollup.json                         per run of the date: time, snapshot file, org values
    <YYYY-MM-DD>/snapshot_<YYYYmmddTHHMMSSZ>.json.gz  per run: per site and metric SLE %, severity, top classifier

A run reads the rollups of the last `history.keep_days` dates, the one snapshot it compares with, and (only
when some site is degraded now) the last snapshot of each earlier date; every file is written atomically.
A missing, corrupt or partial file is skipped with one warning. Formats: README, "Trends and history".
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Set, Tuple

from mist_infra_manager.analysis import trend_analyzer
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.analysis.trend_analyzer import Snapshot
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import fileio, paths
from mist_infra_manager.state.fileio import (
    CorruptFileError,
    atomic_write_bytes,
    atomic_write_json,
    decode_json_bytes,
    make_private_directory,
    read_parsed_or_none,
)

logger = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
ROLLUP_FORMAT = 1
ROLLUP_NAME = "rollup.json"
SNAPSHOT_PREFIX = "snapshot_"
SNAPSHOT_SUFFIX = ".json.gz"
# Plain .json snapshots are read too (written by hand or by a later version); the tool writes gzip.
SNAPSHOT_NAME = re.compile(r"^snapshot_(\d{8}T\d{6}Z)(?:_\d+)?\.json(?:\.gz)?$")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STAMP = re.compile(r"(\d{8}T\d{6}Z)")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# Level 1 compresses these columns nearly as well as 6 at a third of the time.
GZIP_LEVEL = 1
# Snapshots older than this can no longer be a baseline unless they are the last of their date: their files
# are deleted (their org values stay in the rollup). Keeps a 15-minute cadence at ~1 file per day after a day.
THIN_AFTER = trend_analyzer.BASELINE_AGE + trend_analyzer.BASELINE_TOLERANCE
# The baseline lies at most 27 h back, which can be two dates back shortly after midnight.
BASELINE_DATES_BACK = 2
CORRUPT_SUFFIX = fileio.CORRUPT_SUFFIX
# The names email_delivery.Outbox.new_name gives (`_<n>` added on a clash): UTC time, sequence, kind, random part.
SENT_EML_PATTERN = paths.OUTBOX_NAME_PATTERN


class SnapshotError(ValueError):
    """A snapshot file cannot be used: corrupt, partial or of an unknown format."""


# --- Formats (pure) ----------------------------------------------------------------------------------


def snapshot_document(snapshot: Snapshot) -> Dict[str, Any]:
    """Return the JSON document of a snapshot (columns; `pct` and `severity` row-major, one per site-metric)."""
    return {
        "format": SNAPSHOT_FORMAT,
        "taken_at": trend_analyzer.iso(snapshot.taken_at),
        "metrics": list(snapshot.metrics),
        "sites": list(snapshot.site_ids),
        "clients": list(snapshot.clients),
        "pct": list(snapshot.pcts),
        "severity": snapshot.severities,
        "top": [[index, classifier] for index, classifier in sorted(snapshot.top_classifiers.items())],
    }


def _parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO time, got {text!r}")
    return trend_analyzer.utc(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def snapshot_from_document(document: Any) -> Snapshot:
    """Return the snapshot of a decoded document; raises SnapshotError when it is partial or malformed."""
    try:
        if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not a snapshot of format 1")
        metrics = document["metrics"]
        sites = document["sites"]
        clients = document["clients"]
        pcts = document["pct"]
        severities = document["severity"]
        if not (
            isinstance(metrics, list)
            and all(isinstance(key, str) for key in metrics)
            and isinstance(sites, list)
            and all(isinstance(site_id, str) for site_id in sites)
            and isinstance(clients, list)
            and isinstance(pcts, list)
            and isinstance(severities, str)
        ):
            raise ValueError("a column has the wrong type")
        cells = len(sites) * len(metrics)
        if len(clients) != len(sites) or len(pcts) != cells or len(severities) != cells:
            raise ValueError("columns of different lengths")
        # One pass over the types rather than a check per value: a snapshot holds ~70,000 values at 10,000 sites.
        if not {type(pct) for pct in pcts} <= {float, int, type(None)}:
            raise ValueError("a percentage is not a number")
        tops: Dict[int, str] = {}
        for pair in document.get("top") or []:
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int) and isinstance(pair[1], str):
                tops[pair[0]] = pair[1]
        return Snapshot(
            taken_at=_parse_time(document["taken_at"]),
            metrics=metrics,
            site_ids=sites,
            clients=[count if isinstance(count, int) and not isinstance(count, bool) else None for count in clients],
            pcts=pcts,
            severities=severities,
            top_classifiers=tops,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(str(error) or type(error).__name__) from None


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """Return a snapshot as gzip-compressed compact JSON (reproducible: no time in the gzip header)."""
    text = json.dumps(snapshot_document(snapshot), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=GZIP_LEVEL, mtime=0)


def decode_snapshot(data: bytes) -> Snapshot:
    """Return the snapshot in gzip or plain JSON bytes; raises SnapshotError."""
    try:
        document = decode_json_bytes(data)
    except CorruptFileError as error:
        raise SnapshotError(str(error)) from None
    return snapshot_from_document(document)


def _stamp_time(name: str) -> Optional[datetime]:
    match = STAMP.search(name)
    if match is None:
        return None
    try:
        return trend_analyzer.utc(datetime.strptime(match.group(1), STAMP_FORMAT))
    except ValueError:
        return None


class Entry:
    """One run in a date's rollup: when, its snapshot file (None once thinned) and its org values."""

    __slots__ = ("file", "org", "taken_at")

    def __init__(self, taken_at: datetime, file: Optional[str], org: Dict[str, Optional[float]]) -> None:
        self.taken_at = taken_at
        self.file = file
        self.org = org

    def document(self) -> Dict[str, Any]:
        """Return the entry as stored in rollup.json."""
        return {"taken_at": trend_analyzer.iso(self.taken_at), "file": self.file, "org": self.org}


def _org_of(value: Any) -> Dict[str, Optional[float]]:
    if not isinstance(value, dict):
        return {}
    return {
        str(key): float(pct) if isinstance(pct, (int, float)) and not isinstance(pct, bool) else None
        for key, pct in value.items()
    }


def rollup_entries(document: Any) -> Optional[List[Entry]]:
    """Return the entries of a decoded rollup.json, oldest first; None when it is not a rollup at all."""
    if not isinstance(document, dict) or not isinstance(document.get("snapshots"), list):
        return None
    entries = []
    for item in document["snapshots"]:
        if not isinstance(item, dict):
            continue
        try:
            taken_at = _parse_time(item.get("taken_at"))
        except ValueError:
            continue
        file = item.get("file")
        safe_file = file if isinstance(file, str) and SNAPSHOT_NAME.match(file) else None
        entries.append(Entry(taken_at, safe_file, _org_of(item.get("org"))))
    entries.sort(key=lambda entry: entry.taken_at)
    return entries


def parse_rollup(document: Any) -> List[Entry]:
    """Return the entries of a decoded rollup.json; raises ValueError when it is not a rollup at all."""
    entries = rollup_entries(document)
    if entries is None:
        raise ValueError("not a rollup: no 'snapshots' list")
    return entries


def rollup_document(day: date, entries: Sequence[Entry]) -> Dict[str, Any]:
    """Return rollup.json of a date: its runs, and per metric the org value of the day (latest non-null)."""
    return {
        "format": ROLLUP_FORMAT,
        "date": day.isoformat(),
        "org": trend_analyzer.day_value([entry.org for entry in entries]),
        "snapshots": [entry.document() for entry in entries],
    }


# --- The store -------------------------------------------------------------------------------------


class HistoryStore:
    """Reads and writes one history directory; caches what a run has read, writes changed rollups on flush."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._rollups: Dict[date, List[Entry]] = {}
        self._dirty: Set[date] = set()
        self._snapshots: Dict[str, Optional[Snapshot]] = {}

    def folder(self, day: date) -> Path:
        """Return the folder of a UTC date."""
        return self.directory / day.isoformat()

    def _snapshot_files(self, day: date) -> Dict[str, datetime]:
        folder = self.folder(day)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return {}
        except OSError as error:
            logger.warning("Cannot list the history folder %s: %s", folder, error)
            return {}
        files = {}
        for name in names:
            match = SNAPSHOT_NAME.match(name)
            moment = _stamp_time(match.group(1)) if match else None
            if moment is not None:
                files[name] = moment
        return files

    def entries(self, day: date) -> List[Entry]:
        """Return a date's runs, oldest first, reconciled with the snapshot files present in its folder.

        A corrupt rollup is set aside and rebuilt from the file names (one warning); entries whose file is gone
        lose the file, files the rollup does not list (a run stopped between its two writes) are added.
        """
        if day in self._rollups:
            return self._rollups[day]
        path = self.folder(day) / ROLLUP_NAME
        files = self._snapshot_files(day)
        read = read_parsed_or_none(
            path, "history rollup", parse_rollup, outcome="rebuilding it from the snapshot files"
        )
        entries = read if read is not None else []
        listed = set()
        changed = False
        for entry in entries:
            if entry.file is not None and entry.file not in files:
                logger.warning("History snapshot %s of %s is missing; skipped", entry.file, day)
                entry.file = None
                changed = True
            if entry.file is not None:
                listed.add(entry.file)
        for name, moment in files.items():
            if name not in listed:
                entries.append(Entry(moment, name, {}))
                changed = True
        entries.sort(key=lambda entry: entry.taken_at)
        self._rollups[day] = entries
        if changed:
            self._dirty.add(day)
            self._fill_day_value(day, entries)
        return entries

    def _fill_day_value(self, day: date, entries: List[Entry]) -> None:
        # A rebuilt rollup lacks the org values; the day's value comes from its last run, so read that one.
        for entry in reversed(entries):
            if entry.file is None:
                continue
            if entry.org:
                return
            snapshot = self.load(day, entry)
            if snapshot is not None:
                entry.org = trend_analyzer.org_values(snapshot)
                return

    def load(self, day: date, entry: Entry) -> Optional[Snapshot]:
        """Return the snapshot of an entry, None when it is missing or unusable (one warning, then forgotten)."""
        if entry.file is None:
            return None
        if entry.file in self._snapshots:
            return self._snapshots[entry.file]
        path = self.folder(day) / entry.file
        snapshot: Optional[Snapshot] = None
        if path.exists():
            snapshot = read_parsed_or_none(path, "history snapshot", snapshot_from_document, outcome="skipped")
        else:
            logger.warning("History snapshot %s is missing; skipped", path)
        self._snapshots[entry.file] = snapshot
        if snapshot is None:
            entry.file = None
            self._dirty.add(day)
        return snapshot

    def baseline(self, now: datetime) -> Optional[Snapshot]:
        """Return the snapshot to compare a run at `now` with (trend_analyzer.baseline_candidates), or None."""
        today = trend_analyzer.utc(now).date()
        pool = [
            (day, entry)
            for back in range(BASELINE_DATES_BACK, -1, -1)
            for day in [today - timedelta(days=back)]
            for entry in self.entries(day)
            if entry.file is not None
        ]
        for index in trend_analyzer.baseline_candidates([entry.taken_at for _, entry in pool], now):
            day, entry = pool[index]
            snapshot = self.load(day, entry)
            if snapshot is not None:
                return snapshot
        return None

    def last_snapshot(self, day: date) -> Optional[Snapshot]:
        """Return the latest usable snapshot of a date, or None."""
        for entry in reversed(self.entries(day)):
            snapshot = self.load(day, entry)
            if snapshot is not None:
                return snapshot
        return None

    def record(self, snapshot: Snapshot) -> Path:
        """Write a run's snapshot into its date folder and add it to the date's rollup; returns the file."""
        day = snapshot.taken_at.date()
        entries = self.entries(day)
        folder = self.folder(day)
        stem = f"{SNAPSHOT_PREFIX}{snapshot.taken_at.strftime(STAMP_FORMAT)}"
        name = stem + SNAPSHOT_SUFFIX
        suffix = 1
        taken = {entry.file for entry in entries}
        while name in taken or (folder / name).exists():
            name = f"{stem}_{suffix}{SNAPSHOT_SUFFIX}"
            suffix += 1
        path = folder / name
        # The history holds the org's site names and figures: private, like the state folder.
        make_private_directory(self.directory)
        atomic_write_bytes(path, encode_snapshot(snapshot))
        entries.append(Entry(snapshot.taken_at, name, trend_analyzer.org_values(snapshot)))
        entries.sort(key=lambda entry: entry.taken_at)
        self._dirty.add(day)
        return path

    def thin(self, now: datetime) -> int:
        """Delete the snapshot files of the read dates that can no longer be a baseline; returns how many.

        Kept: those younger than THIN_AFTER and the last of each date. Their rollup entries (org values) stay.
        """
        limit = trend_analyzer.utc(now) - THIN_AFTER
        removed = 0
        for day, entries in self._rollups.items():
            with_file = [entry for entry in entries if entry.file is not None]
            for entry in with_file[:-1]:
                if entry.taken_at >= limit or entry.file is None:
                    continue
                try:
                    (self.folder(day) / entry.file).unlink()
                except FileNotFoundError:
                    pass
                except OSError as error:
                    logger.warning("Cannot delete the old history snapshot %s: %s", entry.file, error)
                    continue
                entry.file = None
                removed += 1
                self._dirty.add(day)
        return removed

    def flush(self) -> None:
        """Write the rollups changed in this run."""
        if self._dirty:
            make_private_directory(self.directory)
        for day in sorted(self._dirty):
            atomic_write_json(self.folder(day) / ROLLUP_NAME, rollup_document(day, self._rollups[day]))
        self._dirty.clear()


# --- Retention -------------------------------------------------------------------------------------


def prune_history(directory: Path, today: date, keep_days: int) -> List[Path]:
    """Delete the date folders older than keep_days days (named YYYY-MM-DD, nothing else); returns them."""
    oldest = today - timedelta(days=keep_days)
    removed: List[Path] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    for name in sorted(names):
        if not DATE_FOLDER.match(name):
            continue
        try:
            day = date.fromisoformat(name)
        except ValueError:
            continue
        path = directory / name
        if day >= oldest or path.is_symlink() or not path.is_dir():
            continue
        try:
            shutil.rmtree(path)
        except OSError as error:
            logger.warning("Cannot delete the old history folder %s: %s", path, error)
            continue
        removed.append(path)
    if removed:
        logger.info("History retention: deleted %d date folder(s) older than %d days", len(removed), keep_days)
    return removed


# Report files: every run's files stay plain for REPORT_PLAIN_FOR (and the newest run always), then
# gzip-compressed; after REPORT_EVERY_RUN_FOR only the last run of each UTC date stays, until reports.keep_days.
# At 15-minute runs on 10,000 sites a month keeps about 0.53 GB instead of 41 GB (docs/benchmarks.md).
REPORT_PLAIN_FOR = timedelta(hours=6)
REPORT_EVERY_RUN_FOR = timedelta(hours=48)
REPORT_GZIP_LEVEL = 6
COMPRESSED_SUFFIX = ".gz"
# The run a report file belongs to: its UTC time and the `_<n>` of a clash.
_REPORT_RUN = re.compile(r"_(\d{8}T\d{6}Z)(?:_(\d+))?\.")


@dataclass(frozen=True)
class RetentionPlan:
    """What report retention does with each file name: keep it as it is, gzip-compress it, or delete it."""

    keep: Tuple[str, ...]
    compress: Tuple[str, ...]
    delete: Tuple[str, ...]


def _run_key(name: str, moment: datetime) -> Tuple[datetime, int, str]:
    match = _REPORT_RUN.search(name)
    if match is None:
        return (moment, 0, name)
    return (moment, int(match.group(2) or 0), match.group(1) + (f"_{match.group(2)}" if match.group(2) else ""))


def plan_report_retention(files: Sequence[Tuple[str, datetime]], now: datetime, keep_days: int) -> RetentionPlan:
    """Return what to do with report files given as (name, UTC time of their run); pure, `now` injected.

    Older than keep_days: delete. The newest run and runs younger than REPORT_PLAIN_FOR: keep as they are.
    Younger than REPORT_EVERY_RUN_FOR, or the last run of its UTC date: keep compressed (compress if plain).
    Anything else: delete. Files of one run (same time and `_<n>`) always share their fate.
    """
    now = trend_analyzer.utc(now)
    oldest = now - timedelta(days=keep_days)
    runs = {_run_key(name, trend_analyzer.utc(moment)) for name, moment in files}
    newest = max(runs) if runs else None
    last_of_date: Dict[date, Tuple[datetime, int, str]] = {}
    for run in runs:
        day = run[0].date()
        if day not in last_of_date or run > last_of_date[day]:
            last_of_date[day] = run
    keep: List[str] = []
    compress: List[str] = []
    delete: List[str] = []
    for name, moment in files:
        run = _run_key(name, trend_analyzer.utc(moment))
        if run[0] < oldest:
            delete.append(name)
        elif run == newest or run[0] > now - REPORT_PLAIN_FOR:
            keep.append(name)
        elif run[0] > now - REPORT_EVERY_RUN_FOR or last_of_date[run[0].date()] == run:
            (keep if name.endswith(COMPRESSED_SUFFIX) else compress).append(name)
        else:
            delete.append(name)
    return RetentionPlan(tuple(keep), tuple(compress), tuple(delete))


def own_report_files(reports_directory: Path) -> List[Tuple[Path, Pattern[str]]]:
    """Return (folder, name pattern) of the tool's own per-run files under the reports directory.

    The report files (plain and compressed), and the .eml files `transport: file` writes to outbox/sent. The
    outbox itself (messages still to be delivered) is the email step's business and is never pruned.
    """
    sent = paths.StatePaths.for_reports(reports_directory).sent
    return [
        (reports_directory, paths.REPORT_NAME_PATTERN),
        (reports_directory, paths.COMPRESSED_REPORT_NAME_PATTERN),
        (sent, SENT_EML_PATTERN),
    ]


def _own_files(folder: Path, patterns: Sequence[Pattern[str]]) -> List[Tuple[str, datetime]]:
    """Return (name, name time) of the regular files in folder whose whole name matches a pattern."""
    try:
        items = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    found = []
    for item in items:
        if not any(pattern.match(item.name) for pattern in patterns):
            continue
        moment = _stamp_time(item.name)
        if moment is not None and item.is_file(follow_symlinks=False):
            found.append((item.name, moment))
    return found


def compress_report(path: Path) -> Path:
    """Replace a report file by its gzip-compressed copy `<name>.gz` (same modification time); returns it.

    Raises OSError; the plain file is removed only once the copy is complete.
    """
    target = path.with_name(path.name + COMPRESSED_SUFFIX)
    status = path.stat()
    atomic_write_bytes(target, gzip.compress(path.read_bytes(), compresslevel=REPORT_GZIP_LEVEL, mtime=0))
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    os.unlink(path)
    return target


def _delete(path: Path, removed: List[Path]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as error:
        logger.warning("Cannot delete the old report %s: %s", path, error)
        return
    removed.append(path)


def prune_reports(reports_directory: Path, now: datetime, keep_days: int) -> List[Path]:
    """Apply report retention (plan_report_retention) and delete old outbox/sent emails; returns deleted files.

    Only files whose whole name matches one of own_report_files' patterns, never folders, links or other files.
    Emails written to outbox/sent are deleted when older than keep_days, never compressed.
    """
    removed: List[Path] = []
    plan = plan_report_retention(
        _own_files(reports_directory, [paths.REPORT_NAME_PATTERN, paths.COMPRESSED_REPORT_NAME_PATTERN]),
        now,
        keep_days,
    )
    for name in plan.delete:
        _delete(reports_directory / name, removed)
    compressed = 0
    for name in plan.compress:
        try:
            compress_report(reports_directory / name)
            compressed += 1
        except OSError as error:
            logger.warning("Cannot compress the old report %s: %s", reports_directory / name, error)
    limit = trend_analyzer.utc(now) - timedelta(days=keep_days)
    sent = paths.StatePaths.for_reports(reports_directory).sent
    for name, moment in _own_files(sent, [SENT_EML_PATTERN]):
        if moment < limit:
            _delete(sent / name, removed)
    if removed or compressed:
        logger.info(
            "Report retention: deleted %d file(s), compressed %d (kept %d days)", len(removed), compressed, keep_days
        )
    return removed


# --- The run's hook --------------------------------------------------------------------------------


def analyze(
    store: HistoryStore,
    current: Snapshot,
    site_names: Mapping[str, str],
    threshold_pp: float,
    keep_days: int,
) -> Dict[str, Any]:
    """Return the run's trends from the history in store (which the current snapshot is not part of yet)."""
    today = current.taken_at.date()
    dates = trend_analyzer.series_dates(today, keep_days)
    baseline = store.baseline(current.taken_at)
    earlier_org = {
        day: [entry.org for entry in store.entries(day) if entry.taken_at < current.taken_at] for day in dates
    }
    site_days: Dict[date, Snapshot] = {}
    if trend_analyzer.degraded_site_ids(current):
        for day in dates[:-1]:
            snapshot = store.last_snapshot(day)
            if snapshot is not None:
                site_days[day] = snapshot
    return trend_analyzer.build_trends(current, site_names, baseline, earlier_org, site_days, threshold_pp, keep_days)


def update_history(result: RunResult, config: Settings) -> None:
    """Set result.trends from the history, store the run's snapshot, apply both retentions.

    Never raises for I/O: a history that cannot be read or written is logged, and the run goes on.
    """
    history = config.history
    current = trend_analyzer.snapshot_from_result(result)
    now = current.taken_at
    store = HistoryStore(history.directory)
    try:
        result.trends = analyze(
            store,
            current,
            {site.id: site.name for site in result.sites},
            config.trend.degradation_threshold_pp,
            history.keep_days,
        )
        if trend_analyzer.has_data(current):
            store.record(current)
        store.thin(now)
        store.flush()
        prune_history(history.directory, now.date(), history.keep_days)
    except OSError as error:
        logger.error("History %s: %s; trends of this run may be missing", history.directory, error)
    try:
        prune_reports(config.reports.directory, now, config.reports.keep_days)
    except OSError as error:
        logger.error("Report retention in %s failed: %s", config.reports.directory, error)
