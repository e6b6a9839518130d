"""The alert email in headless Chromium at 390, 600 and 1280 px: the top sections fit, nothing scrolls sideways,
the classifier tables stack on a phone and are tables on a desktop."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

import pytest

import email_browser
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import RunResult

RESULTS: Dict[str, Callable[[], RunResult]] = {
    "demo": email_browser.demo_like_result,
    "2000-sites": email_browser.large_alert_result,
}


def _measured(name: str, width: int, tmp_path: Path) -> Dict[str, Any]:
    binary = email_browser.chromium()
    if binary is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run installs it)")
    html = email_browser.alert_html(RESULTS[name]())
    return email_browser.measure(binary, html, width, tmp_path)


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(RESULTS))
@pytest.mark.parametrize("width", email_browser.WIDTHS_PX)
def test_the_top_sections_and_every_row_fit_the_width_without_sideways_scrolling(
    name: str, width: int, tmp_path: Path
) -> None:
    measured = _measured(name, width, tmp_path)

    assert measured["viewport"] == width
    assert sorted(measured["sections"]) == sorted(email_browser.TOP_SECTIONS)
    for section, right in measured["sections"].items():
        assert right <= width, f"{section} is {right} px wide in a {width} px window"
    assert measured["widestRow"] <= width
    assert measured["scrollWidth"] <= width, f"the page scrolls sideways: {measured['scrollWidth']} px"


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(RESULTS))
def test_the_classifier_tables_stack_on_a_phone_and_are_tables_on_a_desktop(name: str, tmp_path: Path) -> None:
    phone = _measured(name, 390, tmp_path)
    desktop = _measured(name, 1280, tmp_path)

    keys = [metric.key for metric in catalog.METRICS]
    assert all(desktop["tables"][key] == "table" for key in keys), desktop["tables"]
    assert desktop["tables"]["status-grid"] == "table"
    assert all(phone["tables"][key] == "block" for key in keys), phone["tables"]
