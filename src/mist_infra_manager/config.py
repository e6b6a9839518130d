"""Configuration: find the file, load the YAML, fill defaults, validate every key up front, return Settings.

Every error is collected and reported at once, each naming the file and the key path. Relative paths resolve
against the config file's folder (a checkout's own config/config.yaml: against the checkout), never the working
directory: cron starts the tool from `/`.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlparse

import platformdirs
import yaml

from mist_infra_manager.settings import (
    PAGERDUTY_EVENTS_URL,
    ChannelSettings,
    EmailSettings,
    HistorySettings,
    LoggingSettings,
    MaintenanceSettings,
    MetricsSettings,
    MistSettings,
    MonitoringSettings,
    NotificationSettings,
    PolicySettings,
    ProfileSettings,
    ReportsSettings,
    Settings,
    SleSettings,
    Thresholds,
    TrendSettings,
    WeeklyWindow,
)

APPLICATION_NAME = "mist-infra-manager"
# src/mist_infra_manager/config.py in a checkout; site-packages/mist_infra_manager/config.py when installed.
PACKAGE_DIRECTORY = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIRECTORY.parents[1]
# The commented template, shipped with the package (config/config.yaml.template in a checkout is the same file).
TEMPLATE_PATH = PACKAGE_DIRECTORY / "config.yaml.template"
CONFIG_FILE_NAME = "config.yaml"
CONFIG_ENVIRONMENT_VARIABLE = "MIST_INFRA_MANAGER_CONFIG"
LOG_FILE_NAME = "mist_infra_manager.log"

TOKEN_ENVIRONMENT_VARIABLE = "MIST_API_TOKEN"
SMTP_PASSWORD_ENVIRONMENT_VARIABLE = "MIST_SMTP_PASSWORD"

# REFERENCE §1: the regional API hosts, plus Mist Federal.
MIST_API_HOSTS = (
    "api.mist.com",
    "api.gc1.mist.com",
    "api.ac2.mist.com",
    "api.gc2.mist.com",
    "api.gc4.mist.com",
    "api.eu.mist.com",
    "api.gc3.mist.com",
    "api.ac6.mist.com",
    "api.gc6.mist.com",
    "api.ac5.mist.com",
    "api.gc5.mist.com",
    "api.gc7.mist.com",
    "api.us.mist-federal.com",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Read by the Mist client (proxies, CA bundle); validate() keeps them in config["network_environment"].
NETWORK_ENVIRONMENT_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

Config = Settings

_DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SLE_DURATION_PATTERN = re.compile(r"^[1-9]\d*[mhdw]$")
# ASCII only: smtplib sends addresses as they are, and most relays refuse SMTPUTF8.
_EMAIL_PATTERN = re.compile(r"^[!-?A-~]+@[A-Za-z0-9.-]+$")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# Limits on the config file: a real one is a few kB, 4 levels deep, with no or few aliases. Beyond them a file is
# refused before it is built: a YAML bomb (nested aliases) would grow to gigabytes, deep nesting to a RecursionError.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_ALIASES = 20
MAX_YAML_DEPTH = 20
# Values shown in error messages are cut to this many characters (and built with bounded effort).
MAX_SHOWN_CHARACTERS = 80
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel = 3
_SHOWN.maxstring = MAX_SHOWN_CHARACTERS
_SHOWN.maxother = MAX_SHOWN_CHARACTERS


class ConfigError(Exception):
    """The configuration cannot be used; `errors` holds one complete line per problem."""

    def __init__(self, errors: List[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class YamlLimitError(yaml.YAMLError):
    """The YAML file exceeds a limit (aliases, nesting); `key` is the dotted path where it did."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class GuardedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses more than MAX_YAML_ALIASES aliases and nesting deeper than MAX_YAML_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._keys: List[str] = []

    def compose_node(self, parent: Optional[yaml.Node], index: Any) -> Optional[yaml.Node]:
        """Compose a node as SafeLoader does, counting aliases and tracking the key path for the messages."""
        if isinstance(index, yaml.ScalarNode):
            key = shorten(str(index.value), 40)
        elif isinstance(index, int):
            key = f"[{index}]"
        else:
            key = "" if parent is None else "(key)"
        self._keys.append(key)
        try:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise YamlLimitError(
                        self._where(), f"more than {MAX_YAML_ALIASES} YAML aliases (*name); write the values out"
                    )
            if len(self._keys) > MAX_YAML_DEPTH + 1:
                raise YamlLimitError(self._where(), f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._keys.pop()

    def _where(self) -> str:
        path = ".".join(key for key in self._keys if key)
        return shorten((path or "top level").replace(".[", "["))


def shorten(text: str, limit: int = MAX_SHOWN_CHARACTERS) -> str:
    """Return text cut to limit characters, with `…` where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: Any) -> str:
    """Return a value's repr for an error message: bounded work, at most MAX_SHOWN_CHARACTERS characters."""
    return shorten(_SHOWN.repr(value))


def parse_duration_seconds(text: str) -> float:
    """Return the seconds in a duration such as `30m`, `4h` or `1d`; raises ValueError when malformed."""
    match = _DURATION_PATTERN.match(str(text))
    if not match:
        raise ValueError(f"expected a duration such as 30m, 4h or 1d, got {text!r}")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


@dataclass(frozen=True)
class Field:
    """One configuration key: its kind, default and limits."""

    kind: str  # str, int, number, bool, path, duration, sle_duration, email_list, base_url, choice, file_mode
    default: Any = None
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    secret: bool = False
    nullable: bool = False


SCHEMA: Dict[str, Any] = {
    "mist": {
        "api_token": Field("str", None, secret=True, nullable=True),
        "base_url": Field("base_url", "https://api.eu.mist.com"),
        "org_id": Field("str", None, nullable=True),
        "timeout_seconds": Field("number", 10, minimum=0.1, maximum=300),
        "max_workers": Field("int", 8, minimum=1, maximum=64),
        "calls_per_hour": Field("int", 5000, minimum=1),
        "budget_reserve_pct": Field("number", 20, minimum=0, maximum=90),
        "max_retry_wait_seconds": Field("number", 60, minimum=0, maximum=3600),
        "run_timeout_seconds": Field("number", 600, minimum=1, maximum=86400),
        "sites_cache_minutes": Field("number", 60, minimum=0),
        # Secret: a proxy URL may hold a password.
        "proxy": Field("str", None, nullable=True, secret=True),
        "ca_bundle": Field("path", None, nullable=True),
    },
    "sle": {
        "duration": Field("sle_duration", "1d"),
        "classifier_detail": Field("choice", "degraded", choices=("degraded", "all", "none")),
        "detail_reuse_minutes": Field("number", 60, minimum=0),
        "root_cause": Field("choice", "major", choices=("critical", "major", "none")),
        "types": Field("sle_types", ("wifi",), choices=("wifi", "wired", "wan")),
        "alert_window": Field("sle_duration", None, nullable=True),
    },
    "thresholds": {
        "critical": Field("number", 70, minimum=0, maximum=100),
        "major": Field("number", 80, minimum=0, maximum=100),
        "warning": Field("number", 90, minimum=0, maximum=100),
    },
    "reports": {
        "directory": Field("path", "reports"),
        "keep_days": Field("int", 30, minimum=1),
        # A quoted octal string in the file ("0644"), an int once validated.
        "file_mode": Field("file_mode", 0o640),
    },
    "history": {
        # Default: <reports.directory>/history.
        "directory": Field("path", "reports/history"),
        "keep_days": Field("int", 7, minimum=1, maximum=366),
    },
    "trend": {
        "degradation_threshold_pp": Field("number", 5, minimum=0.1, maximum=100),
    },
    "monitoring": {
        "interval_minutes": Field("number", 15, minimum=0.001),
        "failure_alert_after": Field("int", 3, minimum=1),
    },
    "logging": {
        "file": Field("path", "mist_infra_manager.log", nullable=True),
        "level": Field("choice", "DEBUG", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        "max_bytes": Field("int", 5_000_000, minimum=10_000),
        "backup_count": Field("int", 5, minimum=0, maximum=100),
    },
    "metrics": {
        "listen": Field("listen", None, nullable=True),
        "sites": Field("choice", "all", choices=("all", "affected")),
        "textfile": Field("path", None, nullable=True),
    },
    "notifications": {
        "enabled": Field("bool", True),
        "repeat_interval": Field("duration", "4h"),
        "send_resolved": Field("bool", True),
        "max_rows_per_table": Field("int", 25, minimum=1, maximum=1000),
        "email": {
            "enabled": Field("bool", True),
            "transport": Field("choice", "smtp", choices=("smtp", "file")),
            "smtp_server": Field("str", None, nullable=True),
            "smtp_port": Field("int", 25, minimum=1, maximum=65535),
            "use_tls": Field("bool", False),
            "use_ssl": Field("bool", False),
            "verify_tls": Field("bool", True),
            "username": Field("str", None, nullable=True),
            "password": Field("str", None, secret=True, nullable=True),
            "timeout_seconds": Field("number", 30, minimum=1, maximum=600),
            "from_address": Field("str", None, nullable=True),
            "recipients": Field("email_list", []),
            "ca_bundle": Field("path", None, nullable=True),
        },
        # A list of mappings, checked entry by entry by _check_channels.
        "channels": Field("list", []),
    },
    "policy": {
        # Default: on when the file has a policy section with any other key; false switches it all off.
        "enabled": Field("bool", None, nullable=True),
        "min_clients": Field("int", 0, minimum=0),
        "min_users": Field("int", 0, minimum=0),
        # Lists of mappings, checked entry by entry by _check_policy.
        "profiles": Field("list", []),
        "maintenance": Field("list", []),
        "incident_min_sites": Field("int", 5, minimum=2),
        "inhibition": Field("bool", True),
    },
}

_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "path": "a path",
    "duration": "a duration such as 30m, 4h or 1d",
    "sle_duration": "an SLE window such as 1d, 12h or 7d",
    "email_list": "a list of email addresses",
    "base_url": "a URL",
    "listen": "host:port such as 127.0.0.1:9101",
    "choice": "one of",
    "file_mode": 'a quoted octal file mode such as "0640"',
    "list": "a list",
    "sle_types": "a list of SLE types such as [wifi, wired, wan]",
    "mapping": "a mapping",
    "any": "a value",
}
_FILE_MODE_PATTERN = re.compile(r"^[0-7]{3,4}$")
# Reports must stay readable and writable by the tool; no execute, set-id or sticky bits.
FILE_MODE_REQUIRED = 0o600
FILE_MODE_MAXIMUM = 0o666


def _describe(value: Any, secret: bool) -> str:
    if secret:
        return f"a value of type {type(value).__name__}"
    return shown(value)


def _check_field(field: Field, value: Any, path: str) -> Tuple[Any, Optional[str]]:
    """Return (normalized value, None) or (None, error text without the file prefix)."""
    if value is None:
        if field.nullable or field.default is None:
            return None, None
        return None, f"{path}: expected {_TYPE_WORDS[field.kind]}, got null"
    shown = _describe(value, field.secret)
    kind = field.kind
    if kind in ("str", "path", "base_url"):
        # An empty optional path (logging.file: "") means none, as the template says.
        if not isinstance(value, str) or (kind != "str" and not field.nullable and not value.strip()):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        value = value.strip()
        if not value:
            return None, None
        if kind == "base_url":
            error = _check_base_url(value)
            if error:
                return None, f"{path}: {error}"
            value = value.rstrip("/")
        return value, None
    if kind == "listen":
        if isinstance(value, str) and not value.strip():
            return None, None  # empty: off
        error = _check_listen(value)
        return (None, f"{path}: {error}") if error else (value.strip(), None)
    if kind == "bool":
        if not isinstance(value, bool):
            return None, f"{path}: expected true or false, got {shown}"
        return value, None
    if kind in ("int", "number"):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind == "int" and isinstance(value, float))
        ):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        if not math.isfinite(value):
            return None, f"{path}: expected a finite number, got {shown}"
        if field.minimum is not None and value < field.minimum:
            return None, f"{path}: must be at least {field.minimum:g}, got {shown}"
        if field.maximum is not None and value > field.maximum:
            return None, f"{path}: must be at most {field.maximum:g}, got {shown}"
        return value, None
    if kind == "choice":
        text = value.upper() if isinstance(value, str) and field.choices[0].isupper() else value
        if text not in field.choices:
            hint = _did_you_mean(value, field.choices)
            return None, f"{path}: expected one of {', '.join(field.choices)}, got {shown}{hint}"
        return text, None
    if kind == "duration":
        try:
            parse_duration_seconds(value)
        except ValueError:
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        return str(value).strip(), None
    if kind == "sle_duration":
        if not isinstance(value, str) or not _SLE_DURATION_PATTERN.match(value):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        return value, None
    if kind == "email_list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        bad = [item for item in value if not _EMAIL_PATTERN.match(item.strip())]
        if bad:
            return None, f"{path}: not an email address: {_describe(bad[0], False)}"
        return [item.strip() for item in value], None
    if kind == "file_mode":
        return _check_file_mode(value, path)
    if kind == "sle_types":
        return _check_sle_types(field, value, path, shown)
    if kind == "any":
        return value, None
    if kind == "mapping":
        if not isinstance(value, dict):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        return value, None
    if kind == "list":
        if not isinstance(value, list):
            return None, f"{path}: expected {_TYPE_WORDS[kind]}, got {shown}"
        return value, None
    raise AssertionError(f"unknown field kind {kind}")


