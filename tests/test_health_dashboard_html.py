"""HEALTH_DASHBOARD_<ts>.html: the email's content for a browser, written beside the JSON, checked in Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import List

import pytest

from email_browser import chromium, run_chromium
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult
from mist_infra_manager.outputs import report_generator
from result_builders import HTML_SITE_NAME, make_result, sample_sites, sample_trends, site

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
ESCAPED_HTML_SITE_NAME = "&lt;b&gt;Café &amp; &#34;Bar&#34; &#39;Store&#39;&lt;/b&gt;"
# The dashboard is a long page: a tall window shows its tables.
WINDOW_SIZE = "--window-size=1400,3000"


def every_metric_affected() -> RunResult:
    """The golden org plus a roaming and a throughput problem, so that all 7 classifier tables exist."""
    sites = sample_sites() + [
        site("site-roam", "Store-0003 Berlin", {"roaming": (85.0, [("signal-quality-sticky-client", 6.0, 14, 2)])}),
        site("site-thru", "Store-0008 Lyon", {"throughput": (79.0, [("network-issues", 9.5, 40, 4)])}),
    ]
    return make_result(sites, trends=sample_trends())


def metric_tables(html: str) -> List[str]:
    return re.findall(r'<table\b[^>]*\bdata-metric="([^"]+)"', html)


def test_write_reports_writes_the_html_dashboard_beside_the_json(tmp_path: Path) -> None:
    files = report_generator.write_reports(every_metric_affected(), tmp_path)

    assert files.dashboard_html is not None
    assert files.dashboard_html.parent == files.dashboard_json.parent
    assert files.dashboard_html.name == files.dashboard_json.name.replace(".json", ".html")
    html = files.dashboard_html.read_text(encoding="utf-8")
    assert metric_tables(html) == [metric.key for metric in catalog.METRICS]
    assert "26.6% degraded, users=80, aps=8" in html


def test_the_dashboard_escapes_site_names_and_draws_an_svg_trend_per_metric() -> None:
    html = report_generator.render("health_dashboard.html.j2", every_metric_affected())

    assert ESCAPED_HTML_SITE_NAME in html and HTML_SITE_NAME not in html
    assert html.count("<svg") == len(catalog.METRICS)
    assert "<title>2025-03-14: 91.3%</title>" in html  # the coverage series, one point per day with data
    assert "<script" not in html.lower()


def test_the_dashboard_lists_every_affected_site_without_the_emails_row_limit() -> None:
    sites = [site(f"s{index:02d}", f"Store {index:02d}", {"coverage": (50.0 + index / 2, [])}) for index in range(40)]

    html = report_generator.render("health_dashboard.html.j2", make_result(sites))

    coverage = html.split('data-metric="coverage"')[1].split("</table>")[0]
    assert coverage.count("<tr>") == 40
    assert "more sites" not in html


def test_a_healthy_org_dashboard_says_so_for_every_metric() -> None:
    html = report_generator.render("health_dashboard.html.j2", make_result([site("a", "Store A")]))

    assert metric_tables(html) == []
    assert html.count("all sites at or above 90 %") == len(catalog.METRICS)


def _chromium() -> str:
    found = chromium()
    if found is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run installs it)")
    return found


def _run_chromium(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    return run_chromium(binary, profile, WINDOW_SIZE, *arguments)


@pytest.mark.browser
def test_the_dashboard_renders_its_seven_tables_in_headless_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    files = report_generator.write_reports(every_metric_affected(), tmp_path / "reports")
    assert files.dashboard_html is not None
    url = files.dashboard_html.resolve().as_uri()

    dumped = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert metric_tables(dom) == [metric.key for metric in catalog.METRICS]
    assert "SLE Classifier Breakdown" in dom
    # The browser parsed the site name as text, not as a <b> element.
    assert "&lt;b&gt;Café &amp;" in dom and "<b>Café" not in dom
    assert dom.count("<svg") == len(catalog.METRICS)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "health_dashboard.png"
    screenshot.unlink(missing_ok=True)
    shot = _run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000  # a blank page is a few kB
