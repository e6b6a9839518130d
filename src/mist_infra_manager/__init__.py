"""Mist Infrastructure Manager: watches the SLEs of every site of a Juniper Mist org, reports and alerts."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION_NAME = "mist-infra-manager"


def _installed_version() -> str:
    """Return the version of the installed distribution, or a marker when run from a bare checkout."""
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        return "0+checkout"


__version__ = _installed_version()
