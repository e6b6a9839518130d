"""Day-over-day trends and the 7-day view: pure functions over snapshots (issue: Trend analysis)."""

from __future__ import annotations

from typing import Optional, Sequence

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[Optional[float]]) -> str:
    """Return a Unicode block sparkline of values; a missing value is a space."""
    present = [value for value in values if value is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = high - low
    characters = []
    for value in values:
        if value is None:
            characters.append(" ")
        elif span <= 0:
            characters.append(SPARK_BLOCKS[len(SPARK_BLOCKS) // 2])
        else:
            index = round((value - low) / span * (len(SPARK_BLOCKS) - 1))
            characters.append(SPARK_BLOCKS[index])
    return "".join(characters)
