"""The alert email as read on a phone, with a screen reader, in Outlook: structure, wording, size on the wire."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from email_browser import alert_html, first_alert
from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import email_delivery, notification_service
from mist_infra_manager.analysis import catalog
from mist_infra_manager.outputs import report_generator
from result_builders import FIXED_NOW, large_result, make_result, sample_sites, sample_trends, site
from smtp_server import SmtpTestServer

WIRE_LIMIT_BYTES = 100_000


def text_of(html: str) -> str:
    """Return the words of an HTML fragment, tags removed and white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section(html: str, name: str) -> str:
    """Return the HTML of the <div data-section="name"> block (sections do not nest divs of their own name)."""
    start = html.index(f'<div data-section="{name}">')
    following = re.search(r'<div data-section="|<div style="padding:0 12px">\n<h2', html[start + 1 :])
    return html[start : start + 1 + following.start()] if following else html[start:]


class TableAudit(HTMLParser):
    """Collects per <table>: its role, whether it has a <caption>, and its own header cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: List[Dict[str, Any]] = []
        self._open: List[Dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            table = {"role": attributes.get("role"), "caption": False, "th": [], "thead": False}
            self.tables.append(table)
            self._open.append(table)
        elif self._open and tag == "caption":
            self._open[-1]["caption"] = True
        elif self._open and tag == "thead":
            self._open[-1]["thead"] = True
        elif self._open and tag == "th":
            self._open[-1]["th"].append(attributes.get("scope"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._open:
            self._open.pop()


def audit(html: str) -> List[Dict[str, Any]]:
    parser = TableAudit()
    parser.feed(html)
    return parser.tables


def smtp_config(tmp_path: Path, server: SmtpTestServer) -> Any:
    raw = {
        "mist": {"api_token": "unused-token"},
        "reports": {"directory": str(tmp_path / "reports")},
        "logging": {"file": None},
        "notifications": {"enabled": True, "email": server.email_config()},
    }
    return config_module.validate(raw, "test-config.yaml", environ={})


def html_part_on_the_wire(data: bytes) -> bytes:
    """Return the text/html part of a received message exactly as its bytes came over SMTP, part headers included."""
    lines = data.split(b"\r\n")
    start = next(index for index, line in enumerate(lines) if line.lower().startswith(b"content-type: text/html"))
    end = next(index for index in range(start, len(lines)) if lines[index].startswith(b"--"))
    return b"\r\n".join(lines[start:end])


# --- Size on the wire -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_ten_thousand_site_alert_arrives_with_an_html_part_under_100_000_bytes_as_encoded(tmp_path: Path) -> None:
    with SmtpTestServer() as server:
        outcome = notification_service.process_run(
            large_result(total_sites=10_000, affected=2_000), None, smtp_config(tmp_path, server), FIXED_NOW
        )
        assert not outcome.failed
        [received] = server.messages

    part = html_part_on_the_wire(received.data)
    assert len(part) < WIRE_LIMIT_BYTES
    assert b"Content-Transfer-Encoding: quoted-printable" in part or b"Content-Transfer-Encoding: base64" in part
    html = received.body("html")
    assert len(part) > len(html.encode("utf-8"))  # what the old guard measured was less than what is sent
    assert re.findall(r'<table\b[^>]*\bdata-metric="([^"]+)"', html) == [metric.key for metric in catalog.METRICS]
    assert "more sites: see the attached report" in html


def test_the_size_guard_counts_the_encoding_and_drops_rows_until_the_part_fits(monkeypatch: Any) -> None:
    monkeypatch.setattr(notification_service, "HTML_BUDGET_BYTES", 60_000)

    html = alert_html(large_result(total_sites=3_000, affected=600))

    assert email_delivery.html_part_bytes(html) <= 60_000
    assert email_delivery.html_part_bytes(html) > len(html.encode("utf-8"))


# --- Structure for screen readers and Outlook -----------------------------------------------------------------


def test_data_tables_have_a_caption_and_column_headers_and_only_layout_tables_are_presentation() -> None:
    html = alert_html(make_result(sample_sites(), trends=sample_trends()))

    tables = audit(html)
    data = [table for table in tables if table["role"] != "presentation"]
    layout = [table for table in tables if table["role"] == "presentation"]
    assert len(data) >= 7 and layout
    for table in data:
        assert table["caption"] and table["thead"] and table["th"] and set(table["th"]) == {"col"}, table
    for table in layout:
        assert not table["caption"] and not table["th"], table


def test_the_dashboards_long_tables_keep_their_header_row_in_view() -> None:
    sites = [site(f"s{index:03d}", f"Store {index:03d}", {"coverage": (50.0 + index / 5, [])}) for index in range(199)]

    html = report_generator.render("health_dashboard.html.j2", make_result(sites))

    grid = [table for table in audit(html) if table["role"] != "presentation"]
    assert grid and all(table["thead"] for table in grid)
    assert "thead th{position:sticky;top:0" in html


def test_outlook_gets_a_fixed_width_wrapper_and_every_client_the_colour_schemes() -> None:
    html = alert_html(make_result(sample_sites()))

    assert '<!--[if mso]><table role="presentation" width="1000"' in html and "<!--[if mso]></td></tr></table>" in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    assert "@media (prefers-color-scheme:dark)" in html
    top = html.split('<div data-section="header">')[0]
    assert '<div style="max-width:600px">' in top


def test_a_classifier_name_cannot_break_out_of_the_style_block() -> None:
    hostile = 'x"}body{display:none}</style><script>'
    sites = [site("a", "Store A", {"coverage": (60.0, [(hostile, 5.0, 1, 1)])})]

    html = alert_html(make_result(sites))

    style = html.split("<style>")[1].split("</style>")[0]
    assert "display:none}" not in style.replace(".rf>thead{display:none", "").replace("td.e{display:none", "")
    assert "<script" not in html and html.count("</style>") == 1


# --- Wording --------------------------------------------------------------------------------------------------


def test_the_counts_name_their_unit_and_match_the_subject() -> None:
    html = alert_html(make_result(sample_sites()))

    counts = text_of(section(html, "counts"))
    # The subject says "2 critical, 2 major at 3 of 6 sites": problems (site-metrics), then sites.
    assert "2 critical problems at 2 sites" in counts and "2 major problems at 2 sites" in counts
    assert "1 site healthy" in counts and "1 site without data" in counts
    assert "6 sites: 2 critical, 1 major, 1 warning at worst" in counts


def test_rows_beyond_the_limit_are_counted_as_problems_under_problems_and_sites_under_sites() -> None:
    sites = [site(f"s{index:02d}", f"Store {index:02d}", {"coverage": (50.0 + index, [])}) for index in range(30)]
    result = make_result(sites)

    html = alert_html(result, max_rows=25)

    why = text_of(section(html, "why"))
    assert "and 5 more problems: see the attached report" in why
    assert "more sites" not in why
    assert "and 5 more sites: see the attached report" in html.split('data-metric="coverage"')[1]


def test_one_more_row_is_singular() -> None:
    sites = [site(f"s{index:02d}", f"Store {index:02d}", {"coverage": (50.0 + index, [])}) for index in range(3)]

    html = alert_html(make_result(sites), max_rows=2)

    assert "and 1 more problem: see the attached report" in html
    assert "and 1 more site: see the attached report" in html


def test_the_footer_says_what_the_attachment_holds_and_the_attachment_holds_it() -> None:
    metric_classifiers = catalog.METRICS_BY_KEY["ap-health"].classifier_ids
    classifiers = [(cid, 1.0 + number, 10, 1) for number, cid in enumerate(metric_classifiers)]
    result = make_result([site("a", "Store A", {"ap-health": (60.0, classifiers)}), site("b", "Store B")])

    html = alert_html(result)
    attachment = report_generator.render_summary_text(result)

    assert "lists every site-metric below 90 % with all its classifiers" in html
    assert len(classifiers) > 5
    for classifier_id, *_ in classifiers:
        assert f"   - {catalog.classifier_display_name(classifier_id)}: " in attachment


def test_a_day_without_data_stays_visible_in_the_sparkline_of_both_parts() -> None:
    trends = sample_trends()
    trends["org"]["coverage"]["sparkline"] = "▅▅ ▅▅▅▁"
    result = make_result(sample_sites(), trends=trends)

    rendered = first_alert(result)

    assert 'white-space:pre">▅▅·▅▅▅▁</td>' in rendered.html
    assert "▅▅·▅▅▅▁" in rendered.text
