"""Reports of one run: SUMMARY_REPORT and HEALTH_DASHBOARD (.txt, .json, .html), all from one RunResult."""

from __future__ import annotations

import getpass
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mist_infra_manager import logging_setup, text_safety
from mist_infra_manager.analysis import catalog, root_cause, sle_monitor, sle_types, trend_analyzer
from mist_infra_manager.analysis.models import (
    ALERT_SEVERITIES,
    ClassifierStat,
    Incident,
    Insight,
    MetricResult,
    RunResult,
    SiteResult,
)
from mist_infra_manager.outputs import email_style, policy_view
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import SHARED_FILE_MODE, atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TEMPLATE_DIRECTORY = Path(__file__).resolve().parent / "templates"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# The tool's own per-run files, by name; retention deletes nothing else.
REPORT_NAME_PATTERN = paths.REPORT_NAME_PATTERN
WORST_SITES_IN_DASHBOARD = 10
# Compiled templates embed the environment's finalize step: a new tag when it changes, so no stale cache skips it.
BYTECODE_CACHE_PATTERN = "__jinja2_finalize1_%s.cache"


@dataclass
class ReportFiles:
    """The files one run wrote."""

    summary_txt: Path
    dashboard_txt: Path
    dashboard_json: Path
    dashboard_html: Optional[Path] = None
    extra: List[Path] = field(default_factory=list)

    def all(self) -> List[Path]:
        """Return every written path."""
        paths = [self.summary_txt, self.dashboard_txt, self.dashboard_json]
        if self.dashboard_html is not None:
            paths.append(self.dashboard_html)
        return paths + self.extra


def iso(moment: Optional[datetime]) -> Optional[str]:
    """Return an ISO 8601 UTC time with a Z, or None."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: Optional[float], digits: int = 2) -> Optional[float]:
    return None if value is None else round(value, digits)


def _classifier_document(stat: ClassifierStat) -> Dict[str, Any]:
    return {
        "id": stat.id,
        "name": stat.name,
        "degraded_pct": _round(stat.degraded_pct),
        "share_pct": _round(stat.share_pct),
        "users": stat.users,
        "aps": stat.aps,
    }


def _metric_document(metric: MetricResult) -> Dict[str, Any]:
    document: Dict[str, Any] = {
        "name": metric.name,
        "sle_pct": sle_monitor.json_pct(metric.sle_pct),
        "severity": metric.severity,
        "detail": metric.detail,
        "classifiers": [_classifier_document(stat) for stat in metric.classifiers],
    }
    if metric.source is not None:
        document["source"] = metric.source
    if metric.detail_age_minutes is not None:
        document["detail_age_minutes"] = metric.detail_age_minutes
    if metric.root_cause is not None:
        document["root_cause"] = root_cause.document(metric.root_cause)
    document.update(_metric_policy(metric))
    return document


def _metric_policy(metric: MetricResult) -> Dict[str, Any]:
    """Return the alert policy's keys of a metric, only those that say something (docs/json-contract.md)."""
    document: Dict[str, Any] = {}
    if metric.thresholds is not None:
        document["thresholds"] = dict(metric.thresholds)
    if metric.alert_window_pct is not None or metric.acute:
        document["alert_window_pct"] = sle_monitor.json_pct(metric.alert_window_pct)
        document["acute"] = metric.acute
    if metric.muted is not None:
        document["muted"] = {"by": metric.muted, "reason": metric.muted_reason, "until": iso(metric.muted_until)}
    if metric.incident is not None:
        document["incident"] = metric.incident
    if metric.folded:
        document["folded"] = list(metric.folded)
    return document


def _incident_document(incident: Incident) -> Dict[str, Any]:
    return {
        "key": incident.key,
        "metric": incident.metric,
        "classifier": incident.classifier,
        "classifier_name": incident.classifier_name,
        "severity": incident.severity,
        "headline": incident.headline,
        "site_count": len(incident.sites),
        "sites": [
            {
                "site_id": site.site_id,
                "site_name": site.site_name,
                "severity": site.severity,
                "sle_pct": sle_monitor.json_pct(site.sle_pct),
            }
            for site in incident.sites
        ],
    }


def _site_document(site: SiteResult, types: List[str]) -> Dict[str, Any]:
    document = _site_fields(site, types)
    if site.profile is not None:
        document.update(profile=site.profile, timezone=site.timezone, site_groups=list(site.groups))
    return document


def _site_fields(site: SiteResult, types: List[str]) -> Dict[str, Any]:
    document: Dict[str, Any] = {
        "id": site.id,
        "name": site.name,
        "status": site.status,
        "num_aps": site.num_aps,
        "num_clients": site.num_clients,
    }
    # Additive: the device counts of the types collected beside Wi-Fi (sle.types).
    if sle_types.WIRED in types:
        document["num_switches"] = site.num_switches
    if sle_types.WAN in types:
        document["num_gateways"] = site.num_gateways
    document["metrics"] = {key: _metric_document(metric) for key, metric in site.metrics.items()}
    return document


