"""The root-cause phase of a collection: one `impact-summary` call per critical/major site-metric.

Runs after the classifier breakdowns, within what is left of the API call budget: worst site-metrics
first, the rest deferred to the next run (they go first then), each result cached in
`reports.directory/state/root_cause_cache.json` and reused like the breakdowns (`sle.detail_reuse_minutes`,
SLE % moved less than 1 point, same top classifier). When the breakdown came from `/summary-trend`
(no per-classifier impact), two more calls, `impacted-users` and `impacted-aps` with `limit=1`, give the
top classifier's `users=N, aps=N` from their `total_count`.
Cost: one call per fetched site-metric (three on the summary-trend path).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from mist_infra_manager.analysis import root_cause, sle_types
from mist_infra_manager.analysis.models import DETAIL_FETCHED, MetricResult, SiteResult, priority
from mist_infra_manager.mist import call_budget
from mist_infra_manager.mist.call_budget import format_time, parse_time
from mist_infra_manager.mist.mist_client import AuthError, MistApiError, MistClient, NotFoundError, RateLimitError
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import atomic_write_text, expect_object, read_json_or_none

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = paths.ROOT_CAUSE_CACHE_FILE_NAME
CACHE_VERSION = 1
# A cached root cause stands in for a call only while its metric's SLE % moved less than this.
REUSE_MAX_MOVE_PP = 1.0
SUMMARY_TREND = "summary-trend"
# sle.root_cause -> the severities that get a root cause.
LEVEL_SEVERITIES: Dict[str, Tuple[str, ...]] = {"critical": ("critical",), "major": ("critical", "major"), "none": ()}

Target = Tuple[SiteResult, MetricResult]


@dataclass
class CauseEntry:
    """One site-metric's root cause as fetched at fetched_at (SLE % then), with the impacted-list counts."""

    fetched_at: datetime
    sle_pct: float
    classifier: str
    cause: Optional[root_cause.RootCause]
    users: Optional[int] = None
    aps: Optional[int] = None


@dataclass
class CauseState:
    """What the root-cause cache holds: entries by `site_id/metric_key`, and the keys deferred last run."""

    entries: Dict[str, CauseEntry] = field(default_factory=dict)
    deferred: List[str] = field(default_factory=list)


@dataclass
class PhaseOutcome:
    """What the phase tells the collection: notes for the report, and a rate-limit stop."""

    notes: List[str] = field(default_factory=list)
    stopped_reason: Optional[str] = None
    retry_after: Optional[float] = None


def key_of(site: SiteResult, metric: MetricResult) -> str:
    """Return the cache key of a site-metric."""
    return f"{site.id}/{metric.key}"


def targets_for(sites: List[SiteResult], level: str) -> List[Target]:
    """Return the site-metrics that get a root cause, worst first: fetched detail, a top classifier, severe enough."""
    severities = LEVEL_SEVERITIES.get(level, ())
    targets = [
        (site, metric)
        for site in sites
        for metric in site.metrics.values()
        if metric.severity in severities and metric.detail == DETAIL_FETCHED and metric.top_classifier is not None
    ]
    targets.sort(key=lambda pair: priority(pair[1].severity, pair[1].sle_pct, pair[0].num_clients, pair[0].name))
    return targets


def needs_counts(metric: MetricResult) -> bool:
    """Return True when the top classifier lacks users/aps because the breakdown came from /summary-trend."""
    top = metric.top_classifier
    return metric.source == SUMMARY_TREND and top is not None and (top.users is None or top.aps is None)


def cost_of(metric: MetricResult) -> int:
    """Return the calls a site-metric's root cause takes: 1, or 3 with the impacted lists."""
    return 3 if needs_counts(metric) else 1


