"""Alert emails in headless Chromium at a given width: measured (browser test) and photographed (make screenshots).

Chromium clamps its window to at least 500 px, so the email is shown in an iframe of the wanted width inside a
wrapper page; a script of the wrapper (the email itself has none) measures the iframe's document once loaded and
writes JSON into a <pre>, which `--dump-dom` returns.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional

from mist_infra_manager.alerting import alert_state, notification_service
from mist_infra_manager.analysis.models import RunResult
from result_builders import FIXED_NOW, large_result, make_result, sample_sites, sample_trends, site

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_TIMEOUT_SECONDS = 90
# Time the page gets (virtual, not waited for) to load the iframe and run the measuring script.
VIRTUAL_TIME_BUDGET_MS = 5000
# The widths of the issue: a phone, a reading pane, a desktop window.
WIDTHS_PX = (390, 600, 1280)
# Height of the iframe and of the screenshot: the top of the email, where the on-call engineer reads.
FRAME_HEIGHT_PX = 3000
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TOP_SECTIONS = ("header", "counts", "why", "actions")

_MEASURE = """
window.addEventListener("load", function () {
  var frame = document.getElementById("email");
  var doc = frame.contentDocument;
  var result = {viewport: doc.documentElement.clientWidth, scrollWidth: doc.documentElement.scrollWidth,
                sections: {}, tables: {}, widestRow: 0};
  doc.querySelectorAll("[data-section]").forEach(function (element) {
    result.sections[element.getAttribute("data-section")] = Math.ceil(element.getBoundingClientRect().right);
  });
  doc.querySelectorAll("table[data-metric], table[data-table]").forEach(function (table) {
    var key = table.getAttribute("data-metric") || table.getAttribute("data-table");
    result.tables[key] = doc.defaultView.getComputedStyle(table).display;
    table.querySelectorAll("tbody tr").forEach(function (row) {
      result.widestRow = Math.max(result.widestRow, Math.ceil(row.getBoundingClientRect().right));
    });
  });
  document.getElementById("out").textContent = JSON.stringify(result);
});
"""


def chromium() -> Optional[str]:
    """Return the path of a Chromium binary, or None."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def first_alert(result: RunResult, max_rows: int = 25) -> notification_service.RenderedEmail:
    """Return the first alert email for result (every problem new)."""
    decision = alert_state.decide(
        {},
        alert_state.current_problems(result),
        alert_state.site_metric_severities(result),
        trends_computed=result.trends is not None,
        now=FIXED_NOW,
        repeat_interval=timedelta(hours=4),
    )
    email = notification_service.alert_extras(
        result,
        decision,
        previous={},
        resolved=[],
        max_rows=max_rows,
        repeat_interval="4h",
        attachment_name="SUMMARY_REPORT_20250314T060000Z.txt",
        now=FIXED_NOW,
    )
    return notification_service.render_alert(result, email)


def alert_html(result: RunResult, max_rows: int = 25) -> str:
    """Return the HTML part of the first alert email for result."""
    return first_alert(result, max_rows).html


def demo_like_result() -> RunResult:
    """The sample org with trends plus a roaming and a throughput problem: all seven classifier tables."""
    sites = sample_sites() + [
        site("site-roam", "Store-0003 Berlin", {"roaming": (85.0, [("signal-quality-sticky-client", 6.0, 14, 2)])}),
        site("site-thru", "Store-0008 Lyon", {"throughput": (79.0, [("network-issues", 9.5, 40, 4)])}),
    ]
    return make_result(sites, trends=sample_trends())


def large_alert_result() -> RunResult:
    """A 2,000-site org with 400 affected sites (two metrics each)."""
    return large_result(total_sites=2_000, affected=400)


def wrapper_page(email_html: str, width: int, measure: bool) -> str:
    """Return a page showing email_html in an iframe width px wide (with the measuring script when measure)."""
    script = f"<script>{_MEASURE}</script>" if measure else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0;background:#888">'
        f'<iframe id="email" style="display:block;border:0;width:{width}px;height:{FRAME_HEIGHT_PX}px" '
        f'srcdoc="{html.escape(email_html, quote=True)}"></iframe><pre id="out"></pre>{script}</body></html>'
    )


def run_chromium(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile folder and the quiet, offline flags; returns its result."""
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_SECONDS,
        check=False,
    )


def measure(binary: str, email_html: str, width: int, work: Path) -> Dict[str, Any]:
    """Return what the measuring script saw: viewport, scrollWidth, section right edges, table displays."""
    page = work / f"measure-{width}.html"
    page.write_text(wrapper_page(email_html, width, measure=True), encoding="utf-8")
    done = run_chromium(
        binary,
        work / f"profile-{width}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        f"--window-size={max(width, 500) + 20},{FRAME_HEIGHT_PX}",
        "--dump-dom",
        page.resolve().as_uri(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    start = done.stdout.index('<pre id="out">') + len('<pre id="out">')
    text = html.unescape(done.stdout[start : done.stdout.index("</pre>", start)])
    if not text:
        raise RuntimeError("the measuring script wrote nothing")
    measured: Dict[str, Any] = json.loads(text)
    return measured


def screenshot(binary: str, email_html: str, width: int, target: Path, work: Path) -> Path:
    """Write a PNG of the top FRAME_HEIGHT_PX of the email at width px to target and return it."""
    page = work / f"shot-{target.stem}.html"
    page.write_text(wrapper_page(email_html, width, measure=False), encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    done = run_chromium(
        binary,
        work / f"profile-shot-{target.stem}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        f"--window-size={max(width, 500)},{FRAME_HEIGHT_PX}",
        f"--screenshot={target}",
        page.resolve().as_uri(),
    )
    if done.returncode != 0 or not target.exists():
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return target


def screenshot_set(binary: str, directory: Path, work: Path) -> List[Path]:
    """Write alert_<demo|2000-sites>_<width>.png for every width of WIDTHS_PX; return the paths."""
    written = []
    for label, result in (("demo", demo_like_result()), ("2000-sites", large_alert_result())):
        email_html = alert_html(result)
        for width in WIDTHS_PX:
            written.append(screenshot(binary, email_html, width, directory / f"alert_{label}_{width}.png", work))
    return written
