"""One collection of the org's SLEs: the API calls of a run, in order, feeding the pure calculations.

/self, then the sites list (or its cache) and the paged org sites-sle side by side, then the
per-site-metric `/summary` calls that `sle.classifier_detail` asks for, on a bounded worker pool:
reused from the detail cache where allowed, worst first as far as the API call budget goes, the rest
deferred to the next run; then the root-cause phase (mist/root_cause_fetch.py, `sle.root_cause`).
Cost: 1 + 2 × ceil(sites / 1000) calls plus one per fetched site-metric, ceil(sites / 1000) more per SLE type
beside Wi-Fi (`sle.types`: wired, wan; see analysis/sle_types), plus one impact-summary per critical/major
site-metric (three on the /summary-trend path).

The run is incomplete (RunResult.complete false, each cause in `problems`) when a call failed, sites-sle
values could not be read (NaN, outside 0..1), a paged list ended short of the total the API announced, or
the run deadline (`mist.run_timeout_seconds`) passed before every site-metric was fetched.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from mist_infra_manager.analysis import catalog, insights_analyzer, sle_monitor, sle_types
from mist_infra_manager.analysis.models import (
    ALERT_SEVERITIES,
    DETAIL_DEFERRED,
    DETAIL_FETCHED,
    DETAIL_UNAVAILABLE,
    MetricResult,
    RunResult,
    SiteResult,
    priority,
    utc_now,
)
from mist_infra_manager.mist import call_budget, detail_cache, policy_inputs, root_cause_fetch
from mist_infra_manager.mist.mist_client import AuthError, MistApiError, MistClient, NotFoundError, RateLimitError
from mist_infra_manager.settings import PolicySettings, Settings

logger = logging.getLogger(__name__)

SUMMARY = "summary"
SUMMARY_TREND = "summary-trend"


class OrgSelectionError(Exception):
    """The org to report on cannot be chosen from the token's privileges."""


@dataclass
class CollectionSettings:
    """What a collection needs from the configuration."""

    org_id: Optional[str] = None
    duration: str = "1d"
    classifier_detail: str = "degraded"
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(sle_monitor.DEFAULT_THRESHOLDS))
    max_workers: int = 8
    calls_per_hour: int = 5000
    budget_reserve_pct: float = 20.0
    sites_cache_minutes: float = 60.0
    detail_reuse_minutes: float = 60.0
    # sle.root_cause: critical, major (critical and major) or none (mist/root_cause_fetch.py).
    root_cause: str = "major"
    # The SLE types collected (sle.types): wifi always, wired and wan when configured.
    types: Tuple[str, ...] = sle_types.DEFAULT_TYPES
    # Seconds after the run's start when it stops making API calls; None: no deadline.
    run_timeout_seconds: Optional[float] = None
    # The alert policy (analysis/policy.py) and the short window of fast detection (sle.alert_window).
    policy: PolicySettings = field(default_factory=PolicySettings)
    alert_window: Optional[str] = None
    # An active silence names a Mist site group: read the site groups even without a policy naming one.
    site_groups_wanted: bool = False

    @classmethod
    def from_config(cls, config: Settings, interval_minutes: Optional[float] = None) -> CollectionSettings:
        """Return the settings of a validated configuration.

        interval_minutes: the daemon's interval; a run's deadline is never later than the next run's start.
        """
        return cls(
            run_timeout_seconds=effective_run_timeout(config.mist.run_timeout_seconds, interval_minutes),
            org_id=config.mist.org_id,
            duration=config.sle.duration,
            classifier_detail=config.sle.classifier_detail,
            thresholds=config.thresholds.as_dict(),
            max_workers=config.mist.max_workers,
            calls_per_hour=config.mist.calls_per_hour,
            budget_reserve_pct=config.mist.budget_reserve_pct,
            sites_cache_minutes=config.mist.sites_cache_minutes,
            detail_reuse_minutes=config.sle.detail_reuse_minutes,
            root_cause=config.sle.root_cause,
            types=tuple(config.sle.types),
            policy=config.policy,
            alert_window=config.sle.alert_window,
        )


