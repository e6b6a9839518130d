"""What the alert policy needs from the API, read during a collection: the site groups (once per run, cached with
the sites list) and, with `sle.alert_window`, the org sites-sle over that short window (⌈sites/1000⌉ calls).

The judging itself is analysis/policy.py; this module only fetches and hands over.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, List, Mapping, Optional

from mist_infra_manager.analysis import policy
from mist_infra_manager.analysis.models import SiteResult
from mist_infra_manager.mist import detail_cache
from mist_infra_manager.mist.mist_client import AuthError, MistApiError, MistClient, RateLimitError
from mist_infra_manager.settings import PolicySettings

logger = logging.getLogger(__name__)


def site_groups(
    client: MistClient, org_id: str, state_directory: Optional[Path], now: datetime, cache_minutes: float
) -> List[Any]:
    """Return the org's site groups (GET /orgs/{org}/sitegroups, REFERENCE §11), from the cache when fresh.

    A failed call is a warning and no groups: profiles by name glob still apply, the report says which applied.
    """
    if state_directory is not None:
        cached = detail_cache.load_site_groups(state_directory, org_id, now, cache_minutes)
        if cached is not None:
            return cached
    try:
        groups, _ = client.get_paged_array(f"/orgs/{org_id}/sitegroups")
    except MistApiError as error:
        logger.warning("Site groups could not be read (%s): profiles and windows by site group match no site", error)
        return []
    if state_directory is not None and cache_minutes > 0:
        detail_cache.save_site_groups(state_directory, org_id, now, groups)
    return groups


def apply_profiles(
    client: MistClient,
    org_id: str,
    site_list: List[Any],
    sites: List[SiteResult],
    settings: PolicySettings,
    thresholds: Mapping[str, float],
    *,
    state_directory: Optional[Path],
    now: datetime,
    cache_minutes: float,
    groups_wanted: bool = False,
) -> None:
    """Give each site its timezone and site groups and, with a policy, its profile and that profile's thresholds.

    groups_wanted: a silence names a site group, so the groups are read even without a policy naming one.
    """
    if not settings.enabled and not groups_wanted:
        return
    needs_groups = groups_wanted or (settings.enabled and settings.uses_site_groups)
    groups = site_groups(client, org_id, state_directory, now, cache_minutes) if needs_groups else []
    attributes = policy.site_attributes(site_list, groups)
    if settings.enabled:
        policy.apply_profiles(sites, attributes, settings, thresholds)
    else:
        policy.set_attributes(sites, attributes)


def apply_alert_window(
    client: MistClient,
    org_id: str,
    sites: List[SiteResult],
    alert_window: Optional[str],
    thresholds: Mapping[str, float],
) -> None:
    """Read the org sites-sle over the short window and mark the acute site-metrics.

    A failed call is a warning: the run goes on with its report window alone (no acute alert this run).
    """
    if not alert_window:
        return
    params = {"sle": "wifi", "duration": alert_window}
    try:
        _, results = client.get_paged_results(f"/orgs/{org_id}/insights/sites-sle", params)
    except (AuthError, RateLimitError):
        raise
    except MistApiError as error:
        logger.warning(
            "Alert window %s: sites-sle could not be read (%s); no acute alert this run", alert_window, error
        )
        return
    acute = policy.apply_alert_window(sites, results, thresholds)
    logger.info("Alert window %s: %d acute site-metric(s)", alert_window, acute)
