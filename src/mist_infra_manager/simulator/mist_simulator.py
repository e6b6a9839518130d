"""Juniper Mist cloud API simulator: a deterministic org served over real HTTP on 127.0.0.1.

Serves the endpoints the SLE reporting tool reads (self, org sites, org sites-sle, site SLE
metrics / classifiers / summary / summary-trend, and for the root cause impact-summary / impacted-users /
impacted-aps) plus a few extra ones for the Bruno collection
(org insights worst-sites-by-sle, alarms search, AP device stats). Faults (429, 5xx, malformed
bodies, slow answers) can be injected on demand. Standard library only.

The org (``build_sites``), with default settings, by site index:
0 critical (coverage 0.66: weak-signal 26.6 pp, 80 users on 8 APs; time-to-connect 0.93),
1 major (time-to-connect 0.75, dhcp-unresponsive first), 2 warning (roaming 0.85),
3 no_data (no Wi-Fi keys, all-zero summaries), 4 html_name (capacity 0.88, name with < & " '),
5 major_multi (successful-connect 0.78, ap-health 0.68, coverage 0.89); the rest healthy
(every metric in 0.92..0.999). With ``degraded_share=F``, round(F * N) evenly spread sites each
have one metric below 0.90 (site 0 stays the critical coverage site).

Every summary satisfies 1 - sum(degraded) / sum(total) == the sites-sle fraction, classifier
totals equal the SLE totals and classifier degraded values add up to the SLE degraded per bucket.

Run ``python src/mist_simulator.py --help`` to serve it in the foreground.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, List, Optional, Pattern, Sequence, Set, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

# --- Server defaults -------------------------------------------------------------------------------
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8085
DEFAULT_NUM_SITES = 40
DEFAULT_TOKEN = "sim-token"
DEFAULT_ORG_NAME = "Acme Retail Europe"
DEFAULT_LATENCY_MS = 0
DEFAULT_PAGE_LIMIT = 100
REQUEST_QUEUE_SIZE = 256
SERVE_POLL_INTERVAL_S = 0.1
STOP_JOIN_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 10.0
RATE_WINDOW_S = 3600
SUMMARY_CACHE_ENTRIES = 2048

# --- Time windows ----------------------------------------------------------------------------------
DEFAULT_DURATION = "1d"
DEFAULT_INSIGHT_INTERVAL_S = 3600
HOURLY_BUCKET_S = 3600
DAILY_BUCKET_S = 86400
MAX_HOURLY_SPAN_S = 7 * 86400
DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NULL_BUCKET = 1  # bucket whose total/degraded/value are all null
ZERO_BUCKETS = (4, 5)  # buckets with total 0, degraded 0, value null
MIN_BUCKETS_FOR_GAPS = 8
PARTIAL_LAST_BUCKET_SHARE = 0.4
# Relative traffic per hour of day; buckets are positional (not aligned to the clock).
HOURLY_PROFILE = (
    0.35, 0.25, 0.15, 0.10, 0.10, 0.12, 0.20, 0.35, 0.60, 0.85, 1.00, 1.00,
    0.95, 1.00, 1.00, 0.95, 0.90, 0.80, 0.70, 0.60, 0.55, 0.50, 0.45, 0.40,
)  # fmt: skip

# --- Metrics and classifiers -----------------------------------------------------------------------
ORG_METRIC_KEYS = (
    "time-to-connect",
    "successful-connect",
    "coverage",
    "roaming",
    "throughput",
    "capacity",
    "ap-health",
)
AP_AVAILABILITY = "ap-availability"
ALL_METRIC_KEYS = (*ORG_METRIC_KEYS, AP_AVAILABILITY)
ORG_TO_SITE_METRIC = {key: key for key in ALL_METRIC_KEYS}
ORG_TO_SITE_METRIC["successful-connect"] = "failed-to-connect"
SITE_TO_ORG_METRIC = {site: org for org, site in ORG_TO_SITE_METRIC.items()}
ENABLED_SITE_METRICS = (
    "coverage",
    "capacity",
    "time-to-connect",
    "failed-to-connect",
    "roaming",
    "throughput",
    "ap-availability",
    "ap-health",
)
SUPPORTED_SITE_METRICS = (
    *ENABLED_SITE_METRICS[:6],
    "roaming-v2",
    "switch-health",
    "switch-throughput",
    "switch-bandwidth",
    "application-health",
    "ap-availability",
    "ap-health",
    "switch_health",
    "switch_throughput",
    "switch_stc",
    "gateway-health",
    "application_health",
    "wan-link-health",
    "location_jitter",
    "location_latency",
    "location_dropped-requests",
    "location_sdk-connect-time",
    "location_ble-hung",
)
UNKNOWN_CLASSIFIER = "unknown-future-classifier"  # not in REFERENCE: exercises the client's fallback
UNKNOWN_CLASSIFIER_SHARE = 0.03
CLASSIFIERS: Dict[str, Tuple[str, ...]] = {
    "coverage": ("weak-signal", "asymmetry-uplink", "asymmetry-downlink"),
    "capacity": ("client-count", "wifi-interference", "non-wifi-interference", "client-usage"),
    "time-to-connect": (
        "association",
        "authorization",
        "dhcp-nack",
        "dhcp-stuck",
        "dhcp-unresponsive",
        "IP-Services",
    ),
    "successful-connect": (
        "association",
        "authorization",
        "dhcp-incomplete",
        "dhcp-nack",
        "dhcp-discover-unresponsive",
        "dhcp-renew-unresponsive",
        "arp",
        "dns",
    ),
    "roaming": (
        "latency-slow-standard-roam",
        "latency-slow-11r-roam",
        "latency-slow-okc-roam",
        "stability-failed-to-fast-roam",
        "signal-quality-suboptimal-roam",
        "signal-quality-sticky-client",
        "signal-quality-interband-roam",
    ),
    "throughput": (
        "network-issues",
        "coverage",
        "device-capability",
        "capacity-non-wifi-interference",
        "capacity-wifi-interference",
        "capacity-excessive-client-load",
        "capacity-high-bandwidth-utilization",
        UNKNOWN_CLASSIFIER,
    ),
    "ap-health": (
        "low-power",
        "ap-disconnected-ap-reboot",
        "ap-disconnected-ap-unreachable",
        "ap-disconnected-switch-down",
        "ap-disconnected-site-down",
        "ethernet-ethernet-errors",
        "ethernet-speed-mismatch",
        "network-jitter",
        "network-latency",
        "network-tunnel-down",
    ),
    AP_AVAILABILITY: ("ap-reboot", "ap-unreachable", "site-down"),
}
# y_label of sle.samples.value, y_label of classifier samples, and how bucket totals are counted.
METRIC_LABELS: Dict[str, Tuple[str, str]] = {
    "coverage": ("dBm", "user-minutes"),
    "time-to-connect": ("seconds", "connections"),
    "successful-connect": ("%", "connections"),
    "roaming": ("seconds", "roams"),
    "throughput": ("Mbps", "user-minutes"),
    "capacity": ("%", "user-minutes"),
    "ap-health": ("%", "ap-minutes"),
    AP_AVAILABILITY: ("%", "ap-minutes"),
}

# --- Wired and WAN SLEs (sites-sle?sle=wired|wan, schemas org_site_sle_wired/wan_result) -------------
# Org result keys; the WAN one is spelled application_health, as in the schema.
WIRED_KEYS = ("switch-health", "switch-throughput", "switch-bandwidth")
WAN_KEYS = ("gateway-health", "wan-link-health", "application_health")
TYPE_KEYS: Dict[str, Tuple[str, ...]] = {"wired": WIRED_KEYS, "wan": WAN_KEYS}
TYPE_METRIC_KEYS = (*WIRED_KEYS, *WAN_KEYS)
TYPE_COUNT_KEYS = {"wired": "num_switches", "wan": "num_gateways"}
# Site SLE metric id -> org key. Which spelling of application health a site serves is a simulator option.
TYPE_SITE_TO_ORG_METRIC = {key: key for key in TYPE_METRIC_KEYS}
TYPE_SITE_TO_ORG_METRIC["application-health"] = "application_health"
DEFAULT_APPLICATION_HEALTH_IDS = ("application-health",)
# Sites with switches: index % WIRED_EVERY != WIRED_SKIP; with gateways: even indexes. The no_data site has neither.
WIRED_EVERY = 3
WIRED_SKIP = 2
WAN_EVERY = 2
SWITCHES_RANGE = (1, 6)
GATEWAYS_RANGE = (1, 2)
SWITCH_MINUTES_PER_SWITCH_HOUR = 60.0
# Wired and WAN classifier ids are not documented (REFERENCE §11): these are invented, in the API's slug style.
CLASSIFIERS.update(
    {
        "switch-health": ("switch-unreachable", "system-cpu", "system-memory", "system-temperature", "system-power"),
        "switch-throughput": ("interface-congestion", "interface-cable-issues", "interface-port-flap", "storm-control"),
        "switch-bandwidth": ("uplink-congestion", "access-congestion"),
        "gateway-health": ("gateway-disconnected", "system-cpu", "system-memory", "table-capacity"),
        "wan-link-health": (
            "isp-reachability",
            "interface-errors",
            "network-latency",
            "network-jitter",
            "network-loss",
        ),
        "application_health": ("application-latency", "application-jitter", "application-loss"),
    }
)
METRIC_LABELS.update({key: ("%", "switch-minutes") for key in WIRED_KEYS})
METRIC_LABELS.update({"gateway-health": ("%", "gateway-minutes"), "wan-link-health": ("%", "link-minutes")})
METRIC_LABELS["application_health"] = ("%", "user-minutes")
DEVICE_MINUTE_KEYS = ("ap-health", AP_AVAILABILITY, *WIRED_KEYS, "gateway-health", "wan-link-health")
# Stable numbers per metric (seeds of the weight pools and series): the Wi-Fi ones keep theirs.
METRIC_NUMBERS = {key: number for number, key in enumerate((*ALL_METRIC_KEYS, *TYPE_METRIC_KEYS))}
USER_MINUTES_PER_CLIENT_HOUR = 30.0
CONNECTIONS_PER_CLIENT_HOUR = 0.6
ROAMS_PER_CLIENT_HOUR = 0.3
AP_MINUTES_PER_AP_HOUR = 60.0

# --- The deterministic org -------------------------------------------------------------------------
SIM_NAMESPACE = uuid.UUID("6d1f3c2e-9a47-4e58-b1c3-5a0f7e2d8c41")
HEALTHY_RANGE = (0.92, 0.999)
SPECIAL_OTHERS_RANGE = (0.95, 0.999)
AP_AVAILABILITY_RANGE = (0.99, 1.0)
NO_DATA_AP_AVAILABILITY = 1.0  # the schema requires ap-availability even without Wi-Fi data
LEVELS = ("critical", "major", "warning")
LEVEL_FRACTIONS = {"critical": 0.65, "major": 0.76, "warning": 0.86}
NUM_APS_RANGE = (4, 40)
NUM_CLIENTS_RANGE = (10, 500)
WEIGHT_POOL_SIZE = 13
WEIGHT_ZERO_CHANCE = 0.3
HTML_SITE_NAME = "<b>Caf\u00e9 & \"Bar\" 'Store'</b>"
CRITICAL_IMPACT_OVERRIDE = {"coverage": {"weak-signal": {"num_users": 80, "num_aps": 8}}}
SPECIAL_KINDS: Dict[int, str] = {
    0: "critical",
    1: "major",
    2: "warning",
    3: "no_data",
    4: "html_name",
    5: "major_multi",
}
# (num_aps, num_clients) of the special sites, so their impact numbers are predictable.
SPECIAL_SIZES: Dict[str, Tuple[int, int]] = {
    "critical": (16, 240),
    "major": (12, 180),
    "warning": (10, 120),
    "no_data": (6, 40),
    "html_name": (8, 90),
    "major_multi": (20, 300),
}
# kind -> {org metric key: (fraction, non-zero classifier weights)}; other metrics in SPECIAL_OTHERS_RANGE.
SPECIAL_METRICS: Dict[str, Dict[str, Tuple[float, Dict[str, float]]]] = {
    "critical": {
        "coverage": (
            0.66,
            {"weak-signal": 26.6 / 34, "asymmetry-uplink": 5.0 / 34, "asymmetry-downlink": 2.4 / 34},
        ),
        "time-to-connect": (
            0.93,
            {"IP-Services": 0.4, "dhcp-unresponsive": 0.2, "authorization": 0.2, "association": 0.1, "dhcp-stuck": 0.1},
        ),
    },
    "major": {
        "time-to-connect": (
            0.75,
            {
                "dhcp-unresponsive": 0.52,
                "association": 0.16,
                "authorization": 0.12,
                "dhcp-stuck": 0.10,
                "IP-Services": 0.06,
                "dhcp-nack": 0.04,
            },
        ),
    },
    "warning": {
        "roaming": (
            0.85,
            {
                "signal-quality-sticky-client": 0.40,
                "latency-slow-standard-roam": 0.20,
                "stability-failed-to-fast-roam": 0.15,
                "signal-quality-suboptimal-roam": 0.10,
                "latency-slow-11r-roam": 0.05,
                "latency-slow-okc-roam": 0.05,
                "signal-quality-interband-roam": 0.05,
            },
        ),
    },
    "html_name": {
        "capacity": (
            0.88,
            {"wifi-interference": 0.50, "client-count": 0.25, "non-wifi-interference": 0.15, "client-usage": 0.10},
        ),
    },
    "major_multi": {
        "successful-connect": (
            0.78,
            {
                "dhcp-discover-unresponsive": 0.45,
                "association": 0.20,
                "authorization": 0.15,
                "dhcp-incomplete": 0.10,
                "dns": 0.05,
                "arp": 0.05,
            },
        ),
        "ap-health": (
            0.68,
            {
                "ap-disconnected-ap-unreachable": 0.50,
                "ap-disconnected-ap-reboot": 0.20,
                "low-power": 0.10,
                "ethernet-speed-mismatch": 0.10,
                "network-latency": 0.10,
            },
        ),
        "coverage": (0.89, {"weak-signal": 0.70, "asymmetry-uplink": 0.20, "asymmetry-downlink": 0.10}),
    },
}
# Default org: index -> {org key: (fraction, non-zero classifier weights)} of the wired and WAN problems.
# Site 7 is the switch problem --demo shows; 8 (WAN only) and 10 have WAN problems.
SPECIAL_TYPE_METRICS: Dict[int, Dict[str, Tuple[float, Dict[str, float]]]] = {
    7: {"switch-health": (0.72, {"switch-unreachable": 0.6, "system-power": 0.25, "system-cpu": 0.15})},
    8: {"wan-link-health": (0.84, {"isp-reachability": 0.7, "network-latency": 0.2, "network-loss": 0.1})},
    10: {
        "application_health": (0.86, {"application-latency": 0.5, "application-loss": 0.3, "application-jitter": 0.2})
    },
}
# With degraded_share: the planned sites whose ordinal j % TYPE_PLAN_EVERY hits these also get this type metric low.
TYPE_PLAN_EVERY = 4
TYPE_PLAN: Dict[int, str] = {1: "switch-throughput", 3: "wan-link-health"}
CITIES: Tuple[Tuple[str, str, str, str, float, float], ...] = (
    # (city, country_code, country, timezone, lat, lng)
    ("London", "GB", "United Kingdom", "Europe/London", 51.5074, -0.1278),
    ("Paris", "FR", "France", "Europe/Paris", 48.8566, 2.3522),
    ("Berlin", "DE", "Germany", "Europe/Berlin", 52.52, 13.405),
    ("Madrid", "ES", "Spain", "Europe/Madrid", 40.4168, -3.7038),
    ("Milan", "IT", "Italy", "Europe/Rome", 45.4642, 9.19),
    ("Amsterdam", "NL", "Netherlands", "Europe/Amsterdam", 52.3676, 4.9041),
    ("Leeds", "GB", "United Kingdom", "Europe/London", 53.8008, -1.5491),
    ("Lyon", "FR", "France", "Europe/Paris", 45.764, 4.8357),
    ("Munich", "DE", "Germany", "Europe/Berlin", 48.1351, 11.582),
    ("Barcelona", "ES", "Spain", "Europe/Madrid", 41.3874, 2.1686),
    ("Dublin", "IE", "Ireland", "Europe/Dublin", 53.3498, -6.2603),
    ("Brussels", "BE", "Belgium", "Europe/Brussels", 50.8503, 4.3517),
    ("Manchester", "GB", "United Kingdom", "Europe/London", 53.4808, -2.2426),
    ("Vienna", "AT", "Austria", "Europe/Vienna", 48.2082, 16.3738),
    ("Zurich", "CH", "Switzerland", "Europe/Zurich", 47.3769, 8.5417),
    ("Hamburg", "DE", "Germany", "Europe/Berlin", 53.5511, 9.9937),
    ("Stockholm", "SE", "Sweden", "Europe/Stockholm", 59.3293, 18.0686),
    ("Copenhagen", "DK", "Denmark", "Europe/Copenhagen", 55.6761, 12.5683),
    ("Warsaw", "PL", "Poland", "Europe/Warsaw", 52.2297, 21.0122),
    ("Glasgow", "GB", "United Kingdom", "Europe/London", 55.8642, -4.2518),
)
SITE_CREATED_EPOCH_S = 1_600_000_000
# Site groups: every site is in "Stores <country code>" (REFERENCE §11 shape), plus any set_site_group adds.
STORES_GROUP_PREFIX = "Stores "
SITEGROUP_CREATED_S = 1_650_000_000
# A sites-sle window at most this long is the short view (sle.alert_window): short_fractions apply.
SHORT_WINDOW_MAX_S = 3 * 3600
SITE_CREATED_STEP_S = 3_613
SITE_MODIFIED_EPOCH_S = 1_756_000_000
AP_MODELS = ("AP45", "AP34", "AP43", "AP32", "AP24")
AP_FIRMWARE = "0.14.29313"
AP_UPTIME_S = 1_209_600
ALARM_TYPES: Dict[str, Tuple[str, str]] = {
    "time-to-connect": ("infra_dhcp_failure", "infrastructure"),
    "successful-connect": ("infra_dns_failure", "infrastructure"),
    "coverage": ("insufficient_coverage", "marvis"),
    "roaming": ("roaming_failure", "marvis"),
    "throughput": ("high_interference", "marvis"),
    "capacity": ("insufficient_capacity", "marvis"),
    "ap-health": ("device_down", "infrastructure"),
}
ALARM_THRESHOLD = 0.90
SEVERITY_CUTS = ((0.70, "critical"), (0.80, "major"), (ALARM_THRESHOLD, "warn"))

# --- Bodies ---------------------------------------------------------------------------------------
RATE_LIMIT_DETAIL = "Too Many Request. The API Token used for the request reached the 5000 API Calls per hour threshold"
NOT_PROVIDED_DETAIL = "Authentication credentials were not provided."
INVALID_TOKEN_DETAIL = "Invalid token."
FORBIDDEN_DETAIL = "You do not have permission to perform this action."
MALFORMED_BODY = b'{"results": [{"site_id": "4b1e2c3d-8a9f-4e7b-b2c1'
JSON_CONTENT_TYPE = "application/json"


def _json(obj: Any) -> bytes:
    """Serialise compactly to UTF-8 JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _uuid(*parts: object) -> str:
    """Deterministic uuid5 string from the given parts."""
    return str(uuid.uuid5(SIM_NAMESPACE, ":".join(str(p) for p in parts)))