def effective_run_timeout(run_timeout_seconds: float, interval_minutes: Optional[float]) -> float:
    """Return the run deadline in seconds: run_timeout_seconds, at most the daemon interval when there is one."""
    if interval_minutes is None:
        return run_timeout_seconds
    return min(run_timeout_seconds, interval_minutes * 60.0)


def find_org(self_body: Mapping[str, Any], configured_org_id: Optional[str]) -> Tuple[str, str]:
    """Return (org id, org name) from a /self body; raises OrgSelectionError when it cannot choose."""
    names: Dict[str, str] = {}
    privileges = self_body.get("privileges")
    for privilege in privileges if isinstance(privileges, list) else []:
        if not isinstance(privilege, dict):
            continue
        org_id = privilege.get("org_id")
        if not isinstance(org_id, str) or not org_id:
            continue
        scope = privilege.get("scope")
        if scope == "org":
            names[org_id] = str(privilege.get("name") or names.get(org_id) or org_id)
        elif scope == "site":
            names.setdefault(org_id, str(privilege.get("org_name") or org_id))
    if configured_org_id:
        return configured_org_id, names.get(configured_org_id, configured_org_id)
    if not names:
        raise OrgSelectionError(
            "the token has no org or site privileges; set mist.org_id, or use a token of an org admin"
        )
    if len(names) > 1:
        listing = "; ".join(f"{org_id} ({name})" for org_id, name in sorted(names.items(), key=lambda i: i[1]))
        raise OrgSelectionError(f"the token sees {len(names)} orgs; set mist.org_id to one of: {listing}")
    org_id, name = next(iter(names.items()))
    return org_id, name


def _epoch_to_datetime(value: Any) -> Optional[datetime]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def merge_sites(
    site_list: List[Any], sle_results: List[Any], thresholds: Mapping[str, float]
) -> Tuple[List[SiteResult], List[str]]:
    """Return the org's sites (names from the sites list, SLEs from sites-sle) and notes on mismatches."""
    notes: List[str] = []
    sle_by_site: Dict[str, Mapping[str, Any]] = {}
    for entry in sle_results:
        if isinstance(entry, dict) and isinstance(entry.get("site_id"), str):
            sle_by_site[entry["site_id"]] = entry
    sites: List[SiteResult] = []
    seen = set()
    for entry in site_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        site_id = entry["id"]
        if site_id in seen:
            continue
        seen.add(site_id)
        name = entry.get("name")
        sites.append(
            sle_monitor.build_site(
                site_id, name if isinstance(name, str) and name else site_id, sle_by_site.get(site_id), thresholds
            )
        )
    unusable = sum(
        1
        for entry in sle_by_site.values()
        for key in catalog.METRIC_KEYS
        if entry.get(key) is not None and sle_monitor.fraction_to_pct(entry.get(key)) is None
    )
    if unusable:
        logger.warning(
            "sites-sle: %d metric value(s) were not fractions between 0 and 1 (NaN, percentages?); shown as no data",
            unusable,
        )
    unknown = [site_id for site_id in sle_by_site if site_id not in seen]
    for site_id in unknown:
        sites.append(sle_monitor.build_site(site_id, site_id, sle_by_site[site_id], thresholds))
    if unknown:
        notes.append(f"{len(unknown)} site(s) had SLE data but were missing from the sites list; shown by id")
    return sites, notes


def unreadable_problem(sites: List[SiteResult]) -> Optional[str]:
    """Return the problem line for sites-sle values that could not be read, None when all could."""
    unreadable = [(site, metric) for site in sites for metric in site.metrics.values() if metric.unreadable]
    if not unreadable:
        return None
    names = sorted({metric.name for _, metric in unreadable})
    return (
        f"sites-sle: {len(unreadable)} value(s) of {len({site.id for site, _ in unreadable})} site(s) could not be "
        f"read (NaN, or not a fraction between 0 and 1) for {', '.join(names)}: shown as no data, never healthy"
    )


