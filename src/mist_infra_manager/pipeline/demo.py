"""`--demo`: the whole tool against the built-in Mist simulator, with no config and no token."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping

from mist_infra_manager import config as config_module

logger = logging.getLogger(__name__)

DEMO_SITES = 30
DEMO_PAGE_CAP = 7
# Where a demo writes instead of the default folder (the tests use it).
DEMO_DIRECTORY_VARIABLE = "MIST_DEMO_DIRECTORY"


def demo_directory(environ: Mapping[str, str]) -> Path:
    """Return the folder a demo run writes into."""
    configured = environ.get(DEMO_DIRECTORY_VARIABLE)
    if configured:
        return Path(configured).expanduser().resolve()
    # <checkout>/reports/demo from a checkout; the user's state folder for an installed command.
    return config_module.default_reports_directory() / "demo"


def demo_raw_config(base_url: str, token: str, directory: Path) -> Dict[str, Any]:
    """Return the raw configuration of a demo run against a simulator at base_url, writing into directory."""
    return {
        "mist": {"api_token": token, "base_url": base_url},
        "reports": {"directory": str(directory)},
        # Wired and WAN beside Wi-Fi: the simulator's switch problem shows in the demo's reports and email.
        "sle": {"types": ["wifi", "wired", "wan"]},
        "logging": {"file": str(directory / "mist_infra_manager.log")},
        "notifications": {
            "enabled": True,
            "email": {
                "enabled": True,
                "transport": "file",
                "from_address": "mist-infra-manager@demo.example",
                "recipients": ["noc@demo.example"],
            },
        },
    }


def demo_lines(files: List[Any], directory: Path) -> List[str]:
    """Return the closing lines of a demo run: where its files are."""
    if not files:
        return ["", "Demo finished. This mode writes no report files (--mode report or all do)."]
    lines = ["", f"Demo finished. Files in {directory}:"]
    lines.extend(f"  {path}" for path in files)
    return lines


def email_lines(notification: Any, directory: Path) -> List[str]:
    """Return the demo's closing lines about the email: the .eml written, or why none was."""
    if notification is None:
        return []
    if notification.written_eml:
        lines = ["", "The alert email (open it in a mail client; transport: file writes instead of sending):"]
        lines.extend(f"  {path}" for path in notification.written_eml)
        return lines
    return ["", f"{notification.summary} (alert state: {directory / 'state' / 'alert_state.json'})"]