def _uniform(rng: random.Random, bounds: Tuple[float, float]) -> float:
    """A value in bounds, rounded to 4 decimals."""
    low, high = bounds
    return round(low + (high - low) * rng.random(), 4)


def _full_weights(key: str, nonzero: Dict[str, float]) -> Dict[str, float]:
    """Weights for every classifier of a metric, in classifier order (missing ones are 0)."""
    unknown = set(nonzero) - set(CLASSIFIERS[key])
    if unknown:
        raise ValueError(f"unknown classifiers for {key}: {sorted(unknown)}")
    return {name: nonzero.get(name, 0.0) for name in CLASSIFIERS[key]}


def _weight_pool(key: str, metric_no: int) -> List[Dict[str, float]]:
    """WEIGHT_POOL_SIZE deterministic classifier weight sets for a metric (shared between sites)."""
    rng = random.Random(7_000 + metric_no)
    names = [name for name in CLASSIFIERS[key] if name != UNKNOWN_CLASSIFIER]
    pool = []
    for _ in range(WEIGHT_POOL_SIZE):
        raw = [0.0 if rng.random() < WEIGHT_ZERO_CHANCE else 0.05 + rng.random() ** 2 for _ in names]
        if not any(raw):
            raw[rng.randrange(len(names))] = 1.0
        scale = (1.0 - UNKNOWN_CLASSIFIER_SHARE) if UNKNOWN_CLASSIFIER in CLASSIFIERS[key] else 1.0
        total = sum(raw)
        weights = {name: scale * value / total for name, value in zip(names, raw)}
        if scale < 1.0:
            weights[UNKNOWN_CLASSIFIER] = UNKNOWN_CLASSIFIER_SHARE
        pool.append(_full_weights(key, weights))
    return pool