def detail_targets(sites: List[SiteResult], classifier_detail: str) -> List[Tuple[SiteResult, MetricResult]]:
    """Return the site-metrics whose classifier detail to fetch, worst first (severity, SLE %, clients)."""
    if classifier_detail == "none":
        return []
    targets = [
        (site, metric)
        for site in sites
        for metric in site.metrics.values()
        if classifier_detail == "all" or metric.severity in ALERT_SEVERITIES or metric.acute
    ]
    targets.sort(key=lambda pair: priority(pair[1].severity, pair[1].sle_pct, pair[0].num_clients, pair[0].name))
    return targets


class _NoCallLeft(Exception):
    """The budget or the run deadline leaves no room for the /summary-trend call after a /summary 404."""


class DetailFetcher:
    """Fetches classifier detail; switches from /summary to /summary-trend for the rest of the run on a 404.

    Once a 429 asks for a longer wait than allowed, the phase budget is spent, or the token is refused,
    every later fetch returns at once with the metric marked deferred.
    """

    def __init__(
        self,
        client: MistClient,
        duration: str,
        thresholds: Mapping[str, float],
        *,
        endpoint: str = SUMMARY,
        budget: Optional[call_budget.PhaseBudget] = None,
        deadline_passed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.duration = duration
        self.thresholds = thresholds
        self.endpoint = endpoint
        self.switched = False
        self.budget = budget
        self._lock = threading.Lock()
        self.stopped_reason: Optional[str] = None
        self.retry_after: Optional[float] = None
        self.budget_exhausted = False
        self.deadline_passed = deadline_passed
        # Site-metrics left unfetched because the run deadline had passed.
        self.past_deadline = 0
        self.problems: List[str] = []
        self.notes: List[str] = []

    def _check_another_call(self) -> None:
        """Raise _NoCallLeft when the deadline or the budget leaves no room for a fallback call."""
        # A fallback is a further call: it needs its own share of the budget and time, like the first.
        if self.deadline_passed():
            with self._lock:
                self.past_deadline += 1
            raise _NoCallLeft()
        if self.budget is not None and not self.budget.take():
            self.budget_exhausted = True
            raise _NoCallLeft()

    def _first_found(self, site_id: str, metric_ids: Sequence[str], endpoint: str) -> Any:
        """Return the body of the first metric id the endpoint knows; raises NotFoundError when none is known."""
        for number, metric_id in enumerate(metric_ids):
            if number:
                self._check_another_call()
            try:
                body, _ = self.client.get(
                    f"/sites/{site_id}/sle/site/{site_id}/metric/{metric_id}/{endpoint}", {"duration": self.duration}
                )
                return body
            except NotFoundError:
                if number == len(metric_ids) - 1:
                    raise
        raise AssertionError("no metric id to ask for")

    def _summary_body(self, site_id: str, metric_ids: Sequence[str]) -> Tuple[Any, str]:
        with self._lock:
            endpoint = self.endpoint
        try:
            return self._first_found(site_id, metric_ids, endpoint), endpoint
        except NotFoundError:
            if endpoint == SUMMARY_TREND:
                raise
        self._check_another_call()
        body = self._first_found(site_id, metric_ids, SUMMARY_TREND)
        with self._lock:
            if self.endpoint == SUMMARY:
                logger.warning(
                    "/summary answered 404 (deprecated in 2026): using /summary-trend for the rest of the run; "
                    "classifier numbers come without users/aps"
                )
                self.endpoint = SUMMARY_TREND
                self.switched = True
        return body, SUMMARY_TREND

    def fetch(self, site: SiteResult, metric: MetricResult) -> None:
        """Fill one metric's classifiers; marks it deferred once the phase was stopped or its budget spent."""
        if self.stopped_reason is not None:
            metric.detail = DETAIL_DEFERRED
            return
        if self.deadline_passed():
            with self._lock:
                self.past_deadline += 1
            metric.detail = DETAIL_DEFERRED
            return
        if self.budget is not None and not self.budget.take():
            self.budget_exhausted = True
            metric.detail = DETAIL_DEFERRED
            return
        try:
            # Wi-Fi metrics have one id; application-health has two spellings (REFERENCE §11).
            body, endpoint = self._summary_body(site.id, sle_types.site_metric_ids(metric.key))
        except _NoCallLeft:
            metric.detail = DETAIL_DEFERRED
            return
        except AuthError as error:
            # The other workers stop calling; the error itself ends the run.
            self.stopped_reason = str(error)
            metric.detail = DETAIL_DEFERRED
            raise
        except RateLimitError as error:
            with self._lock:
                if self.stopped_reason is None:
                    self.stopped_reason = str(error)
                    self.retry_after = error.retry_after
            metric.detail = DETAIL_DEFERRED
            return
        except NotFoundError:
            # Neither endpoint knows this metric at this site (not enabled there): nothing failed.
            logger.warning("%s / %s: the site has no SLE summary for this metric (404)", site.name, metric.name)
            metric.detail = DETAIL_UNAVAILABLE
            return
        except MistApiError as error:
            metric.detail = DETAIL_UNAVAILABLE
            with self._lock:
                self.problems.append(f"{site.name} / {metric.name}: {error}")
            return
        except RecursionError:
            # json gives up on a body nested thousands deep: that body is hostile, not the run's end.
            self._unusable(site, metric, self.endpoint, "is nested too deep to read")
            return
        try:
            breakdown = sle_monitor.parse_summary(body)
        except RecursionError:
            self._unusable(site, metric, endpoint, "is nested too deep to read")
            return
        if breakdown.unusable is not None:
            self._unusable(site, metric, endpoint, breakdown.unusable)
            return
        for stat in breakdown.classifiers:
            # Wired and WAN impact counts switches or gateways, not APs.
            stat.aps = sle_types.without_device_counts(metric.key, stat.aps)
        sle_monitor.apply_breakdown(metric, breakdown, endpoint, self.thresholds)
        metric.detail = DETAIL_FETCHED

    def _unusable(self, site: SiteResult, metric: MetricResult, endpoint: str, reason: str) -> None:
        """Mark a site-metric whose summary body gives no breakdown unavailable, with a warning and a note."""
        logger.warning(
            "%s / %s: the %s body %s; classifier detail unavailable", site.name, metric.name, endpoint, reason
        )
        metric.detail = DETAIL_UNAVAILABLE
        with self._lock:
            self.notes.append(
                f"{site.name} / {metric.name}: the {endpoint} body {reason}; classifier detail unavailable"
            )


Target = Tuple[SiteResult, MetricResult]


@dataclass
class DetailPlan:
    """How the classifier phase serves its targets: from the cache, by a call, or deferred to a later run."""

    reused: List[Tuple[SiteResult, MetricResult, detail_cache.DetailEntry]]
    fetch: List[Target]
    deferred: List[Target]


def plan_details(
    targets: List[Target],
    state: detail_cache.DetailState,
    now: datetime,
    reuse_minutes: float,
    allowance: Optional[int],
) -> DetailPlan:
    """Return the plan of the classifier phase.

    targets come worst first. A target whose cached detail is reusable costs nothing; the others are
    fetched, those deferred by the last run first, then worst first, as far as the allowance (None: no
    limit) goes; the rest are deferred.
    """
    reused: List[Tuple[SiteResult, MetricResult, detail_cache.DetailEntry]] = []
    needed: List[Target] = []
    for site, metric in targets:
        entry = state.entries.get(detail_cache.detail_key(site.id, metric.key))
        if entry is not None and detail_cache.reusable(entry, metric.sle_pct, now, reuse_minutes):
            reused.append((site, metric, entry))
        else:
            needed.append((site, metric))
    deferred_before = set(state.deferred)
    ordered = [t for t in needed if detail_cache.detail_key(t[0].id, t[1].key) in deferred_before]
    ordered += [t for t in needed if detail_cache.detail_key(t[0].id, t[1].key) not in deferred_before]
    if allowance is None:
        return DetailPlan(reused, ordered, [])
    return DetailPlan(reused, ordered[:allowance], ordered[allowance:])


def _progress_bar(total: int, enabled: bool) -> Any:
    """Return a tqdm bar on an interactive stderr, else None (cron, pipes, --quiet, tqdm missing)."""
    if not enabled or total <= 0 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="Classifier detail", unit="call", file=sys.stderr, leave=False)