def _insight_document(insight: Insight) -> Dict[str, Any]:
    return {
        "site_id": insight.site_id,
        "site_name": insight.site_name,
        "metric": insight.metric,
        "sle_pct": sle_monitor.json_pct(insight.sle_pct),
        "severity": insight.severity,
        "top_classifier": None if insight.top_classifier is None else _classifier_document(insight.top_classifier),
    }


def dashboard_document(result: RunResult) -> Dict[str, Any]:
    """Return the HEALTH_DASHBOARD JSON document (schema_version 1, see the README), secrets redacted.

    Names keep their control characters here: JSON writes them escaped (\u001b), and they are the API's data.
    """
    document: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(result.generated_at),
        "org": {"id": result.org_id, "name": result.org_name},
        "window": {"start": iso(result.window_start), "end": iso(result.window_end), "duration": result.duration},
        "overall_status": result.overall_status,
        "complete": result.complete,
        "problems": list(result.problems),
        "notes": list(result.notes),
        "thresholds": dict(result.thresholds),
        "summary": dict(result.summary),
        "severity_counts": result.severity_counts,
        "detail_source": result.detail_source,
        "deferred": result.deferred_count,
        "types": list(result.types),
        "sites": [_site_document(site, result.types) for site in result.sites],
        "insights": [_insight_document(insight) for insight in result.insights],
        "api": {"calls": result.api_calls, "base_url": result.base_url},
    }
    if result.trends is not None:
        document["trends"] = result.trends
    if result.policy_applied or result.incidents:
        document["incidents"] = [_incident_document(incident) for incident in result.incidents]
    if result.alert_window is not None:
        document["window"]["alert_window"] = result.alert_window
    return _redacted(document)


def _redacted(document: Dict[str, Any]) -> Dict[str, Any]:
    """Return the document with the registered secrets redacted from its free text (an API error may echo one).

    The free text is what the API or an error message wrote: problems, notes, the org's and the sites' names, the
    trends. Ids, severities and numbers are the tool's own; walking them would double the time of a 10,000-site run.
    """
    redactor = text_safety.Redactor(logging_setup.registered_secrets())
    for key in ("problems", "notes"):
        document[key] = [redactor(text) for text in document[key]]
    document["org"]["name"] = redactor(document["org"]["name"] or "") or document["org"]["name"]
    for site in document["sites"]:
        site["name"] = redactor(site["name"])
        for metric in site["metrics"].values():
            if "muted" in metric:
                metric["muted"] = text_safety.map_strings(metric["muted"], redactor)
    if "incidents" in document:
        document["incidents"] = text_safety.map_strings(document["incidents"], redactor)
    for insight in document["insights"]:
        insight["site_name"] = redactor(insight["site_name"])
    if "trends" in document:
        document["trends"] = text_safety.map_strings(document["trends"], redactor)
    return document


def _pct(value: Optional[float]) -> str:
    return "no data" if value is None else f"{sle_monitor.format_sle(value)}%"


def _bytecode_cache(jinja2: Any) -> Any:
    """Return a per-user cache of compiled templates in the temp folder (compiling costs 0.2 s a run), or None."""
    directory = Path(tempfile.gettempdir()) / f"mist-infra-manager-templates-{getpass_user()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        status = directory.stat()
    except OSError:
        return None
    # Compiled templates are code: never load them from a folder someone else owns or can write.
    if hasattr(os, "getuid") and (status.st_uid != os.getuid() or status.st_mode & 0o022):
        return None
    return jinja2.FileSystemBytecodeCache(str(directory), pattern=BYTECODE_CACHE_PATTERN)


def getpass_user() -> str:
    """Return a name for the current user that is safe in a folder name."""
    try:
        name = getpass.getuser()
    except Exception:  # no user name on this system: one shared cache is still correct, just less private
        name = "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "user"


class LaidOut(str):
    """Text the tool laid out over several lines itself (a macro's output, the TRENDS block): keeps its tabs and LFs."""


def _laid_out(value: Any) -> LaidOut:
    return LaidOut(value)


def _finalize(value: Any) -> Any:
    """Make every {{ }} value of every template safe: credentials redacted, control characters escaped.

    Runs before autoescape, which leaves ESC alone. A value is one line: a name with a CR/LF cannot start a line
    of its own. LaidOut text keeps its tabs and LFs. Markup is HTML a macro made of values finalized already.
    """
    kind = value.__class__
    if kind is str or (isinstance(value, str) and kind is not LaidOut and not hasattr(value, "__html__")):
        return text_safety.escape_controls(text_safety.redact_credentials(value))
    if kind is LaidOut:
        return LaidOut(text_safety.escape_controls_keep_layout(text_safety.redact_credentials(value)))
    return value


