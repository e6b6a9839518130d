"""REST client for the Juniper Mist API: one Session, timeouts, retries, paging and a call counter.

Each attempt of a call has one deadline, `timeout_seconds`, for connecting and reading the whole answer, and a
cap on the decompressed answer (bounded_http). Paging stops at an empty, short or repeated page and after at
most MAX_PAGES pages, whatever total the server announces.

The token travels only in the Authorization header; it is never logged and never part of an exception.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import requests

from mist_infra_manager.mist import bounded_http

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PAGE_LIMIT = 1000
# The most pages one paged read requests, whatever total the server announces: 100 pages of 1000 are 100,000
# sites, ten times the 10,000-site org of the benchmarks, and 100 calls stay well within the hourly budget (5000).
MAX_PAGES = 100
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# mistapi-py waits 5 s × 2^attempt on a 429 without Retry-After.
RATE_LIMIT_BACKOFF_SECONDS = 5.0
# Mist counts calls per hour: a Retry-After beyond that is treated as an hour.
MAX_RETRY_AFTER_SECONDS = 3600.0
USER_AGENT = "mist-infra-manager/1.0"


@dataclass(frozen=True)
class PagingOutcome:
    """One paged read: the total the API announced (None without one), the items delivered, pages and why it ended.

    stopped is "all announced" or "last page" (short, with no total) when it ended normally, otherwise
    "short page", "empty page", "repeated page" or "page cap" (MAX_PAGES, or the pages the total needs).
    """

    path: str
    announced: Optional[int]
    delivered: int
    pages: int
    stopped: str

    @property
    def shortfall(self) -> bool:
        """Return whether fewer items were delivered than announced."""
        return self.announced is not None and self.delivered < self.announced


class MistApiError(Exception):
    """An API call failed for good; the message names the endpoint and the cause, never the token."""

    def __init__(self, message: str, status: Optional[int] = None, path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.path = path


class AuthError(MistApiError):
    """401/403: the token was rejected, has expired, lacks rights, or belongs to another regional host."""


class NotFoundError(MistApiError):
    """404 for a resource."""


class RateLimitError(MistApiError):
    """429 with a wait longer than allowed, or 429s that did not clear within the allowed total wait."""

    def __init__(self, message: str, retry_after: Optional[float], path: str = "") -> None:
        super().__init__(message, 429, path)
        self.retry_after = retry_after


def _retry_after_seconds(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Return a Retry-After header (seconds or an HTTP date) as seconds, at most MAX_RETRY_AFTER_SECONDS."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    # The budget is per rolling hour: no answer can ask for more, and a larger one must not block for years.
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return f": {str(detail)[:200]}" if detail else ""


class MistClient:
    """A thread-safe Mist API client that counts every HTTP request it makes."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 10.0,
        max_workers: int = 8,
        max_retry_wait_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        on_call: Optional[Callable[[], None]] = None,
        check_stop: Optional[Callable[[], None]] = None,
        max_response_bytes: int = bounded_http.MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), timeout_seconds)
        # timeout_seconds bounds a whole attempt (connect, headers and body), not each socket read.
        self.deadline_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        # check_stop raises to stop the run; it is run while waiting for the server, at least every 0.25 s.
        self.guard = bounded_http.CallGuard(check_stop or bounded_http.never_stop)
        self.max_retry_wait_seconds = max_retry_wait_seconds
        self._sleep = sleep
        self._on_call = on_call
        self._lock = threading.Lock()
        self._calls = 0
        # Paged reads that ended with fewer items than the API announced: the run says so in its notes.
        self.shortfalls: List[str] = []
        # Every paged read: what the API announced, what was delivered, and why paging stopped.
        self.paging: List[PagingOutcome] = []
        self.session = requests.Session()
        # One connection per worker, plus the two org-level pagers that run beside each other.
        adapter = bounded_http.BoundedAdapter(
            self.guard, pool_connections=2, pool_maxsize=max_workers + 2, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        )
        # requests would otherwise read credentials from ~/.netrc and proxies from the environment per call.
        self.session.trust_env = False

    @property
    def calls(self) -> int:
        """Return the number of HTTP requests made so far, retries included."""
        with self._lock:
            return self._calls

    def _note_shortfall(self, message: str) -> None:
        logger.warning("%s", message)
        with self._lock:
            self.shortfalls.append(message)

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def _count_call(self) -> None:
        with self._lock:
            self._calls += 1
        if self._on_call is not None:
            self._on_call()

    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> Tuple[Any, Mapping[str, str]]:
        """Return (decoded JSON body, response headers) of a GET; raises MistApiError and its subclasses."""
        url = f"{self.base_url}{API_PREFIX}{path}"
        waited = 0.0
        started = time.monotonic()
        last_problem = ""
        for attempt in range(MAX_ATTEMPTS):
            self._count_call()
            try:
                response = self._bounded_get(url, params)
            except bounded_http.ResponseTooLarge as error:
                raise MistApiError(f"GET {path}: {error}", 200, path) from None
            except requests.Timeout:
                last_problem = f"no complete answer within {self.deadline_seconds:g} s (deadline)"
                response = None
            except requests.ConnectionError as error:
                last_problem = f"cannot connect to {self.base_url} ({type(error).__name__})"
                response = None
            except requests.RequestException as error:
                # A body cut off mid-transfer and the like: retried as a network error. The exception text is
                # not used, since it may quote request headers.
                last_problem = f"the connection failed ({type(error).__name__})"
                response = None
            if response is not None:
                status = response.status_code
                if status == 200:
                    try:
                        return response.json(), response.headers
                    except ValueError:
                        raise MistApiError(f"GET {path}: the response is not valid JSON", status, path) from None
                if status in (401, 403):
                    raise AuthError(self._auth_message(status, response), status, path)
                if status == 404:
                    raise NotFoundError(f"GET {path}: 404 not found", status, path)
                if status == 429:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    wait = retry_after if retry_after is not None else RATE_LIMIT_BACKOFF_SECONDS * 2**attempt
                    out_of_attempts = attempt + 1 == MAX_ATTEMPTS
                    if out_of_attempts or self._spent(started, waited) + wait > self.max_retry_wait_seconds:
                        raise RateLimitError(
                            f"GET {path}: rate limited (429){_detail(response)}; retry after {wait:g} s",
                            retry_after,
                            path,
                        )
                    logger.debug("GET %s: 429, waiting %.1f s (attempt %d)", path, wait, attempt + 1)
                    self._sleep(wait)
                    waited += wait
                    continue
                if status < 500:
                    raise MistApiError(f"GET {path}: HTTP {status}{_detail(response)}", status, path)
                last_problem = f"HTTP {status}"
            if attempt + 1 == MAX_ATTEMPTS:
                break
            wait = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * random.uniform(0.5, 1.0)
            if self._spent(started, waited) + wait > self.max_retry_wait_seconds:
                break
            logger.debug("GET %s: %s, retrying in %.2f s", path, last_problem, wait)
            self._sleep(wait)
            waited += wait
        raise MistApiError(f"GET {path}: {last_problem} after {attempt + 1} attempts", None, path)

    def _bounded_get(self, url: str, params: Optional[Mapping[str, Any]]) -> requests.Response:
        """Return a response read whole within the call's deadline; raises ResponseTooLarge and requests' errors."""
        with self.guard.deadline(self.deadline_seconds):
            response = self.session.get(url, params=params, timeout=self.timeout, stream=True)
            bounded_http.read_body(response, self.max_response_bytes)
        return response

    @staticmethod
    def _spent(started: float, waited: float) -> float:
        """Return the seconds a call has taken so far: its waits, or the clock when timeouts took longer."""
        return max(waited, time.monotonic() - started)

    def _auth_message(self, status: int, response: requests.Response) -> str:
        if status == 401:
            return (
                f"the Mist API rejected the token (401{_detail(response)}): it is wrong, expired or deleted "
                f"after 90 days unused, or it belongs to another regional host than {self.base_url}"
            )
        return (
            f"the Mist API refused access (403{_detail(response)}): the token lacks rights on this org, "
            f"or mist.org_id / mist.base_url point at another org or region than {self.base_url}"
        )

    def get_self(self) -> Dict[str, Any]:
        """Return the body of GET /self."""
        body, _ = self.get("/self")
        if not isinstance(body, dict):
            raise MistApiError("GET /self: expected a JSON object", 200, "/self")
        return body

    def get_paged_array(
        self, path: str, params: Optional[Mapping[str, Any]] = None, *, parallel: int = 1
    ) -> Tuple[List[Any], Optional[int]]:
        """Return (all items, X-Page-Total or None) of a bare-array endpoint paged by X-Page-* headers.

        With parallel > 1 and a total announced by the first page, the other pages are requested up to
        `parallel` at a time: the same calls, fewer round trips.
        """

        def fetch(page: int) -> Tuple[List[Any], Optional[int], int]:
            body, headers = self.get(path, dict(params or {}, limit=PAGE_LIMIT, page=page))
            if not isinstance(body, list):
                raise MistApiError(f"GET {path}: expected a JSON array", 200, path)
            return (
                body,
                _header_int(headers, "X-Page-Total", None),
                _header_int(headers, "X-Page-Limit", None) or PAGE_LIMIT,
            )

        items, total = self._paged(path, fetch, parallel)
        return items, total

    def get_paged_results(
        self, path: str, params: Optional[Mapping[str, Any]] = None, *, parallel: int = 1
    ) -> Tuple[Dict[str, Any], List[Any]]:
        """Return (first page body, all `results`) of an endpoint paged by its body's total/limit/page.

        parallel: as for get_paged_array.
        """
        first: Dict[str, Any] = {}

        def fetch(page: int) -> Tuple[List[Any], Optional[int], int]:
            body, _ = self.get(path, dict(params or {}, limit=PAGE_LIMIT, page=page))
            if not isinstance(body, dict):
                raise MistApiError(f"GET {path}: expected a JSON object", 200, path)
            if page == 1:
                first.update(body)
                first.pop("results", None)
            page_results = body.get("results")
            return (
                page_results if isinstance(page_results, list) else [],
                _int_or_none(body.get("total")),
                _int_or_none(body.get("limit")) or PAGE_LIMIT,
            )

        results, _ = self._paged(path, fetch, parallel, noun="results")
        return first, results

    def _paged(
        self,
        path: str,
        fetch: Callable[[int], Tuple[List[Any], Optional[int], int]],
        parallel: int,
        noun: str = "items",
    ) -> Tuple[List[Any], Optional[int]]:
        """Return (all items, the first announced total) of fetch(page) for pages 1, 2, ... until paging ends.

        Records a PagingOutcome in self.paging, and a shortfall against the announced total in self.shortfalls.
        """
        items, announced, pages, stopped = _read_pages(fetch, parallel)
        outcome = PagingOutcome(path, announced, len(items), pages, stopped)
        with self._lock:
            self.paging.append(outcome)
        if outcome.shortfall:
            self._note_shortfall(
                f"GET {path}: got {len(items)} {noun}, the API announced {announced} (paging stopped: {stopped})"
            )
        elif stopped in ("repeated page", "page cap"):
            logger.warning("GET %s: paging stopped at page %d (%s)", path, pages, stopped)
        return items, announced


