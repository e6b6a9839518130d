"""HTTP delivery of channel messages: one POST with timeouts, 429 and 5xx retried within a bounded time.

Any 2xx is accepted (Teams Workflows and PagerDuty answer 202, Slack 200). The URL is a secret (Slack's path and
Teams' `sig` parameter are credentials): it never appears in a result, an exception text or a log line; requests'
own exception texts (which quote the URL) are reduced to their type.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional

import requests

from mist_infra_manager import network

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 10.0
MAX_ATTEMPTS = 5
# A Retry-After longer than this is not waited for in the run: the message waits in the outbox instead.
MAX_RETRY_AFTER_SECONDS = 120.0
# Retry-After is read as the server says it; the wait itself is capped at MAX_RETRY_AFTER_SECONDS where used.
UNCAPPED_SECONDS = float("inf")
# Answers that mean the message itself is refused: sending it again cannot help.
PERMANENT_STATUSES = (400, 413, 422)
SIGNATURE_HEADER = "X-Signature-256"
# The CA variables honoured, first set wins (requests' certifi bundle is not reached by OpenSSL's own variables).
USER_AGENT = "mist-infra-manager"


@dataclass(frozen=True)
class PostResult:
    """How a POST ended: accepted (2xx), or why not; permanent when the receiver refused the message itself."""

    accepted: bool
    status: Optional[int]
    reason: str
    permanent: bool = False
    # Seconds the receiver asked to wait (Retry-After of a 429 or 503), None when it did not say.
    retry_after: Optional[float] = None


def signature(secret: str, body: bytes) -> str:
    """Return the X-Signature-256 value of a body: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def headers_for(body: bytes, secret: Optional[str]) -> Dict[str, str]:
    """Return the request headers: JSON content type, and the signature when a secret is set."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers


class HttpPoster:
    """POSTs bodies with a per-attempt timeout and a bound on the whole call, retries included."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        retry_seconds: float,
        sleep: Optional[Callable[[float], None]] = None,
        monotonic: Callable[[], float] = time.monotonic,
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.retry_seconds = retry_seconds
        self._sleep = sleep or time.sleep
        self._monotonic = monotonic
        self._environ: Mapping[str, str] = environ or {}
        self._session = requests.Session()
        # Proxies and CAs come from the environment the run was given (config.network_environment), never from
        # os.environ behind the caller's back, and no ~/.netrc credentials are added to a webhook.
        self._session.trust_env = False
        self._session.verify = network.verify_for(self._environ)[0]

    def close(self) -> None:
        """Close the connections."""
        self._session.close()

    def _attempt(self, url: str, body: bytes, headers: Dict[str, str]) -> PostResult:
        proxy = network.proxy_for(url, self._environ)
        try:
            response = self._session.post(
                url,
                proxies={"http": proxy, "https": proxy} if proxy else None,
                data=body,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, self.timeout_seconds), self.timeout_seconds),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            # str(error) quotes the URL: only the kind of failure is kept.
            return PostResult(False, None, f"no answer ({type(error).__name__})")
        with response:
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
        if 200 <= status < 300:
            return PostResult(True, status, f"HTTP {status}")
        wait = network.retry_after_seconds(retry_after, UNCAPPED_SECONDS) if status in (429, 503) else None
        reason = f"HTTP {status}" if wait is None else f"HTTP {status}, Retry-After {wait:g} s"
        return PostResult(False, status, reason, permanent=status in PERMANENT_STATUSES, retry_after=wait)

    def post(self, url: str, body: bytes, headers: Dict[str, str]) -> PostResult:
        """Return how the POST ended, after retrying 429, 5xx, 408 and no answer while retry_seconds allow."""
        deadline = self._monotonic() + self.retry_seconds
        backoff = BACKOFF_FIRST_SECONDS
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(url, body, headers)
            retryable = result.status is None or result.status in (408, 429) or result.status >= 500
            if result.accepted or not retryable or attempt >= MAX_ATTEMPTS:
                return result
            wait = result.retry_after
            if wait is None:
                wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX_SECONDS)
            if wait > MAX_RETRY_AFTER_SECONDS or self._monotonic() + wait > deadline:
                return result
            self._sleep(wait)
