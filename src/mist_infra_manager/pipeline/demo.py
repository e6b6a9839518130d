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


# The alert policy the demo shows: a profile (warehouses), an acute drop, an incident.
DEMO_WAREHOUSE_SITES = (2, 9)
DEMO_ACUTE_SITE = 8
DEMO_INCIDENT_SITES = (10, 12, 14, 16, 18)
DEMO_INCIDENT_FRACTION = 0.62
DEMO_ACUTE_FRACTION = 0.40


def prepare_simulator(simulator: Any) -> None:
    """Give the demo org what shows the alert policy: warehouses (a profile), an hour much worse than its day
    (acute) and a shared DHCP fault at several stores (an incident)."""
    for index in DEMO_WAREHOUSE_SITES:
        simulator.set_site_group(index, "Warehouses")
    simulator.set_short_fraction(DEMO_ACUTE_SITE, "throughput", DEMO_ACUTE_FRACTION)
    for index in DEMO_INCIDENT_SITES:
        simulator.set_classifiers(
            index, "time-to-connect", DEMO_INCIDENT_FRACTION, {"dhcp-unresponsive": 0.8, "association": 0.2}
        )


def demo_policy() -> Dict[str, Any]:
    """Return the demo's policy section and alert window (docs/alerts.md, "Policy")."""
    return {
        "min_clients": 5,
        "profiles": [
            {
                "name": "warehouses",
                "site_groups": ["Warehouses"],
                "thresholds": {"critical": 50, "major": 60, "warning": 75},
            }
        ],
        "incident_min_sites": 5,
    }


def demo_raw_config(base_url: str, token: str, directory: Path) -> Dict[str, Any]:
    """Return the raw configuration of a demo run against a simulator at base_url, writing into directory."""
    return {
        "mist": {"api_token": token, "base_url": base_url},
        # The short window shows an acute alert; wired and WAN beside Wi-Fi show the simulator's switch problem.
        "sle": {"alert_window": "1h", "types": ["wifi", "wired", "wan"]},
        "policy": demo_policy(),
        "reports": {"directory": str(directory)},
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