def reusable(entry: Optional[CauseEntry], metric: MetricResult, now: datetime, max_age_minutes: float) -> bool:
    """Return True when entry may stand in for the calls: young enough, same top classifier, SLE % moved < 1 pp."""
    top = metric.top_classifier
    if entry is None or top is None or metric.sle_pct is None or max_age_minutes <= 0 or entry.classifier != top.id:
        return False
    if needs_counts(metric) and (entry.users is None or entry.aps is None):
        return False
    age = now - entry.fetched_at
    if age < timedelta(0) or age >= timedelta(minutes=max_age_minutes):
        return False
    return abs(metric.sle_pct - entry.sle_pct) < REUSE_MAX_MOVE_PP


def apply_entry(metric: MetricResult, entry: CauseEntry) -> None:
    """Set a metric's root cause, and its top classifier's missing users/aps, from an entry."""
    metric.root_cause = entry.cause
    top = metric.top_classifier
    if top is not None and top.id == entry.classifier:
        if top.users is None and entry.users is not None:
            top.users = entry.users
        if top.aps is None and entry.aps is not None:
            top.aps = entry.aps


def plan(
    targets: List[Target], state: CauseState, now: datetime, reuse_minutes: float, allowance: Optional[int]
) -> Tuple[List[Tuple[Target, CauseEntry]], List[Target], List[Target]]:
    """Return (reused, to fetch, deferred): last run's deferred first, then worst first, as far as allowance goes."""
    reused: List[Tuple[Target, CauseEntry]] = []
    needed: List[Target] = []
    for site, metric in targets:
        entry = state.entries.get(key_of(site, metric))
        if entry is not None and reusable(entry, metric, now, reuse_minutes):
            reused.append(((site, metric), entry))
        else:
            needed.append((site, metric))
    before = set(state.deferred)
    ordered = [t for t in needed if key_of(*t) in before] + [t for t in needed if key_of(*t) not in before]
    if allowance is None:
        return reused, ordered, []
    fetch: List[Target] = []
    spent = 0
    for index, target in enumerate(ordered):
        cost = cost_of(target[1])
        if spent + cost > allowance:
            return reused, fetch, ordered[index:]
        spent += cost
        fetch.append(target)
    return reused, fetch, []


# --- the cache file --------------------------------------------------------------------------------


def cache_document(state: CauseState, org_id: str, duration: str) -> Dict[str, Any]:
    """Return the cache document."""
    return {
        "version": CACHE_VERSION,
        "org_id": org_id,
        "duration": duration,
        "deferred": list(state.deferred),
        "entries": {
            key: {
                "fetched_at": format_time(entry.fetched_at),
                "sle_pct": entry.sle_pct,
                "classifier": entry.classifier,
                "users": entry.users,
                "aps": entry.aps,
                "root_cause": None if entry.cause is None else root_cause.document(entry.cause),
            }
            for key, entry in state.entries.items()
        },
    }


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_cache(document: Any, org_id: str, duration: str) -> CauseState:
    """Return the state of a cache document; another org, SLE window or version starts afresh."""
    state = CauseState()
    if not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
        return state
    if document.get("org_id") != org_id or document.get("duration") != duration:
        return state
    deferred = document.get("deferred")
    state.deferred = [key for key in deferred if isinstance(key, str)] if isinstance(deferred, list) else []
    entries = document.get("entries")
    for key, raw in entries.items() if isinstance(entries, dict) else []:
        if not isinstance(raw, dict):
            continue
        fetched_at = parse_time(raw.get("fetched_at"))
        sle_pct = raw.get("sle_pct")
        classifier = raw.get("classifier")
        if fetched_at is None or isinstance(sle_pct, bool) or not isinstance(sle_pct, (int, float)):
            continue
        if not isinstance(classifier, str):
            continue
        cause = root_cause.from_document(raw.get("root_cause"))
        state.entries[key] = CauseEntry(
            fetched_at, float(sle_pct), classifier, cause, _count(raw.get("users")), _count(raw.get("aps"))
        )
    return state