def _read_pages(
    fetch: Callable[[int], Tuple[List[Any], Optional[int], int]], parallel: int
) -> Tuple[List[Any], Optional[int], int, str]:
    """Return (items, first announced total, pages requested, why paging stopped) of fetch(1), fetch(2), ...

    With parallel > 1 and a total announced, pages are requested `parallel` at a time: the same calls, fewer
    round trips; each wave is checked before the next one, so a hostile server costs at most one wave more.
    """
    first_items, total, limit = fetch(1)
    items = list(first_items)
    announced = total
    page = 1
    previous = first_items
    stopped = _stop_reason(first_items, None, len(items), total, limit)
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="page") if parallel > 1 else None
    try:
        while stopped is None:
            budget = _page_budget(total, limit)
            if page >= budget:
                stopped = "page cap"
                break
            width = parallel if pool is not None and total is not None else 1
            wave = list(range(page + 1, min(budget, page + width) + 1))
            answers = list(pool.map(fetch, wave)) if pool is not None and len(wave) > 1 else [fetch(wave[0])]
            for page_items, page_total, page_limit in answers:
                page += 1
                total = page_total if page_total is not None else total
                limit = page_limit
                stopped = _stop_reason(page_items, previous, len(items) + len(page_items), total, limit)
                if stopped != "repeated page":
                    items.extend(page_items)
                previous = page_items
                if stopped is not None:
                    break
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return items, announced, page, stopped


def _page_budget(total: Optional[int], limit: int) -> int:
    """Return the most pages to request: what the announced total needs, never more than MAX_PAGES."""
    if total is None:
        return MAX_PAGES
    return max(1, min(MAX_PAGES, math.ceil(total / max(1, limit))))


def _stop_reason(
    page_items: List[Any], previous: Optional[List[Any]], received: int, total: Optional[int], limit: int
) -> Optional[str]:
    """Return why paging ends with this page (see PagingOutcome.stopped), or None to read the next one."""
    if not page_items:
        return "empty page"
    if previous is not None and page_items == previous:
        # A server that ignores `page` would otherwise be asked for the same page until the cap.
        return "repeated page"
    if total is not None and received >= total:
        return "all announced"
    if len(page_items) < limit:
        return "last page" if total is None else "short page"
    return None


def _int_or_none(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _header_int(headers: Mapping[str, str], name: str, default: Optional[int]) -> Optional[int]:
    value = _int_or_none(headers.get(name))
    return default if value is None else value