WEIGHT_POOLS: Dict[str, List[Dict[str, float]]] = {
    key: _weight_pool(key, number) for key, number in METRIC_NUMBERS.items()
}


def _metric_impact(fraction: Optional[float], num_clients: int, num_aps: int) -> Dict[str, int]:
    """Users and APs affected by a metric, plausible for its degraded share."""
    if fraction is None or fraction >= 1.0:
        return {"num_users": 0, "num_aps": 0}
    bad = 1.0 - fraction
    return {
        "num_users": min(num_clients, math.ceil(num_clients * min(1.0, bad * 1.5))),
        "num_aps": min(num_aps, math.ceil(num_aps * min(1.0, bad * 2.5))),
    }


@dataclass
class SimSite:
    """One simulated site; fractions, weights and impact are keyed by org metric key.

    ``fractions`` holds None where the site has no data. ``classifier_weights`` split the degraded
    part between classifiers (they sum to 1) and may be shared between sites: treat as read-only.
    """

    id: str
    name: str
    num_aps: int
    num_clients: int
    kind: str
    fractions: Dict[str, Optional[float]]
    classifier_weights: Dict[str, Dict[str, float]]
    impact: Dict[str, Dict[str, int]]
    index: int = 0
    city: str = ""
    country_code: str = ""
    country: str = ""
    timezone: str = "UTC"
    lat: float = 0.0
    lng: float = 0.0
    impact_overrides: Dict[str, Dict[str, Dict[str, int]]] = field(default_factory=dict)
    # Wired and WAN: device counts (0: none) and fractions by org key (absent: the site lacks the type).
    num_switches: int = 0
    num_gateways: int = 0
    type_fractions: Dict[str, float] = field(default_factory=dict)
    # Site group names beyond the country's "Stores <CC>" (set_site_group), and the short-window view:
    # org metric key -> fraction over the last hour(s), where it differs from the day (set_short_fraction).
    extra_groups: List[str] = field(default_factory=list)
    short_fractions: Dict[str, float] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        """True when the site reports Wi-Fi SLE data."""
        return any(self.fractions.get(key) is not None for key in ORG_METRIC_KEYS)

    def has_type(self, sle_type: str) -> bool:
        """True when the site reports the wired or WAN SLE type (it has switches or gateways)."""
        return any(key in self.type_fractions for key in TYPE_KEYS[sle_type])

    def fraction(self, key: str) -> Optional[float]:
        """The SLE fraction of any org key, Wi-Fi, wired or WAN; None without data."""
        if key in TYPE_METRIC_KEYS:
            return self.type_fractions.get(key)
        return self.fractions.get(key)

    def devices(self, key: str) -> int:
        """The devices a metric counts: switches, gateways or APs."""
        if key in WIRED_KEYS:
            return self.num_switches
        if key in WAN_KEYS:
            return self.num_gateways
        return self.num_aps

    def classifier_impact(self, key: str) -> Dict[str, Dict[str, int]]:
        """Per-classifier num_users/num_aps of an org metric key (at most the metric's own counts)."""
        metric = self.impact[key]
        result: Dict[str, Dict[str, int]] = {}
        for name, weight in self.classifier_weights[key].items():
            if weight <= 0 or metric["num_users"] == 0:
                result[name] = {"num_users": 0, "num_aps": 0}
                continue
            share = min(1.0, weight * 1.25)
            result[name] = {
                "num_users": max(1, min(metric["num_users"], math.ceil(metric["num_users"] * share))),
                "num_aps": max(1, min(metric["num_aps"], math.ceil(metric["num_aps"] * share))),
            }
        result.update(self.impact_overrides.get(key, {}))
        return result