def load_cache(state_directory: Path, org_id: str, duration: str) -> CauseState:
    """Return the root-cause cache of this org and window (empty when missing, damaged or of another)."""
    document = read_json_or_none(
        state_directory / CACHE_FILE_NAME,
        "root-cause cache",
        check=expect_object("entries"),
        outcome="root causes are fetched again",
    )
    return parse_cache(document, org_id, duration)


def save_cache(state_directory: Path, state: CauseState, org_id: str, duration: str) -> None:
    """Write the cache; a failure is a warning, never a failed run."""
    try:
        text = json.dumps(cache_document(state, org_id, duration), separators=(",", ":"), allow_nan=False)
        atomic_write_text(state_directory / CACHE_FILE_NAME, text + "\n")
    except (OSError, ValueError) as error:
        logger.warning("Cannot write the root-cause cache: %s", error)


# --- the calls -------------------------------------------------------------------------------------


class CauseFetcher:
    """Fetches root causes on a bounded pool; a 429 or a spent budget stops it, a refused token ends the run."""

    def __init__(
        self,
        client: MistClient,
        duration: str,
        budget: call_budget.PhaseBudget,
        now: datetime,
        deadline_passed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.deadline_passed = deadline_passed
        self.duration = duration
        self.budget = budget
        self.now = now
        self._lock = threading.Lock()
        self.stopped_reason: Optional[str] = None
        self.retry_after: Optional[float] = None
        self.failures: List[str] = []
        self.entries: Dict[str, CauseEntry] = {}
        self.unfetched: List[Target] = []

    def _get(self, path: str, params: Dict[str, Any]) -> Optional[Any]:
        """Return a body, or None when stopped or out of budget (the target is then deferred)."""
        if self.stopped_reason is not None or self.deadline_passed() or not self.budget.take():
            return None
        body, _ = self.client.get(path, params)
        return body

    def _total_count(self, base: str, what: str, classifier: str) -> Tuple[bool, Optional[int]]:
        body = self._get(f"{base}/{what}", {"duration": self.duration, "classifier": classifier, "limit": 1})
        if body is None:
            return False, None
        count = body.get("total_count") if isinstance(body, dict) else None
        number = count if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 0 else None
        return True, None if number is None else int(number)

    def _impact_summary(self, site: SiteResult, metric_key: str, classifier: str) -> Tuple[str, Any]:
        """Return (the metric's base path, the impact-summary body or None when not taken); raises NotFoundError.

        A metric with a second spelling (WAN application-health / application_health) is asked again on a 404.
        """
        ids = sle_types.site_metric_ids(metric_key)
        for index, metric_id in enumerate(ids):
            base = f"/sites/{site.id}/sle/site/{site.id}/metric/{metric_id}"
            try:
                return base, self._get(f"{base}/impact-summary", {"duration": self.duration, "classifier": classifier})
            except NotFoundError:
                if index == len(ids) - 1:
                    raise
        raise NotFoundError(f"no site metric id for {metric_key}")

    def fetch(self, site: SiteResult, metric: MetricResult) -> None:
        """Fill one metric's root cause (and missing users/aps); leaves it unfetched when stopped or out of budget."""
        top = metric.top_classifier
        if top is None or metric.sle_pct is None:
            return
        try:
            base, body = self._impact_summary(site, metric.key, top.id)
            if body is None:
                self._defer(site, metric)
                return
            cause = root_cause.parse_impact_summary(body, top.id, top.name)
            entry = CauseEntry(self.now, metric.sle_pct, top.id, cause)
            if needs_counts(metric):
                got_users, entry.users = self._total_count(base, "impacted-users", top.id)
                got_aps, entry.aps = self._total_count(base, "impacted-aps", top.id) if got_users else (False, None)
                if not got_aps:
                    # The root cause is shown; the counts are asked for again next run.
                    self._defer(site, metric)
        except AuthError:
            self.stopped_reason = "the token was refused"
            raise
        except RateLimitError as error:
            with self._lock:
                if self.stopped_reason is None:
                    self.stopped_reason = str(error)
                    self.retry_after = error.retry_after
            self._defer(site, metric)
            return
        except NotFoundError:
            logger.warning("%s / %s: no impact summary for this metric (404)", site.name, metric.name)
            return
        except MistApiError as error:
            with self._lock:
                self.failures.append(f"{site.name} / {metric.name}: {error}")
            return
        apply_entry(metric, entry)
        with self._lock:
            self.entries[key_of(site, metric)] = entry

    def _defer(self, site: SiteResult, metric: MetricResult) -> None:
        with self._lock:
            self.unfetched.append((site, metric))


@dataclass
class PhaseInputs:
    """What the phase needs from the collection."""

    level: str
    duration: str
    reuse_minutes: float
    max_workers: int
    org_id: str


def run_phase(
    client: MistClient,
    sites: List[SiteResult],
    inputs: PhaseInputs,
    allowance: Optional[int],
    now: datetime,
    state_directory: Optional[Path],
    deadline_passed: Callable[[], bool] = lambda: False,
) -> PhaseOutcome:
    """Fill the root cause of the site-metrics sle.root_cause asks for; raises AuthError when the token is refused.

    allowance: the calls left in the budget (None: no limit). Without a state_directory nothing is cached.
    Past the run deadline the remaining site-metrics are deferred.
    """
    outcome = PhaseOutcome()
    targets = targets_for(sites, inputs.level)
    if not targets:
        return outcome
    state = load_cache(state_directory, inputs.org_id, inputs.duration) if state_directory else CauseState()
    reuse = inputs.reuse_minutes if state_directory is not None else 0
    reused, fetch, deferred = plan(targets, state, now, reuse, allowance)
    for (_, metric), entry in reused:
        apply_entry(metric, entry)
    start = client.calls
    budget = call_budget.PhaseBudget(allowance, lambda: client.calls - start)
    fetcher = CauseFetcher(client, inputs.duration, budget, now, deadline_passed)
    logger.info(
        "Root cause: %d site-metric(s) to fetch, %d reused, %d deferred", len(fetch), len(reused), len(deferred)
    )
    try:
        if fetch:
            with ThreadPoolExecutor(max_workers=inputs.max_workers, thread_name_prefix="cause") as pool:
                futures = [pool.submit(fetcher.fetch, site, metric) for site, metric in fetch]
                errors = [future.exception() for future in as_completed(futures)]
            failure = next((error for error in errors if error is not None), None)
            if failure is not None:
                raise failure
    finally:
        if state_directory is not None:
            _save(state_directory, state, fetcher, deferred, inputs, now)
    left = deferred + fetcher.unfetched
    outcome.stopped_reason, outcome.retry_after = fetcher.stopped_reason, fetcher.retry_after
    if left:
        outcome.notes.append(
            f"root cause of {len(left)} critical/major site-metric(s) deferred to the next run (call budget, deadline)"
        )
    counted = sum(1 for entry in fetcher.entries.values() if entry.users is not None and entry.aps is not None)
    if counted:
        outcome.notes.append(
            f"users/aps of the top classifier of {counted} critical/major site-metric(s) from impacted-users/-aps"
        )
    outcome.notes.extend(f"root cause not available: {failure}" for failure in fetcher.failures)
    return outcome


def _save(
    state_directory: Path,
    state: CauseState,
    fetcher: CauseFetcher,
    deferred: List[Target],
    inputs: PhaseInputs,
    now: datetime,
) -> None:
    entries: Dict[str, CauseEntry] = {}
    if inputs.reuse_minutes > 0:
        limit = timedelta(minutes=inputs.reuse_minutes)
        entries = {k: e for k, e in state.entries.items() if timedelta(0) <= now - e.fetched_at < limit}
        entries.update(fetcher.entries)
    keys = [key_of(site, metric) for site, metric in fetcher.unfetched + deferred]
    save_cache(state_directory, CauseState(entries=entries, deferred=keys), inputs.org_id, inputs.duration)
