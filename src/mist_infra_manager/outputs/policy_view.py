"""What the reports and emails say about the alert policy: incidents, the thresholds that applied where they
differ from the default, acute site-metrics with both windows' values, and muted site-metrics with why and until.

Rendered by `_policy.txt.j2` and `_policy.html.j2`; empty (and so invisible) for a run without policy or silences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional

from mist_infra_manager.analysis import sle_monitor
from mist_infra_manager.analysis.models import RunResult

# Lines per list in a report or email; the JSON has them all.
MAX_LINES = 50


@dataclass
class PolicyView:
    """The policy lines of one run, as text the templates lay out."""

    incidents: List[Dict[str, object]] = field(default_factory=list)
    thresholds: List[str] = field(default_factory=list)
    acute: List[str] = field(default_factory=list)
    muted: List[str] = field(default_factory=list)
    folded: List[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        """Return True when there is something to say."""
        return bool(self.incidents or self.thresholds or self.acute or self.muted or self.folded)


def _pct(value: Optional[float]) -> str:
    return "no data" if value is None else f"{sle_monitor.format_sle(value)}%"


def _thresholds(values: Dict[str, float]) -> str:
    return f"critical < {values['critical']:g}, major < {values['major']:g}, warning < {values['warning']:g}"


def _until(moment: Optional[datetime]) -> str:
    return "" if moment is None else f" until {moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def build(result: RunResult) -> PolicyView:
    """Return the policy lines of a run (each list at most MAX_LINES long)."""
    view = PolicyView()
    for incident in result.incidents[:MAX_LINES]:
        view.incidents.append(
            {
                "severity": incident.severity,
                "headline": incident.headline,
                "sites": [f"{site.site_name} {_pct(site.sle_pct)} {site.severity}" for site in incident.sites],
            }
        )
    for site in result.sites:
        profiled = {key: m.thresholds for key, m in site.metrics.items() if m.thresholds is not None}
        if profiled:
            distinct = {_thresholds(values) for values in profiled.values()}
            detail = (
                next(iter(distinct))
                if len(distinct) == 1 and len(profiled) == len(site.metrics)
                else "; ".join(f"{key}: {_thresholds(values)}" for key, values in profiled.items())
            )
            view.thresholds.append(f"{site.name}: profile {site.profile} ({detail})")
        for metric in site.metrics.values():
            label = f"{site.name} - {metric.name}"
            if metric.acute:
                view.acute.append(
                    f"{label}: {_pct(metric.alert_window_pct)} over the last {result.alert_window}, "
                    f"{_pct(metric.sle_pct)} over {result.duration} ({metric.severity})"
                )
            if metric.muted is not None:
                view.muted.append(
                    f"{label} {_pct(metric.sle_pct)} [{('acute ' if metric.acute else '') + metric.severity}]: "
                    f"{metric.muted_reason}{_until(metric.muted_until)}"
                )
            if metric.folded:
                view.folded.append(f"{label}: site connectivity; folded in: {', '.join(metric.folded)}")
    view.thresholds = view.thresholds[:MAX_LINES]
    view.acute = view.acute[:MAX_LINES]
    view.muted = view.muted[:MAX_LINES]
    view.folded = view.folded[:MAX_LINES]
    return view