def _degraded_plan(num_sites: int, share: float) -> Dict[int, int]:
    """Index -> ordinal j of the round(share * num_sites) degraded sites, spread evenly."""
    count = min(num_sites, round(share * num_sites))
    return {(j * num_sites) // count: j for j in range(count)} if count else {}


def build_sites(num_sites: int, degraded_share: Optional[float] = None) -> List[SimSite]:
    """Build the deterministic org (kinds in the module docstring); the same arguments give the same org."""
    if degraded_share is not None and not 0.0 <= degraded_share <= 1.0:
        raise ValueError("degraded_share must be within 0..1")
    plan = _degraded_plan(num_sites, degraded_share) if degraded_share is not None else {}
    sites = []
    for index in range(num_sites):
        rng = random.Random(1_000_003 * (index + 1))
        num_aps = rng.randint(*NUM_APS_RANGE)
        num_clients = rng.randint(*NUM_CLIENTS_RANGE)
        city, country_code, country, timezone, lat, lng = CITIES[index % len(CITIES)]
        name = f"Store-{index + 1:04d} {city}"
        if degraded_share is None:
            kind = SPECIAL_KINDS.get(index, "healthy")
        elif index == 0 and plan:
            kind = "critical"
        elif index in plan:
            kind = LEVELS[plan[index] % len(LEVELS)]
        else:
            kind = "healthy"
        is_special = kind in SPECIAL_SIZES and (degraded_share is None or index == 0)
        special = SPECIAL_METRICS.get(kind, {}) if is_special else {}
        others = SPECIAL_OTHERS_RANGE if is_special else HEALTHY_RANGE
        fractions: Dict[str, Optional[float]] = {key: _uniform(rng, others) for key in ORG_METRIC_KEYS}
        fractions[AP_AVAILABILITY] = _uniform(rng, AP_AVAILABILITY_RANGE)
        weights = {
            key: WEIGHT_POOLS[key][(index * 7 + number) % WEIGHT_POOL_SIZE]
            for number, key in enumerate(ALL_METRIC_KEYS)
        }
        for key, (fraction, nonzero) in special.items():
            fractions[key] = fraction
            weights[key] = _full_weights(key, nonzero)
        if index in plan and index != 0:
            key = ORG_METRIC_KEYS[plan[index] % len(ORG_METRIC_KEYS)]
            fractions[key] = LEVEL_FRACTIONS[kind]
        if is_special:
            num_aps, num_clients = SPECIAL_SIZES[kind]
        if kind == "no_data":
            fractions = {key: None for key in ALL_METRIC_KEYS}
        if kind == "html_name":
            name = HTML_SITE_NAME
        impact = {key: _metric_impact(fractions[key], num_clients, num_aps) for key in ALL_METRIC_KEYS}
        type_plan = TYPE_PLAN.get(plan[index] % TYPE_PLAN_EVERY) if index in plan and index != 0 else None
        type_special = SPECIAL_TYPE_METRICS.get(index, {}) if degraded_share is None else {}
        if type_plan is not None:
            type_special = {type_plan: (LEVEL_FRACTIONS[kind], {})}
        type_fractions: Dict[str, float] = {}
        num_switches, num_gateways = _add_types(index, kind, num_clients, type_fractions, weights, impact, type_special)
        sites.append(
            SimSite(
                id=_uuid("site", index),
                name=name,
                num_aps=num_aps,
                num_clients=num_clients,
                kind=kind,
                fractions=fractions,
                classifier_weights=weights,
                impact=impact,
                index=index,
                city=city,
                country_code=country_code,
                country=country,
                timezone=timezone,
                lat=lat,
                lng=lng,
                impact_overrides=CRITICAL_IMPACT_OVERRIDE if kind == "critical" else {},
                num_switches=num_switches,
                num_gateways=num_gateways,
                type_fractions=type_fractions,
            )
        )
    return sites


def _add_types(
    index: int,
    kind: str,
    num_clients: int,
    fractions: Dict[str, float],
    weights: Dict[str, Dict[str, float]],
    impact: Dict[str, Dict[str, int]],
    special: Dict[str, Tuple[float, Dict[str, float]]],
) -> Tuple[int, int]:
    """Add a site's wired and WAN metrics (own random stream: the Wi-Fi values stay as they were); return counts.

    A special metric whose site lacks the type is left out (the plan only degrades what exists).
    """
    rng = random.Random(5_000_011 * (index + 1))
    has_wired = kind != "no_data" and index % WIRED_EVERY != WIRED_SKIP
    has_wan = kind != "no_data" and index % WAN_EVERY == 0
    num_switches = rng.randint(*SWITCHES_RANGE) if has_wired else 0
    num_gateways = rng.randint(*GATEWAYS_RANGE) if has_wan else 0
    for keys, present, devices in ((WIRED_KEYS, has_wired, num_switches), (WAN_KEYS, has_wan, num_gateways)):
        if not present:
            continue
        for key in keys:
            number = METRIC_NUMBERS[key]
            fractions[key] = _uniform(rng, HEALTHY_RANGE)
            weights[key] = WEIGHT_POOLS[key][(index * 7 + number) % WEIGHT_POOL_SIZE]
            if key in special:
                fraction, nonzero = special[key]
                fractions[key] = fraction
                if nonzero:
                    weights[key] = _full_weights(key, nonzero)
            impact[key] = _metric_impact(fractions[key], num_clients, devices)
    return num_switches, num_gateways


# --- Summary series --------------------------------------------------------------------------------


def _bucket_scale(site: SimSite, key: str) -> Tuple[float, bool]:
    """Peak-hour bucket total for a metric and whether totals are whole counts."""
    if key in ("ap-health", AP_AVAILABILITY):
        return site.num_aps * AP_MINUTES_PER_AP_HOUR, True
    if key in DEVICE_MINUTE_KEYS:
        return site.devices(key) * SWITCH_MINUTES_PER_SWITCH_HOUR, True
    if key in ("time-to-connect", "successful-connect"):
        return max(1.0, site.num_clients * CONNECTIONS_PER_CLIENT_HOUR), True
    if key == "roaming":
        return max(1.0, site.num_clients * ROAMS_PER_CLIENT_HOUR), True
    return site.num_clients * USER_MINUTES_PER_CLIENT_HOUR, False


def _sample_value(key: str, ratio: float, noise: float) -> float:
    """A plausible sle.samples.value for a bucket with the given degraded ratio."""
    if key == "coverage":
        return round(-58.0 - 25.0 * ratio - 2.0 * noise, 2)
    if key == "time-to-connect":
        return round(1.4 + 8.0 * ratio + 0.6 * noise, 3)
    if key == "roaming":
        return round(0.15 + 2.0 * ratio + 0.1 * noise, 3)
    if key == "throughput":
        return round(max(1.0, 95.0 - 300.0 * ratio - 10.0 * noise), 1)
    if key == "capacity":
        return round(max(0.0, 0.8 - 0.8 * ratio - 0.05 * noise), 4)
    return round(1.0 - ratio, 4)


@dataclass
class _Series:
    """Bucket arrays of one site metric."""

    total: List[Optional[float]]
    degraded: List[Optional[float]]
    value: List[Optional[float]]


def build_series(site: SimSite, key: str, num_buckets: int, interval: int) -> _Series:
    """Buckets whose 1 - sum(degraded)/sum(total) equals the site's fraction (to float precision)."""
    fraction = site.fraction(key)
    if fraction is None:
        return _Series([0] * num_buckets, [0] * num_buckets, [None] * num_buckets)
    metric_no = METRIC_NUMBERS[key]
    rng = random.Random(9_000_011 * (site.index + 1) + 101 * metric_no)
    peak, whole = _bucket_scale(site, key)
    flat = key in DEVICE_MINUTE_KEYS
    hourly = interval == HOURLY_BUCKET_S
    gaps = hourly and num_buckets >= MIN_BUCKETS_FOR_GAPS
    totals: List[Optional[float]] = []
    mults: List[float] = []
    for i in range(num_buckets):
        shape = HOURLY_PROFILE[i % 24] if hourly else sum(HOURLY_PROFILE)
        raw = peak * (1.0 if flat else shape) * (0.85 + 0.3 * rng.random())
        if i == num_buckets - 1 and num_buckets > 1:
            raw *= PARTIAL_LAST_BUCKET_SHARE
        total: Optional[float] = float(max(1, round(raw))) if whole else round(raw, 4)
        if gaps and i == NULL_BUCKET:
            total = None
        elif gaps and i in ZERO_BUCKETS:
            total = 0.0
        totals.append(total)
        mults.append(0.5 + (HOURLY_PROFILE[i % 24] if hourly else 0.5))
    known = [(t, m) for t, m in zip(totals, mults) if t]
    sum_total = sum(t for t, _ in known)
    weighted = sum(t * m for t, m in known)
    bad = 1.0 - fraction
    degraded: List[Optional[float]] = []
    for total, mult in zip(totals, mults):
        if total is None:
            degraded.append(None)
        else:
            degraded.append(bad * sum_total * mult * total / weighted if total else 0.0)
    if any(t and d is not None and d > t for t, d in zip(totals, degraded)):
        degraded = [None if t is None else bad * t for t in totals]
    values: List[Optional[float]] = []
    for total, bad_part in zip(totals, degraded):
        noise = rng.random()
        values.append(_sample_value(key, bad_part / total, noise) if total and bad_part is not None else None)
    if whole:
        totals = [None if t is None else int(t) for t in totals]
    return _Series(totals, degraded, values)


def _summary_rest(site: SimSite, site_metric: str, num_buckets: int, interval: int, trend: bool) -> bytes:
    """JSON of a summary (or summary-trend) body without start/end."""
    key = SITE_TO_ORG_METRIC.get(site_metric) or TYPE_SITE_TO_ORG_METRIC[site_metric]
    series = build_series(site, key, num_buckets, interval)
    value_label, classifier_label = METRIC_LABELS[key]
    totals = {"total_users": site.num_clients, "total_aps": site.num_aps}
    classifier_impact = site.classifier_impact(key)
    if key in TYPE_METRIC_KEYS:
        # The schema requires the AP fields; wired and WAN count switches or gateways beside them (REFERENCE §5c).
        device = "switches" if key in WIRED_KEYS else "gateways"
        totals = {"total_users": site.num_clients, "total_aps": 0, f"total_{device}": site.devices(key)}
        classifier_impact = {
            name: {"num_users": counts["num_users"], "num_aps": 0, f"num_{device}": counts["num_aps"]}
            for name, counts in classifier_impact.items()
        }
    classifiers = []
    for name, weight in site.classifier_weights[key].items():
        part = [None if d is None else d * weight for d in series.degraded]
        entry: Dict[str, Any] = {"name": name, "interval": interval, "x_label": "seconds"}
        entry["y_label"] = classifier_label
        if not trend:
            entry["impact"] = {**classifier_impact[name], **totals}
        # The spec lets total/degraded hold null but types duration as number only.
        duration = [0.0 if d is None else d for d in part]
        entry["samples"] = {"total": series.total, "degraded": part, "duration": duration}
        classifiers.append(entry)
    body: Dict[str, Any] = {
        "sle": {
            "name": site_metric,
            "interval": interval,
            "x_label": "seconds",
            "y_label": value_label,
            "samples": {"total": series.total, "degraded": series.degraded, "value": series.value},
        }
    }
    if not trend:
        metric_impact = dict(site.impact[key])
        if key in TYPE_METRIC_KEYS:
            device = "switches" if key in WIRED_KEYS else "gateways"
            metric_impact = {
                "num_users": metric_impact["num_users"],
                "num_aps": 0,
                f"num_{device}": metric_impact["num_aps"],
            }
        body["impact"] = {**metric_impact, **totals}
    body["classifiers"] = classifiers
    if not trend:
        body["events"] = []
    return _json(body)


# --- Root cause: impact-summary, impacted-users, impacted-aps ---------------------------------------

# A site-metric's degraded minutes sit "concentrated" (TOP_AP_SHARE on one AP) when site index + metric
# number is even, else "spread" evenly over its APs. Site 0's coverage (weak-signal, 8 APs) is concentrated
# at 70 %; site 1's time-to-connect (dhcp-unresponsive, 6 APs) is spread.
TOP_AP_SHARE = 0.70
SPREAD_STEP = 0.05
IMPACT_PROFILES: Dict[str, Dict[str, Tuple[Tuple[str, str, float], ...]]] = {
    # dimension -> (id, name, share of the degraded minutes)
    "concentrated": {
        "band": (("24", "24", 0.80), ("5", "5", 0.20)),
        "wlan": (("staff", "Store-Staff", 0.75), ("guest", "Store-Guest", 0.25)),
        "device_type": (("zebra", "Zebra scanner", 0.72), ("iphone", "iPhone", 0.18), ("windows", "Windows", 0.10)),
        "device_os": (("Android 11", "Android 11", 0.72), ("iOS", "iOS", 0.18), ("Windows", "Windows", 0.10)),
    },
    "spread": {
        "band": (("5", "5", 0.45), ("24", "24", 0.35), ("6", "6", 0.20)),
        "wlan": (("staff", "Store-Staff", 0.40), ("guest", "Store-Guest", 0.35), ("iot", "Store-IoT", 0.25)),
        "device_type": (("iphone", "iPhone", 0.40), ("android", "Android", 0.35), ("windows", "Windows", 0.25)),
        "device_os": (("iOS", "iOS", 0.40), ("Android 14", "Android 14", 0.35), ("Windows", "Windows", 0.25)),
    },
}
WLAN_UUID_PREFIX = "wlan"
IMPACTED_PAGE_LIMIT = 1000


def impact_profile(site: SimSite, key: str) -> str:
    """Return "concentrated" or "spread": how a site-metric's degraded minutes sit on its APs."""
    return "concentrated" if (site.index + ALL_METRIC_KEYS.index(key)) % 2 == 0 else "spread"


def ap_identity(site: SimSite, number: int) -> Tuple[str, str]:
    """Return (mac, name) of a site's AP number (0-based), as the device stats list it."""
    mac = "5c5b35" + hashlib.sha1(f"{site.id}:{number}".encode()).hexdigest()[:6]
    return mac, f"AP-{site.index + 1:04d}-{number + 1:02d}"


def ap_shares(profile: str, count: int) -> List[float]:
    """Return the shares of the degraded minutes of count APs, largest first, adding up to 1."""
    if count <= 1:
        return [1.0] * count
    if profile == "concentrated":
        return [TOP_AP_SHARE] + [(1.0 - TOP_AP_SHARE) / (count - 1)] * (count - 1)
    raw = [1.0 + SPREAD_STEP * (count - i) for i in range(count)]
    return [value / sum(raw) for value in raw]


def classifier_minutes(
    site: SimSite, key: str, classifier: str, num_buckets: int, interval: int
) -> Tuple[float, float]:
    """Return (degraded, total) minutes of one classifier of a site-metric over the window."""
    series = build_series(site, key, num_buckets, interval)
    total = float(sum(t for t in series.total if t))
    degraded = sum(d for d in series.degraded if d is not None)
    return degraded * site.classifier_weights[key].get(classifier, 0.0), total


def _impact_items(
    parts: Sequence[Tuple[str, str, float]], id_key: str, degraded: float, good: float
) -> List[Dict[str, Any]]:
    items = []
    for item_id, name, share in parts:
        bad = round(degraded * share, 3)
        items.append(
            {id_key: item_id, "name": name, "degraded": bad, "total": round(bad + good / len(parts), 3), "duration": 0}
        )
    return items


def impact_lists(
    site: SimSite, key: str, classifier: str, degraded: float, total: float
) -> Dict[str, List[Dict[str, Any]]]:
    """Return the impact-summary lists (ap, band, wlan, device_os, device_type) of one classifier."""
    count = site.classifier_impact(key).get(classifier, {}).get("num_aps", 0) if degraded > 0 else 0
    profile = impact_profile(site, key)
    good = max(0.0, total - degraded)
    aps = [(*ap_identity(site, number), share) for number, share in enumerate(ap_shares(profile, count))]
    lists: Dict[str, List[Dict[str, Any]]] = {"ap": _impact_items(aps, "ap_mac", degraded, good) if aps else []}
    for dimension, parts in IMPACT_PROFILES[profile].items():
        if dimension == "wlan":
            parts = tuple((_uuid(WLAN_UUID_PREFIX, site.id, item), name, share) for item, name, share in parts)
        lists[dimension] = (
            _impact_items(parts, dimension if dimension != "wlan" else "wlan_id", degraded, good) if count else []
        )
    return lists


# --- HTTP plumbing ---------------------------------------------------------------------------------


class _BadRequest(Exception):
    """A 400 answer with a detail message."""


@dataclass
class _Response:
    status: int
    body: bytes
    headers: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    remaining: int
    path_contains: str
    retry_after: Optional[float]
    delay_seconds: float
    malformed: bool
    # A body served as it is (with the fault's status), e.g. hostile JSON for a fault-injection test.
    body: Optional[bytes] = None
    headers: Tuple[Tuple[str, str], ...] = ()
    # Also required in the raw query string when set, e.g. "sle=wired".
    query_contains: str = ""


def _error(status: int, **body: Any) -> _Response:
    return _Response(status, _json(body))


def _not_found(the_id: Optional[str] = None) -> _Response:
    return _error(404, id=the_id) if the_id is not None else _error(404, detail="Not found")


def _parse_span(text: str) -> int:
    """Seconds in a duration such as 1d, 12h, 30m, 2w."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise _BadRequest(f"invalid duration: {text!r}")
    return int(match.group(1)) * DURATION_UNITS_S[match.group(2)]


def _parse_time(text: str, now: int) -> int:
    """Epoch seconds from an epoch, 'now' or a relative value such as -1d."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-"):
        return now - _parse_span(text[1:])
    try:
        return int(float(text))
    except ValueError:
        raise _BadRequest(f"invalid time: {text!r}") from None