def _check_sle_types(field: Field, value: Any, path: str, shown: str) -> Tuple[Any, Optional[str]]:
    """Return (the types as a tuple in the order wifi, wired, wan, None) or (None, error); wifi is required."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        return None, f"{path}: expected {_TYPE_WORDS[field.kind]}, got {shown}"
    for item in value:
        if item not in field.choices:
            hint = _did_you_mean(item, field.choices)
            return None, f"{path}: unknown SLE type {_describe(item, False)}, expected {', '.join(field.choices)}{hint}"
    if "wifi" not in value:
        return None, f"{path}: must include wifi (wired and wan are collected beside it), got {shown}"
    return tuple(choice for choice in field.choices if choice in value), None


def _check_listen(value: Any) -> Optional[str]:
    """Return what is wrong with a host:port listen address, or None."""
    text = value.strip() if isinstance(value, str) else ""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"expected host:port such as 127.0.0.1:9101, got {_describe(value, secret=False)}"
    return None


def _check_file_mode(value: Any, path: str) -> Tuple[Any, Optional[str]]:
    """Return (mode as an int, None) for a quoted octal string within 0600..0666, else (None, error)."""
    if not isinstance(value, str):
        # YAML 1.1 reads an unquoted 0644 as the number 420 and 644 as six hundred forty-four: refuse both.
        return None, f'{path}: expected a quoted octal string such as "0640", got {value!r} (put the mode in quotes)'
    text = value.strip()
    if not _FILE_MODE_PATTERN.match(text):
        return None, f'{path}: expected 3 or 4 octal digits such as "0640", got {value!r}'
    mode = int(text, 8)
    if mode & ~FILE_MODE_MAXIMUM:
        return None, f"{path}: must be at most 0666 (no execute, set-id or sticky bits), got {value!r}"
    if mode & FILE_MODE_REQUIRED != FILE_MODE_REQUIRED:
        return None, f"{path}: must keep the owner's read and write (0600), got {value!r}"
    return mode, None


def _check_base_url(value: str) -> Optional[str]:
    parsed = urlparse(value)
    host = parsed.hostname or ""
    if parsed.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    if parsed.scheme != "https":
        return f"expected an https:// Mist API host (http only for 127.0.0.1), got {shown(value)}"
    if host in MIST_API_HOSTS:
        if parsed.path not in ("", "/"):
            return f"give the host only, without a path (the tool adds /api/v1), got {shown(value)}"
        return None
    if host in LOOPBACK_HOSTS:
        return None
    hint = _did_you_mean(host, MIST_API_HOSTS)
    if host.startswith("manage."):
        hint = f" (that is the portal; the API host is {host.replace('manage.', 'api.', 1)})"
    return f"{shown(host)} is not a Mist API host{hint}; expected one of the regional hosts such as api.eu.mist.com"


def _header_safe(value: str) -> bool:
    """Return True when value can travel in an HTTP header as it is: printable ASCII without spaces."""
    return all(33 <= ord(character) <= 126 for character in value)


def _did_you_mean(word: Any, candidates: Any) -> str:
    if not isinstance(word, str) or len(word) > MAX_SHOWN_CHARACTERS:
        return ""  # no key or choice is that long, and matching a huge value costs time
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _validate_section(schema: Mapping[str, Any], raw: Any, prefix: str, errors: List[str]) -> Dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        # The value is not echoed: a misplaced line such as `mist: <token>` would print the secret.
        errors.append(f"{prefix or 'top level'}: expected a mapping of keys, got {_describe(raw, secret=True)}")
        raw = {}
    section: Dict[str, Any] = {}
    for key in raw:
        if key not in schema:
            name = shorten(str(key)) if isinstance(key, (str, int, float, bool)) else shown(key)
            where = f"{prefix}.{name}" if prefix else name
            errors.append(f"{where}: unknown key{_did_you_mean(key, schema.keys())}")
    for key, spec in schema.items():
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, dict):
            section[key] = _validate_section(spec, raw.get(key), where, errors)
            continue
        if key not in raw:
            section[key] = spec.default
            continue
        value, error = _check_field(spec, raw[key], where)
        if error:
            errors.append(error)
            value = spec.default
        section[key] = value
    return section


def is_checkout() -> bool:
    """Return True when the package runs from a git checkout (src/ layout), not from an installed copy."""
    return PACKAGE_DIRECTORY.parent.name == "src" and (PROJECT_ROOT / "pyproject.toml").is_file()


def checkout_config_path() -> Path:
    """Return the checkout's own config file, config/config.yaml."""
    return PROJECT_ROOT / "config" / CONFIG_FILE_NAME


