"""Unit tests of configuration loading and validation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping

import pytest
import yaml

from mist_infra_manager import config

TOKEN = "tok-5f8e2a1b9c7d4e3f"
SOURCE = "config/config.yaml"
ENVIRON = {config.TOKEN_ENVIRONMENT_VARIABLE: TOKEN}


def quiet(**sections: Any) -> Dict[str, Any]:
    """Return a raw config that validates on its own: a token and email notifications off."""
    raw: Dict[str, Any] = {"mist": {"api_token": TOKEN}, "notifications": {"enabled": False}}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return raw


def errors_of(raw: Any, environ: Mapping[str, str] = ENVIRON, source: str = SOURCE) -> List[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.validate(raw, source, environ)
    return caught.value.errors


def load_errors(path: Path, environ: Mapping[str, str] = ENVIRON) -> List[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(path, environ)
    return caught.value.errors


# --- defaults and the template --------------------------------------------------------------------------


def test_keys_left_out_get_their_defaults() -> None:
    loaded = config.validate(quiet(), SOURCE, {})

    assert loaded.mist.base_url == "https://api.eu.mist.com"
    assert loaded.mist.org_id is None
    assert loaded.mist.calls_per_hour == 5000
    assert dataclasses.asdict(loaded.sle) == {
        "duration": "1d",
        "classifier_detail": "degraded",
        "detail_reuse_minutes": 60,
        "root_cause": "major",
        "types": ("wifi",),
        "alert_window": None,
    }
    assert loaded.thresholds.as_dict() == {"critical": 70, "major": 80, "warning": 90}
    assert loaded.notifications.repeat_interval == "4h"
    assert loaded.notifications.email.smtp_port == 25
    assert loaded.notifications.email.recipients == ()
    assert loaded.reports.directory == config.PROJECT_ROOT / "reports"
    assert loaded.source == SOURCE


def test_an_empty_file_needs_only_a_token_and_email_settings() -> None:
    errors = errors_of({}, environ={})

    assert (
        f"{SOURCE}: mist.api_token: missing: set it in the config file or in the MIST_API_TOKEN environment variable"
        in errors
    )
    assert any("notifications.email.recipients: required" in error for error in errors)


def test_the_template_validates_with_the_token_from_the_environment() -> None:
    raw = yaml.safe_load(config.TEMPLATE_PATH.read_text(encoding="utf-8"))
    loaded = config.validate(raw, "config/config.yaml.template", ENVIRON)

    assert loaded.mist.api_token == TOKEN
    assert loaded.mist.org_id is None
    assert loaded.notifications.email.username is None
    assert loaded.notifications.email.recipients == ("ops@example.com",)
    assert loaded.logging.file == config.PROJECT_ROOT / "mist_infra_manager.log"


def test_the_template_placeholder_token_counts_as_missing() -> None:
    raw = yaml.safe_load(config.TEMPLATE_PATH.read_text(encoding="utf-8"))
    errors = errors_of(raw, environ={})

    assert errors == [
        f"{SOURCE}: mist.api_token: missing: set it in the config file or in the MIST_API_TOKEN environment variable"
    ]


def test_every_template_key_is_in_the_schema_and_every_schema_key_in_the_template() -> None:
    text = config.TEMPLATE_PATH.read_text(encoding="utf-8")
    # A key whose default is derived is shown commented out, with an example value: it counts as documented.
    text = re.sub(r'(?m)^(\s+)# ([a-z_]+: "[^"]*")$', r"\1\2", text)
    raw = yaml.safe_load(text)

    def keys(tree: Mapping[str, Any], prefix: str = "") -> List[str]:
        found = []
        for key, value in tree.items():
            if isinstance(value, dict):
                found += keys(value, f"{prefix}{key}.")
            else:
                found.append(f"{prefix}{key}")
        return found

    assert sorted(keys(raw)) == sorted(keys(config.SCHEMA))


def test_an_empty_log_file_means_no_log_file_as_the_template_says() -> None:
    loaded = config.validate(quiet(logging={"file": ""}), SOURCE, {})

    assert loaded.logging.file is None


# --- secrets from the environment --------------------------------------------------------------------------


def test_mist_api_token_in_the_environment_overrides_the_file() -> None:
    loaded = config.validate(quiet(), SOURCE, {config.TOKEN_ENVIRONMENT_VARIABLE: "from-env"})

    assert loaded.mist.api_token == "from-env"


def test_an_empty_mist_api_token_in_the_environment_leaves_the_file_token() -> None:
    loaded = config.validate(quiet(), SOURCE, {config.TOKEN_ENVIRONMENT_VARIABLE: ""})

    assert loaded.mist.api_token == TOKEN


def test_mist_smtp_password_fills_the_password() -> None:
    environ = {config.SMTP_PASSWORD_ENVIRONMENT_VARIABLE: "smtp-secret"}
    loaded = config.validate(quiet(), SOURCE, environ)

    assert loaded.notifications.email.password == "smtp-secret"
    assert loaded.secrets() == [TOKEN, "smtp-secret"]


def test_a_missing_token_is_allowed_when_not_required() -> None:
    raw = quiet()
    del raw["mist"]
    loaded = config.validate(raw, SOURCE, {}, require_token=False)

    assert loaded.mist.api_token is None


# --- error lines -------------------------------------------------------------------------------------------


def test_a_word_for_a_port_gives_one_line_naming_the_source_and_the_key() -> None:
    errors = errors_of(quiet(notifications={"email": {"smtp_port": "twenty-five"}}))

    assert errors == ["config/config.yaml: notifications.email.smtp_port: expected an integer, got 'twenty-five'"]


def test_the_source_name_is_used_as_passed() -> None:
    errors = errors_of(quiet(mist={"max_workers": 0}), source="/etc/mist/site.yaml")

    assert errors == ["/etc/mist/site.yaml: mist.max_workers: must be at least 1, got 0"]


def test_several_errors_are_reported_at_once() -> None:
    raw = quiet(
        mist={"timeout_seconds": "ten", "max_workers": 1000},
        sle={"classifier_detail": "sometimes"},
        logging={"level": "LOUD"},
    )
    errors = errors_of(raw)

    assert len(errors) == 4
    assert all(error.startswith(f"{SOURCE}: ") for error in errors)
    assert "config/config.yaml: mist.timeout_seconds: expected a number, got 'ten'" in errors
    assert "config/config.yaml: mist.max_workers: must be at most 64, got 1000" in errors
    assert any(
        error.startswith(f"{SOURCE}: sle.classifier_detail: expected one of degraded, all, none") for error in errors
    )
    assert any(error.startswith(f"{SOURCE}: logging.level: expected one of DEBUG") for error in errors)


def test_an_unknown_key_is_rejected_with_a_did_you_mean() -> None:
    errors = errors_of(quiet(mist={"base_ulr": "https://api.eu.mist.com"}))

    assert errors == ["config/config.yaml: mist.base_ulr: unknown key (did you mean 'base_url'?)"]


def test_an_unknown_section_is_rejected_with_a_did_you_mean() -> None:
    raw = quiet()
    raw["threshold"] = {"critical": 50}

    assert errors_of(raw) == ["config/config.yaml: threshold: unknown key (did you mean 'thresholds'?)"]


def test_a_lower_case_log_level_is_accepted() -> None:
    loaded = config.validate(quiet(logging={"level": "info"}), SOURCE, {})

    assert loaded.logging.level == "INFO"


def test_a_boolean_is_not_taken_for_a_number() -> None:
    errors = errors_of(quiet(mist={"max_workers": True}))

    assert errors == ["config/config.yaml: mist.max_workers: expected an integer, got True"]


def test_a_single_recipient_string_becomes_a_list_and_a_bad_address_is_named() -> None:
    email = {"enabled": True, "smtp_server": "smtp.example.com", "from_address": "a@example.com"}
    raw = quiet(notifications={"enabled": True, "email": {**email, "recipients": "ops@example.com"}})
    loaded = config.validate(raw, SOURCE, {})

    assert loaded.notifications.email.recipients == ("ops@example.com",)
    bad = quiet(notifications={"email": {"recipients": ["ops@example.com", "not-an-address"]}})
    assert errors_of(bad) == [
        "config/config.yaml: notifications.email.recipients: not an email address: 'not-an-address'"
    ]


# --- base_url -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", config.MIST_API_HOSTS)
def test_every_regional_api_host_is_accepted(host: str) -> None:
    loaded = config.validate(quiet(mist={"base_url": f"https://{host}"}), SOURCE, {})

    assert loaded.mist.base_url == f"https://{host}"


def test_the_twelve_regional_hosts_of_the_reference_are_all_known() -> None:
    regional = {
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
    }

    assert regional <= set(config.MIST_API_HOSTS)


def test_a_trailing_slash_on_the_base_url_is_dropped() -> None:
    loaded = config.validate(quiet(mist={"base_url": "https://api.mist.com/"}), SOURCE, {})

    assert loaded.mist.base_url == "https://api.mist.com"


def test_the_portal_address_is_rejected_with_the_api_host_to_use() -> None:
    errors = errors_of(quiet(mist={"base_url": "https://manage.eu.mist.com"}))

    assert len(errors) == 1
    assert errors[0].startswith("config/config.yaml: mist.base_url: 'manage.eu.mist.com' is not a Mist API host")
    assert "the API host is api.eu.mist.com" in errors[0]


def test_a_loopback_simulator_over_http_is_accepted() -> None:
    loaded = config.validate(quiet(mist={"base_url": "http://127.0.0.1:8080"}), SOURCE, {})

    assert loaded.mist.base_url == "http://127.0.0.1:8080"


def test_a_mist_host_over_plain_http_is_rejected() -> None:
    errors = errors_of(quiet(mist={"base_url": "http://api.eu.mist.com"}))

    assert len(errors) == 1
    assert errors[0].startswith("config/config.yaml: mist.base_url: expected an https:// Mist API host")


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("https://api.eu.mist.com/api/v1", "without a path"),
        ("https://api.eu.mist.co", "did you mean 'api.eu.mist.com'?"),
        ("https://example.com", "is not a Mist API host"),
        ("api.eu.mist.com", "expected an https:// Mist API host"),
    ],
)
def test_other_wrong_base_urls_are_rejected_with_a_hint(base_url: str, words: str) -> None:
    errors = errors_of(quiet(mist={"base_url": base_url}))

    assert len(errors) == 1
    assert words in errors[0]


# --- thresholds -------------------------------------------------------------------------------------------------


def test_thresholds_must_rise_from_critical_to_warning() -> None:
    errors = errors_of(quiet(thresholds={"critical": 85, "major": 80, "warning": 90}))

    assert errors == ["config/config.yaml: thresholds: expected critical < major < warning, got 85, 80, 90"]


def test_equal_thresholds_are_rejected() -> None:
    errors = errors_of(quiet(thresholds={"major": 90}))

    assert errors == ["config/config.yaml: thresholds: expected critical < major < warning, got 70, 90, 90"]


def test_custom_rising_thresholds_are_kept() -> None:
    loaded = config.validate(quiet(thresholds={"critical": 95, "major": 97.5, "warning": 99}), SOURCE, {})

    assert loaded.thresholds.as_dict() == {"critical": 95, "major": 97.5, "warning": 99}


# --- paths ----------------------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_project_root_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = quiet(reports={"directory": "out/reports"}, history={"directory": "out/history"}, logging={"file": "x.log"})
    loaded = config.validate(raw, SOURCE, {})

    assert loaded.reports.directory == config.PROJECT_ROOT / "out" / "reports"
    assert loaded.history.directory == config.PROJECT_ROOT / "out" / "history"
    assert loaded.logging.file == config.PROJECT_ROOT / "x.log"
    assert not str(loaded.reports.directory).startswith(str(tmp_path))


def test_relative_paths_in_a_config_file_resolve_against_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "etc" / "mim" / "config.yaml"
    path.parent.mkdir(parents=True)
    raw = quiet(reports={"directory": "out"}, logging={"file": "logs/x.log"})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    loaded = config.load_config(path, {})

    assert loaded.reports.directory == path.parent / "out"
    assert loaded.history.directory == path.parent / "out" / "history"
    assert loaded.logging.file == path.parent / "logs" / "x.log"


def test_the_checkouts_own_config_resolves_against_the_checkout() -> None:
    assert config.is_checkout()
    assert config.path_base(config.checkout_config_path()) == config.PROJECT_ROOT
    assert config.path_base(config.PROJECT_ROOT / "elsewhere" / "config.yaml") == config.PROJECT_ROOT / "elsewhere"


def test_without_a_reports_directory_an_installed_tool_uses_the_user_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(config, "is_checkout", lambda: False)
    loaded = config.validate(quiet(), SOURCE, {}, base_directory=tmp_path)

    assert loaded.reports.directory == tmp_path / "state" / "mist-infra-manager"
    assert loaded.logging.file == tmp_path / "state" / "mist-infra-manager" / "mist_infra_manager.log"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    loaded = config.validate(quiet(reports={"directory": str(tmp_path / "r")}), SOURCE, {})

    assert loaded.reports.directory == tmp_path / "r"


# --- loading files ------------------------------------------------------------------------------------------------


def test_a_config_file_is_loaded_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(quiet(sle={"duration": "7d"})), encoding="utf-8")
    loaded = config.load_config(path, {})

    assert loaded.sle.duration == "7d"
    assert loaded.mist.api_token == TOKEN


def test_a_missing_file_says_how_to_create_it_with_config_init(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    errors = load_errors(path)

    assert len(errors) == 1
    assert "config file not found" in errors[0]
    assert f"mist-infra-manager config init {path}" in errors[0]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('mist:\n  base_url: "https://api.eu.mist.com"\n  org_id: [unclosed\nsle:\n  duration: 1d\n')
    errors = load_errors(path)

    assert len(errors) == 1
    assert errors[0].startswith(f"{str(path)}: not valid YAML at line 4")


def test_an_empty_file_is_validated_as_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing yet\n")
    errors = load_errors(path, environ={})

    assert any("mist.api_token: missing" in error for error in errors)


# --- secrets never appear in errors ---------------------------------------------------------------------------------


def test_a_token_of_the_wrong_type_is_rejected_without_showing_it() -> None:
    errors = errors_of({"mist": {"api_token": 12345}, "notifications": {"enabled": False}}, environ={})

    assert "config/config.yaml: mist.api_token: expected a string, got a value of type int" in errors
    assert "12345" not in "\n".join(errors)


def test_a_password_of_the_wrong_type_is_rejected_without_showing_it() -> None:
    errors = errors_of(quiet(notifications={"email": {"password": 987654321}}))

    assert errors == ["config/config.yaml: notifications.email.password: expected a string, got a value of type int"]


@pytest.mark.parametrize(
    "raw",
    [
        {"mist": TOKEN},
        TOKEN,
        [TOKEN],
        {"mist": {"api_tokn": TOKEN}, "notifications": {"enabled": False}},
        {"mist": {"api_token": [TOKEN]}, "notifications": {"enabled": False}},
        {"mist": {"api_token": TOKEN}, "notifications": {"email": TOKEN}},
    ],
)
def test_a_misplaced_token_never_appears_in_the_errors(raw: Any) -> None:
    errors = errors_of(raw, environ={})

    assert errors
    assert TOKEN not in "\n".join(errors)


def test_a_yaml_error_on_the_token_line_does_not_show_the_token(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f'mist:\n  api_token: "{TOKEN}\n  base_url: https://api.eu.mist.com\n')
    errors = load_errors(path)

    assert errors[0].startswith(f"{str(path)}: not valid YAML")
    assert TOKEN not in "\n".join(errors)


# --- email transport ------------------------------------------------------------------------------------------------


def test_starttls_and_implicit_tls_together_are_rejected() -> None:
    errors = errors_of(quiet(notifications={"email": {"use_tls": True, "use_ssl": True}}))

    assert errors == [
        "config/config.yaml: notifications.email: use_tls (STARTTLS) and use_ssl (implicit TLS) exclude each other"
    ]


def test_email_enabled_needs_a_server_a_sender_and_recipients() -> None:
    errors = errors_of(quiet(notifications={"enabled": True}))

    assert errors == [
        "config/config.yaml: notifications.email.recipients: required when email is enabled (a list of addresses)",
        "config/config.yaml: notifications.email.from_address: required when email is enabled",
        "config/config.yaml: notifications.email.smtp_server: required when email is enabled with transport smtp",
    ]


def test_the_file_transport_needs_no_smtp_server() -> None:
    email = {"transport": "file", "from_address": "a@example.com", "recipients": ["b@example.com"]}
    loaded = config.validate(quiet(notifications={"enabled": True, "email": email}), SOURCE, {})

    assert loaded.notifications.email.transport == "file"


# --- durations --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("4h", 14400), ("1d", 86400), ("1w", 604800), ("90s", 90), ("1.5h", 5400), (" 2h ", 7200)],
)
def test_a_duration_is_parsed_to_seconds(text: str, seconds: float) -> None:
    assert config.parse_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["4 hours", "4", "h", "-1h", "4H", "", "1h30m"])
def test_a_malformed_duration_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        config.parse_duration_seconds(text)


def test_a_repeat_interval_is_validated_as_a_duration() -> None:
    loaded = config.validate(quiet(notifications={"repeat_interval": "30m"}), SOURCE, {})

    assert loaded.notifications.repeat_interval == "30m"
    assert errors_of(quiet(notifications={"repeat_interval": "4 hours"})) == [
        "config/config.yaml: notifications.repeat_interval: expected a duration such as 30m, 4h or 1d, got '4 hours'"
    ]
    assert errors_of(quiet(notifications={"repeat_interval": 30})) == [
        "config/config.yaml: notifications.repeat_interval: expected a duration such as 30m, 4h or 1d, got 30"
    ]


@pytest.mark.parametrize("duration", ["0d", "1s", "1.5d", "1D", "day"])
def test_an_sle_window_must_be_a_whole_number_of_minutes_hours_days_or_weeks(duration: str) -> None:
    errors = errors_of(quiet(sle={"duration": duration}))

    assert len(errors) == 1
    assert errors[0].startswith("config/config.yaml: sle.duration: expected an SLE window")


def test_the_history_follows_the_reports_directory_unless_set(tmp_path: Path) -> None:
    derived = config.validate(quiet(reports={"directory": str(tmp_path / "org-a")}), SOURCE, ENVIRON)
    assert derived.history.directory == tmp_path / "org-a" / "history"
    explicit = config.validate(
        quiet(reports={"directory": str(tmp_path / "org-a")}, history={"directory": str(tmp_path / "h")}),
        SOURCE,
        ENVIRON,
    )
    assert explicit.history.directory == tmp_path / "h"


def test_email_addresses_must_be_ascii_that_smtp_can_carry() -> None:
    raw = quiet(
        notifications={
            "enabled": True,
            "email": {"transport": "file", "from_address": "nöc@example.com", "recipients": ["jörg@example.com"]},
        }
    )
    errors = errors_of(raw)
    assert any("notifications.email.recipients: not an email address: 'jörg@example.com'" in e for e in errors)
    assert any("notifications.email.from_address: not an email address: 'nöc@example.com'" in e for e in errors)


def test_a_token_with_a_line_break_from_the_environment_is_trimmed_and_one_with_a_space_refused() -> None:
    trimmed = config.validate(quiet(), SOURCE, {config.TOKEN_ENVIRONMENT_VARIABLE: TOKEN + "\r\n"})
    assert trimmed.mist.api_token == TOKEN
    errors = errors_of(quiet(), {config.TOKEN_ENVIRONMENT_VARIABLE: "tok en"})
    assert errors == [
        f"{SOURCE}: mist.api_token: the token (from MIST_API_TOKEN) holds spaces, control or non-ASCII characters"
    ]


def test_reports_file_mode_is_a_quoted_octal_string_kept_as_an_int() -> None:
    assert config.validate(quiet(), SOURCE, ENVIRON).reports.file_mode == 0o640
    assert config.validate(quiet(reports={"file_mode": "0644"}), SOURCE, ENVIRON).reports.file_mode == 0o644
    assert config.validate(quiet(reports={"file_mode": "600"}), SOURCE, ENVIRON).reports.file_mode == 0o600


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (420, 'expected a quoted octal string such as "0640", got 420 (put the mode in quotes)'),
        (644, "got 644 (put the mode in quotes)"),
        ("0755", "must be at most 0666 (no execute, set-id or sticky bits)"),
        ("1644", "must be at most 0666"),
        ("0400", "must keep the owner's read and write (0600)"),
        ("rw-r--r--", "expected 3 or 4 octal digits"),
        ("0o644", "expected 3 or 4 octal digits"),
    ],
)
def test_a_bad_reports_file_mode_is_refused_with_a_clear_message(value: Any, words: str) -> None:
    errors = errors_of(quiet(reports={"file_mode": value}))
    assert len(errors) == 1 and errors[0].startswith(f"{SOURCE}: reports.file_mode: ") and words in errors[0]


# --- hostile files: limits, non-finite numbers, paths that can never work -----------------------------------


def write_quiet_config(tmp_path: Path, extra: str) -> Path:
    """Write a config that validates on its own, then the extra YAML text (which may redefine sections)."""
    path = tmp_path / "config.yaml"
    path.write_text(f"mist:\n  api_token: {TOKEN}\nnotifications:\n  enabled: false\n{extra}", encoding="utf-8")
    return path


def billion_laughs(levels: int = 9) -> str:
    """Return YAML whose last anchor expands to 9**levels strings: nested aliases, the YAML bomb."""
    lines = ["lol0: &lol0 ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']"]
    for level in range(1, levels):
        aliases = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + f"\nmist:\n  org_id: *lol{levels - 1}\n"


def test_a_yaml_bomb_is_refused_in_one_line_before_it_grows(tmp_path: Path) -> None:
    errors = load_errors(write_quiet_config(tmp_path, billion_laughs()))

    assert len(errors) == 1
    assert (
        errors[0].startswith(f"{tmp_path / 'config.yaml'}: lol3[2]: refused: ")
        and "more than 20 YAML aliases" in errors[0]
    )


def test_a_few_aliases_are_still_allowed(tmp_path: Path) -> None:
    extra = (
        "notifications:\n  enabled: false\n  email:\n    recipients: &team [noc@example.com]\nlogging:\n  x: *team\n"
    )
    errors = load_errors(write_quiet_config(tmp_path, extra))

    assert [error.split(": ", 1)[1] for error in errors] == ["logging.x: unknown key"]


@pytest.mark.parametrize(
    "extra, key",
    [
        ("mist:\n  org_id: " + "[" * 5000 + "]" * 5000 + "\n", "mist.org_id[0][0]"),
        ("".join("  " * level + f"k{level}:\n" for level in range(40)), "k0.k1.k2"),
    ],
)
def test_deep_nesting_is_refused_in_one_line_naming_where(tmp_path: Path, extra: str, key: str) -> None:
    errors = load_errors(write_quiet_config(tmp_path, extra))

    assert len(errors) == 1 and "nested deeper than 20 levels" in errors[0]
    assert errors[0].split(": ")[1].startswith(key) and len(errors[0]) < 300


def test_a_file_over_one_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    errors = load_errors(write_quiet_config(tmp_path, "# " + "x" * config.MAX_CONFIG_BYTES + "\n"))

    assert errors == [f"{tmp_path / 'config.yaml'}: the file is larger than 1024 KiB; a config is a few kB"]


def test_an_integer_too_long_to_read_is_a_config_error(tmp_path: Path) -> None:
    errors = load_errors(write_quiet_config(tmp_path, "monitoring:\n  failure_alert_after: " + "9" * 6000 + "\n"))

    assert len(errors) == 1 and "not valid YAML" in errors[0] and len(errors[0]) < 300


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN", "+.Inf"])
@pytest.mark.parametrize(
    "key", ["mist.timeout_seconds", "thresholds.warning", "monitoring.interval_minutes", "mist.max_workers"]
)
def test_nan_and_infinity_are_refused_in_numeric_keys(tmp_path: Path, text: str, key: str) -> None:
    section, name = key.split(".")
    errors = load_errors(write_quiet_config(tmp_path, f"{section}:\n  {name}: {text}\n"))

    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'config.yaml'}: {key}: expected ")


def test_a_huge_value_is_shown_cut_short_in_its_error() -> None:
    errors = errors_of(quiet(mist={"base_url": "x" * 1_000_000}, sle={"classifier_detail": ["y" * 1000] * 1000}))

    assert len(errors) == 2 and all(len(error) < 300 for error in errors)
    assert "mist.base_url" in errors[0] and "sle.classifier_detail" in errors[1]


def test_a_huge_structure_built_in_memory_is_described_with_bounded_effort() -> None:
    bomb: Any = "lol"
    for _ in range(40):
        bomb = [bomb] * 10  # 10**40 strings if expanded

    errors = errors_of(quiet(mist={"max_workers": bomb}))

    assert len(errors) == 1 and errors[0].startswith(f"{SOURCE}: mist.max_workers: expected an integer, got [[[")
    assert len(errors[0]) < 200


def test_a_file_where_a_folder_must_be_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    raw = quiet(reports={"directory": str(a_file)}, history={"directory": str(a_file / "history")})

    errors = errors_of(raw)

    assert errors == [
        f"{SOURCE}: reports.directory: must be a folder, but {a_file} is a file",
        f"{SOURCE}: history.directory: must be a folder, but {a_file / 'history'} cannot be created: "
        f"{a_file} is a file",
    ]


def test_a_folder_where_a_file_must_be_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    raw = quiet(
        logging={"file": str(tmp_path)},
        mist={"ca_bundle": str(tmp_path)},
        notifications={"email": {"ca_bundle": str(tmp_path)}},
    )

    errors = errors_of(raw)

    assert errors == [
        f"{SOURCE}: logging.file: must be a file, but {tmp_path} is a folder",
        f"{SOURCE}: mist.ca_bundle: must be a CA bundle file (PEM), but {tmp_path} is a folder",
        f"{SOURCE}: notifications.email.ca_bundle: must be a CA bundle file (PEM), but {tmp_path} is a folder",
    ]


def test_a_folder_that_exists_but_cannot_be_written_is_not_a_config_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    loaded = config.validate(quiet(reports={"directory": str(locked)}), SOURCE, ENVIRON)

    assert loaded.reports.directory == locked


@pytest.mark.parametrize(
    "extra, lines_expected",
    [
        (billion_laughs(), 1),
        ("sle:\n  duration: " + "{a: " * 100 + "1" + "}" * 100 + "\n", 1),
        ("monitoring:\n  interval_minutes: .nan\n", 1),
        ("reports:\n  directory: config.yaml\n", 2),  # the history folder follows it: also impossible
    ],
)
def test_the_command_line_exits_2_with_one_line_per_error_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, lines_expected: int
) -> None:
    from mist_infra_manager.cli.main import main

    path = write_quiet_config(tmp_path, extra)

    code = main(["--config", str(path), "--mode", "report"], {})

    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == lines_expected and all(line.startswith(f"error: {path}: ") for line in lines)
    assert "Traceback" not in captured.err
