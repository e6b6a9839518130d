"""`check`: a Nagios / Icinga / Checkmk plugin on the newest dashboard JSON; it never calls the API.

Plugin exit codes, not the tool's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for any error of the check itself).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Optional

from mist_infra_manager import config as config_module
from mist_infra_manager.analysis.models import utc_now
from mist_infra_manager.outputs import nagios

DEFAULT_MAX_AGE = "30m"
DASHBOARD_GLOB = "HEALTH_DASHBOARD_*.json"
# A dashboard of 10,000 sites is about 11 MB; anything far larger is not ours.
MAX_DASHBOARD_BYTES = 256 * 1024 * 1024


def newest_dashboard(reports_directory: Path) -> Optional[Path]:
    """Return the newest dashboard JSON of a reports directory (names sort by their UTC time), or None."""
    candidates = sorted(reports_directory.glob(DASHBOARD_GLOB), key=lambda path: path.name)
    return candidates[-1] if candidates else None


def read_dashboard(path: Path) -> Any:
    """Return the parsed dashboard; raises ValueError or OSError with a readable message."""
    if path.stat().st_size > MAX_DASHBOARD_BYTES:
        raise ValueError(f"{path} is larger than {MAX_DASHBOARD_BYTES // (1024 * 1024)} MiB")
    with path.open("rb") as handle:
        return json.load(handle)


def run_check(
    config_path: Optional[Path],
    environ: Mapping[str, str],
    *,
    site: Optional[str],
    metric: Optional[str],
    max_age: str,
    now: Optional[datetime] = None,
) -> nagios.CheckResult:
    """Return the plugin's verdict; every failure of the check itself is an UNKNOWN verdict."""
    try:
        max_age_delta = timedelta(seconds=config_module.parse_duration_seconds(max_age))
    except ValueError as error:
        return nagios.unknown(f"--max-age: {error}")
    try:
        settings = config_module.load_config(
            config_module.find_config(config_path, environ), environ, require_token=False
        )
    except config_module.ConfigError as error:
        return nagios.unknown(" ".join(error.errors))
    path = newest_dashboard(settings.reports.directory)
    if path is None:
        return nagios.unknown(f"no dashboard JSON in {settings.reports.directory} (has a report run happened?)")
    try:
        dashboard = read_dashboard(path)
    except (OSError, ValueError, RecursionError) as error:
        return nagios.unknown(f"cannot read {path}: {error}")
    if not isinstance(dashboard, dict):
        return nagios.unknown(f"{path} is not a dashboard")
    return nagios.evaluate(dashboard, now or utc_now(), max_age_delta, site=site, metric=metric)