def user_config_path() -> Path:
    """Return the user's config file: $XDG_CONFIG_HOME/mist-infra-manager/config.yaml, %APPDATA% on Windows."""
    return platformdirs.user_config_path(APPLICATION_NAME, appauthor=False, roaming=True) / CONFIG_FILE_NAME


def system_config_path() -> Path:
    """Return the system-wide config file: /etc/mist-infra-manager/config.yaml, %PROGRAMDATA% on Windows."""
    if sys.platform == "win32":
        return platformdirs.site_config_path(APPLICATION_NAME, appauthor=False) / CONFIG_FILE_NAME
    return Path("/etc") / APPLICATION_NAME / CONFIG_FILE_NAME


def user_state_directory() -> Path:
    """Return the folder an installed tool keeps its files in by default: $XDG_STATE_HOME/mist-infra-manager."""
    return platformdirs.user_state_path(APPLICATION_NAME, appauthor=False)


def default_reports_directory() -> Path:
    """Return reports.directory when the config does not set it: <checkout>/reports, else the user state folder."""
    return PROJECT_ROOT / "reports" if is_checkout() else user_state_directory()


def config_candidates(environ: Mapping[str, str]) -> List[Path]:
    """Return the config files tried in order when --config is not given."""
    candidates: List[Path] = []
    configured = (environ.get(CONFIG_ENVIRONMENT_VARIABLE) or "").strip()
    if configured:
        return [Path(configured).expanduser()]
    if is_checkout():
        candidates.append(checkout_config_path())
    candidates.extend([user_config_path(), system_config_path()])
    return candidates


