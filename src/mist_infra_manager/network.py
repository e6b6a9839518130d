"""Where HTTP requests go and what they trust: proxies and CA bundles from an environment mapping, Retry-After.

Shared by the Mist client and the alert channels. It reads the mapping it is given, never os.environ behind the
caller's back, so a run and its tests see the same settings.
"""

from __future__ import annotations

import email.utils
import ipaddress
import math
import urllib.request
from datetime import datetime, timezone
from typing import Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

CA_ENVIRONMENT_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def retry_after_seconds(value: Optional[str], cap_seconds: float, now: Optional[datetime] = None) -> Optional[float]:
    """Return a Retry-After header (seconds or an HTTP date) as seconds within 0..cap_seconds, None when unreadable."""
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
    # A larger wait must not block for years.
    return min(max(seconds, 0.0), cap_seconds)


def masked_url(url: str) -> str:
    """Return a URL fit for messages and logs: a password in it replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def environment_value(environ: Mapping[str, str], name: str) -> Optional[str]:
    """Return a proxy variable as curl and urllib read it: the lower-case name first, then the upper-case one."""
    for key in (name.lower(), name.upper()):
        value = (environ.get(key) or "").strip()
        if value:
            return value
    return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Return True when NO_PROXY covers the host: `*`, a domain suffix, host:port, or (for an IP) a CIDR block."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        for entry in (item.strip() for item in no_proxy.split(",")):
            try:
                if "/" in entry and address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return bool(urllib.request.proxy_bypass_environment(f"{host}:{port}", {"no": no_proxy}))  # type: ignore[attr-defined]


def proxy_for(url: str, environ: Mapping[str, str], proxy: Optional[str] = None) -> Optional[str]:
    """Return the proxy URL requests to `url` go through, or None for a direct connection.

    An explicit `proxy` (mist.proxy) is used for http and https alike and ignores NO_PROXY: it is set for this one
    API host, so a NO_PROXY meant for other tools does not silently undo it. From the environment, the scheme's
    variable (HTTPS_PROXY or HTTP_PROXY, else ALL_PROXY) applies unless NO_PROXY covers the host.
    """
    if proxy:
        chosen = proxy.strip()
    else:
        parts = urlsplit(url)
        found = environment_value(environ, f"{parts.scheme}_proxy") or environment_value(environ, "all_proxy")
        if not found:
            return None
        no_proxy = environment_value(environ, "no_proxy")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if no_proxy and bypasses_proxy(parts.hostname or "", port, no_proxy):
            return None
        chosen = found
    # curl and requests take "proxy:3128" as http://proxy:3128.
    return chosen if "://" in chosen else f"http://{chosen}"


def verify_for(
    environ: Mapping[str, str], ca_bundle: Optional[str] = None, ca_bundle_key: str = "mist.ca_bundle"
) -> Tuple[Union[bool, str], str]:
    """Return (requests' verify value, where it came from): ca_bundle (mist.ca_bundle), else the first CA variable.

    SSL_CERT_FILE and SSL_CERT_DIR are passed on explicitly: requests uses certifi's bundle, which OpenSSL's
    variables do not reach.
    """
    if ca_bundle:
        return str(ca_bundle), ca_bundle_key
    for name in CA_ENVIRONMENT_VARIABLES:
        value = (environ.get(name) or "").strip()
        if value:
            return value, name
    return True, ""
