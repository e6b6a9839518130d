"""The validated configuration as typed, frozen settings: one dataclass per section of the config file.

`config.validate` is the only way to make them from a file; tests and the demo build them the same way. Field names
are the config keys, so `settings.mist.base_url` is `mist.base_url` in the file and in every error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit


@dataclass(frozen=True)
class MistSettings:
    """`mist`: how to reach the API and how much of it to use."""

    api_token: Optional[str]
    base_url: str
    org_id: Optional[str]
    timeout_seconds: float
    max_workers: int
    calls_per_hour: int
    budget_reserve_pct: float
    max_retry_wait_seconds: float
    sites_cache_minutes: float
    proxy: Optional[str] = None
    ca_bundle: Optional[Path] = None
    # Seconds a run may make API calls; in daemon mode never more than the interval.
    run_timeout_seconds: float = 600.0

    def __repr__(self) -> str:
        # The token and a proxy password must not reach a log line through a repr.
        return f"MistSettings(base_url={self.base_url!r}, org_id={self.org_id!r})"


@dataclass(frozen=True)
class SleSettings:
    """`sle`: the window and which site-metrics get a classifier breakdown."""

    duration: str
    classifier_detail: str
    detail_reuse_minutes: float
    # Which site-metrics get an impact-summary root cause: critical, major (critical and major) or none.
    root_cause: str = "major"
    # The SLE types to collect, in the order wifi, wired, wan; wifi always.
    types: Tuple[str, ...] = ("wifi",)
    # The short window of fast detection (sle.alert_window), e.g. "1h"; None: off.
    alert_window: Optional[str] = None


@dataclass(frozen=True)
class Thresholds:
    """`thresholds`: SLE % below which a site-metric is critical, major or warning."""

    critical: float
    major: float
    warning: float

    def as_dict(self) -> Dict[str, float]:
        """Return the thresholds by severity name, as the analysis and the JSON take them."""
        return {"critical": self.critical, "major": self.major, "warning": self.warning}


@dataclass(frozen=True)
class ReportsSettings:
    """`reports`: where report files, state and the outbox go, and how long report files stay."""

    directory: Path
    keep_days: int
    # The mode of report files (reports.file_mode, an octal string in the file); state files stay 0600.
    file_mode: int = 0o640


@dataclass(frozen=True)
class HistorySettings:
    """`history`: daily snapshots for trends."""

    directory: Path
    keep_days: int


@dataclass(frozen=True)
class TrendSettings:
    """`trend`: what counts as a degradation."""

    degradation_threshold_pp: float


@dataclass(frozen=True)
class MonitoringSettings:
    """`monitoring`: the daemon's cadence and its failure alert."""

    interval_minutes: float
    failure_alert_after: int


@dataclass(frozen=True)
class LoggingSettings:
    """`logging`: the rotated log file."""

    file: Optional[Path]
    level: str
    max_bytes: int
    backup_count: int


@dataclass(frozen=True)
class EmailSettings:
    """`notifications.email`: the SMTP relay (or the file transport) and the addresses."""

    enabled: bool
    transport: str
    smtp_server: Optional[str]
    smtp_port: int
    use_tls: bool
    use_ssl: bool
    verify_tls: bool
    username: Optional[str]
    password: Optional[str]
    timeout_seconds: float
    from_address: Optional[str]
    recipients: Tuple[str, ...]
    ca_bundle: Optional[Path] = None

    def __repr__(self) -> str:
        return f"EmailSettings(transport={self.transport!r}, smtp_server={self.smtp_server!r})"


# --- notifications.channels (Teams, Slack, PagerDuty, webhooks) ---------------------------------------------

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class ChannelSettings:
    """One entry of `notifications.channels`: where it posts and what it hears about.

    url, routing_key and secret are resolved from the config or their *_env variables; they are secrets.
    """

    name: str
    type: str
    url: str
    min_severity: str
    repeat_interval_seconds: float
    send_resolved: bool
    enabled: bool = True
    routing_key: Optional[str] = None
    secret: Optional[str] = None
    timeout_seconds: float = 10.0
    retry_seconds: float = 30.0

    def secrets(self) -> List[str]:
        """Return the secret values of this channel (the URL unless it is the public PagerDuty endpoint)."""
        values = [self.routing_key, self.secret]
        if self.url != PAGERDUTY_EVENTS_URL:
            values.append(self.url)
        return [value for value in values if value]

    def __repr__(self) -> str:
        # The URL carries a credential (Slack's path, Teams' sig): never shown.
        return f"ChannelSettings(name={self.name!r}, type={self.type!r})"


