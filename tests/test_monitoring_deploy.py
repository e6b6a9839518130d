"""The Grafana dashboard and the Prometheus rules under deploy/: well formed, and only the metrics the tool exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import PROJECT_ROOT
from mist_infra_manager.outputs import metrics
from result_builders import make_result, sample_sites

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "mist-infra-manager.json"
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "mist-infra-manager.rules.yml"
METRIC_NAME = re.compile(r"\b(mist_[a-z_]+)\b")
# Series Prometheus itself makes.
PROMETHEUS_OWN = {"up"}


def exported_names() -> Set[str]:
    """Return every sample name the exporter writes for a full snapshot."""
    health = metrics.ToolHealth(
        version="1", last_success_timestamp=1.0, cycle_duration_seconds=1.0, api_budget_remaining=1
    )
    text = metrics.exposition(metrics.MetricsSnapshot(make_result(sample_sites()), health)).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def expressions(panels: List[Dict[str, Any]]) -> List[str]:
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_the_grafana_dashboard_is_valid_json_with_unique_panels_on_the_grid() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for wanted in ("worst sites", "org sle", "critical", "budget", "last complete"):
        assert wanted in titles


def test_the_dashboard_and_the_rules_use_only_exported_metrics() -> None:
    exported = exported_names()
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    used = " ".join(expressions(dashboard["panels"]))
    used += " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])

    assert set(METRIC_NAME.findall(used)) - exported == set()


def test_the_rules_alert_when_the_monitor_itself_stopped() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    by_name = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}

    stopped = by_name["MistInfraManagerStopped"]
    assert "mist_infra_manager_last_success_timestamp_seconds" in stopped["expr"]
    assert "45 * 60" in stopped["expr"], "3 intervals of the default 15 minutes"
    for rule in by_name.values():
        assert rule["labels"]["severity"] in ("critical", "warning") and rule["annotations"]["summary"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    completed = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0, completed.stdout + completed.stderr
