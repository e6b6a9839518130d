"""`make screenshots`: PNGs of the alert email (the demo's org and a 2,000-site org) at 390, 600 and 1280 px.

Written to tests/artifacts/ (git-ignored) for review; needs Chromium (apt-get install chromium).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# This checkout's code and test helpers first, whatever the virtual environment was installed from.
sys.path[:0] = [str(TESTS.parent / "src"), str(TESTS)]

import email_browser  # noqa: E402

ARTIFACTS = TESTS / "artifacts"


def main() -> int:
    """Write the screenshots; return 0, or 1 when Chromium is missing."""
    binary = email_browser.chromium()
    if binary is None:
        print("screenshots: Chromium not found (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        for path in email_browser.screenshot_set(binary, ARTIFACTS, Path(work)):
            print(path.relative_to(TESTS.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