def find_config(explicit: Optional[Path], environ: Mapping[str, str]) -> Path:
    """Return the config file to use; raises ConfigError listing every path tried when none exists."""
    if explicit is not None:
        return explicit.expanduser()
    candidates = config_candidates(environ)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if len(candidates) == 1:
        return candidates[0]  # $MIST_INFRA_MANAGER_CONFIG: load_config says it is missing
    tried = ", ".join(str(path) for path in candidates)
    raise ConfigError(
        [f"no config file found (tried {tried}). Create one with: {APPLICATION_NAME} config init, or pass --config"]
    )


def path_base(config_file: Path) -> Path:
    """Return the folder relative paths of a config file resolve against: its own folder, or the checkout."""
    resolved = config_file.expanduser().resolve()
    if is_checkout() and resolved == checkout_config_path().resolve():
        return PROJECT_ROOT
    return resolved.parent


def _resolve_path(value: Optional[str], base: Path) -> Optional[Path]:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _explicit(raw: Any, section: str, key: str) -> bool:
    """Return True when the raw config sets section.key to a non-empty value."""
    values = raw.get(section) if isinstance(raw, dict) else None
    return isinstance(values, dict) and values.get(key) not in (None, "")


def _check_token(config: Dict[str, Any], environ: Mapping[str, str], require_token: bool, errors: List[str]) -> None:
    token = (environ.get(TOKEN_ENVIRONMENT_VARIABLE) or "").strip() or config["mist"]["api_token"]
    if token is not None and not _header_safe(token):
        # Said without the value: it would end up in an HTTP header, and errors must not echo a secret.
        origin = TOKEN_ENVIRONMENT_VARIABLE if environ.get(TOKEN_ENVIRONMENT_VARIABLE) else "mist.api_token"
        errors.append(f"mist.api_token: the token (from {origin}) holds spaces, control or non-ASCII characters")
        token = None
    elif token in (None, "", "YOUR_API_TOKEN"):
        token = None
        if require_token:
            errors.append(
                f"mist.api_token: missing: set it in the config file or in the {TOKEN_ENVIRONMENT_VARIABLE} "
                "environment variable"
            )
    config["mist"]["api_token"] = token


