"""The alert policy's pure parts: config validation with path-named errors, weekly windows in a site's own
timezone (midnight, DST), profile matching, inhibition, incidents, and the silences file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

from mist_infra_manager import config
from mist_infra_manager.alerting import alert_state
from mist_infra_manager.analysis import catalog, policy
from mist_infra_manager.analysis.models import ClassifierStat, MetricResult, RunResult, SiteResult
from mist_infra_manager.settings import PolicySettings
from mist_infra_manager.state import silences

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # a Wednesday
BASE: Dict[str, Any] = {"mist": {"api_token": "t"}, "notifications": {"enabled": False}}
DEFAULT = {"critical": 70.0, "major": 80.0, "warning": 90.0}


def validate_policy(section: Dict[str, Any]) -> PolicySettings:
    return config.validate(dict(BASE, policy=section), "p.yaml", {}).policy


def policy_errors(section: Dict[str, Any]) -> List[str]:
    with pytest.raises(config.ConfigError) as caught:
        validate_policy(section)
    return caught.value.errors


def window(text: str) -> Any:
    return config.parse_weekly(text)


def site(name: str, metrics: Dict[str, MetricResult], **fields: Any) -> SiteResult:
    return SiteResult(
        id=name,
        name=name,
        status="critical",
        num_aps=4,
        num_clients=fields.pop("clients", 100),
        metrics=metrics,
        **fields,
    )


def metric(key: str, pct: float, severity: str, top: str = "") -> MetricResult:
    classifiers = [ClassifierStat(top, top, 30.0, 80.0, 10, 2)] if top else []
    return MetricResult(
        key=key,
        name=catalog.METRICS_BY_KEY[key].name,
        sle_pct=pct,
        severity=severity,
        detail="fetched",
        classifiers=classifiers,
    )


def run_of(sites: List[SiteResult]) -> RunResult:
    return RunResult(
        generated_at=NOW,
        org_id="o",
        org_name="Org",
        window_start=None,
        window_end=None,
        duration="1d",
        thresholds=DEFAULT,
        overall_status="critical",
        summary={},
        sites=sites,
        insights=[],
        api_calls=0,
        base_url="http://127.0.0.1",
    )


# --- configuration -------------------------------------------------------------------------------------------


def test_a_config_without_policy_has_the_policy_switched_off() -> None:
    loaded = config.validate(BASE, "p.yaml", {})

    assert loaded.policy.enabled is False
    assert loaded.sle.alert_window is None


def test_a_policy_section_with_keys_switches_it_on_and_partial_thresholds_fill_in_from_the_defaults() -> None:
    loaded = validate_policy(
        {
            "min_clients": 5,
            "profiles": [
                {
                    "name": "w",
                    "site_groups": ["Warehouses"],
                    "thresholds": {"critical": 50},
                    "metrics": {"coverage": {"warning": 85}},
                }
            ],
        }
    )

    assert loaded.enabled and loaded.min_clients == 5
    assert loaded.profiles[0].thresholds == {"critical": 50.0, "major": 80, "warning": 90}
    assert loaded.profiles[0].metrics["coverage"] == {"critical": 50.0, "major": 80, "warning": 85.0}


def test_policy_enabled_false_switches_everything_off_even_with_keys() -> None:
    assert validate_policy({"enabled": False, "min_clients": 5}).enabled is False


def test_errors_in_lists_of_profiles_and_windows_name_their_path() -> None:
    errors = policy_errors(
        {
            "profiles": [
                {"name": "ok", "sites": ["A*"]},
                {"name": "bad", "sites": ["B*"], "thresholds": {"major": "high"}, "metrics": {"coverag": {}}},
                {"name": "order", "sites": ["C*"], "thresholds": {"critical": 95}},
            ],
            "maintenance": [{"name": "m", "sites": ["A*"], "weekly": ["sun 01:00-05:00", "someday 9-5"]}],
        }
    )

    assert "p.yaml: policy.profiles[1].thresholds.major: expected a number, got 'high'" in errors
    assert any(
        e.startswith("p.yaml: policy.profiles[1].metrics.coverag: unknown metric (did you mean 'coverage'?)")
        for e in errors
    )
    assert any(
        e.startswith("p.yaml: policy.profiles[2].thresholds: expected critical < major < warning") for e in errors
    )
    assert any(e.startswith("p.yaml: policy.maintenance[0].weekly[1]: expected a weekly window") for e in errors)


def test_a_profile_needs_sites_or_site_groups() -> None:
    assert policy_errors({"profiles": [{"name": "x"}]}) == [
        "p.yaml: policy.profiles[0]: give site_groups or sites (which sites the profile applies to)"
    ]


def test_the_config_metric_keys_are_the_catalog_keys() -> None:
    assert tuple(metric.key for metric in catalog.ALL_METRICS) == config.SLE_METRIC_KEYS


# --- weekly windows ------------------------------------------------------------------------------------------


def test_a_window_inside_its_hours_in_the_site_timezone_ends_at_its_local_end() -> None:
    # Wednesday 12:00 UTC is 13:00 in Berlin (CET, UTC+1).
    berlin = window("wed 12:30-14:00")

    assert policy.window_end(berlin, "Europe/Berlin", NOW) == datetime(2026, 12, 2, 13, 0, tzinfo=timezone.utc)
    assert policy.window_end(berlin, "UTC", NOW) is None
    assert policy.window_end(berlin, "Europe/Berlin", NOW + timedelta(hours=1)) is None


def test_a_day_range_window_crosses_midnight_into_the_next_day() -> None:
    nights = window("mon-fri 22:00-06:00")

    def inside(day: int, hour: int) -> bool:  # day of December 2026: the 4th is a Friday
        return policy.window_end(nights, "UTC", datetime(2026, 12, day, hour, 30, tzinfo=timezone.utc)) is not None

    assert inside(4, 23) and inside(5, 5)  # Friday night into Saturday morning
    assert not inside(5, 23) and not inside(7, 5)  # Saturday night; Monday morning (Sunday starts none)
    assert inside(8, 5) and not inside(8, 6) and not inside(8, 21)


def test_across_the_spring_dst_change_the_window_follows_the_local_clock() -> None:
    # London, Sunday 29 March 2026: 01:00 GMT becomes 02:00 BST; 05:00 BST is 04:00 UTC.
    sunday = window("sun 01:00-05:00")
    at = datetime(2026, 3, 29, 3, 30, tzinfo=timezone.utc)  # 04:30 BST

    assert policy.window_end(sunday, "Europe/London", at) == datetime(2026, 3, 29, 4, 0, tzinfo=timezone.utc)
    assert policy.window_end(sunday, "Europe/London", at + timedelta(hours=1)) is None


def test_an_unknown_site_timezone_falls_back_to_utc() -> None:
    assert policy.window_end(window("wed 11:00-13:00"), "Mars/Olympus_Mons", NOW) is not None


@pytest.mark.parametrize("text", ["sun 05:00-05:00", "sun 25:00-26:00", "funday 01:00-02:00", "sun 1-2"])
def test_malformed_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        config.parse_weekly(text)


# --- profiles, muting, inhibition, incidents ---------------------------------------------------------------


def test_the_first_matching_profile_judges_the_site_and_unmatched_sites_keep_the_defaults() -> None:
    settings = validate_policy(
        {
            "profiles": [
                {
                    "name": "wh",
                    "site_groups": ["warehouses"],
                    "thresholds": {"critical": 50, "major": 60, "warning": 75},
                },
                {"name": "later", "sites": ["*"], "thresholds": {"critical": 10, "major": 20, "warning": 30}},
            ]
        }
    )
    warehouse = site("Leeds DC", {"coverage": metric("coverage", 62.0, "critical")})
    store = site("Store 1", {"coverage": metric("coverage", 62.0, "critical")})
    attributes = {"Leeds DC": ("Europe/London", ["Warehouses"]), "Store 1": ("Europe/Paris", [])}

    policy.apply_profiles([warehouse, store], attributes, settings, DEFAULT)

    assert (warehouse.profile, warehouse.metrics["coverage"].severity, warehouse.status) == ("wh", "warning", "warning")
    assert warehouse.metrics["coverage"].thresholds == {"critical": 50, "major": 60, "warning": 75}
    assert store.profile == "later" and store.timezone == "Europe/Paris"


def test_site_attributes_read_membership_from_each_sites_own_group_ids() -> None:
    attributes = policy.site_attributes(
        [{"id": "s1", "timezone": "Europe/Leeds", "sitegroup_ids": ["g1", "gone"]}, {"id": "s2"}],
        [{"id": "g1", "name": "Warehouses", "site_ids": []}],
    )

    assert attributes == {"s1": ("Europe/Leeds", ["Warehouses"]), "s2": ("UTC", [])}


def test_a_small_site_is_muted_by_min_clients_and_a_site_without_a_count_is_not() -> None:
    settings = validate_policy({"min_clients": 5})
    small = site("Kiosk", {"coverage": metric("coverage", 50.0, "critical")}, clients=3)
    unknown = site("Unknown", {"coverage": metric("coverage", 50.0, "critical")}, clients=None)
    result = run_of([small, unknown])

    policy.apply_policy(result, settings, [], NOW)

    assert small.metrics["coverage"].muted == "min_clients"
    assert unknown.metrics["coverage"].alertable
    assert [p.site_name for p in alert_state.current_problems(result)] == ["Unknown"]


def test_a_disconnected_site_folds_its_other_problems_into_site_connectivity() -> None:
    down = site(
        "Down",
        {
            "ap-health": metric("ap-health", 40.0, "critical", "ap-disconnected-ap-unreachable"),
            "coverage": metric("coverage", 60.0, "critical", "weak-signal"),
        },
    )
    result = run_of([down])

    policy.apply_policy(result, validate_policy({"min_clients": 0}), [], NOW)

    assert down.metrics["coverage"].muted == "inhibited"
    assert down.metrics["ap-health"].folded == ["coverage"]
    assert [(p.site_name, p.metric) for p in alert_state.current_problems(result)] == [("Down", "ap-health")]


def test_sites_sharing_a_metric_and_top_classifier_become_one_incident_problem_with_a_stable_key() -> None:
    sites = [
        site(f"S{i}", {"time-to-connect": metric("time-to-connect", 60.0 + i, "critical", "dhcp-unresponsive")})
        for i in range(5)
    ]
    sites.append(site("Other", {"time-to-connect": metric("time-to-connect", 60.0, "critical", "authorization")}))
    result = run_of(sites)

    policy.apply_policy(result, validate_policy({"incident_min_sites": 5}), [], NOW)
    problems = alert_state.current_problems(result)

    assert [incident.key for incident in result.incidents] == ["incident:time-to-connect:dhcp-unresponsive"]
    assert problems[0].site_id == "incident:time-to-connect:dhcp-unresponsive" and problems[0].incident
    assert problems[0].site_name == (
        "DHCP Unresponsive degrades Time to Connect at 5 sites (5 critical): a shared service is the likely cause"
    )
    assert [p.site_name for p in problems[1:]] == ["Other"]


def test_silences_apply_without_a_policy_section_and_only_while_active() -> None:
    leeds = site("Store-0007 Leeds", {"coverage": metric("coverage", 60.0, "critical")})
    silence = policy.Silence(
        "abc", "leeds*", None, None, NOW - timedelta(hours=1), NOW + timedelta(hours=1), "switch swap", "noc"
    )
    result = run_of([leeds])

    policy.apply_policy(result, PolicySettings(), [silence], NOW)

    assert leeds.metrics["coverage"].muted_reason == "silenced by noc (abc): switch swap"
    assert leeds.metrics["coverage"].muted_until == NOW + timedelta(hours=1)
    assert result.incidents == [] and not result.policy_applied
    assert not silence.active(NOW + timedelta(hours=1))


# --- the silences file ---------------------------------------------------------------------------------------


def test_a_silence_records_the_os_user_and_is_listed_until_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(silences.getpass, "getuser", lambda: "alice")

    made = silences.add_silence(
        tmp_path,
        site=None,
        group="Stores GB",
        metric="coverage",
        ends_at=NOW + timedelta(hours=4),
        reason="works",
        now=NOW,
    )
    loaded = silences.load_silences(tmp_path)
    expired = silences.expire_silence(tmp_path, made.id, NOW + timedelta(minutes=5))

    assert [(s.created_by, s.starts_at, s.group, s.metric) for s in loaded] == [("alice", NOW, "Stores GB", "coverage")]
    assert expired is not None and not silences.load_silences(tmp_path)[0].active(NOW + timedelta(minutes=6))
    assert silences.expire_silence(tmp_path, made.id, NOW + timedelta(minutes=7)) is None


def test_a_damaged_silences_file_is_set_aside_and_silences_nothing(tmp_path: Path) -> None:
    path = silences.silences_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "silences": [{"id": 3}]}', encoding="utf-8")

    assert silences.load_silences(tmp_path) == []
    assert path.with_name(path.name + ".corrupt").exists()


def test_an_incident_that_ends_is_resolved_once_it_was_emailed() -> None:
    key = "incident:time-to-connect:dhcp-unresponsive"
    sent = alert_state.Entry(key, "DHCP ... at 5 sites", "time-to-connect", "critical", 60.0, NOW, NOW, NOW)
    never_sent = alert_state.Entry(
        key.replace("dhcp", "dns"), "DNS ...", "time-to-connect", "critical", 60.0, NOW, NOW, None
    )

    decision = alert_state.decide(
        {sent.key: sent, never_sent.key: never_sent},
        [],
        {},
        trends_computed=True,
        now=NOW + timedelta(minutes=15),
        repeat_interval=timedelta(hours=4),
    )

    assert decision.resolved == [sent]
    assert alert_state.next_state({}, decision, NOW, alert_sent=True, resolved_sent=True) == {}


def test_across_the_autumn_dst_change_a_night_window_lasts_one_hour_longer() -> None:
    # London, Sunday 25 October 2026: 02:00 BST becomes 01:00 GMT; 00:00-04:00 local is 23:00 to 04:00 UTC.
    night = window("sun 00:00-04:00")
    start = datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc)

    assert policy.window_end(night, "Europe/London", start) == datetime(2026, 10, 25, 4, 0, tzinfo=timezone.utc)
    assert policy.window_end(night, "Europe/London", start - timedelta(minutes=1)) is None


def test_a_problem_affecting_fewer_users_than_min_users_is_muted_and_one_without_a_count_is_not() -> None:
    few = site("Few", {"coverage": metric("coverage", 60.0, "critical", "weak-signal")})  # 10 users
    unknown = site("Unknown", {"coverage": metric("coverage", 60.0, "critical", "weak-signal")})
    unknown.metrics["coverage"].classifiers[0].users = None
    result = run_of([few, unknown])

    policy.apply_policy(result, validate_policy({"min_users": 11}), [], NOW)

    assert few.metrics["coverage"].muted_reason == "10 users affected, below policy.min_users 11"
    assert unknown.metrics["coverage"].alertable
