"""REST client for the Juniper Mist API: one Session, timeouts, retries, paging and a call counter.

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
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PAGE_LIMIT = 1000
# A guard against a server that never sends a short page.
MAX_PAGES = 10_000
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# mistapi-py waits 5 s × 2^attempt on a 429 without Retry-After.
RATE_LIMIT_BACKOFF_SECONDS = 5.0
# Mist counts calls per hour: a Retry-After beyond that is treated as an hour.
MAX_RETRY_AFTER_SECONDS = 3600.0
USER_AGENT = "mist-infra-manager/1.0"


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), timeout_seconds)
        self.max_retry_wait_seconds = max_retry_wait_seconds
        self._sleep = sleep
        self._on_call = on_call
        self._lock = threading.Lock()
        self._calls = 0
        # Paged reads that ended with fewer items than the API announced: the run says so in its notes.
        self.shortfalls: List[str] = []
        self.session = requests.Session()
        # One connection per worker, plus the two org-level pagers that run beside each other.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max_workers + 2, max_retries=0)
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
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout:
                last_problem = f"timed out after {self.timeout[1]:g} s"
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

        items, total = self._paged(fetch, parallel)
        if total is not None and len(items) < total:
            self._note_shortfall(f"GET {path}: got {len(items)} items, the API announced {total}")
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

        results, total = self._paged(fetch, parallel)
        if total is not None and len(results) < total:
            self._note_shortfall(f"GET {path}: got {len(results)} results, the API announced {total}")
        return first, results

    @staticmethod
    def _paged(
        fetch: Callable[[int], Tuple[List[Any], Optional[int], int]], parallel: int
    ) -> Tuple[List[Any], Optional[int]]:
        """Return (all items, the first announced total) of fetch(page) for pages 1, 2, ... until the last."""
        items, total, limit = fetch(1)
        items = list(items)
        page = 1
        announced = total
        if _last_page(len(items), len(items), total, limit):
            return items, announced
        if parallel > 1 and total is not None:
            pages = min(MAX_PAGES, math.ceil(total / max(1, limit)))
            if pages > 1:
                with ThreadPoolExecutor(max_workers=min(parallel, pages - 1), thread_name_prefix="page") as pool:
                    answers = list(pool.map(fetch, range(2, pages + 1)))
                for page_items, page_total, page_limit in answers:
                    items.extend(page_items)
                    total = page_total if page_total is not None else total
                    limit = page_limit
                page = pages
                last_size = len(answers[-1][0])
                # Done unless the org grew while paging: then go on one page at a time.
                if _last_page(last_size, len(items), total, limit) or page >= MAX_PAGES:
                    return items, announced
        previous: List[Any] = []
        while page < MAX_PAGES:
            page += 1
            page_items, page_total, limit = fetch(page)
            if page_items and page_items == previous:
                # A server that ignores `page` would otherwise be asked for the same page until MAX_PAGES.
                logger.warning("Page %d repeats page %d; stopping there", page, page - 1)
                break
            previous = page_items
            items.extend(page_items)
            total = page_total if page_total is not None else total
            if _last_page(len(page_items), len(items), total, limit):
                break
        return items, announced


def _last_page(page_size: int, received: int, total: Optional[int], limit: int) -> bool:
    """Return True when paging is done: an empty page, all of `total` received, or (no total) a short page."""
    if page_size == 0:
        return True
    if total is not None:
        return received >= total
    return page_size < limit


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
