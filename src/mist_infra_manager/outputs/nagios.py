"""The Nagios / Icinga / Checkmk plugin verdict on a dashboard JSON: one status line with perfdata, and its code.

Pure: it takes the parsed dashboard and the time, and returns a CheckResult. Plugin convention
(https://nagios-plugins.org/doc/guidelines.html): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; perfdata
`'label'=value[UOM];warn;crit;min;max`, where a range `90:` alerts below 90.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
SERVICE = "MIST SLE"
# A metric's severity as a plugin state: major and warning both ask for attention without paging.
SEVERITY_STATES = {"critical": CRITICAL, "major": WARNING, "warning": WARNING, "info": OK}
SITE_STATUS_STATES = {"critical": CRITICAL, "major": WARNING, "warning": WARNING, "healthy": OK}
SITE_STATUSES = ("critical", "major", "warning", "healthy", "no_data")
# Perfdata labels: a single quote inside is doubled (the plugin guidelines), control characters dropped.
_LABEL_UNSAFE = re.compile(r"[\x00-\x1f\x7f=]")


@dataclass(frozen=True)
class CheckResult:
    """The plugin's verdict: its exit code and the one line it prints."""

    code: int
    line: str


def unknown(reason: str) -> CheckResult:
    """Return an UNKNOWN verdict for a reason."""
    return CheckResult(UNKNOWN, f"{SERVICE} UNKNOWN - {reason}")


def _mapping(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _label(text: str) -> str:
    return "'" + _LABEL_UNSAFE.sub("", text).replace("'", "''") + "'"


def _number(value: float) -> str:
    return f"{value:.1f}"


def perfdata(label: str, pct: float, thresholds: Mapping[str, Any]) -> str:
    """Return one perfdata item of an SLE %: warning and critical ranges from the thresholds, 0..100."""
    warning = thresholds.get("warning")
    critical = thresholds.get("critical")
    warn = f"{warning:g}:" if isinstance(warning, (int, float)) else ""
    crit = f"{critical:g}:" if isinstance(critical, (int, float)) else ""
    return f"{_label(label)}={_number(pct)}%;{warn};{crit};0;100"


def _age_problem(dashboard: Mapping[str, Any], now: datetime, max_age: timedelta) -> Optional[str]:
    generated = dashboard.get("generated_at")
    try:
        moment = datetime.fromisoformat(str(generated).replace("Z", "+00:00"))
    except ValueError:
        return "the dashboard has no valid generated_at"
    if moment.tzinfo is None:
        return "the dashboard's generated_at has no time zone"
    age = now - moment
    if age > max_age:
        minutes, limit = int(age.total_seconds() // 60), int(max_age.total_seconds() // 60)
        return f"the newest dashboard is {minutes} min old (limit {limit} min)"
    return None


def evaluate(
    dashboard: Mapping[str, Any],
    now: datetime,
    max_age: timedelta,
    *,
    site: Optional[str] = None,
    metric: Optional[str] = None,
) -> CheckResult:
    """Return the verdict on a site (by name or id) or, with site None, on the whole org."""
    problem = _age_problem(dashboard, now, max_age)
    if problem is not None:
        return unknown(problem)
    if dashboard.get("complete") is not True:
        return unknown("the last run's data is incomplete (see its problems)")
    thresholds = _mapping(dashboard.get("thresholds"))
    sites = [entry for entry in dashboard.get("sites") or [] if isinstance(entry, dict)]
    if site is None:
        return _evaluate_org(dashboard, sites, thresholds, metric)
    matches = [entry for entry in sites if site in (entry.get("name"), entry.get("id"))]
    if not matches:
        return unknown(f"no site named {site!r} in the dashboard")
    return _evaluate_site(matches[0], thresholds, metric)


def _selected(metrics: Mapping[str, Any], metric: Optional[str]) -> Dict[str, Any]:
    return {key: value for key, value in metrics.items() if metric is None or key == metric}


def _evaluate_site(entry: Mapping[str, Any], thresholds: Mapping[str, Any], metric: Optional[str]) -> CheckResult:
    name = str(entry.get("name"))
    site_thresholds = _mapping(entry.get("thresholds")) or thresholds
    metrics = _selected(entry.get("metrics") or {}, metric)
    if not metrics:
        return unknown(f"site {name} has no metric {metric!r}")
    measured = {key: value for key, value in metrics.items() if isinstance(value.get("sle_pct"), (int, float))}
    if not measured:
        return unknown(f"no SLE data for site {name}" + (f" ({metric})" if metric else ""))
    code = max(SEVERITY_STATES.get(str(value.get("severity")), UNKNOWN) for value in measured.values())
    worst = sorted(
        (value["sle_pct"], key, value.get("severity"))
        for key, value in measured.items()
        if value.get("severity") != "info"
    )
    detail = ", ".join(f"{key} {_number(pct)}% ({severity})" for pct, key, severity in worst) or "all metrics healthy"
    # A metric judged by a policy profile carries its own thresholds (docs/json-contract.md).
    data = " ".join(
        perfdata(key, float(value["sle_pct"]), _mapping(value.get("thresholds")) or site_thresholds)
        for key, value in measured.items()
    )
    return CheckResult(code, f"{SERVICE} {STATUS_WORDS[code]} - {name}: {detail} | {data}")


def _evaluate_org(
    dashboard: Mapping[str, Any],
    sites: Sequence[Mapping[str, Any]],
    thresholds: Mapping[str, Any],
    metric: Optional[str],
) -> CheckResult:
    counts = {status: 0 for status in SITE_STATUSES}
    for entry in sites:
        counts[_site_status(entry, metric)] += 1
    with_data = [status for status in SITE_STATUSES[:-1] if counts[status]]
    if not with_data:
        return unknown("no site has SLE data")
    code = max(SITE_STATUS_STATES[status] for status in with_data)
    org = _mapping(dashboard.get("org"))
    detail = ", ".join(f"{counts[status]} {status}" for status in SITE_STATUSES)
    data: List[str] = []
    for key, value in _org_values(dashboard, metric).items():
        data.append(perfdata(key, value, thresholds))
    data.extend(f"{_label('sites_' + status)}={counts[status]};;;0;" for status in SITE_STATUSES)
    return CheckResult(
        code, f"{SERVICE} {STATUS_WORDS[code]} - org {org.get('name', '?')}: {detail} sites | {' '.join(data)}"
    )


def _site_status(entry: Mapping[str, Any], metric: Optional[str]) -> str:
    if metric is None:
        status = entry.get("status")
        return status if status in SITE_STATUSES else "no_data"
    value = (entry.get("metrics") or {}).get(metric) or {}
    severity = value.get("severity")
    return "healthy" if severity == "info" else (severity if severity in SITE_STATUSES else "no_data")


def _org_values(dashboard: Mapping[str, Any], metric: Optional[str]) -> Dict[str, float]:
    """Return each metric's org-wide SLE % as the run computed it (trends.org), where there is one."""
    trends = _mapping(dashboard.get("trends"))
    org = _mapping(trends.get("org"))
    values: Dict[str, float] = {}
    for key, value in org.items():
        pct = value.get("current_pct") if isinstance(value, dict) else None
        if (metric is None or key == metric) and isinstance(pct, (int, float)) and math.isfinite(pct):
            values[key] = float(pct)
    return values