def _window(query: Dict[str, str], now: int) -> Tuple[int, int]:
    """(start, end) from start/end/duration; defaults to the last day."""
    end = _parse_time(query["end"], now) if query.get("end") else now
    if query.get("start"):
        start = _parse_time(query["start"], now)
    else:
        start = end - _parse_span(query.get("duration") or DEFAULT_DURATION)
    if start >= end:
        raise _BadRequest("start must be before end")
    return start, end


def _int_param(query: Dict[str, str], name: str, default: int, minimum: int) -> int:
    text = query.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _BadRequest(f"{name}: a valid integer is required") from None
    if value < minimum:
        raise _BadRequest(f"{name}: ensure this value is greater than or equal to {minimum}")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, address: Tuple[str, int], simulator: MistSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("Error while serving %s: %r", client_address, sys.exc_info()[1])

    def get_request(self) -> Tuple[socket.socket, Any]:
        connection, address = super().get_request()
        context = self.simulator.ssl_context
        if context is None:
            return connection, address
        # The handshake happens in the connection's own thread (finish_request): a client that never
        # completes it must not hold up the accept loop.
        return context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(HANDSHAKE_TIMEOUT_S)
                request.do_handshake()
                request.settimeout(None)
            except OSError as error:  # a client that does not trust the certificate, or speaks plain HTTP
                logger.debug("TLS handshake with %s failed: %r", client_address, error)
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "MistSimulator/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.simulator._track(self.connection, True)

    def finish(self) -> None:
        self.server.simulator._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self.server.simulator._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.simulator._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.simulator._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.simulator._handle(self, "DELETE")


Route = Callable[[Tuple[str, ...], Dict[str, str]], _Response]


