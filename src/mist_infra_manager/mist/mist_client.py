"""REST client for the Juniper Mist API: one Session, timeouts, retries, paging and a call counter.

Each attempt of a call has one deadline, `timeout_seconds`, for connecting and reading the whole answer, and a
cap on the decompressed answer (bounded_http). Paging stops at an empty, short or repeated page and after at
most MAX_PAGES pages, whatever total the server announces.

The token travels only in the Authorization header; it is never logged and never part of an exception.

Corporate networks: the proxy and the CA bundle come from the `environ` mapping the client is given (the
process environment by default), read by the client itself rather than by requests, so that ~/.netrc is never
consulted and tests can inject an environment:
  HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (lower case wins, as in curl and urllib), with NO_PROXY;
  REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE, then SSL_CERT_FILE, then SSL_CERT_DIR (else certifi's bundle).
The `proxy` and `ca_bundle` arguments (mist.proxy, mist.ca_bundle) override them.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests

from mist_infra_manager import network
from mist_infra_manager.mist import bounded_http
from mist_infra_manager.network import masked_url, proxy_for, verify_for  # noqa: F401 (the module's API)

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
# The CA bundle variables, in the order they are looked at (requests reads the first two, OpenSSL the last two).
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})([^'\"]*)")


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
    """Return a Retry-After header as seconds, at most MAX_RETRY_AFTER_SECONDS (the budget's rolling hour)."""
    return network.retry_after_seconds(value, MAX_RETRY_AFTER_SECONDS, now)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return f": {str(detail)[:200]}" if detail else ""


class _TokenAuth(requests.auth.AuthBase):
    """Sets the token header on every request. An explicit auth also keeps requests from reading ~/.netrc."""

    def __init__(self, token: str) -> None:
        self._header = f"Token {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(***)"


def _causes(error: BaseException) -> List[BaseException]:
    """Return error and every exception it wraps (requests and urllib3 nest them in args, reason and causes)."""
    found: List[BaseException] = []
    pending: List[Any] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(current.args)
    return found


def _first(causes: List[BaseException], kind: Union[type, Tuple[type, ...]]) -> Optional[BaseException]:
    return next((cause for cause in causes if isinstance(cause, kind)), None)


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
        proxy: Optional[str] = None,
        ca_bundle: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
        check_stop: Optional[Callable[[], None]] = None,
        max_response_bytes: int = bounded_http.MAX_RESPONSE_BYTES,
    ) -> None:
        """proxy (mist.proxy) and ca_bundle (mist.ca_bundle) override the environment: see proxy_for, verify_for.

        environ: where HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE and the like are read (default os.environ).
        Raises MistApiError when the CA bundle named does not exist.
        """
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._host = parts.netloc.rpartition("@")[2]
        environment = os.environ if environ is None else environ
        self.proxy = network.proxy_for(self.base_url, environment, proxy)
        scheme_variable = f"{parts.scheme.upper()}_PROXY"
        self._proxy_source = (
            "mist.proxy"
            if proxy
            else scheme_variable
            if network.environment_value(environment, scheme_variable)
            else "ALL_PROXY"
        )
        verify, self._verify_source = network.verify_for(environment, ca_bundle)
        if isinstance(verify, str) and not Path(verify).exists():
            raise MistApiError(f"{self._verify_source}: the CA bundle {verify} does not exist")
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
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self.session.auth = _TokenAuth(token)
        # requests would otherwise read credentials from ~/.netrc, and proxies and CA from os.environ per call:
        # both are settled here, from the environment this client was given.
        self.session.trust_env = False
        self.session.verify = verify
        if self.proxy:
            self.session.proxies = {"http": self.proxy, "https": self.proxy}
            logger.debug("Mist API %s through the proxy %s", self._host, network.masked_url(self.proxy))

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
            sent = time.monotonic()
            try:
                response = self._bounded_get(url, params)
            except bounded_http.ResponseTooLarge as error:
                raise MistApiError(f"GET {path}: {error}", 200, path) from None
            except requests.RequestException as error:
                # The exception text itself is never shown: it may quote request headers or a proxy password.
                last_problem, retry = self._describe_failure(error)
                response = None
                logger.debug("GET %s: %s (%.0f ms)", path, last_problem, (time.monotonic() - sent) * 1000)
                if not retry:
                    raise MistApiError(f"GET {path}: {last_problem}", None, path) from None
            if response is not None:
                status = response.status_code
                logger.debug(
                    "GET %s -> %d in %.0f ms",
                    response.request.path_url if response.request is not None else path,
                    status,
                    response.elapsed.total_seconds() * 1000,
                )
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

    def _describe_failure(self, error: requests.RequestException) -> Tuple[str, bool]:
        """Return (one-line cause, worth a retry) of a request that got no HTTP answer, without secrets."""
        host = self._host
        causes = _causes(error)
        via = f" through the proxy {network.masked_url(self.proxy)}" if self.proxy else ""
        if self.proxy and isinstance(error, requests.exceptions.ProxyError):
            proxy = network.masked_url(self.proxy)
            refusal = next(
                (_TUNNEL_REFUSED.search(str(cause)) for cause in causes if _TUNNEL_REFUSED.search(str(cause))), None
            )
            if refusal is not None:
                code = refusal.group(1)
                status = f"{code}{refusal.group(2).rstrip()}"
                if code.startswith("5"):
                    # The proxy could not reach the host: that may pass.
                    return f"the proxy {proxy} failed the connection to {host} ({status})", True
                hint = (
                    "it wants credentials: give them in the proxy URL, http://user:password@host:port"
                    if code == "407"
                    else "ask for the host to be allowed, or check the proxy URL"
                )
                # A refusal by the proxy will not change on a retry.
                return (
                    f"the proxy {proxy} refused the connection to {host} ({status}): {hint} ({self._proxy_source})",
                    False,
                )
            if _first(causes, socket.gaierror) is not None:
                return f"cannot resolve the proxy host of {proxy}: DNS lookup failed (check {self._proxy_source})", True
            if _first(causes, ConnectionRefusedError) is not None:
                return (
                    f"the proxy {proxy} refused the connection: nothing listens there (check {self._proxy_source})",
                    True,
                )
            return f"the proxy {proxy} failed the connection to {host} (check {self._proxy_source})", True
        verification = _first(causes, ssl.SSLCertVerificationError)
        if verification is not None:
            reason = (
                getattr(verification, "verify_message", None)
                or getattr(verification, "reason", None)
                or "verify failed"
            )
            where = f"the CA bundle of {self._verify_source}" if self._verify_source else "the built-in CA list"
            inspected = (
                f", through the proxy {network.masked_url(self.proxy)} (it may re-sign with its own CA)"
                if self.proxy
                else ""
            )
            return (
                f"TLS certificate of {host} not trusted ({reason}; checked against {where}{inspected}): "
                "set mist.ca_bundle to your corporate CA file (or REQUESTS_CA_BUNDLE)",
                False,
            )
        if isinstance(error, requests.exceptions.SSLError):
            tls = _first(causes, ssl.SSLError)
            reason = getattr(tls, "reason", None) or type(tls or error).__name__
            return f"TLS handshake with {host}{via} failed ({reason})", True
        if isinstance(error, requests.exceptions.ConnectTimeout):
            return f"connecting to {host}{via} timed out after {self.timeout[0]:g} s (a firewall may drop it)", True
        if isinstance(error, requests.Timeout):
            # timeout_seconds bounds the whole answer (bounded_http), not one socket read.
            return f"{host} sent no complete answer within {self.deadline_seconds:g} s (deadline)", True
        if isinstance(error, requests.ConnectionError):
            if _first(causes, socket.gaierror) is not None:
                hint = (
                    "check mist.base_url"
                    if self.proxy
                    else "check the host name, or set mist.proxy / HTTPS_PROXY if DNS goes through a proxy"
                )
                return f"cannot resolve {urlsplit(self.base_url).hostname}: DNS lookup failed ({hint})", True
            if _first(causes, ConnectionRefusedError) is not None:
                return (
                    f"cannot connect to {host}: connection refused (nothing listens there, or a firewall rejects it)",
                    True,
                )
            failure = _first(causes, OSError)
            detail = getattr(failure, "strerror", None) or type(failure or error).__name__
            return f"cannot connect to {host}{via} ({detail})", True
        if isinstance(error, requests.exceptions.InvalidSchema) and self.proxy:
            return (
                f"the proxy {network.masked_url(self.proxy)} has a scheme this tool cannot use (http or https only)",
                False,
            )
        # A body cut off mid-transfer and the like: retried as a network error.
        return f"the connection failed ({type(error).__name__})", True

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