def _check_relations(config: Dict[str, Any], environ: Mapping[str, str], errors: List[str]) -> None:
    thresholds = config["thresholds"]
    if not thresholds["critical"] < thresholds["major"] < thresholds["warning"]:
        errors.append(
            "thresholds: expected critical < major < warning, got "
            f"{thresholds['critical']:g}, {thresholds['major']:g}, {thresholds['warning']:g}"
        )
    email = config["notifications"]["email"]
    email["password"] = environ.get(SMTP_PASSWORD_ENVIRONMENT_VARIABLE) or email["password"]
    if email["use_tls"] and email["use_ssl"]:
        errors.append("notifications.email: use_tls (STARTTLS) and use_ssl (implicit TLS) exclude each other")
    if config["notifications"]["enabled"] and email["enabled"]:
        if not email["recipients"]:
            errors.append("notifications.email.recipients: required when email is enabled (a list of addresses)")
        if not email["from_address"]:
            errors.append("notifications.email.from_address: required when email is enabled")
        elif not _EMAIL_PATTERN.match(email["from_address"]):
            errors.append(f"notifications.email.from_address: not an email address: {shown(email['from_address'])}")
        if email["transport"] == "smtp" and not email["smtp_server"]:
            errors.append("notifications.email.smtp_server: required when email is enabled with transport smtp")


def _resolve_paths(config: Dict[str, Any], raw: Any, base: Path) -> None:
    reports = config["reports"]
    if _explicit(raw, "reports", "directory"):
        reports["directory"] = _resolve_path(reports["directory"], base)
    else:
        reports["directory"] = default_reports_directory()
    if _explicit(raw, "history", "directory"):
        config["history"]["directory"] = _resolve_path(config["history"]["directory"], base)
    else:
        # Beside the reports: two configs with their own reports directories must not mix their orgs' history.
        config["history"]["directory"] = reports["directory"] / "history"
    logging_section = config["logging"]
    if isinstance(raw, dict) and isinstance(raw.get("logging"), dict) and "file" in raw["logging"]:
        logging_section["file"] = _resolve_path(logging_section["file"], base)
    else:
        # A checkout keeps its log beside the code as before; an installed tool beside its reports.
        logging_section["file"] = (PROJECT_ROOT if is_checkout() else reports["directory"]) / LOG_FILE_NAME
    config["mist"]["ca_bundle"] = _resolve_path(config["mist"].get("ca_bundle"), base)
    email = config["notifications"]["email"]
    email["ca_bundle"] = _resolve_path(email.get("ca_bundle"), base)
    config["metrics"]["textfile"] = _resolve_path(config["metrics"]["textfile"], base)


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a parent that cannot be searched: a runtime fault, not a config error
        return False


def _blocking_file(path: Path) -> Optional[Path]:
    """Return the path itself or its nearest existing parent when that is not a folder (no folder can be made)."""
    for candidate in [path, *path.parents]:
        try:
            if candidate.exists():
                return None if candidate.is_dir() else candidate
        except OSError:  # unreadable parent: a runtime fault, not a config error
            return None
    return None


def _check_paths(config: Dict[str, Any], errors: List[str]) -> None:
    """Add an error for each path that can never work: a file where a folder must be, or a folder for a file.

    A folder that exists but cannot be written is not a config error: that is found, and reported, at run time.
    """
    folders = {"reports.directory": config["reports"]["directory"], "history.directory": config["history"]["directory"]}
    for key, folder in folders.items():
        blocking = _blocking_file(folder)
        if blocking is not None:
            what = "is a file" if blocking == folder else f"cannot be created: {blocking} is a file"
            errors.append(f"{key}: must be a folder, but {folder} {what}")
    log_file = config["logging"]["file"]
    if log_file is not None:
        blocking = _blocking_file(log_file.parent)
        if _is_folder(log_file):
            errors.append(f"logging.file: must be a file, but {log_file} is a folder")
        elif blocking is not None:
            errors.append(f"logging.file: its folder cannot be created: {blocking} is a file")
    bundles = {
        "mist.ca_bundle": config["mist"]["ca_bundle"],
        "notifications.email.ca_bundle": config["notifications"]["email"]["ca_bundle"],
    }
    for key, bundle in bundles.items():
        if bundle is not None and _is_folder(bundle):
            errors.append(f"{key}: must be a CA bundle file (PEM), but {bundle} is a folder")


def _settings(config: Dict[str, Any], source: str, environ: Mapping[str, str]) -> Settings:
    notifications = dict(config["notifications"])
    email = dict(notifications.pop("email"), recipients=tuple(config["notifications"]["email"]["recipients"]))
    notifications["channels"] = tuple(ChannelSettings(**channel) for channel in notifications["channels"])
    return Settings(
        mist=MistSettings(**config["mist"]),
        sle=SleSettings(**config["sle"]),
        thresholds=Thresholds(**config["thresholds"]),
        reports=ReportsSettings(**config["reports"]),
        history=HistorySettings(**config["history"]),
        trend=TrendSettings(**config["trend"]),
        monitoring=MonitoringSettings(**config["monitoring"]),
        logging=LoggingSettings(**config["logging"]),
        notifications=NotificationSettings(
            **notifications,
            repeat_interval_seconds=parse_duration_seconds(notifications["repeat_interval"]),
            email=EmailSettings(**email),
        ),
        source=source,
        metrics=MetricsSettings(**config["metrics"]),
        policy=config["policy"],
        # The proxy and CA variables, for a client that must not read os.environ behind the caller's back.
        network_environment=tuple(
            (key, value) for key, value in environ.items() if key.upper() in NETWORK_ENVIRONMENT_VARIABLES
        ),
    )


def validate(
    raw: Any,
    source: str,
    environ: Mapping[str, str],
    *,
    require_token: bool = True,
    base_directory: Optional[Path] = None,
) -> Settings:
    """Return the validated settings with defaults filled and paths absolute; raises ConfigError.

    Relative paths resolve against base_directory (default: the checkout, when running from one, else the
    working directory).
    """
    errors: List[str] = []
    config = _validate_section(SCHEMA, raw, "", errors)
    _check_token(config, environ, require_token, errors)
    _check_relations(config, environ, errors)
    config["notifications"]["channels"] = _check_channels(config, environ, errors)
    config["policy"] = _check_policy(config, raw, errors)
    _resolve_paths(config, raw, base_directory or (PROJECT_ROOT if is_checkout() else Path.cwd()))
    _check_paths(config, errors)
    errors.extend(_check_network(config))
    if errors:
        raise ConfigError([f"{source}: {error}" for error in errors])
    return _settings(config, source, environ)