class MistSimulator:
    """A deterministic Mist org behind a local HTTP server, with fault injection and counters."""

    def __init__(
        self,
        num_sites: int = DEFAULT_NUM_SITES,
        *,
        token: str = DEFAULT_TOKEN,
        page_cap: Optional[int] = None,
        latency_ms: float = DEFAULT_LATENCY_MS,
        degraded_share: Optional[float] = None,
        summary_removed: bool = False,
        org_name: str = DEFAULT_ORG_NAME,
        calls_per_hour: Optional[int] = None,
        clock: Callable[[], float] = time.time,
        extra_orgs: int = 0,
        port: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
        application_health_ids: Sequence[str] = DEFAULT_APPLICATION_HEALTH_IDS,
    ) -> None:
        """ssl_context: a server-side context to serve HTTPS; base_url is then https://localhost:PORT, so a
        certificate issued for "localhost" matches (the server still listens on 127.0.0.1 only).
        application_health_ids: the site SLE ids that serve application health ("application-health",
        "application_health"; none: both answer 404)."""
        if num_sites < 0:
            raise ValueError("num_sites must be >= 0")
        if page_cap is not None and page_cap < 1:
            raise ValueError("page_cap must be >= 1")
        self.token = token
        self.page_cap = page_cap
        self.latency_ms = latency_ms
        self.summary_removed = summary_removed
        self.org_name = org_name
        self.calls_per_hour = calls_per_hour
        self.clock = clock
        self.ssl_context = ssl_context
        self.application_health_ids = tuple(application_health_ids)
        self.base_url = ""
        self.org_id = _uuid("org", org_name)
        self.extra_org_ids = [_uuid("extra-org", org_name, i) for i in range(1, extra_orgs + 1)]
        self.sites: List[SimSite] = build_sites(num_sites, degraded_share)
        self.calls = 0
        self.requests_log: List[Tuple[str, str]] = []
        self.max_concurrent = 0
        self._port = port
        self._in_flight = 0
        self._lock = threading.Lock()
        self._faults: List[_Fault] = []
        self._rate_window: Deque[float] = deque()
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._connections: Set[socket.socket] = set()
        self._by_id = {site.id: site for site in self.sites}
        self._site_json: List[Optional[bytes]] = [None] * num_sites
        self._sle_json: List[Optional[bytes]] = [None] * num_sites
        self._type_json: Dict[Tuple[str, int], bytes] = {}
        self._summary_cache: OrderedDict[Tuple[int, str, int, int, bool], bytes] = OrderedDict()
        site_sle = r"^/api/v1/sites/([^/]+)/sle/([^/]+)/([^/]+)"
        self._routes: List[Tuple[Pattern[str], Route]] = [
            (re.compile(r"^/api/v1/self$"), self._get_self),
            (re.compile(r"^/api/v1/orgs/([^/]+)/sites$"), self._get_org_sites),
            (re.compile(r"^/api/v1/orgs/([^/]+)/sitegroups$"), self._get_sitegroups),
            (re.compile(r"^/api/v1/orgs/([^/]+)/insights/sites-sle$"), self._get_sites_sle),
            (re.compile(r"^/api/v1/orgs/([^/]+)/insights/([^/]+)$"), self._get_org_insight),
            (re.compile(r"^/api/v1/orgs/([^/]+)/alarms/search$"), self._get_alarms),
            (re.compile(site_sle + r"/metrics$"), self._get_sle_metrics),
            (re.compile(site_sle + r"/metric/([^/]+)/(classifiers|summary|summary-trend)$"), self._get_metric),
            (re.compile(r"^/api/v1/sites/([^/]+)/stats/devices$"), self._get_device_stats),
            (re.compile(site_sle + r"/metric/([^/]+)/(impact-summary|impacted-users|impacted-aps)$"), self._get_impact),
        ]

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        server = _Server((DEFAULT_HOST, self._port), self)
        self._server = server
        if self.ssl_context is None:
            self.base_url = f"http://{DEFAULT_HOST}:{server.server_address[1]}"
        else:
            self.base_url = f"https://localhost:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_INTERVAL_S},
            name="mist-simulator",
            daemon=True,
        )
        self._thread.start()
        logger.debug("Mist simulator serving on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and drop open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> MistSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls -----------------------------------------------------------------------------

    def add_fault(
        self,
        status: int,
        times: int = 1,
        path_contains: str = "",
        retry_after: Optional[float] = None,
        delay_seconds: float = 0,
        malformed: bool = False,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        query_contains: str = "",
    ) -> None:
        """Answer the next `times` requests whose path contains path_contains with this fault.

        body (with headers): serve exactly these bytes with `status`, e.g. 200 and a hostile /summary body.
        query_contains: only requests whose raw query string also contains it, e.g. "sle=wired".
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        fault = _Fault(
            status,
            times,
            path_contains,
            retry_after,
            delay_seconds,
            malformed,
            body,
            tuple((headers or {}).items()),
            query_contains,
        )
        with self._lock:
            self._faults.append(fault)

    def calls_matching(self, path_contains: str) -> int:
        """Number of logged requests whose path contains the string."""
        with self._lock:
            return sum(1 for path, _ in self.requests_log if path_contains in path)

    def reset_counters(self) -> None:
        """Zero calls, requests_log and max_concurrent."""
        with self._lock:
            self.calls = 0
            self.requests_log = []
            self.max_concurrent = self._in_flight

    def set_fraction(self, index: int, key: str, fraction: Optional[float]) -> None:
        """Change one site's SLE value (org metric key; None for no data) and drop every cached body of it."""
        site = self.sites[index]
        with self._lock:
            # Healthy sites share dicts from a pool: give this one its own before changing it.
            if key in TYPE_METRIC_KEYS:
                site.type_fractions = dict(site.type_fractions)
                if fraction is None:
                    site.type_fractions.pop(key, None)
                else:
                    site.type_fractions[key] = fraction
            else:
                site.fractions = dict(site.fractions)
                site.fractions[key] = fraction
            self._sle_json[index] = None
            self._site_json[index] = None
            for sle_type in TYPE_KEYS:
                self._type_json.pop((sle_type, index), None)
            for cache_key in [cache_key for cache_key in self._summary_cache if cache_key[0] == index]:
                del self._summary_cache[cache_key]

    def set_clients(self, index: int, num_clients: int) -> None:
        """Change one site's client count (sites-sle num_clients)."""
        site = self.sites[index]
        with self._lock:
            site.num_clients = num_clients
            self._sle_json[index] = None

    def set_site_group(self, index: int, name: str) -> None:
        """Put one site into the site group `name` too (created when new), e.g. "Warehouses"."""
        site = self.sites[index]
        with self._lock:
            if name not in site.extra_groups:
                site.extra_groups = [*site.extra_groups, name]
            self._site_json[index] = None

    def set_short_fraction(self, index: int, key: str, fraction: Optional[float]) -> None:
        """Give one site-metric another value over a short window (an outage in the last hour); None: as the day."""
        site = self.sites[index]
        with self._lock:
            site.short_fractions = {k: v for k, v in site.short_fractions.items() if k != key}
            if fraction is not None:
                site.short_fractions[key] = fraction

    def set_classifiers(self, index: int, key: str, fraction: float, weights: Dict[str, float]) -> None:
        """Set one site-metric's value and the share of each classifier in its degraded part (adding up to 1)."""
        site = self.sites[index]
        with self._lock:
            site.classifier_weights = dict(site.classifier_weights)
            site.classifier_weights[key] = _full_weights(key, weights)
        self.set_fraction(index, key, fraction)

    def site_groups(self) -> List[Dict[str, Any]]:
        """Return the org's site groups as GET /orgs/{org}/sitegroups gives them."""
        names: Dict[str, List[str]] = {}
        for site in self.sites:
            for name in [STORES_GROUP_PREFIX + site.country_code, *site.extra_groups]:
                names.setdefault(name, []).append(site.id)
        return [
            {
                "id": _uuid(
                    "sitegroup", name[len(STORES_GROUP_PREFIX) :] if name.startswith(STORES_GROUP_PREFIX) else name
                ),
                "name": name,
                "org_id": self.org_id,
                "site_ids": site_ids,
                "created_time": SITEGROUP_CREATED_S,
                "modified_time": SITEGROUP_CREATED_S,
            }
            for name, site_ids in sorted(names.items())
        ]

    def site_by_id(self, site_id: str) -> Optional[SimSite]:
        """The site with this id, if any."""
        return self._by_id.get(site_id)

    # --- request handling --------------------------------------------------------------------------

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler, method: str) -> None:
        if self._stopping.is_set():
            handler.close_connection = True
            return
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        split = urlsplit(handler.path)
        with self._lock:
            self.calls += 1
            self.requests_log.append((split.path, split.query))
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        try:
            if self.latency_ms > 0:
                self._stopping.wait(self.latency_ms / 1000.0)
            response = self._respond(method, split.path, split.query, handler.headers.get("Authorization"))
            if self._stopping.is_set():
                handler.close_connection = True
                return
            self._write(handler, response)
        finally:
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _write(handler: _Handler, response: _Response) -> None:
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", JSON_CONTENT_TYPE)
            handler.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(response.body)
        except OSError:
            handler.close_connection = True

    def _respond(self, method: str, path: str, query_string: str, auth: Optional[str]) -> _Response:
        if not auth or not auth.startswith("Token "):
            response = _error(401, detail=NOT_PROVIDED_DETAIL)
            response.headers.append(("WWW-Authenticate", "Token"))
            return response
        if auth[len("Token ") :].strip() != self.token:
            response = _error(401, detail=INVALID_TOKEN_DETAIL)
            response.headers.append(("WWW-Authenticate", "Token"))
            return response
        limited = self._rate_limited()
        if limited is not None:
            return limited
        fault = self._take_fault(path, query_string)
        if fault is not None:
            if fault.delay_seconds > 0:
                self._stopping.wait(fault.delay_seconds)
            if fault.malformed:
                return _Response(200, MALFORMED_BODY)
            if fault.body is not None:
                return _Response(fault.status, fault.body, list(fault.headers))
            if fault.status >= 400:
                return self._fault_response(fault)
        if method != "GET":
            return _error(405, detail=f'Method "{method}" not allowed.')
        query = {name: values[-1] for name, values in parse_qs(query_string, keep_blank_values=True).items()}
        for pattern, route in self._routes:
            match = pattern.match(path)
            if match:
                try:
                    return route(tuple(unquote(group) for group in match.groups()), query)
                except _BadRequest as exc:
                    return _error(400, detail=str(exc))
        return _not_found()

    def _rate_limited(self) -> Optional[_Response]:
        if self.calls_per_hour is None:
            return None
        now = self.clock()
        with self._lock:
            window = self._rate_window
            while window and window[0] <= now - RATE_WINDOW_S:
                window.popleft()
            if len(window) < self.calls_per_hour:
                window.append(now)
                return None
            wait_s = max(1, math.ceil(window[0] + RATE_WINDOW_S - now))
        response = _error(429, detail=RATE_LIMIT_DETAIL)
        response.headers.append(("Retry-After", str(wait_s)))
        return response

    def _take_fault(self, path: str, query: str = "") -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path and fault.query_contains in query:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _fault_response(fault: _Fault) -> _Response:
        if fault.status == 429:
            response = _error(429, detail=RATE_LIMIT_DETAIL)
            if fault.retry_after is not None:
                response.headers.append(("Retry-After", f"{fault.retry_after:g}"))
            return response
        if fault.status == 404:
            return _not_found()
        if fault.status == 403:
            return _error(403, detail=FORBIDDEN_DETAIL)
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        return _error(fault.status, detail=f"{phrase} (simulated)")

    # --- org-level endpoints -----------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock())

    def _org_sites(self, org_id: str) -> Optional[List[SimSite]]:
        if org_id == self.org_id:
            return self.sites
        return [] if org_id in self.extra_org_ids else None

    def _page(self, query: Dict[str, str], total: int) -> Tuple[int, int, int, int]:
        """(limit, page, first index, end index) with the page cap applied."""
        limit = _int_param(query, "limit", DEFAULT_PAGE_LIMIT, 0) or DEFAULT_PAGE_LIMIT
        if self.page_cap is not None:
            limit = min(limit, self.page_cap)
        page = _int_param(query, "page", 1, 1)
        first = min(total, (page - 1) * limit)
        return limit, page, first, min(total, first + limit)

    def _get_self(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        privileges: List[Dict[str, Any]] = [
            {"scope": "org", "role": "read", "org_id": self.org_id, "name": self.org_name}
        ]
        for number, org_id in enumerate(self.extra_org_ids, start=1):
            privileges.append({"scope": "org", "role": "read", "org_id": org_id, "name": f"Extra Org {number}"})
        for entry in privileges:
            entry["orggroup_ids"] = []
        body = {
            "admin_id": _uuid("admin", self.token),
            "email": "netops-reporting@acme.example",
            "first_name": "Netops",
            "last_name": "Reporting",
            "phone": "",
            "via_sso": False,
            "enable_two_factor": False,
            "two_factor_verified": False,
            "oauth_google": False,
            "password_modified_time": 1741258117,
            "session_expiry": 1440,
            "tags": [],
            "privileges": privileges,
        }
        return _Response(200, _json(body))

    def _site_fragment(self, site: SimSite) -> bytes:
        cached = self._site_json[site.index]
        if cached is None:
            body = {
                "id": site.id,
                "org_id": self.org_id,
                "name": site.name,
                "timezone": site.timezone,
                "country_code": site.country_code,
                "address": f"{10 + site.index % 190} High Street, {site.city}, {site.country}",
                "latlng": {
                    "lat": round(site.lat + (site.index % 17) * 0.003, 4),
                    "lng": round(site.lng + (site.index % 13) * 0.003, 4),
                },
                "sitegroup_ids": [_uuid("sitegroup", site.country_code)]
                + [_uuid("sitegroup", name) for name in site.extra_groups],
                "notes": "",
                "rftemplate_id": _uuid("rftemplate", site.country_code),
                "aptemplate_id": _uuid("aptemplate", "default"),
                "created_time": SITE_CREATED_EPOCH_S + site.index * SITE_CREATED_STEP_S,
                "modified_time": SITE_MODIFIED_EPOCH_S + site.index * SITE_CREATED_STEP_S,
            }
            cached = self._site_json[site.index] = _json(body)
        return cached

    def _sle_fragment(self, site: SimSite) -> bytes:
        cached = self._sle_json[site.index]
        if cached is None:
            body: Dict[str, Any] = {"site_id": site.id}
            if site.has_data:
                body["num_aps"] = site.num_aps
                body["num_clients"] = site.num_clients
                for key in ALL_METRIC_KEYS:
                    if site.fractions[key] is not None:
                        body[key] = site.fractions[key]
            body.setdefault(AP_AVAILABILITY, NO_DATA_AP_AVAILABILITY)
            cached = self._sle_json[site.index] = _json(body)
        return cached

    def _get_org_sites(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        sites = self._org_sites(groups[0])
        if sites is None:
            return _not_found(groups[0])
        limit, page, first, end = self._page(query, len(sites))
        body = b"[" + b",".join(self._site_fragment(site) for site in sites[first:end]) + b"]"
        headers = [("X-Page-Total", str(len(sites))), ("X-Page-Limit", str(limit)), ("X-Page-Page", str(page))]
        return _Response(200, body, headers)

    def _get_sitegroups(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        sites = self._org_sites(groups[0])
        if sites is None:
            return _not_found(groups[0])
        items = self.site_groups() if groups[0] == self.org_id else []
        limit, page, first, end = self._page(query, len(items))
        headers = [("X-Page-Total", str(len(items))), ("X-Page-Limit", str(limit)), ("X-Page-Page", str(page))]
        return _Response(200, _json(items[first:end]), headers)

    def _short_fragment(self, site: SimSite) -> bytes:
        """The site's sites-sle entry over a short window: the day's values, short_fractions applied."""
        body = json.loads(self._sle_fragment(site))
        body.update(site.short_fractions)
        return _json(body)

    def _get_sites_sle(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        sites = self._org_sites(groups[0])
        if sites is None:
            return _not_found(groups[0])
        sle_type = query.get("sle", "wifi")
        if sle_type in TYPE_KEYS:
            # Sites without switches (gateways) are left out: the schema requires switch-health (gateway-health).
            sites = [site for site in sites if site.has_type(sle_type)]
        elif sle_type != "wifi":
            raise _BadRequest(f"sle must be one of wifi, wired, wan, got {sle_type!r}")
        start, end = _window(query, self._now())
        interval = _parse_span(query["interval"]) if query.get("interval") else DEFAULT_INSIGHT_INTERVAL_S
        limit, page, first, last = self._page(query, len(sites))
        head = (
            f'{{"start":{start},"end":{end},"interval":{interval},'
            f'"limit":{limit},"page":{page},"total":{len(sites)},"results":['
        )
        if sle_type in TYPE_KEYS:
            results = b",".join(self._type_fragment(site, sle_type) for site in sites[first:last])
        else:
            fragment = self._short_fragment if end - start <= SHORT_WINDOW_MAX_S else self._sle_fragment
            results = b",".join(fragment(site) for site in sites[first:last])
        return _Response(200, head.encode() + results + b"]}")

    def _type_fragment(self, site: SimSite, sle_type: str) -> bytes:
        """One wired or WAN sites-sle result (org_site_sle_wired_result / org_site_sle_wan_result)."""
        cache_key = (sle_type, site.index)
        cached = self._type_json.get(cache_key)
        if cached is None:
            keys = TYPE_KEYS[sle_type]
            body: Dict[str, Any] = {"site_id": site.id, TYPE_COUNT_KEYS[sle_type]: site.devices(keys[0])}
            body["num_clients"] = site.num_clients
            body.update({key: site.type_fractions[key] for key in keys if key in site.type_fractions})
            cached = self._type_json[cache_key] = _json(body)
        return cached

    def _type_metric(self, site: SimSite, metric: str) -> Optional[str]:
        """The org key of a wired or WAN site metric id this site serves, None when it answers 404."""
        key = TYPE_SITE_TO_ORG_METRIC.get(metric)
        if key is None or key not in site.type_fractions:
            return None
        if key == "application_health" and metric not in self.application_health_ids:
            return None
        return key

    def _get_org_insight(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        org_id, metric = groups
        sites = self._org_sites(org_id)
        if sites is None:
            return _not_found(org_id)
        if metric in ("worst-sites-by-sle", "worst-sites-by-sle-filtered"):
            wanted = query.get("sle") or "coverage"
        elif metric in ORG_TO_SITE_METRIC or metric in SITE_TO_ORG_METRIC:
            wanted = metric
        else:
            return _not_found(metric)
        key = SITE_TO_ORG_METRIC.get(wanted, wanted)
        if key not in ORG_TO_SITE_METRIC:
            raise _BadRequest(f"unknown sle: {wanted!r}")
        start, end = _window(query, self._now())
        interval = _parse_span(query["interval"]) if query.get("interval") else DEFAULT_INSIGHT_INTERVAL_S
        limit = _int_param(query, "limit", DEFAULT_PAGE_LIMIT, 0) or DEFAULT_PAGE_LIMIT
        ranked = sorted(
            (site for site in sites if site.fractions.get(key) is not None),
            key=lambda site: (site.fractions[key], site.index),
        )
        results = []
        for site in ranked[:limit]:
            entry: Dict[str, Any] = {"site_id": site.id, "name": site.name}
            entry.update({k: site.fractions[k] for k in ALL_METRIC_KEYS})
            entry["num_aps"] = site.num_aps
            entry["num_clients"] = site.num_clients
            results.append(entry)
        body = {"start": start, "end": end, "interval": interval, "limit": limit, "results": results}
        return _Response(200, _json(body))

    def _alarms(self, sites: Sequence[SimSite], end: int) -> List[Dict[str, Any]]:
        alarms = []
        for site in sites:
            for number, key in enumerate(ORG_METRIC_KEYS):
                fraction = site.fractions.get(key)
                if fraction is None or fraction >= ALARM_THRESHOLD:
                    continue
                severity = next(name for cut, name in SEVERITY_CUTS if fraction < cut)
                alarm_type, group = ALARM_TYPES[key]
                count = 1 + round((1.0 - fraction) * 20)
                alarms.append(
                    {
                        "id": _uuid("alarm", site.index, key),
                        "org_id": self.org_id,
                        "site_id": site.id,
                        "type": alarm_type,
                        "group": group,
                        "severity": severity,
                        "timestamp": end - 3600 * (number + 2),
                        "last_seen": end - 600,
                        "incident_count": count,
                        "count": count,
                        "acked": False,
                    }
                )
        return alarms

    def _get_alarms(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        sites = self._org_sites(groups[0])
        if sites is None:
            return _not_found(groups[0])
        start, end = _window(query, self._now())
        limit = _int_param(query, "limit", DEFAULT_PAGE_LIMIT, 0) or DEFAULT_PAGE_LIMIT
        alarms = self._alarms(sites, end)
        for name in ("site_id", "type", "severity", "group"):
            if query.get(name):
                alarms = [alarm for alarm in alarms if alarm[name] == query[name]]
        body = {"results": alarms[:limit], "total": len(alarms), "limit": limit, "start": start, "end": end}
        return _Response(200, _json(body))

    # --- site-level endpoints ----------------------------------------------------------------------

    def _site_scope(self, groups: Tuple[str, ...]) -> Tuple[Optional[SimSite], Optional[_Response]]:
        site_id, scope, scope_id = groups[:3]
        site = self._by_id.get(site_id)
        if site is None:
            return None, _not_found(site_id)
        if scope != "site" or scope_id != site_id:
            return None, _not_found(scope_id)
        return site, None

    def _get_sle_metrics(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        site, missing = self._site_scope(groups)
        if site is None:
            return missing or _not_found()
        enabled = list(ENABLED_SITE_METRICS)
        enabled += [metric for metric in TYPE_SITE_TO_ORG_METRIC if self._type_metric(site, metric) is not None]
        body = {"enabled": enabled, "supported": list(SUPPORTED_SITE_METRICS)}
        return _Response(200, _json(body))

    def _get_metric(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        site, missing = self._site_scope(groups)
        if site is None:
            return missing or _not_found()
        metric, what = groups[3], groups[4]
        type_key = self._type_metric(site, metric)
        if metric not in ENABLED_SITE_METRICS and type_key is None:
            return _not_found(metric)
        if what == "classifiers":
            return _Response(200, _json(list(CLASSIFIERS[type_key or SITE_TO_ORG_METRIC[metric]])))
        if what == "summary" and self.summary_removed:
            return _not_found(metric)
        start, end = _window(query, self._now())
        span = end - start
        interval = HOURLY_BUCKET_S if span <= MAX_HOURLY_SPAN_S else DAILY_BUCKET_S
        num_buckets = max(1, math.ceil(span / interval))
        rest = self._summary(site, metric, num_buckets, interval, what == "summary-trend")
        return _Response(200, b'{"start":%d,"end":%d,' % (start, end) + rest[1:])

    def _get_impact(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        """impact-summary, impacted-users, impacted-aps of one site-metric, optionally for one classifier."""
        site, missing = self._site_scope(groups)
        if site is None:
            return missing or _not_found()
        metric, what = groups[3], groups[4]
        if metric not in ENABLED_SITE_METRICS:
            return _not_found(metric)
        key = SITE_TO_ORG_METRIC[metric]
        start, end = _window(query, self._now())
        interval = HOURLY_BUCKET_S if end - start <= MAX_HOURLY_SPAN_S else DAILY_BUCKET_S
        num_buckets = max(1, math.ceil((end - start) / interval))
        classifier = query.get("classifier", "")
        names = [classifier] if classifier else [name for name in CLASSIFIERS[key]]
        head: Dict[str, Any] = {"start": start, "end": end, "metric": metric, "classifier": classifier, "failure": ""}
        if what == "impact-summary":
            degraded, total = 0.0, 0.0
            for name in names:
                part, total = classifier_minutes(site, key, name, num_buckets, interval)
                degraded += part
            top = max(names, key=lambda name: site.classifier_weights[key].get(name, 0.0))
            lists = impact_lists(site, key, top, degraded, total)
            field_name = query.get("fields")
            if field_name:
                lists = {name: (items if name == field_name else []) for name, items in lists.items()}
            return _Response(200, _json({**head, **lists}))
        return self._impacted(site, key, names, what, query, head)

    def _impacted(
        self, site: SimSite, key: str, names: List[str], what: str, query: Dict[str, str], head: Dict[str, Any]
    ) -> _Response:
        impact = site.classifier_impact(key)
        counts = [impact.get(name, {"num_users": 0, "num_aps": 0}) for name in names]
        users = max((count["num_users"] for count in counts), default=0)
        aps = max((count["num_aps"] for count in counts), default=0)
        limit = _int_param(query, "limit", IMPACTED_PAGE_LIMIT, 1)
        page = _int_param(query, "page", 1, 1)
        first = (page - 1) * limit
        head.update({"limit": limit, "page": page})
        if what == "impacted-aps":
            items = []
            for number in range(first, min(aps, first + limit)):
                mac, name = ap_identity(site, number)
                items.append({"ap_mac": mac, "name": name, "degraded": 1.0, "total": 60.0, "duration": 60})
            return _Response(200, _json({**head, "total_count": aps, "aps": items}))
        clients = []
        for number in range(first, min(users, first + limit)):
            mac, ap_name = ap_identity(site, number % max(1, aps))
            clients.append(
                {
                    "mac": "a4c3f0" + hashlib.sha1(f"{site.id}:user:{number}".encode()).hexdigest()[:6],
                    "name": f"client-{number + 1:03d}",
                    "ap_mac": mac,
                    "ap_name": ap_name,
                    "ssid": "Store-Staff",
                    "device_type": "iPhone",
                    "device_os": "iOS",
                    "degraded": 1.0,
                    "total": 30.0,
                    "duration": 30,
                }
            )
        return _Response(200, _json({**head, "total_count": users, "users": clients}))

    def _summary(self, site: SimSite, metric: str, num_buckets: int, interval: int, trend: bool) -> bytes:
        cache_key = (site.index, metric, num_buckets, interval, trend)
        with self._lock:
            cached = self._summary_cache.get(cache_key)
            if cached is not None:
                self._summary_cache.move_to_end(cache_key)
                return cached
        rest = _summary_rest(site, metric, num_buckets, interval, trend)
        with self._lock:
            self._summary_cache[cache_key] = rest
            while len(self._summary_cache) > SUMMARY_CACHE_ENTRIES:
                self._summary_cache.popitem(last=False)
        return rest

    def _get_device_stats(self, groups: Tuple[str, ...], query: Dict[str, str]) -> _Response:
        site = self._by_id.get(groups[0])
        if site is None:
            return _not_found(groups[0])
        device_type = query.get("type") or "ap"
        devices = self._aps(site) if device_type in ("ap", "all") else []
        limit, page, first, end = self._page(query, len(devices))
        headers = [("X-Page-Total", str(len(devices))), ("X-Page-Limit", str(limit)), ("X-Page-Page", str(page))]
        return _Response(200, _json(devices[first:end]), headers)

    def _aps(self, site: SimSite) -> List[Dict[str, Any]]:
        health = site.fractions.get("ap-health")
        down = round(site.num_aps * (1.0 - health)) if health is not None and health < ALARM_THRESHOLD else 0
        if health is None:
            down = site.num_aps
        connected = site.num_aps - down
        aps = []
        for number in range(site.num_aps):
            mac, ap_name = ap_identity(site, number)
            online = number < connected
            share = 0
            if online:
                share = site.num_clients // connected + (1 if number < site.num_clients % connected else 0)
            aps.append(
                {
                    "id": f"00000000-0000-0000-1000-{mac}",
                    "mac": mac,
                    "name": ap_name,
                    "model": AP_MODELS[(site.index + number) % len(AP_MODELS)],
                    "type": "ap",
                    "status": "connected" if online else "disconnected",
                    "num_clients": share,
                    "site_id": site.id,
                    "org_id": self.org_id,
                    "version": AP_FIRMWARE,
                    "uptime": AP_UPTIME_S if online else 0,
                }
            )
        return aps


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the simulator in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description="Serve a simulated Juniper Mist API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 picks a free one)")
    parser.add_argument("--sites", type=int, default=DEFAULT_NUM_SITES, help="number of sites")
    parser.add_argument("--page-cap", type=int, default=None, help="largest page size the server grants")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS, help="delay per request")
    parser.add_argument("--degraded-share", type=float, default=None, help="share of sites with one bad SLE")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="API token clients must send")
    parser.add_argument("--summary-removed", action="store_true", help="answer 404 on /summary")
    parser.add_argument("--calls-per-hour", type=int, default=None, help="rolling-hour rate limit")
    parser.add_argument("--extra-orgs", type=int, default=0, help="more org privileges in /self")
    args = parser.parse_args(argv)
    simulator = MistSimulator(
        args.sites,
        token=args.token,
        page_cap=args.page_cap,
        latency_ms=args.latency_ms,
        degraded_share=args.degraded_share,
        summary_removed=args.summary_removed,
        calls_per_hour=args.calls_per_hour,
        extra_orgs=args.extra_orgs,
        port=args.port,
    )
    stop = threading.Event()
    previous: Dict[int, Any] = {}
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = {
            signum: signal.signal(signum, lambda number, frame: stop.set())
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
    try:
        base_url = simulator.start()
    except OSError as exc:
        print(f"mist_simulator: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"Mist simulator on {base_url} (org {simulator.org_id}, token {simulator.token})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