def _build_environment() -> Any:
    # Imported here: Jinja2 costs start-up time that the insights and monitor modes do not need.
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIRECTORY)),
        # Templates are named like `email.html.j2`: the extension list must include the .j2 forms to escape them.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"), default_for_string=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(jinja2),
        finalize=_finalize,
    )
    environment.filters["pct"] = _pct
    environment.filters["cell"] = sle_monitor.format_cell
    environment.filters["iso"] = iso
    environment.filters["laid_out"] = _laid_out
    environment.filters["by_id"] = lambda stats: {stat.id: stat for stat in stats}
    # Every known metric: templates keep those of the run's types (`m.sle_type in result.types`).
    environment.globals["metrics"] = catalog.ALL_METRICS
    environment.globals["type_labels"] = sle_types.TYPE_LABELS
    environment.globals["type_metrics"] = lambda sle_type: sle_types.metrics_of([sle_type])
    environment.globals["recommended_action"] = catalog.recommended_action
    environment.globals["share"] = root_cause.format_share
    environment.globals["dimension_names"] = root_cause.DIMENSION_NAMES
    # The alert policy's lines (templates _policy.txt.j2 and _policy.html.j2).
    environment.globals["policy_view"] = policy_view.build
    email_style.register(environment)
    return environment


_environment: Optional[Any] = None


def environment() -> Any:
    """Return the shared Jinja2 environment (autoescape for .html, StrictUndefined)."""
    global _environment
    if _environment is None:
        _environment = _build_environment()
    return _environment


_SEVERITY_MARKS = {"critical": "***", "major": "**", "warning": "*"}
GRID_NAME_WIDTH = 32
GRID_CELL_WIDTH = 10


def _grid_cell(metric: MetricResult) -> str:
    if metric.sle_pct is None:
        return "-".rjust(GRID_CELL_WIDTH)
    return f"{sle_monitor.format_sle(metric.sle_pct)}{_SEVERITY_MARKS.get(metric.severity, '')}".rjust(GRID_CELL_WIDTH)


GRID_GROUP_SEPARATOR = " |"


def _grid_row(types: List[str], cells: Callable[[catalog.Metric], str]) -> str:
    """Return a grid row's metric cells: one column group per SLE type, " |" between the groups."""
    return GRID_GROUP_SEPARATOR.join(
        "".join(cells(metric) for metric in sle_types.metrics_of([sle_type])) for sle_type in types
    )


def _grid_group_line(types: List[str]) -> str:
    """Return the line above the grid header naming each type's column group."""
    groups = [
        f"-- {sle_types.TYPE_LABELS[sle_type]} ".ljust(GRID_CELL_WIDTH * len(sle_types.metrics_of([sle_type])), "-")
        for sle_type in types
    ]
    return " " * (GRID_NAME_WIDTH + len(" Status   ")) + GRID_GROUP_SEPARATOR.join(groups)


def status_grid(result: RunResult, sites: Optional[List[SiteResult]] = None) -> List[str]:
    """Return the text status grid: a header line, then one line per site (default every site), worst first.

    With more than one SLE type (sle.types) the header has two lines: the type of each column group, then
    the metric names; each group is separated by " |".
    """
    types = list(result.types)
    header = (
        "Site".ljust(GRID_NAME_WIDTH) + " Status   " + _grid_row(types, lambda m: m.short_name.rjust(GRID_CELL_WIDTH))
    )
    if len(types) > 1:
        # LaidOut: the templates keep the line feed between the two header lines.
        header = LaidOut(_grid_group_line(types) + "\n" + header)
    lines = [header]
    for site in result.sites if sites is None else sites:
        # Escaped before it is cut to width, so the columns stay aligned.
        name = text_safety.escape_controls(site.name)
        name = name if len(name) <= GRID_NAME_WIDTH else name[: GRID_NAME_WIDTH - 1] + "~"
        lines.append(
            name.ljust(GRID_NAME_WIDTH)
            + f" {site.status:<8} "
            + _grid_row(types, lambda m, site=site: _grid_cell(site.metrics[m.key]))  # type: ignore[misc]
        )
    return lines


def action_families(result: RunResult) -> List[Dict[str, Any]]:
    """Return one recommended action per top classifier among the insights, most frequent first."""
    families: Dict[str, Dict[str, Any]] = {}
    for insight in result.insights:
        top = insight.top_classifier
        if top is None:
            continue
        family = families.setdefault(
            top.id, {"classifier": top.name, "count": 0, "action": catalog.recommended_action(top.id)}
        )
        family["count"] += 1
    return sorted(families.values(), key=lambda family: (-family["count"], family["classifier"]))