def _check_network(config: Dict[str, Any]) -> List[str]:
    """Resolve the CA bundle paths and check them and mist.proxy; return the errors."""
    errors: List[str] = []
    proxy = config["mist"].get("proxy")
    if proxy:
        parsed = urlparse(proxy)
        try:
            valid = parsed.scheme in ("http", "https") and bool(parsed.hostname) and (parsed.port or 0) >= 0
        except ValueError:  # a port that is not a number
            valid = False
        if not valid:
            userinfo, at, host = parsed.netloc.rpartition("@")
            shown = parsed._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}") if at else parsed
            errors.append(
                f"mist.proxy: expected a proxy URL such as http://proxy.example.com:3128, got {shown.geturl()!r}"
            )
    for section, where in (
        (config["mist"], "mist.ca_bundle"),
        (config["notifications"]["email"], "notifications.email.ca_bundle"),
    ):
        path = section.get("ca_bundle")
        if path is not None and not path.exists():  # a folder: _check_paths says so
            errors.append(f"{where}: no such file: {path} (expected a PEM file of CA certificates)")
    return errors


# --- notifications.channels -----------------------------------------------------------------------------------

CHANNEL_TYPES = ("teams", "slack", "pagerduty", "webhook")
# The name `email` is the email of notifications.email in `notify-test`; names also name files and folders.
RESERVED_CHANNEL_NAMES = ("email",)
_CHANNEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CHANNEL_SCHEMA: Dict[str, Field] = {
    "name": Field("str"),
    "type": Field("choice", None, choices=CHANNEL_TYPES),
    "enabled": Field("bool", True),
    "url": Field("str", None, secret=True, nullable=True),
    "url_env": Field("str", None, nullable=True),
    "routing_key": Field("str", None, secret=True, nullable=True),
    "routing_key_env": Field("str", None, nullable=True),
    "secret": Field("str", None, secret=True, nullable=True),
    "secret_env": Field("str", None, nullable=True),
    "min_severity": Field("choice", "trend", choices=("critical", "major", "trend")),
    "repeat_interval": Field("duration", None, nullable=True),
    "send_resolved": Field("bool", None, nullable=True),
    "timeout_seconds": Field("number", 10, minimum=1, maximum=120),
    "retry_seconds": Field("number", 30, minimum=0, maximum=600),
}
# (value key, its *_env key, the types that need it, the types that accept it)
_CHANNEL_SECRETS = (
    ("url", "url_env", ("teams", "slack", "webhook"), CHANNEL_TYPES),
    ("routing_key", "routing_key_env", ("pagerduty",), ("pagerduty",)),
    ("secret", "secret_env", (), ("webhook",)),
)


def _channel_secret(
    entry: Dict[str, Any],
    kind: str,
    keys: Tuple[str, str, Tuple[str, ...], Tuple[str, ...]],
    where: str,
    environ: Mapping[str, str],
    errors: List[str],
) -> Optional[str]:
    """Return the value of url/routing_key/secret, from the entry or its *_env variable; None when not given."""
    key, env_key, needed_by, accepted_by = keys
    value, variable = entry.get(key), entry.get(env_key)
    if (value or variable) and kind not in accepted_by:
        errors.append(f"{where}.{key if value else env_key}: not used by type {kind}")
        return None
    if value and variable:
        errors.append(f"{where}: give {key} or {env_key}, not both")
        return None
    if variable:
        value = (environ.get(variable) or "").strip()
        if not value:
            errors.append(f"{where}.{env_key}: the environment variable {variable} is not set")
            return None
    if not value:
        if kind in needed_by:
            errors.append(f"{where}.{key}: required for type {kind} (or {env_key})")
        return None
    return str(value)


