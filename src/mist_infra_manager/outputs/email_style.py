"""The colours and layout helpers of the HTML email and dashboard: one palette the templates and tests share.

Every colour the HTML templates emit comes from here (tests/test_email_contrast.py checks that and the WCAG
contrast of every text/background pair, in light mode and inverted). Severity chips are white text on a dark
solid colour so that mail apps that recolour light backgrounds in dark mode leave them readable.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Sequence, Tuple

# Per severity: `solid` background with `ink` text (chips, header, bars), `tint` background with `text` (cells).
SEVERITY_COLOURS: Dict[str, Dict[str, str]] = {
    "critical": {"solid": "#c62828", "ink": "#ffffff", "tint": "#fdecea", "text": "#8e1b1b"},
    "major": {"solid": "#b93e00", "ink": "#ffffff", "tint": "#fff0e0", "text": "#8a3a00"},
    "warning": {"solid": "#8a5d00", "ink": "#ffffff", "tint": "#fff8db", "text": "#6b5200"},
    "info": {"solid": "#2e7d32", "ink": "#ffffff", "tint": "#e8f5e9", "text": "#1b5e20"},
    "healthy": {"solid": "#2e7d32", "ink": "#ffffff", "tint": "#e8f5e9", "text": "#1b5e20"},
    "resolved": {"solid": "#2e7d32", "ink": "#ffffff", "tint": "#e8f5e9", "text": "#1b5e20"},
    "no_data": {"solid": "#57606a", "ink": "#ffffff", "tint": "#f0f1f3", "text": "#57606a"},
    "trend": {"solid": "#6a1b9a", "ink": "#ffffff", "tint": "#f3e5f5", "text": "#4a148c"},
}

# Light mode, the base of every client (inline styles and bgcolor attributes).
NEUTRAL: Dict[str, str] = {
    "page": "#f3f4f6",
    "card": "#ffffff",
    "text": "#1f2328",
    "muted": "#57606a",
    "head": "#f6f8fa",
    "border": "#d0d7de",
    "filler": "#eaeef2",
    "note_bg": "#ffebe9",
    "note_text": "#82071e",
    "ok_text": "#1b5e20",
    "line": "#0969da",
}

# Dark mode, applied by the <style> block's prefers-color-scheme query in clients that honour it.
DARK: Dict[str, str] = {
    "page": "#0d1117",
    "card": "#161b22",
    "text": "#e6edf3",
    "muted": "#9da7b3",
    "head": "#21262d",
    "ok": "#7ee787",
}

# Text/background pairs that only CSS sets (no inline pair in the HTML shows them): checked by the contrast test.
CSS_PAIRS: Tuple[Tuple[str, str], ...] = (
    (DARK["text"], DARK["card"]),
    (DARK["muted"], DARK["card"]),
    (DARK["text"], DARK["head"]),
    (DARK["text"], DARK["page"]),
    (DARK["ok"], DARK["card"]),
)

# Below this viewport width (px) the data tables stack into one block per row.
NARROW_MAX_WIDTH_PX = 620
# Characters kept in a CSS string built from a classifier name; anything else could end the string or the rule.
_CSS_UNSAFE = re.compile(r"[^A-Za-z0-9 ._,+%/()-]")


def all_colours() -> List[str]:
    """Return every colour of the palette, lower case."""
    colours = [value for pair in SEVERITY_COLOURS.values() for value in pair.values()]
    return sorted({colour.lower() for colour in [*colours, *NEUTRAL.values(), *DARK.values()]})


def css_text(value: Any) -> str:
    """Return value reduced to characters that are safe inside a double-quoted CSS string in a <style> block."""
    return _CSS_UNSAFE.sub("", str(value))


def classifier_columns(sites: Sequence[Any], metric_key: str, catalog_ids: Sequence[str]) -> List[Tuple[str, str]]:
    """Return (id, name) of the classifiers with degraded time at these sites: catalog order, then the others."""
    names: Dict[str, str] = {}
    for site in sites:
        for stat in site.metrics[metric_key].classifiers:
            if stat.degraded_pct and stat.id not in names:
                names[stat.id] = stat.name
    known = [cid for cid in catalog_ids if cid in names]
    others = [cid for cid in names if cid not in catalog_ids]
    return [(cid, names[cid]) for cid in known + others]


def register(environment: Any) -> None:
    """Give a Jinja2 environment the palette (globals `palette`, `neutral`, `dark`) and the layout helpers."""
    palette: Mapping[str, Any] = SEVERITY_COLOURS
    environment.globals.update(
        palette=palette,
        neutral=NEUTRAL,
        dark=DARK,
        narrow_max_width=NARROW_MAX_WIDTH_PX,
        classifier_columns=classifier_columns,
    )
    environment.filters["css_text"] = css_text