def metric_rows(result: RunResult) -> Dict[str, List[SiteResult]]:
    """Return per metric key the sites below the warning threshold on it, lowest SLE % first."""
    rows: Dict[str, List[SiteResult]] = {metric.key: [] for metric in sle_types.metrics_of(result.types)}
    for site in result.sites:
        for key, metric in site.metrics.items():
            if key in rows and metric.severity in ALERT_SEVERITIES:
                rows[key].append(site)
    for key, sites in rows.items():
        sites.sort(key=lambda site, key=key: site.metrics[key].sle_pct or 0.0)  # type: ignore[misc]
    return rows


def template_context(result: RunResult) -> Dict[str, Any]:
    """Return what every template gets: the result and the values derived from it once."""
    critical_sites = [site for site in result.sites if site.status == "critical"]
    affected_sites = result.affected_sites
    # The trends carry site names from the history: escaped before they are laid out in lines.
    trends = text_safety.map_strings(result.trends, text_safety.escape_controls)
    return {
        "sites_by_id": {site.id: site for site in result.sites},
        "action_families": action_families(result),
        "metric_rows": metric_rows(result),
        # The TRENDS block, and per degraded site and metric its 7-day line; "" and {} before trends are computed.
        "trend_text": LaidOut(trend_analyzer.trend_text(trends)),
        "site_trend_lines": trend_analyzer.site_lines(trends),
        "result": result,
        "generated": iso(result.generated_at),
        "window_start": iso(result.window_start),
        "window_end": iso(result.window_end),
        "counts": result.severity_counts,
        "affected_sites": affected_sites,
        "worst_sites": affected_sites[:WORST_SITES_IN_DASHBOARD],
        "critical_sites": critical_sites,
    }


# The last result's context: a run renders up to seven templates from one result.
_context_cache: Dict[str, Any] = {}


def _cached_context(result: RunResult) -> Dict[str, Any]:
    key = (id(result), id(result.trends), len(result.sites), len(result.insights))
    if _context_cache.get("key") != key or _context_cache.get("result") is not result:
        _context_cache.update(key=key, result=result, context=template_context(result))
    return dict(_context_cache["context"])


def forget_context() -> None:
    """Drop the cached rendering context (and with it the last result)."""
    _context_cache.clear()


def render(template_name: str, result: RunResult, **extra: Any) -> str:
    """Return a template rendered with the result's context: secrets redacted, no control character but tab/LF."""
    context = _cached_context(result)
    context.update(extra)
    return logging_setup.safe_document(str(environment().get_template(template_name).render(**context)))


def render_summary_text(result: RunResult) -> str:
    """Return the SUMMARY_REPORT text: insights by priority with site details."""
    return render("summary_report.txt.j2", result)


def render_dashboard_text(result: RunResult) -> str:
    """Return the HEALTH_DASHBOARD text: status grid, counts, worst sites, recommended actions."""
    grid = status_grid(result)
    return render("health_dashboard.txt.j2", result, grid_header=grid[0], grid_lines=grid[1:])


def _unique_stem(directory: Path, stamp: str) -> str:
    stem = stamp
    suffix = 1
    while (directory / f"SUMMARY_REPORT_{stem}.txt").exists():
        stem = f"{stamp}_{suffix}"
        suffix += 1
    return stem


def write_reports(result: RunResult, directory: Path, file_mode: int = SHARED_FILE_MODE) -> ReportFiles:
    """Write the run's report files atomically into directory with file_mode and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = _unique_stem(directory, result.generated_at.strftime(TIMESTAMP_FORMAT))
    files = ReportFiles(
        summary_txt=directory / f"SUMMARY_REPORT_{stem}.txt",
        dashboard_txt=directory / f"HEALTH_DASHBOARD_{stem}.txt",
        dashboard_json=directory / f"HEALTH_DASHBOARD_{stem}.json",
    )
    atomic_write_json(files.dashboard_json, dashboard_document(result), indent=None, mode=file_mode)
    atomic_write_text(files.summary_txt, render_summary_text(result), mode=file_mode)
    atomic_write_text(files.dashboard_txt, render_dashboard_text(result), mode=file_mode)
    if (TEMPLATE_DIRECTORY / "health_dashboard.html.j2").exists():
        files.dashboard_html = directory / f"HEALTH_DASHBOARD_{stem}.html"
        atomic_write_text(files.dashboard_html, render("health_dashboard.html.j2", result), mode=file_mode)
    logger.info("Reports written: %s", ", ".join(path.name for path in files.all()))
    return files