def _check_channel_url(url: str, where: str) -> Optional[str]:
    """Return why url cannot be posted to, without echoing it (it carries a credential), or None."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname or ""
    except ValueError:
        return f"{where}.url: not a URL"
    if parsed.scheme == "https" and host:
        return None
    if parsed.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return f"{where}.url: expected an https:// URL (http only for 127.0.0.1)"


def _check_channels(config: Dict[str, Any], environ: Mapping[str, str], errors: List[str]) -> List[Dict[str, Any]]:
    """Return the notifications.channels entries as ChannelSettings keyword dicts; every error names its path."""
    notifications = config["notifications"]
    channels: List[Dict[str, Any]] = []
    names: List[str] = []
    for index, raw in enumerate(notifications["channels"] or []):
        where = f"notifications.channels[{index}]"
        count = len(errors)
        entry = _validate_section(CHANNEL_SCHEMA, raw, where, errors)
        if not isinstance(raw, dict):
            continue
        name, kind = entry["name"], entry["type"]
        if name is None or kind is None:
            errors.extend(f"{where}.{key}: required" for key in ("name", "type") if raw.get(key) is None)
            continue
        if not _CHANNEL_NAME_PATTERN.match(name) or name in RESERVED_CHANNEL_NAMES:
            errors.append(f"{where}.name: expected lower-case letters, digits, - or _ (not 'email'), got {name!r}")
        elif name in names:
            errors.append(f"{where}.name: {name!r} is already the name of another channel")
        names.append(name)
        if kind == "pagerduty" and entry["min_severity"] == "trend":
            entry["min_severity"] = "major"  # trend problems never page
        values = {
            keys[0]: _channel_secret(entry, kind, keys, where, environ, errors) if entry["enabled"] else None
            for keys in _CHANNEL_SECRETS
        }
        url = values["url"] or (PAGERDUTY_EVENTS_URL if kind == "pagerduty" else "")
        if url and entry["enabled"]:
            problem = _check_channel_url(url, where)
            if problem:
                errors.append(problem)
        if len(errors) > count:
            continue
        repeat = entry["repeat_interval"] or notifications["repeat_interval"]
        send_resolved = entry["send_resolved"]
        channels.append(
            {
                "name": name,
                "type": kind,
                "url": url,
                "routing_key": values["routing_key"],
                "secret": values["secret"],
                "min_severity": entry["min_severity"],
                "repeat_interval_seconds": parse_duration_seconds(repeat),
                "send_resolved": notifications["send_resolved"] if send_resolved is None else send_resolved,
                "enabled": entry["enabled"],
                "timeout_seconds": float(entry["timeout_seconds"]),
                "retry_seconds": float(entry["retry_seconds"]),
            }
        )
    return channels


# --- end of notifications.channels ---------------------------------------------------------------------------


# --- policy: profiles and maintenance windows -----------------------------------------------------------------

# The JSON metric keys of every SLE type (analysis.catalog.ALL_METRICS; config cannot import analysis, a test keeps
# them equal): per-metric overrides work for wired and WAN metrics too.
SLE_METRIC_KEYS = (
    "time-to-connect",
    "successful-connect",
    "coverage",
    "roaming",
    "throughput",
    "capacity",
    "ap-health",
    "switch-health",
    "switch-throughput",
    "switch-bandwidth",
    "gateway-health",
    "wan-link-health",
    "application-health",
)
THRESHOLD_KEYS = ("critical", "major", "warning")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_PATTERN = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<sh>\d{1,2}):(?P<sm>\d{2})\s*-\s*(?P<eh>\d{1,2}):(?P<em>\d{2})\s*$"
)
MINUTES_PER_DAY = 24 * 60
PROFILE_SCHEMA: Dict[str, Field] = {
    "name": Field("str"),
    "site_groups": Field("any", []),  # a name or a list of names, checked by _string_list
    "sites": Field("any", []),
    "thresholds": Field("mapping", None, nullable=True),  # checked by _partial_thresholds
    "metrics": Field("mapping", None, nullable=True),  # metric key -> partial thresholds
}
MAINTENANCE_SCHEMA: Dict[str, Field] = {
    "name": Field("str"),
    "site_groups": Field("any", []),  # a name or a list of names, checked by _string_list
    "sites": Field("any", []),
    "weekly": Field("any", []),  # a string or a list of strings, checked by parse_weekly
}


def parse_weekly(text: Any) -> WeeklyWindow:
    """Return the window of `sun 01:00-05:00` or `mon-fri 22:00-06:00` (local wall clock); raises ValueError."""
    match = _WINDOW_PATTERN.match(text.lower()) if isinstance(text, str) else None
    if match is None:
        raise ValueError('expected a weekly window such as "sun 01:00-05:00" or "mon-fri 22:00-06:00"')
    first, last = match.group("first"), match.group("last") or match.group("first")
    if first not in WEEKDAYS or last not in WEEKDAYS:
        raise ValueError(f"days are {', '.join(WEEKDAYS)}")
    start = int(match.group("sh")) * 60 + int(match.group("sm"))
    end = int(match.group("eh")) * 60 + int(match.group("em"))
    if int(match.group("sm")) > 59 or int(match.group("em")) > 59 or start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise ValueError("times are HH:MM from 00:00 to 24:00")
    if start == end:
        raise ValueError("the window is empty (start equals end)")
    first_day, last_day = WEEKDAYS.index(first), WEEKDAYS.index(last)
    days = tuple((first_day + offset) % 7 for offset in range((last_day - first_day) % 7 + 1))
    return WeeklyWindow(text=text.strip(), days=days, start_minute=start, end_minute=end % MINUTES_PER_DAY)


def _string_list(value: Any, where: str, errors: List[str]) -> Tuple[str, ...]:
    """Return a string or a list of non-empty strings as a tuple; an error names where otherwise."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        errors.append(f"{where}: expected a list of names, got {shown(value)}")
        return ()
    return tuple(item.strip() for item in items)


def _partial_thresholds(
    raw: Any, base: Mapping[str, float], where: str, errors: List[str]
) -> Optional[Dict[str, float]]:
    """Return base with the keys of raw (critical/major/warning, 0..100) applied, or None after an error."""
    if raw is None:
        return dict(base)
    if not isinstance(raw, dict):
        errors.append(f"{where}: expected a mapping of critical, major and warning, got {shown(raw)}")
        return None
    count = len(errors)
    merged = dict(base)
    for key, value in raw.items():
        if key not in THRESHOLD_KEYS:
            errors.append(f"{where}.{shorten(str(key))}: unknown key{_did_you_mean(key, THRESHOLD_KEYS)}")
            continue
        checked, error = _check_field(Field("number", minimum=0, maximum=100), value, f"{where}.{key}")
        if error:
            errors.append(error)
        else:
            merged[key] = float(checked)
    if len(errors) == count and not merged["critical"] < merged["major"] < merged["warning"]:
        errors.append(
            f"{where}: expected critical < major < warning, got "
            f"{merged['critical']:g}, {merged['major']:g}, {merged['warning']:g}"
        )
    return None if len(errors) > count else merged