def _run_fetches(fetcher: DetailFetcher, targets: List[Target], max_workers: int, show_progress: bool) -> None:
    """Fetch the targets on a bounded pool; raises AuthError once the pool is done."""
    if not targets:
        return
    bar = _progress_bar(len(targets), show_progress)
    try:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="detail") as pool:
            futures = [pool.submit(fetcher.fetch, site, metric) for site, metric in targets]
            failure: Optional[BaseException] = None
            for future in as_completed(futures):
                error = future.exception()
                if error is not None and failure is None:
                    failure = error
                if bar is not None:
                    bar.update(1)
        if failure is not None:
            raise failure
    finally:
        if bar is not None:
            bar.close()


def _org_phase(
    client: MistClient,
    org_id: str,
    settings: CollectionSettings,
    state_directory: Optional[Path],
    now: datetime,
) -> Tuple[List[Any], Dict[str, Any], List[Any], bool]:
    """Return (sites list, first sites-sle page, all sites-sle results, sites list from the cache)."""
    sle_path = f"/orgs/{org_id}/insights/sites-sle"
    sle_params = {"sle": "wifi", "duration": settings.duration}
    cached = (
        detail_cache.load_sites(state_directory, org_id, now, settings.sites_cache_minutes)
        if state_directory is not None
        else None
    )
    if (
        cached is not None
        and settings.policy.enabled
        and not any(key in entry for entry in cached for key in detail_cache.POLICY_SITE_KEYS)
    ):
        # A sites cache written before the policy keys were kept: fetch timezones and site groups now.
        cached = None
    workers = settings.max_workers
    sites_path = f"/orgs/{org_id}/sites"
    if cached is not None:
        sle_first, sle_results = client.get_paged_results(sle_path, sle_params, parallel=workers)
        known = {entry["id"] for entry in cached}
        if all(not isinstance(r, dict) or r.get("site_id") in known for r in sle_results):
            logger.debug("Sites list from the cache (%d sites)", len(cached))
            return cached, sle_first, sle_results, True
        logger.info("Sites-sle names sites the cached sites list lacks: fetching the sites list again")
        site_list, _ = client.get_paged_array(sites_path, parallel=workers)
    elif workers < 2:
        site_list, _ = client.get_paged_array(sites_path)
        sle_first, sle_results = client.get_paged_results(sle_path, sle_params)
    else:
        # Both paged org calls are independent: side by side, each with half the workers for its later pages,
        # they cost two round trips whatever the org's size.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="org") as pool:
            sites_future = pool.submit(client.get_paged_array, sites_path, parallel=workers // 2)
            sle_future = pool.submit(client.get_paged_results, sle_path, sle_params, parallel=workers // 2)
            site_list, _ = sites_future.result()
            sle_first, sle_results = sle_future.result()
    if state_directory is not None and settings.sites_cache_minutes > 0:
        detail_cache.save_sites(state_directory, org_id, now, site_list)
    return site_list, sle_first, sle_results, False


def _type_phase(
    client: MistClient, org_id: str, settings: CollectionSettings
) -> Tuple[Dict[str, List[Any]], List[str], List[str]]:
    """Return the wired and WAN sites-sle results the settings ask for (type -> results), problems, failed types.

    One paged org call per type beside Wi-Fi, the types side by side. A type whose call fails (but for the
    token or the rate limit, which end the run) is no data at every site and makes the run incomplete; the
    other types still report.
    """
    types = [sle_type for sle_type in sle_types.ordered_types(settings.types) if sle_type != sle_types.WIFI]
    if not types:
        return {}, [], []
    path = f"/orgs/{org_id}/insights/sites-sle"
    workers = max(1, settings.max_workers // len(types))

    def fetch(sle_type: str) -> List[Any]:
        _, results = client.get_paged_results(path, {"sle": sle_type, "duration": settings.duration}, parallel=workers)
        return results

    results: Dict[str, List[Any]] = {}
    problems: List[str] = []
    failed: List[str] = []
    with ThreadPoolExecutor(max_workers=len(types), thread_name_prefix="types") as pool:
        futures = {sle_type: pool.submit(fetch, sle_type) for sle_type in types}
        for sle_type, future in futures.items():
            try:
                results[sle_type] = future.result()
            except (AuthError, RateLimitError):
                raise
            except MistApiError as error:
                results[sle_type] = []
                failed.append(sle_type)
                problems.append(f"sites-sle sle={sle_type}: {error}; its SLEs show as no data")
    return results, problems, failed


def collect(
    client: MistClient,
    settings: CollectionSettings,
    now: datetime,
    *,
    fetch_detail: bool = True,
    state_directory: Optional[Path] = None,
    clock: Optional[Callable[[], datetime]] = None,
    show_progress: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Return the org's SLE result; raises MistApiError when an org-level call fails, OrgSelectionError.

    With a state_directory the run uses and updates the call meter, the sites cache and the classifier
    detail cache there (see call_budget and detail_cache); without one it spends what its settings ask.
    monotonic: the clock of the run deadline (settings.run_timeout_seconds), counted from this call.
    """
    calls_before = client.calls
    deadline = None if settings.run_timeout_seconds is None else monotonic() + settings.run_timeout_seconds
    meter = call_budget.CallMeter(state_directory, clock or utc_now) if state_directory is not None else None
    blocked_until: Optional[datetime] = None
    try:
        try:
            org_id, org_name = find_org(client.get_self(), settings.org_id)
            logger.info("Collecting the SLEs of org %s (%s)", org_name, org_id)
            site_list, sle_first, sle_results, from_cache = _org_phase(client, org_id, settings, state_directory, now)
            type_results, type_problems, failed_types = _type_phase(client, org_id, settings)
        except RateLimitError as error:
            # Nothing can be reported without the org calls; the next runs learn when the token is free again.
            blocked_until = call_budget.block_from_retry_after(meter.now() if meter else now, error.retry_after)
            raise
        sites, notes = merge_sites(site_list, sle_results, settings.thresholds)
        notes.extend(sle_types.merge_types(sites, type_results, settings.thresholds, failed_types))
        # Alert policy: per-site thresholds by profile, then the short window (before the detail targets).
        policy_inputs.apply_profiles(
            client,
            org_id,
            site_list,
            sites,
            settings.policy,
            settings.thresholds,
            state_directory=state_directory,
            now=now,
            cache_minutes=settings.sites_cache_minutes,
            groups_wanted=settings.site_groups_wanted,
        )
        policy_inputs.apply_alert_window(client, org_id, sites, settings.alert_window, settings.thresholds)
        problems = _org_problems(sites, client.shortfalls)
        problems.extend(type_problems)
        logger.info(
            "%d sites%s, %d with SLE results",
            len(sites),
            " (sites list cached)" if from_cache else "",
            len(sle_results),
        )

        targets = detail_targets(sites, settings.classifier_detail) if fetch_detail else []
        state = (
            detail_cache.load_detail(state_directory, org_id, settings.duration)
            if state_directory is not None and fetch_detail
            else detail_cache.DetailState()
        )
        allowance: Optional[int] = None
        budget = call_budget.BudgetSettings(settings.calls_per_hour, settings.budget_reserve_pct)
        used = 0
        if meter is not None and targets:
            used, blocked = meter.snapshot()
            used += client.calls - calls_before
            allowance = call_budget.allowance(budget, used, meter.now(), blocked)
        reuse_minutes = settings.detail_reuse_minutes if state_directory is not None else 0
        plan = plan_details(targets, state, now, reuse_minutes, allowance)
        for _, metric, entry in plan.reused:
            detail_cache.apply_entry(metric, entry, now)
            metric.detail = DETAIL_FETCHED
        for _, metric in plan.deferred:
            metric.detail = DETAIL_DEFERRED

        phase_start = client.calls
        fetcher = DetailFetcher(
            client,
            settings.duration,
            settings.thresholds,
            endpoint=SUMMARY_TREND if detail_cache.summary_removed(state, now) else SUMMARY,
            budget=call_budget.PhaseBudget(allowance, lambda: client.calls - phase_start),
            deadline_passed=lambda: deadline is not None and monotonic() >= deadline,
        )
        if targets:
            logger.info(
                "Classifier detail: %d site-metric(s) to fetch, %d reused from earlier runs, %d deferred "
                "(budget: %s call(s) left)",
                len(plan.fetch),
                len(plan.reused),
                len(plan.deferred),
                "unlimited" if allowance is None else allowance,
            )
        phase_started = time.monotonic()
        _run_fetches(fetcher, plan.fetch, settings.max_workers, show_progress)
        if plan.fetch:
            logger.info(
                "Classifier detail: %d call(s) in %.2f s", client.calls - phase_start, time.monotonic() - phase_started
            )

        deferred = [t for t in plan.fetch + plan.deferred if t[1].detail == DETAIL_DEFERRED]
        problems.extend(fetcher.problems)
        notes.extend(fetcher.notes)
        if fetcher.past_deadline:
            problems.append(
                f"run deadline of {settings.run_timeout_seconds:g} s reached: "
                f"{fetcher.past_deadline} site-metrics not fetched"
            )
        if fetcher.stopped_reason:
            notes.append(f"classifier detail stopped by the rate limit: {fetcher.stopped_reason}")
            blocked_until = call_budget.block_from_retry_after(meter.now() if meter else now, fetcher.retry_after)
        if plan.deferred or fetcher.budget_exhausted:
            notes.append(
                f"API call budget: {used} of the {budget.usable_per_hour} calls usable per rolling hour "
                f"({settings.calls_per_hour} less the {settings.budget_reserve_pct:g} % reserve) were used before "
                f"the classifier phase; {len(deferred)} classifier detail call(s) deferred, worst site-metrics first"
            )
        if deferred:
            logger.warning(
                "Classifier detail of %d site-metric(s) deferred to the next run (API budget, rate limit, deadline)",
                len(deferred),
            )
        if fetcher.endpoint == SUMMARY_TREND and (fetcher.switched or plan.fetch):
            notes.append("/summary answered 404: classifier numbers come from /summary-trend, without users/aps")

        # --- root cause (issue 18): after the breakdowns, with what is left of the budget -------------
        if fetch_detail and fetcher.stopped_reason is None:
            left = None if allowance is None else max(0, allowance - (client.calls - phase_start))
            cause = root_cause_fetch.run_phase(
                client,
                sites,
                root_cause_fetch.PhaseInputs(
                    settings.root_cause, settings.duration, settings.detail_reuse_minutes, settings.max_workers, org_id
                ),
                left,
                now,
                state_directory,
                deadline_passed=lambda: deadline is not None and monotonic() >= deadline,
            )
            notes.extend(cause.notes)
            if cause.stopped_reason:
                notes.append(f"root cause stopped by the rate limit: {cause.stopped_reason}")
                blocked_until = call_budget.block_from_retry_after(meter.now() if meter else now, cause.retry_after)
        # --- end root cause ------------------------------------------------------------------------------

        if state_directory is not None and fetch_detail:
            _save_detail_state(state_directory, state, plan, deferred, fetcher, org_id, settings, now)

        fetched_sources = {t[1].source for t in targets if t[1].detail == DETAIL_FETCHED}
        return finish_result(
            sites=sites,
            org_id=org_id,
            org_name=org_name,
            now=now,
            settings=settings,
            window_start=_epoch_to_datetime(sle_first.get("start")),
            window_end=_epoch_to_datetime(sle_first.get("end")),
            api_calls=client.calls - calls_before,
            base_url=client.base_url,
            problems=problems,
            notes=notes,
            detail_source=(
                SUMMARY_TREND if SUMMARY_TREND in fetched_sources else SUMMARY if SUMMARY in fetched_sources else None
            ),
        )
    finally:
        if meter is not None:
            meter.record(client.calls - calls_before, blocked_until=blocked_until)


def _org_problems(sites: List[SiteResult], shortfalls: List[str]) -> List[str]:
    """Return the problems of the org phase: paged lists that ended short, sites-sle values that cannot be read."""
    # An announced total that was not delivered means sites are missing: the run cannot claim to be complete.
    problems = [f"{shortfall}: the missing sites are not in this report" for shortfall in shortfalls]
    unreadable = unreadable_problem(sites)
    if unreadable is not None:
        problems.append(unreadable)
    return problems


def _save_detail_state(
    state_directory: Path,
    state: detail_cache.DetailState,
    plan: DetailPlan,
    deferred: List[Target],
    fetcher: DetailFetcher,
    org_id: str,
    settings: CollectionSettings,
    now: datetime,
) -> None:
    """Write what the next run needs: reusable entries, the deferred keys in order, the /summary status."""
    entries = detail_cache.kept_entries(state.entries, now, settings.detail_reuse_minutes)
    if settings.detail_reuse_minutes > 0:
        for site, metric in plan.fetch:
            entry = detail_cache.entry_of(metric, now) if metric.detail == DETAIL_FETCHED else None
            if entry is not None:
                entries[detail_cache.detail_key(site.id, metric.key)] = entry
    removed_at = state.summary_removed_at
    if fetcher.switched:
        removed_at = now
    elif fetcher.endpoint == SUMMARY and any(m.detail == DETAIL_FETCHED for _, m in plan.fetch):
        removed_at = None
    new_state = detail_cache.DetailState(
        entries=entries,
        deferred=[detail_cache.detail_key(site.id, metric.key) for site, metric in deferred],
        summary_removed_at=removed_at,
    )
    detail_cache.save_detail(state_directory, new_state, org_id, settings.duration)


def finish_result(
    *,
    sites: List[SiteResult],
    org_id: str,
    org_name: str,
    now: datetime,
    settings: CollectionSettings,
    window_start: Optional[datetime],
    window_end: Optional[datetime],
    api_calls: int,
    base_url: str,
    problems: List[str],
    notes: List[str],
    detail_source: Optional[str],
) -> RunResult:
    """Return the run result: statuses, worst-first order, insights and counts derived from the sites."""
    for site in sites:
        site.status = sle_monitor.site_status(site.metrics.values())
    sites.sort(key=sle_monitor.site_sort_key)
    return RunResult(
        generated_at=now,
        org_id=org_id,
        org_name=org_name,
        window_start=window_start,
        window_end=window_end,
        duration=settings.duration,
        thresholds=dict(settings.thresholds),
        overall_status=sle_monitor.overall_status(site.status for site in sites),
        summary=sle_monitor.status_counts(sites),
        sites=sites,
        insights=insights_analyzer.build_insights(sites),
        api_calls=api_calls,
        base_url=base_url,
        complete=not problems,
        problems=list(problems),
        detail_source=detail_source,
        notes=notes,
        types=sle_types.ordered_types(settings.types),
    )
