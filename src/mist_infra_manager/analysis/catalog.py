"""The SLE metrics and classifiers the tool knows: ids, display names and recommended actions.

Classifier ids are only a display aid: the tool always reads the real ids from the API responses,
keeps every one it receives, and title-cases the ones it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Metric:
    """One SLE: its key in org sites-sle, its id on the site SLE endpoints, its display name, its SLE type.

    site_metric_fallbacks: further ids to try, in order, when the site SLE endpoints answer 404 to site_metric_id.
    """

    key: str
    site_metric_id: str
    name: str
    classifier_ids: Tuple[str, ...]
    sle_type: str = "wifi"
    site_metric_fallbacks: Tuple[str, ...] = ()

    @property
    def short_name(self) -> str:
        """Return a name of at most 9 characters for narrow table columns."""
        return SHORT_NAMES.get(self.key, self.name[:9])


# In the seed's order, which is also the order of every table the tool prints.
METRICS: Tuple[Metric, ...] = (
    Metric(
        "time-to-connect",
        "time-to-connect",
        "Time to Connect",
        ("association", "authorization", "dhcp-nack", "dhcp-stuck", "dhcp-unresponsive", "IP-Services"),
    ),
    Metric(
        "successful-connect",
        # The site SLE endpoints call Successful Connects by its failure name.
        "failed-to-connect",
        "Successful Connects",
        (
            "association",
            "authorization",
            "dns",
            "dhcp-incomplete",
            "dhcp-nack",
            "dhcp-discover-unresponsive",
            "dhcp-renew-unresponsive",
            "arp",
        ),
    ),
    Metric("coverage", "coverage", "Coverage", ("weak-signal", "asymmetry-downlink", "asymmetry-uplink")),
    Metric(
        "roaming",
        "roaming",
        "Roaming",
        (
            "latency-slow-standard-roam",
            "latency-slow-11r-roam",
            "latency-slow-okc-roam",
            "stability-failed-to-fast-roam",
            "signal-quality-suboptimal-roam",
            "signal-quality-sticky-client",
            "signal-quality-interband-roam",
        ),
    ),
    Metric(
        "throughput",
        "throughput",
        "Throughput",
        (
            "network-issues",
            "coverage",
            "device-capability",
            "capacity-non-wifi-interference",
            "capacity-wifi-interference",
            "capacity-excessive-client-load",
            "capacity-high-bandwidth-utilization",
        ),
    ),
    Metric(
        "capacity",
        "capacity",
        "Capacity",
        ("non-wifi-interference", "wifi-interference", "client-usage", "client-count"),
    ),
    Metric(
        "ap-health",
        "ap-health",
        "AP Health",
        (
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
    ),
)

# Wired (EX switches) and WAN (SRX / Session Smart gateways) SLEs, served by the same endpoints with
# sle=wired|wan (REFERENCE §11). Their classifier ids are not documented: they always come from the API.
OTHER_METRICS: Tuple[Metric, ...] = (
    Metric("switch-health", "switch-health", "Switch Health", (), "wired"),
    Metric("switch-throughput", "switch-throughput", "Switch Throughput", (), "wired"),
    Metric("switch-bandwidth", "switch-bandwidth", "Switch Bandwidth", (), "wired"),
    Metric("gateway-health", "gateway-health", "Gateway Health", (), "wan"),
    Metric("wan-link-health", "wan-link-health", "WAN Link Health", (), "wan"),
    # The org result spells it application_health; the site metric id is most likely hyphenated.
    Metric("application-health", "application-health", "Application Health", (), "wan", ("application_health",)),
)
# Every metric the tool knows, Wi-Fi first: the order of every table with more than one SLE type.
ALL_METRICS: Tuple[Metric, ...] = METRICS + OTHER_METRICS

SHORT_NAMES: Dict[str, str] = {
    "time-to-connect": "TTC",
    "successful-connect": "Connects",
    "coverage": "Coverage",
    "roaming": "Roaming",
    "throughput": "Thruput",
    "capacity": "Capacity",
    "ap-health": "AP Health",
    "switch-health": "Sw Health",
    "switch-throughput": "Sw Thru",
    "switch-bandwidth": "Sw BW",
    "gateway-health": "GW Health",
    "wan-link-health": "WAN Link",
    "application-health": "App Hlth",
}

METRICS_BY_KEY: Dict[str, Metric] = {metric.key: metric for metric in METRICS}
# Wi-Fi, wired and WAN: look up any metric key a run can hold.
ALL_METRICS_BY_KEY: Dict[str, Metric] = {metric.key: metric for metric in ALL_METRICS}
METRIC_KEYS: Tuple[str, ...] = tuple(metric.key for metric in METRICS)

# The seed's display names where plain title-casing would read wrong.
CLASSIFIER_NAMES: Dict[str, str] = {
    "association": "Association",
    "authorization": "Authorization",
    "dhcp-nack": "DHCP Nack",
    "dhcp-stuck": "DHCP Stuck",
    "dhcp-unresponsive": "DHCP Unresponsive",
    "IP-Services": "IP-Services",
    "dns": "DNS",
    "dhcp-incomplete": "DHCP Incomplete",
    "dhcp-discover-unresponsive": "DHCP Discover Unresponsive",
    "dhcp-renew-unresponsive": "DHCP Renew Unresponsive",
    "arp": "ARP",
    "weak-signal": "Weak Signal",
    "asymmetry-downlink": "Asymmetry Downlink",
    "asymmetry-uplink": "Asymmetry Uplink",
    "latency-slow-standard-roam": "Latency Slow Standard Roam",
    "latency-slow-11r-roam": "Latency Slow 11r Roam",
    "latency-slow-okc-roam": "Latency Slow OKC Roam",
    "stability-failed-to-fast-roam": "Stability Failed to Fast Roam",
    "signal-quality-suboptimal-roam": "Signal Quality Suboptimal Roam",
    "signal-quality-sticky-client": "Signal Quality Sticky Client",
    "signal-quality-interband-roam": "Signal Quality Interband Roam",
    "network-issues": "Network Issues",
    "coverage": "Coverage",
    "device-capability": "Device Capability",
    "capacity-non-wifi-interference": "Capacity Non-WiFi Interference",
    "capacity-wifi-interference": "Capacity WiFi Interference",
    "capacity-excessive-client-load": "Capacity Excessive Client Load",
    "capacity-high-bandwidth-utilization": "Capacity High Bandwidth Utilization",
    "non-wifi-interference": "Non-WiFi Interference",
    "wifi-interference": "WiFi Interference",
    "client-usage": "Client Usage",
    "client_usage": "Client Usage",
    "client-count": "Client Count",
    "low-power": "Low Power",
    "ap-disconnected-ap-reboot": "AP Disconnected AP Reboot",
    "ap-disconnected-ap-unreachable": "AP Disconnected AP Unreachable",
    "ap-disconnected-switch-down": "AP Disconnected Switch Down",
    "ap-disconnected-site-down": "AP Disconnected Site Down",
    "ethernet-ethernet-errors": "Ethernet Errors",
    "ethernet-speed-mismatch": "Speed Mismatch",
    "network-jitter": "Network Jitter",
    "network-latency": "Network Latency",
    "network-tunnel-down": "Network Tunnel Down",
}

# Words that title-casing must not turn into "Dhcp" or "Wifi".
_WORD_SPELLINGS: Dict[str, str] = {
    "dhcp": "DHCP",
    "dns": "DNS",
    "arp": "ARP",
    "ap": "AP",
    "aps": "APs",
    "ip": "IP",
    "okc": "OKC",
    "wifi": "WiFi",
    "rf": "RF",
    "cpu": "CPU",
    "isp": "ISP",
    "wan": "WAN",
    "lan": "LAN",
    "poe": "PoE",
    "mtu": "MTU",
    "11r": "11r",
    "to": "to",
}


def classifier_display_name(classifier_id: str) -> str:
    """Return the seed's display name for a classifier id, or the id title-cased when unknown."""
    known = CLASSIFIER_NAMES.get(classifier_id)
    if known is not None:
        return known
    words = classifier_id.replace("_", "-").split("-")
    spelled = [_WORD_SPELLINGS.get(word.lower(), word[:1].upper() + word[1:]) for word in words if word]
    if spelled:
        spelled[0] = spelled[0][:1].upper() + spelled[0][1:]
    return " ".join(spelled) or classifier_id


