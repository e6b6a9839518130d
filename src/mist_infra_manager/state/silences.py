"""The silences made with `silence add`: `<reports.directory>/state/silences.json`, read by every run.

Each silence records who made it (the OS user) and when; `silence expire` ends it early (it stays listed, expired).
Ended silences older than KEEP_ENDED_DAYS are dropped when the file is next written. A damaged file is set aside
with one warning (fileio): no silence then applies, so nothing is muted by accident.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from mist_infra_manager.analysis.policy import Silence, new_silence_id
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import atomic_write_json, read_parsed_or_none

logger = logging.getLogger(__name__)

SILENCES_VERSION = 1
# Ended silences stay listed this long (`silence list --all`), then go.
KEEP_ENDED_DAYS = 7
UNKNOWN_USER = "unknown"


def silences_path(reports_directory: Path) -> Path:
    """Return the silences file of a reports directory."""
    return reports_directory / paths.STATE_DIRECTORY_NAME / paths.SILENCES_FILE_NAME


def current_user() -> str:
    """Return the OS user making a silence ("unknown" when the system cannot say)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError or KeyError (no passwd entry in a container) depending on the OS
        return UNKNOWN_USER


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{key} is not an ISO time")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _optional_text(item: Dict[str, Any], key: str) -> Optional[str]:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def parse_silences(document: Any) -> List[Silence]:
    """Return the silences of a decoded file; raises ValueError when its shape is wrong."""
    if not isinstance(document, dict) or document.get("version") != SILENCES_VERSION:
        raise ValueError("not a silences document of version 1")
    items = document.get("silences")
    if not isinstance(items, list):
        raise ValueError("'silences' is not a list")
    silences: List[Silence] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError(f"silence entry without an id: {item!r}")
        site, group = _optional_text(item, "site"), _optional_text(item, "group")
        if (site is None) == (group is None):
            raise ValueError(f"silence {item['id']} needs exactly one of site and group")
        expired = item.get("expired_at")
        silences.append(
            Silence(
                id=item["id"],
                site=site,
                group=group,
                metric=_optional_text(item, "metric"),
                starts_at=_time(item.get("starts_at"), "starts_at"),
                ends_at=_time(item.get("ends_at"), "ends_at"),
                reason=str(item.get("reason", "")),
                created_by=str(item.get("created_by", UNKNOWN_USER)),
                expired_at=None if expired is None else _time(expired, "expired_at"),
            )
        )
    return silences


def silences_document(silences: List[Silence]) -> Dict[str, Any]:
    """Return the JSON document of the silences."""
    return {
        "version": SILENCES_VERSION,
        "silences": [
            {
                "id": item.id,
                "site": item.site,
                "group": item.group,
                "metric": item.metric,
                "starts_at": _iso(item.starts_at),
                "ends_at": _iso(item.ends_at),
                "reason": item.reason,
                "created_by": item.created_by,
                "expired_at": _iso(item.expired_at),
            }
            for item in silences
        ],
    }


def load_silences(reports_directory: Path) -> List[Silence]:
    """Return the saved silences, [] when there are none or the file is unusable (set aside, one warning)."""
    loaded = read_parsed_or_none(
        silences_path(reports_directory), "silences file", parse_silences, outcome="no silence applies"
    )
    return loaded or []


def save_silences(reports_directory: Path, silences: List[Silence], now: datetime) -> None:
    """Write the silences atomically, dropping those ended more than KEEP_ENDED_DAYS ago; raises OSError."""
    cutoff = now - timedelta(days=KEEP_ENDED_DAYS)
    kept = [item for item in silences if (item.expired_at or item.ends_at) >= cutoff]
    atomic_write_json(silences_path(reports_directory), silences_document(kept))


def add_silence(
    reports_directory: Path,
    *,
    site: Optional[str],
    group: Optional[str],
    metric: Optional[str],
    ends_at: datetime,
    reason: str,
    now: datetime,
) -> Silence:
    """Record a new silence from now until ends_at, made by the OS user; returns it; raises OSError."""
    silence = Silence(
        id=new_silence_id(),
        site=site,
        group=group,
        metric=metric,
        starts_at=now,
        ends_at=ends_at,
        reason=reason,
        created_by=current_user(),
    )
    save_silences(reports_directory, [*load_silences(reports_directory), silence], now)
    logger.info("Silence %s added by %s until %s: %s", silence.id, silence.created_by, _iso(ends_at), silence.target)
    return silence


def expire_silence(reports_directory: Path, silence_id: str, now: datetime) -> Optional[Silence]:
    """End a silence now; returns it, None when no active silence has that id; raises OSError."""
    silences = load_silences(reports_directory)
    found: Optional[Silence] = None
    updated: List[Silence] = []
    for item in silences:
        if item.id == silence_id and item.active(now):
            found = replace(item, expired_at=now)
            updated.append(found)
        else:
            updated.append(item)
    if found is not None:
        save_silences(reports_directory, updated, now)
        logger.info("Silence %s expired by %s", silence_id, current_user())
    return found
