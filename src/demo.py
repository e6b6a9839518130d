"""`--demo`: the whole tool against the built-in Mist simulator, with no config and no token."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import config as config_module

logger = logging.getLogger(__name__)

DEMO_SITES = 30
DEMO_PAGE_CAP = 7
DEMO_DIRECTORY = config_module.PROJECT_ROOT / "reports" / "demo"


def demo_raw_config(base_url: str, token: str) -> Dict[str, Any]:
    """Return the raw configuration of a demo run against a simulator at base_url."""
    return {
        "mist": {"api_token": token, "base_url": base_url},
        "reports": {"directory": str(DEMO_DIRECTORY)},
        "history": {"directory": str(DEMO_DIRECTORY / "history")},
        "logging": {"file": str(DEMO_DIRECTORY / "mist_infra_manager.log")},
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


def demo_lines(files: List[Any]) -> List[str]:
    """Return the closing lines of a demo run: where its files are."""
    lines = ["", f"Demo finished. Files in {DEMO_DIRECTORY}:"]
    lines.extend(f"  {path}" for path in files)
    return lines


def email_lines(notification: Any) -> List[str]:
    """Return the demo's closing lines about the email: the .eml written, or why none was."""
    if notification is None:
        return []
    if notification.written_eml:
        lines = ["", "The alert email (open it in a mail client; transport: file writes instead of sending):"]
        lines.extend(f"  {path}" for path in notification.written_eml)
        return lines
    return ["", f"{notification.summary} (alert state: {DEMO_DIRECTORY / 'state' / 'alert_state.json'})"]