# --- end of notifications.channels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationSettings:
    """`notifications`: when to alert again and what to send."""

    enabled: bool
    repeat_interval: str
    repeat_interval_seconds: float
    send_resolved: bool
    max_rows_per_table: int
    email: EmailSettings
    channels: Tuple[ChannelSettings, ...] = ()

    @property
    def email_enabled(self) -> bool:
        """Return True when emails are switched on (notifications.enabled and notifications.email.enabled)."""
        return self.enabled and self.email.enabled


@dataclass(frozen=True)
class MetricsSettings:
    """`metrics`: the Prometheus endpoint of the daemon and the textfile for node_exporter."""

    listen: Optional[str] = None
    sites: str = "all"
    textfile: Optional[Path] = None

    @property
    def address(self) -> Optional[Tuple[str, int]]:
        """Return (host, port) of `listen`, None when off."""
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


# --- policy (profiles, minimum impact, maintenance windows, incidents) ----------------------------------------


@dataclass(frozen=True)
class WeeklyWindow:
    """One weekly window in a site's local wall-clock time: weekdays (0 = Monday) it starts on, start and end.

    start and end are minutes after local midnight; an end not after the start means the window crosses midnight.
    """

    text: str
    days: Tuple[int, ...]
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class ProfileSettings:
    """One policy.profiles entry: which sites (Mist site group names or name globs) and their thresholds.

    thresholds is complete (the profile's keys filled in from the top-level thresholds); metrics maps a JSON
    metric key to its complete thresholds where the profile overrides that metric.
    """

    name: str
    site_groups: Tuple[str, ...] = ()
    sites: Tuple[str, ...] = ()
    thresholds: Dict[str, float] = field(default_factory=dict)
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class MaintenanceSettings:
    """One policy.maintenance entry: which sites, and its weekly windows in each site's own timezone."""

    name: str
    site_groups: Tuple[str, ...] = ()
    sites: Tuple[str, ...] = ()
    windows: Tuple[WeeklyWindow, ...] = ()


@dataclass(frozen=True)
class PolicySettings:
    """The policy section; `enabled` is False when the file has none, and then nothing of it applies."""

    enabled: bool = False
    min_clients: int = 0
    min_users: int = 0
    profiles: Tuple[ProfileSettings, ...] = ()
    maintenance: Tuple[MaintenanceSettings, ...] = ()
    incident_min_sites: int = 5
    inhibition: bool = True

    @property
    def uses_site_groups(self) -> bool:
        """Return True when a profile or maintenance entry names Mist site groups (one more API call per run)."""
        return any(profile.site_groups for profile in self.profiles) or any(
            window.site_groups for window in self.maintenance
        )


# --- end of policy --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration; `source` names the file (or "demo") in messages."""

    mist: MistSettings
    sle: SleSettings
    thresholds: Thresholds
    reports: ReportsSettings
    history: HistorySettings
    trend: TrendSettings
    monitoring: MonitoringSettings
    logging: LoggingSettings
    notifications: NotificationSettings
    source: str
    metrics: MetricsSettings = MetricsSettings()
    policy: PolicySettings = PolicySettings()
    # (name, value) of the proxy and CA environment variables the run was started with.
    network_environment: Tuple[Tuple[str, str], ...] = ()

    def secrets(self) -> List[str]:
        """Return the secret values of this configuration, for redaction of every output."""
        values = [self.mist.api_token, self.notifications.email.password, proxy_password(self.mist.proxy)]
        for channel in self.notifications.channels:
            values.extend(channel.secrets())
        # A proxy password from the environment's proxy variables is never shown either.
        values.extend(
            proxy_password(value) for key, value in self.network_environment if key.upper().endswith("_PROXY")
        )
        return [value for value in values if value]


def proxy_password(proxy: Optional[str]) -> Optional[str]:
    """Return the password of a proxy URL such as http://user:secret@proxy:3128, or None."""
    if not proxy:
        return None
    try:
        return urlsplit(proxy).password or None
    except ValueError:
        return None