def _check_profile(raw: Any, base: Mapping[str, float], where: str, errors: List[str]) -> Optional[ProfileSettings]:
    count = len(errors)
    entry = _validate_section(PROFILE_SCHEMA, raw, where, errors)
    if not isinstance(raw, dict):
        return None
    if not entry["name"]:
        errors.append(f"{where}.name: required")
    groups = _string_list(entry["site_groups"], f"{where}.site_groups", errors)
    sites = _string_list(entry["sites"], f"{where}.sites", errors)
    if not groups and not sites and len(errors) == count:
        errors.append(f"{where}: give site_groups or sites (which sites the profile applies to)")
    thresholds = _partial_thresholds(raw.get("thresholds"), base, f"{where}.thresholds", errors)
    metrics: Dict[str, Dict[str, float]] = {}
    overrides = raw.get("metrics")
    if overrides is not None and not isinstance(overrides, dict):
        errors.append(f"{where}.metrics: expected a mapping of metric keys such as coverage, got {shown(overrides)}")
    for key, value in (overrides or {}).items() if isinstance(overrides, dict) else ():
        if key not in SLE_METRIC_KEYS:
            hint = _did_you_mean(key, SLE_METRIC_KEYS)
            errors.append(
                f"{where}.metrics.{shorten(str(key))}: unknown metric{hint}; one of {', '.join(SLE_METRIC_KEYS)}"
            )
            continue
        merged = _partial_thresholds(value, thresholds or base, f"{where}.metrics.{key}", errors)
        if merged is not None:
            metrics[key] = merged
    if len(errors) > count or thresholds is None:
        return None
    return ProfileSettings(entry["name"], groups, sites, thresholds, metrics)


def _check_maintenance(raw: Any, where: str, errors: List[str]) -> Optional[MaintenanceSettings]:
    count = len(errors)
    entry = _validate_section(MAINTENANCE_SCHEMA, raw, where, errors)
    if not isinstance(raw, dict):
        return None
    if not entry["name"]:
        errors.append(f"{where}.name: required")
    groups = _string_list(entry["site_groups"], f"{where}.site_groups", errors)
    sites = _string_list(entry["sites"], f"{where}.sites", errors)
    if not groups and not sites and len(errors) == count:
        errors.append(f"{where}: give site_groups or sites (which sites the window applies to)")
    weekly = raw.get("weekly")
    texts = [weekly] if isinstance(weekly, str) else weekly if isinstance(weekly, list) else None
    windows: List[WeeklyWindow] = []
    if not texts:
        errors.append(f'{where}.weekly: required, e.g. "sun 01:00-05:00" or a list of such windows')
    for number, text in enumerate(texts or []):
        label = f"{where}.weekly" if isinstance(weekly, str) else f"{where}.weekly[{number}]"
        try:
            windows.append(parse_weekly(text))
        except ValueError as error:
            errors.append(f"{label}: {error}, got {shown(text)}")
    if len(errors) > count:
        return None
    return MaintenanceSettings(entry["name"], groups, sites, tuple(windows))


def _check_policy(config: Dict[str, Any], raw: Any, errors: List[str]) -> PolicySettings:
    """Return the policy section as PolicySettings; every error names its path (policy.profiles[1].thresholds.major).

    The policy applies when the file has a `policy` section with any key besides `enabled` (and `enabled` is not
    false), or when `enabled: true`: without one nothing changes.
    """
    policy = config["policy"]
    raw_policy = raw.get("policy") if isinstance(raw, dict) else None
    base = config["thresholds"]
    profiles: List[ProfileSettings] = []
    names: List[str] = []
    for index, entry in enumerate(policy["profiles"] or []):
        profile = _check_profile(entry, base, f"policy.profiles[{index}]", errors)
        if profile is None:
            continue
        if profile.name in names:
            errors.append(f"policy.profiles[{index}].name: {profile.name!r} is already the name of another profile")
        names.append(profile.name)
        profiles.append(profile)
    maintenance = [
        window
        for index, entry in enumerate(policy["maintenance"] or [])
        for window in [_check_maintenance(entry, f"policy.maintenance[{index}]", errors)]
        if window is not None
    ]
    given = isinstance(raw_policy, dict) and any(key != "enabled" for key in raw_policy)
    return PolicySettings(
        enabled=given if policy["enabled"] is None else bool(policy["enabled"]),
        min_clients=policy["min_clients"],
        min_users=policy["min_users"],
        profiles=tuple(profiles),
        maintenance=tuple(maintenance),
        incident_min_sites=policy["incident_min_sites"],
        inhibition=policy["inhibition"],
    )


# --- end of policy --------------------------------------------------------------------------------------------


def load_config(path: Path, environ: Mapping[str, str], *, require_token: bool = True) -> Settings:
    """Return the validated settings read from a YAML file; raises ConfigError."""
    source = str(path)
    if not path.exists():
        raise ConfigError(
            [
                f"{source}: config file not found. Create it with: {APPLICATION_NAME} config init {source} "
                f"(then set mist.api_token or {TOKEN_ENVIRONMENT_VARIABLE})"
            ]
        )
    try:
        # Read at most one byte past the limit: a config pointed at /dev/zero or a huge file must not fill memory.
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                [f"{source}: the file is larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few kB"]
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{source}: cannot read the file: {error}"]) from None
    try:
        raw = yaml.load(text, Loader=GuardedLoader)  # noqa: S506 - a SafeLoader subclass
    except YamlLimitError as error:
        raise ConfigError([f"{source}: {error.key}: refused: {error.problem}"]) from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise ConfigError([f"{source}: not valid YAML: {shorten(str(error))}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    if raw is None:
        raw = {}
    return validate(raw, source, environ, require_token=require_token, base_directory=path_base(path))
