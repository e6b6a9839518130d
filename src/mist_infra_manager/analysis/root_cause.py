"""Pure root-cause analysis of one site-metric: where its top classifier's degraded minutes sit.

Input: the body of Mist's `impact-summary` for one classifier (Mist OpenAPI operation
`getSiteSleImpactSummary`, schema `sle_impact_summary`): lists per dimension (ap, band, wlan, device_os,
device_type for Wi-Fi; switch, interface, gateway, peer_path... for wired and WAN) whose items carry
`name`, `degraded`, `total` and their own id key. Output: top lists with shares, whether the problem is
concentrated on one AP (or switch, gateway) or spread, and the one line a person reads:
"Weak Signal: 64 % on AP-Leeds-Backroom (2.4 GHz), mostly Zebra scanner clients".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# The top AP (switch, gateway) holding at least this share of the classifier's degraded minutes makes
# the problem "concentrated" on it: a hardware or placement problem rather than a site or service one.
CONCENTRATION_PCT = 50.0
# A band, WLAN or device OS / type is named in the line when it holds at least this share.
DOMINANT_PCT = 50.0
# How many items of each list the result keeps (largest degraded first).
TOP_ITEMS = 5
CONCENTRATED = "concentrated"
SPREAD = "spread"
# Where a problem can be "on" one device, first present wins: Wi-Fi APs, then wired and WAN devices.
PLACE_DIMENSIONS = ("ap", "switch", "gateway", "interface", "peer_path", "chassis")
PLACE_NOUNS = {"ap": "AP", "switch": "switch", "gateway": "gateway", "interface": "interface", "peer_path": "path"}
# The item key holding each list's id (Mist schema `sle_impact_summary_*_item`); others try these in order.
ID_KEYS = {"ap": "ap_mac", "wlan": "wlan_id", "band": "band", "device_os": "device_os", "device_type": "device_type"}
FALLBACK_ID_KEYS = ("id", "mac", "switch_mac", "gateway_mac", "port_id", "interface", "peer_path")
# How reports title each list; other (wired, WAN) lists show their own key.
DIMENSION_NAMES = {
    "ap": "APs",
    "band": "Band",
    "wlan": "WLAN (SSID)",
    "device_type": "Device type",
    "device_os": "Device OS",
    "switch": "Switches",
    "gateway": "Gateways",
    "interface": "Interfaces",
    "peer_path": "Peer paths",
}
BAND_NAMES = {"24": "2.4 GHz", "5": "5 GHz", "6": "6 GHz"}
# Keys of an impact-summary body that are not lists of items.
NON_LIST_KEYS = frozenset({"start", "end", "metric", "classifier", "failure"})


@dataclass
class ImpactItem:
    """One AP, band, WLAN, device OS or type: its degraded and total minutes and share of the degraded."""

    name: str
    id: str
    degraded: float
    total: float
    share_pct: float


@dataclass
class RootCause:
    """Where one site-metric's top classifier lives.

    `lists` maps a dimension (ap, band, wlan, device_os, device_type, or a wired/WAN one) to its top items,
    largest degraded first; `place` is the dimension concentration was judged on (None without one).
    """

    classifier: str
    classifier_name: str
    degraded: float
    lists: Dict[str, List[ImpactItem]] = field(default_factory=dict)
    place: Optional[str] = None
    concentration: Optional[str] = None
    place_count: int = 0

    @property
    def summary(self) -> str:
        """Return the one line a person reads (see the module docstring)."""
        return summary_line(self)

    @property
    def advice(self) -> str:
        """Return what the concentration means for the next step, in plain words ("" when unknown)."""
        return plain_words(self)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _item_id(dimension: str, item: Mapping[str, Any]) -> str:
    keys: Sequence[str] = (ID_KEYS[dimension],) if dimension in ID_KEYS else FALLBACK_ID_KEYS
    for key in (*keys, dimension):
        value = item.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _item_name(dimension: str, item: Mapping[str, Any], item_id: str) -> str:
    name = item.get("name")
    text = name if isinstance(name, str) and name else item_id
    if dimension == "band":
        return BAND_NAMES.get(item_id or text, text)
    return text


def parse_list(dimension: str, value: Any) -> List[Tuple[str, str, float, float]]:
    """Return (name, id, degraded, total) of the usable items of one list, largest degraded first.

    Items without a numeric degraded, or with neither name nor id, are skipped.
    """
    rows: List[Tuple[str, str, float, float]] = []
    for raw in value if isinstance(value, list) else []:
        if not isinstance(raw, dict):
            continue
        degraded = _number(raw.get("degraded"))
        if degraded is None:
            continue
        item_id = _item_id(dimension, raw)
        name = _item_name(dimension, raw, item_id)
        if not name:
            continue
        rows.append((name, item_id, degraded, _number(raw.get("total")) or 0.0))
    rows.sort(key=lambda row: (-row[2], row[0]))
    return rows


def parse_impact_summary(body: Any, classifier: str, classifier_name: str) -> Optional[RootCause]:
    """Return the root cause of an impact-summary body, or None when no list holds degraded minutes.

    Every list splits the same degraded minutes, but Mist may cut long lists (APs, users): the
    classifier's degraded minutes are the largest sum over any one list.
    """
    if not isinstance(body, dict):
        return None
    parsed: Dict[str, List[Tuple[str, str, float, float]]] = {}
    for dimension, value in body.items():
        if isinstance(dimension, str) and dimension not in NON_LIST_KEYS and isinstance(value, list):
            rows = parse_list(dimension, value)
            if rows:
                parsed[dimension] = rows
    degraded = max((sum(row[2] for row in rows) for rows in parsed.values()), default=0.0)
    if degraded <= 0:
        return None
    lists = {
        dimension: [
            ImpactItem(name, item_id, bad, total, 100.0 * bad / degraded)
            for name, item_id, bad, total in rows[:TOP_ITEMS]
        ]
        for dimension, rows in parsed.items()
    }
    cause = RootCause(classifier=classifier, classifier_name=classifier_name, degraded=degraded, lists=lists)
    place = next((d for d in PLACE_DIMENSIONS if d in parsed), None)
    if place is not None:
        cause.place = place
        cause.place_count = sum(1 for row in parsed[place] if row[2] > 0)
        cause.concentration = concentration(lists[place][0].share_pct)
    return cause


def concentration(top_share_pct: float) -> str:
    """Return "concentrated" when the top item holds at least CONCENTRATION_PCT % of the degraded, else "spread"."""
    return CONCENTRATED if top_share_pct >= CONCENTRATION_PCT else SPREAD


def dominant(cause: RootCause, dimension: str) -> Optional[ImpactItem]:
    """Return the top item of a list when it holds at least DOMINANT_PCT % of the degraded minutes, else None."""
    items = cause.lists.get(dimension) or []
    if items and items[0].share_pct >= DOMINANT_PCT and items[0].degraded > 0:
        return items[0]
    return None


def format_share(share_pct: float) -> str:
    """Return a share as a whole percent, "64 %"; never "100 %" unless it is all and never "0 %" unless none."""
    whole = round(share_pct)
    if whole >= 100 and share_pct < 100:
        whole = 99
    if whole <= 0 < share_pct:
        whole = 1
    return f"{whole} %"


def _where(cause: RootCause) -> str:
    if cause.place is None or cause.concentration is None:
        return "no AP list in the impact summary"
    noun = PLACE_NOUNS.get(cause.place, cause.place)
    top = cause.lists[cause.place][0]
    if cause.concentration == CONCENTRATED:
        return f"{format_share(top.share_pct)} on {top.name}"
    plural = "" if cause.place_count == 1 else ("es" if noun.endswith("h") else "s")
    return f"spread across {cause.place_count} {noun}{plural}"


def summary_line(cause: RootCause) -> str:
    """Return "<classifier>: <where> (<band>, SSID <wlan>), mostly <device> clients" with the dominant parts."""
    details = []
    band = dominant(cause, "band")
    if band is not None:
        details.append(band.name)
    wlan = dominant(cause, "wlan")
    if wlan is not None:
        details.append(f"SSID {wlan.name}")
    line = f"{cause.classifier_name}: {_where(cause)}"
    if details:
        line += f" ({', '.join(details)})"
    device = dominant(cause, "device_type") or dominant(cause, "device_os")
    if device is not None:
        line += f", mostly {device.name} clients"
    return line


def plain_words(cause: RootCause) -> str:
    """Return what the concentration means for the next step, in plain words."""
    if cause.concentration == CONCENTRATED and cause.place is not None:
        noun = PLACE_NOUNS.get(cause.place, cause.place)
        return f"concentrated on one {noun}: check its hardware and placement first"
    if cause.concentration == SPREAD:
        return "spread: a site or service problem, check site-wide settings and services first"
    return ""


def document(cause: RootCause) -> Dict[str, Any]:
    """Return the JSON form of a root cause (the `root_cause` of a metric in mist_sle_data.json)."""
    return {
        "classifier": cause.classifier,
        "classifier_name": cause.classifier_name,
        "degraded": round(cause.degraded, 2),
        "concentration": cause.concentration,
        "place": cause.place,
        "place_count": cause.place_count,
        "summary": cause.summary,
        "advice": cause.advice,
        "top": {
            dimension: [
                {
                    "name": i.name,
                    "id": i.id,
                    "degraded": round(i.degraded, 2),
                    "total": round(i.total, 2),
                    "share_pct": round(i.share_pct, 2),
                }
                for i in items
            ]
            for dimension, items in cause.lists.items()
        },
    }


def from_document(raw: Any) -> Optional[RootCause]:
    """Return the root cause of a document made by document(), or None when it is not one (cache files)."""
    if not isinstance(raw, dict):
        return None
    classifier, name, degraded = raw.get("classifier"), raw.get("classifier_name"), _number(raw.get("degraded"))
    top = raw.get("top")
    if not isinstance(classifier, str) or not isinstance(name, str) or degraded is None or not isinstance(top, dict):
        return None
    lists: Dict[str, List[ImpactItem]] = {}
    for dimension, items in top.items():
        kept = (
            [
                ImpactItem(
                    str(i["name"]),
                    str(i.get("id", "")),
                    float(i["degraded"]),
                    float(i.get("total") or 0.0),
                    float(i["share_pct"]),
                )
                for i in items
                if isinstance(i, dict)
                and isinstance(i.get("name"), str)
                and _number(i.get("degraded")) is not None
                and _number(i.get("share_pct")) is not None
            ]
            if isinstance(items, list)
            else []
        )
        if kept:
            lists[str(dimension)] = kept
    place = raw.get("place")
    count = raw.get("place_count")
    conc = raw.get("concentration")
    return RootCause(
        classifier=classifier,
        classifier_name=name,
        degraded=degraded,
        lists=lists,
        place=place if isinstance(place, str) and place in lists else None,
        concentration=conc if conc in (CONCENTRATED, SPREAD) else None,
        place_count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0,
    )
