"""WCAG contrast of every text/background pair the HTML templates can emit, in light mode and inverted."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Dict, List, Optional, Set, Tuple

import pytest

from email_browser import alert_html
from mist_infra_manager.alerting import alert_state, notification_service
from mist_infra_manager.outputs import email_style, report_generator
from result_builders import FIXED_NOW, make_result, sample_sites, sample_trends, site

# WCAG 2 AA for normal-size text; 3:1 for graphics such as the trend bars against their filler.
TEXT_CONTRAST = 4.5
GRAPHIC_CONTRAST = 3.0
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\b")
VOID_TAGS = {"br", "meta", "img", "hr", "input", "link", "col"}


def luminance(colour: str) -> float:
    """Return the WCAG relative luminance of #rrggbb."""
    channels = [int(colour[index : index + 2], 16) / 255 for index in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """Return the WCAG contrast ratio of two colours (1 to 21)."""
    low, high = sorted((luminance(first), luminance(second)))
    return (high + 0.05) / (low + 0.05)


def inverted(colour: str) -> str:
    """Return the colour a client's full dark-mode inversion shows."""
    return "#" + "".join(f"{255 - int(colour[index : index + 2], 16):02x}" for index in (1, 3, 5))


class PairCollector(HTMLParser):
    """Collects (text colour, background colour) for every piece of visible text, from the inline styles up."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: Set[Tuple[str, str]] = set()
        self._stack: List[Tuple[str, Optional[str], Optional[str]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        if tag in VOID_TAGS:
            return
        attributes = dict(attrs)
        style = attributes.get("style") or ""
        foreground = re.search(r"(?:^|;)\s*color:\s*(#[0-9a-fA-F]{6})", style)
        background = re.search(r"background(?:-color)?:\s*(#[0-9a-fA-F]{6})", style)
        back = background.group(1) if background else attributes.get("bgcolor")
        self._stack.append((tag, foreground.group(1) if foreground else None, back))
        if tag in ("style", "title", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        while self._stack:
            opened = self._stack.pop()[0]
            if opened in ("style", "title", "svg"):
                self._skip -= 1
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip or not data.replace("\xa0", "").strip():
            return
        foreground = next((fg for _, fg, _ in reversed(self._stack) if fg), None)
        background = next((bg for _, _, bg in reversed(self._stack) if bg), None)
        assert foreground and background, f"text without an inline colour pair: {data!r}"
        self.pairs.add((foreground.lower(), background.lower()))


def rendered_pages() -> Dict[str, str]:
    """Return every HTML the templates make, with every severity in header, chips, cells and bars."""
    full = make_result(
        sample_sites() + [site("site-roam", "Store-0003 Berlin", {"roaming": (85.0, [("weak-signal", 3.0, 4, 1)])})],
        trends=sample_trends(),
        problems=["London-HQ / Capacity: timeout"],
    )
    pages = {"alert": alert_html(full), "dashboard": report_generator.render("health_dashboard.html.j2", full)}
    for status, pct in (("major", 75.0), ("warning", 85.0), ("healthy", 97.5), ("no_data", None)):
        result = make_result([site("a", "Store A", default_pct=pct)])
        pages[f"dashboard-{status}"] = report_generator.render("health_dashboard.html.j2", result)
    pages["alert-major"] = alert_html(make_result([site("a", "Store A", {"coverage": (75.0, [])})]))
    pages["resolved"] = resolved_html()
    return pages


def resolved_html() -> str:
    """Return the HTML of a resolved email: a critical problem emailed before, now at 92 %."""
    before = make_result([site("a", "Store A", {"coverage": 60.0})])
    after = make_result([site("a", "Store A", {"coverage": 92.0}), site("b", "Store B", default_pct=None)])
    first = alert_state.decide(
        {}, alert_state.current_problems(before), alert_state.site_metric_severities(before),
        trends_computed=False, now=FIXED_NOW, repeat_interval=timedelta(hours=4),
    )  # fmt: skip
    previous = alert_state.next_state({}, first, FIXED_NOW, alert_sent=True, resolved_sent=True)
    later = FIXED_NOW + timedelta(hours=1)
    decision = alert_state.decide(
        previous, alert_state.current_problems(after), alert_state.site_metric_severities(after),
        trends_computed=False, now=later, repeat_interval=timedelta(hours=4),
    )  # fmt: skip
    assert decision.resolved
    email = notification_service.alert_extras(
        after, decision, previous=previous, resolved=decision.resolved, max_rows=25, repeat_interval="4h",
        attachment_name="SUMMARY_REPORT_20250314T070000Z.txt", now=later,
    )  # fmt: skip
    return notification_service.render_resolved(after, email).html


@pytest.fixture(scope="module")
def pages() -> Dict[str, str]:
    return rendered_pages()


def test_every_colour_the_templates_emit_comes_from_the_palette(pages: Dict[str, str]) -> None:
    palette = set(email_style.all_colours())
    for name, html in pages.items():
        emitted = {colour.lower() for colour in HEX_COLOUR.findall(html)}
        assert emitted <= palette, f"{name}: colours outside outputs/email_style.py: {sorted(emitted - palette)}"


def test_every_text_and_background_pair_emitted_is_at_least_4_5_to_1_in_light_mode_and_inverted(
    pages: Dict[str, str],
) -> None:
    pairs: Set[Tuple[str, str]] = set()
    for html in pages.values():
        collector = PairCollector()
        collector.feed(html)
        pairs |= collector.pairs

    assert len(pairs) >= 15  # chips, tints, header, notes, muted text: the collector saw them all
    for foreground, background in sorted(pairs):
        assert contrast(foreground, background) >= TEXT_CONTRAST, (foreground, background)
        assert contrast(inverted(foreground), inverted(background)) >= TEXT_CONTRAST, (foreground, background)


def test_every_severity_pair_of_the_palette_passes_light_and_inverted() -> None:
    for severity, colours in email_style.SEVERITY_COLOURS.items():
        for foreground, background in ((colours["ink"], colours["solid"]), (colours["text"], colours["tint"])):
            assert contrast(foreground, background) >= TEXT_CONTRAST, severity
            assert contrast(inverted(foreground), inverted(background)) >= TEXT_CONTRAST, severity


def test_the_dark_mode_pairs_set_by_css_pass() -> None:
    for foreground, background in email_style.CSS_PAIRS:
        assert contrast(foreground, background) >= TEXT_CONTRAST, (foreground, background)


def test_trend_bars_stand_out_from_their_filler() -> None:
    filler = email_style.NEUTRAL["filler"]
    for severity in ("critical", "major", "warning", "info"):
        bar = email_style.SEVERITY_COLOURS[severity]["solid"]
        assert contrast(bar, filler) >= GRAPHIC_CONTRAST, severity


def test_the_old_major_chip_would_fail_so_the_check_can_fail() -> None:
    assert contrast("#ffffff", "#e65100") < TEXT_CONTRAST


def test_the_neutral_pairs_pass_including_the_run_note_no_sample_page_shows() -> None:
    neutral = email_style.NEUTRAL
    for foreground, background in (
        (neutral["note_text"], neutral["note_bg"]),
        (neutral["ok_text"], neutral["card"]),
        (neutral["muted"], neutral["head"]),
        (neutral["text"], neutral["head"]),
    ):
        assert contrast(foreground, background) >= TEXT_CONTRAST, (foreground, background)
        assert contrast(inverted(foreground), inverted(background)) >= TEXT_CONTRAST, (foreground, background)
