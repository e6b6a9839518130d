"""`check`, the Nagios / Icinga plugin: verdicts on dashboards written by real runs against the simulator."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from mist_infra_manager.analysis.models import utc_now
from mist_infra_manager.cli.check import run_check
from mist_infra_manager.cli.main import main

# https://nagios-plugins.org/doc/guidelines.html#AEN200: 'label'=value[UOM];[warn];[crit];[min];[max]
PERFDATA_ITEM = re.compile(r"^'(?:[^']|'')+'=-?\d+(?:\.\d+)?(?:%|s|ms|us|B|KB|MB|TB|c)?(?:;[^;\s]*){0,4}$")
STATUS_LINE = re.compile(r"^MIST SLE (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+(?: \| (.+))?$")


def check(arguments: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str]:
    code = main(["check", *arguments], {})
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    return code, lines[0]


def assert_plugin_output(line: str) -> List[str]:
    """Assert the line follows the plugin convention and return its perfdata items."""
    match = STATUS_LINE.match(line)
    assert match, line
    items = (match.group(2) or "").split(" ") if match.group(2) else []
    for item in items:
        assert PERFDATA_ITEM.match(item), item
    return items


@pytest.fixture
def reported(
    simulator: Any, make_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Tuple[Path, Dict[str, Any]]:
    """A config whose reports hold the dashboard of one real report run, and that dashboard."""
    config_path = make_config(simulator.base_url)
    assert main(["--mode", "report", "--quiet", "--config", str(config_path)], {}) == 0
    capsys.readouterr()
    dashboard = json.loads(sorted((tmp_path / "reports").glob("HEALTH_DASHBOARD_*.json"))[-1].read_text())
    return config_path, dashboard


def site_with(dashboard: Dict[str, Any], status: str) -> Dict[str, Any]:
    return next(entry for entry in dashboard["sites"] if entry["status"] == status)


def test_a_critical_site_is_critical_with_perfdata_per_metric(
    reported: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, dashboard = reported
    critical = site_with(dashboard, "critical")
    code, line = check(["--site", critical["name"], "--config", str(config_path)], capsys)

    assert code == 2 and line.startswith(f"MIST SLE CRITICAL - {critical['name']}: ")
    items = assert_plugin_output(line)
    measured = {key: value for key, value in critical["metrics"].items() if value["sle_pct"] is not None}
    assert len(items) == len(measured)
    coverage = measured.get("coverage")
    if coverage is not None:
        assert f"'coverage'={coverage['sle_pct']:.1f}%;90:;70:;0;100" in items


def test_a_site_with_a_major_or_warning_metric_is_warning_and_a_healthy_one_ok(
    reported: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, dashboard = reported
    statuses = {entry["status"] for entry in dashboard["sites"]}
    for status in {"major", "warning"} & statuses:
        code, line = check(["--site", site_with(dashboard, status)["id"], "--config", str(config_path)], capsys)
        assert code == 1 and " WARNING - " in line
    code, line = check(["--site", site_with(dashboard, "healthy")["name"], "--config", str(config_path)], capsys)
    assert code == 0 and "all metrics healthy" in line
    assert_plugin_output(line)


def test_one_metric_of_a_site_follows_that_metrics_severity(
    reported: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, dashboard = reported
    critical = site_with(dashboard, "critical")
    key = next(key for key, value in critical["metrics"].items() if value["severity"] == "critical")
    healthy_key = next((key for key, value in critical["metrics"].items() if value["severity"] == "info"), None)

    assert check(["--site", critical["name"], "--metric", key, "--config", str(config_path)], capsys)[0] == 2
    if healthy_key is not None:
        assert (
            check(["--site", critical["name"], "--metric", healthy_key, "--config", str(config_path)], capsys)[0] == 0
        )


def test_the_org_check_counts_sites_per_status_with_org_wide_values_as_perfdata(
    reported: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, dashboard = reported
    code, line = check(["--org", "--config", str(config_path)], capsys)

    assert code == {"critical": 2, "major": 1, "warning": 1, "healthy": 0}[dashboard["overall_status"]]
    items = assert_plugin_output(line)
    for status in ("critical", "major", "warning", "healthy", "no_data"):
        assert f"'sites_{status}'={dashboard['summary'][status]};;;0;" in items
    for key, value in dashboard["trends"]["org"].items():
        if value["current_pct"] is not None:
            assert f"'{key}'={value['current_pct']:.1f}%;90:;70:;0;100" in items


def test_unknown_for_an_unknown_site_a_missing_dashboard_a_stale_one_and_bad_usage(
    reported: Tuple[Path, Dict[str, Any]], tmp_path: Path, make_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, dashboard = reported
    assert check(["--site", "No Such Store", "--config", str(config_path)], capsys)[0] == 3
    empty = make_config("http://127.0.0.1:9", {"reports": {"directory": str(tmp_path / "empty")}}, name="empty.yaml")
    code, line = check(["--config", str(empty)], capsys)
    assert code == 3 and "no dashboard JSON" in line
    generated = dashboard["generated_at"]
    stale = run_check(
        config_path,
        {},
        site=None,
        metric=None,
        max_age="30m",
        now=utc_now().fromisoformat(generated.replace("Z", "+00:00")) + timedelta(minutes=31),
    )
    assert stale.code == 3 and "31 min old" in stale.line
    assert main(["check", "--site", "x", "--org"], {}) == 3
    assert main(["check", "--max-age", "soon", "--config", str(config_path)], {}) == 3


def test_an_incomplete_dashboard_is_unknown(
    reported: Tuple[Path, Dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, _ = reported
    newest = sorted((tmp_path / "reports").glob("HEALTH_DASHBOARD_*.json"))[-1]
    document = json.loads(newest.read_text())
    document["complete"] = False
    newest.write_text(json.dumps(document))

    code, line = check(["--config", str(config_path)], capsys)
    assert code == 3 and "incomplete" in line


def test_perfdata_follows_a_metrics_own_profile_thresholds() -> None:
    from mist_infra_manager.outputs import nagios

    dashboard = {
        "generated_at": "2026-01-01T00:00:00Z",
        "complete": True,
        "thresholds": {"critical": 70, "major": 80, "warning": 90},
        "sites": [
            {
                "id": "s1",
                "name": "Warehouse 1",
                "status": "warning",
                "metrics": {
                    "coverage": {
                        "sle_pct": 62.0,
                        "severity": "warning",
                        "thresholds": {"critical": 50, "major": 60, "warning": 75},
                    }
                },
            }
        ],
    }
    now = utc_now().fromisoformat("2026-01-01T00:10:00+00:00")
    verdict = nagios.evaluate(dashboard, now, timedelta(minutes=30), site="Warehouse 1")

    assert verdict.code == 1
    assert verdict.line.endswith("| 'coverage'=62.0%;75:;50:;0;100")