# (words that must all appear in the classifier id, action). First match wins, so specific rules go first.
_ACTIONS: List[Tuple[Tuple[str, ...], str]] = [
    # Wired and WAN (their ids come from the API; these match the words they are likely to contain).
    (("switch", "unreachable"), "Check the switch: power, uplink, and its reachability of the Mist cloud."),
    (("gateway", "disconnected"), "Check the gateway: power, WAN circuits, and its reachability of the Mist cloud."),
    (("isp",), "Check the ISP circuit of the WAN link: provider status, loss and latency on the link."),
    (("application",), "Check the WAN path of the affected applications: link choice, latency, loss and jitter."),
    (("storm",), "Find the source of the broadcast storm: loops, STP state and storm-control on access ports."),
    (("port-flap",), "Check the flapping switch ports: cabling, optics, and the devices behind them."),
    (("congestion",), "Check switch port and uplink utilisation: add uplink capacity or rate-limit heavy users."),
    (("dhcp",), "Check the DHCP server and relay: scope exhaustion, relay (ip helper) reachability, lease times."),
    (("dns",), "Check the DNS servers handed out by DHCP: reachability and response times."),
    (("arp",), "Check the default gateway: ARP responses, VLAN tagging on the AP uplinks."),
    (("ip-services",), "Check IP services after association: DHCP, DNS and gateway reachability per VLAN."),
    (("authorization",), "Check RADIUS/PSK: server reachability and latency, certificates, credentials."),
    (("association",), "Check WLAN settings and client compatibility: security mode, band steering, max clients."),
    (("weak", "signal"), "Review AP placement and transmit power: clients are in coverage holes."),
    (("asymmetry",), "Balance AP transmit power with client power: asymmetric links point at power mismatch."),
    (("sticky",), "Tune RRM and minimum RSSI so clients leave distant APs; check 802.11k/v."),
    (("suboptimal",), "Review AP density and power so clients find a better AP to roam to."),
    (("interband",), "Check band steering and 5/6 GHz coverage so clients do not bounce between bands."),
    (("fast-roam",), "Enable 802.11r/OKC consistently on the WLAN and check client support."),
    (("latency", "roam"), "Check RADIUS latency and fast-roaming (802.11r/OKC) settings."),
    (("non-wifi",), "Find non-WiFi interference sources (microwaves, cameras); move affected channels."),
    (("wifi-interference",), "Review the channel plan: co-channel interference from neighbouring APs."),
    (("client-count",), "Add APs or spread clients: too many clients per radio."),
    (("client-usage",), "Find heavy users and apply rate limits or QoS; add capacity where usage peaks."),
    (("client_usage",), "Find heavy users and apply rate limits or QoS; add capacity where usage peaks."),
    (("excessive-client-load",), "Add APs or spread clients: too many clients per radio."),
    (("bandwidth",), "Check WAN and uplink bandwidth; apply rate limits to heavy applications."),
    (("coverage",), "Review AP placement and transmit power."),
    (("device-capability",), "Old or low-capability clients: check client drivers, prefer 5/6 GHz capable devices."),
    (("network-issues",), "Check the wired network upstream of the APs: switch ports, uplinks, WAN."),
    (("low-power",), "Check PoE budget on the switches: APs run in low-power mode."),
    (("switch-down",), "Check the access switch the APs hang off: power, uplink, stack."),
    (("site-down",), "Check the site WAN link and router: the whole site lost the cloud."),
    (("ap-reboot",), "Check AP power (PoE) and firmware: APs are rebooting."),
    (("unreachable",), "Check AP uplinks and cloud reachability: firewall rules, DNS, cabling."),
    (("ethernet",), "Check AP cabling and switch ports: errors, speed or duplex mismatch."),
    (("speed-mismatch",), "Check AP cabling and switch ports: errors, speed or duplex mismatch."),
    (("jitter",), "Check WAN quality: jitter between the site and the Mist cloud."),
    (("latency",), "Check WAN latency between the site and the Mist cloud."),
    (("tunnel",), "Check the tunnel termination (Mist Edge / concentrator) and its reachability."),
]

GENERIC_ACTION = "Open the SLE page of this site in the Mist dashboard and review the affected clients and APs."


def recommended_action(classifier_id: Optional[str]) -> str:
    """Return a short recommended action for a classifier id; a generic one when nothing matches."""
    if not classifier_id:
        return GENERIC_ACTION
    lowered = classifier_id.lower()
    for words, action in _ACTIONS:
        if all(word.lower() in lowered for word in words):
            return action
    return GENERIC_ACTION
