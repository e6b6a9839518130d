"""Shared test fixtures: the Mist simulator over loopback, config files on disk, and the CLI in-process or in a
subprocess; the test tiers (unit, integration, e2e) and the hypothesis profiles (fast by default, ci in CI).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest
import yaml
from hypothesis import settings as hypothesis_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAIN_SCRIPT = PROJECT_ROOT / "src" / "main.py"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
SIMULATOR_TOKEN = "sim-token-7f3c2a91d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8"
# Proxy and CA variables of the machine running the tests: never seen by the tests (nor their subprocesses).
NETWORK_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

# --- hypothesis profiles -------------------------------------------------------------------------------------------
# "fast" (the default, for `make test`): a handful of examples per property, enough to catch a broken property.
# "ci" (CI=true, or HYPOTHESIS_PROFILE=ci, or --hypothesis-profile=ci): every test runs the full count it asks
# for through example_count(). No deadline in either: timing is not what these tests check.
FAST_EXAMPLES = 10
hypothesis_settings.register_profile("fast", max_examples=FAST_EXAMPLES, deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").strip().lower() == "true" else "fast"
)
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_configure(config: pytest.Config) -> None:
    """Follow hypothesis's own --hypothesis-profile option when it is given."""
    global HYPOTHESIS_PROFILE
    chosen = config.getoption("hypothesis_profile", None)
    if chosen:
        HYPOTHESIS_PROFILE = chosen


def example_count(full: int, fast: int = FAST_EXAMPLES) -> int:
    """Return max_examples for a hypothesis test whose full count is `full`: all of it under the ci profile.

    fast: the count of the fast profile, lower for tests whose examples are expensive to generate.
    """
    if HYPOTHESIS_PROFILE == "ci":
        return full
    return min(full, fast)


# --- tiers ---------------------------------------------------------------------------------------------------------
# Every test module has a tier; a test may be moved up with an explicit @pytest.mark.e2e (or integration), and
# tests marked browser or bruno, or using the daemon_processes fixture (the command in a subprocess), are e2e.
#   unit:        functions and classes in-process, no server (a loopback lock holder or file at most)
#   integration: against the Mist simulator, a canned HTTP server or the SMTP test server, the CLI in-process
#   e2e:         the command in a subprocess (`python src/main.py`, from `/`), headless Chromium, the Bruno CLI
TIERS = ("unit", "integration", "e2e")
MODULE_TIERS: Dict[str, str] = {
    "test_alert_email_layout.py": "integration",
    "test_alert_path.py": "integration",
    "test_alert_state.py": "unit",
    "test_policy.py": "unit",
    "test_policy_alerts.py": "integration",
    "test_api_contract.py": "integration",
    "test_bounded_http.py": "integration",
    "test_bruno_collection.py": "unit",
    "test_call_budget.py": "unit",
    "test_catalog.py": "unit",
    "test_channel_payloads.py": "unit",
    "test_channels.py": "integration",
    "test_check.py": "integration",
    "test_cli.py": "unit",
    "test_collector.py": "integration",
    "test_collector_faults.py": "integration",
    "test_collector_org.py": "unit",
    "test_collector_scale.py": "integration",
    "test_config.py": "unit",
    "test_corporate_network.py": "integration",
    "test_daemon.py": "integration",
    "test_docs.py": "unit",
    "test_email_contrast.py": "unit",
    "test_email_layout_browser.py": "e2e",
    "test_fault_injection.py": "integration",
    "test_fileio.py": "unit",
    "test_health_dashboard_html.py": "unit",
    "test_heartbeat.py": "unit",
    "test_history_store.py": "unit",
    "test_insights_analyzer.py": "unit",
    "test_logging_setup.py": "unit",
    "test_main.py": "e2e",
    "test_metrics.py": "integration",
    "test_mist_client.py": "integration",
    "test_mist_simulator.py": "integration",
    "test_monitoring_deploy.py": "unit",
    "test_notification_service.py": "integration",
    "test_package_layout.py": "unit",
    "test_packaging.py": "e2e",
    "test_root_cause.py": "integration",
    "test_root_cause_outputs.py": "integration",
    "test_report_generator.py": "unit",
    "test_run_lock.py": "unit",
    "test_schema_generated_bodies.py": "integration",
    "test_sle_monitor.py": "unit",
    "test_sle_types.py": "unit",
    "test_state_files.py": "integration",
    "test_text_safety.py": "unit",
    "test_tiers.py": "unit",
    "test_trend_analyzer.py": "unit",
    "test_trends_end_to_end.py": "integration",
    "test_wired_wan.py": "integration",
}
E2E_MARKERS = ("browser", "bruno")
E2E_FIXTURES = ("daemon_processes",)


def tier_of(item: pytest.Item) -> Optional[str]:
    """Return a test's tier: its explicit tier marker, else e2e by marker or fixture, else its module's."""
    explicit = [name for name in TIERS if item.get_closest_marker(name) is not None]
    if explicit:
        return max(explicit, key=TIERS.index)
    if any(item.get_closest_marker(name) is not None for name in E2E_MARKERS):
        return "e2e"
    if any(name in getattr(item, "fixturenames", ()) for name in E2E_FIXTURES):
        return "e2e"
    return MODULE_TIERS.get(item.path.name)


# Tests marked `slow` (10,000-site scale checks, each several seconds) run with the full hypothesis counts: in CI
# (CI=true), with HYPOTHESIS_PROFILE=ci, or with `make test-all`; `make test` skips them to stay under a minute.
RUN_SLOW = HYPOTHESIS_PROFILE == "ci" or os.environ.get("MIST_TEST_SLOW", "").strip() == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: runs in CI (CI=true) and with `make test-all`")
    for item in items:
        tier = tier_of(item)
        if tier is not None and item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
        if not RUN_SLOW and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)


def deep_merge(base: Dict[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """Return base with overrides merged in, recursively for nested mappings."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def base_config(base_url: str, tmp_path: Path) -> Dict[str, Any]:
    """Return a raw config for a simulator at base_url, writing everything under tmp_path, email off."""
    return {
        "mist": {"api_token": SIMULATOR_TOKEN, "base_url": base_url, "timeout_seconds": 5},
        "reports": {"directory": str(tmp_path / "reports")},
        "history": {"directory": str(tmp_path / "reports" / "history")},
        "logging": {"file": str(tmp_path / "mist_infra_manager.log")},
        "notifications": {"enabled": False},
    }


def write_config(path: Path, raw: Mapping[str, Any]) -> Path:
    """Write a raw config as YAML and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(raw), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_network_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def simulator() -> Iterator[Any]:
    """A 40-site Mist simulator on loopback with the test token."""
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN) as running:
        yield running


@pytest.fixture
def capped_simulator() -> Iterator[Any]:
    """A 40-site Mist simulator that serves at most 7 items per page."""
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    with MistSimulator(num_sites=40, token=SIMULATOR_TOKEN, page_cap=7) as running:
        yield running


@pytest.fixture
def make_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function writing a config file for a simulator, with overrides, and returning its path."""

    def _make(base_url: str, overrides: Optional[Mapping[str, Any]] = None, name: str = "config.yaml") -> Path:
        raw = deep_merge(base_config(base_url, tmp_path), overrides or {})
        return write_config(tmp_path / name, raw)

    return _make


def cli_environment(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment of a CLI run: this one without MIST_* variables, plus env."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    environment.update(env or {})
    return environment


@dataclass(frozen=True)
class Completed:
    """What run_main returns: the fields of subprocess.CompletedProcess that the tests read."""

    args: List[str]
    returncode: int
    stdout: str
    stderr: str


def run_main(
    arguments: List[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
) -> Completed:
    """Run `main(ARGS, environ)` in this process with stdout and stderr captured, as run_cli does in a subprocess.

    The environment is run_cli's (this one without MIST_*, plus env), handed to main rather than set. main
    configures the root logger on every run; the handlers it adds (writing to the captured streams and the log
    file) are closed afterwards and the ones it replaced (pytest's) put back, so runs do not leak into each other.
    cwd, when given, is the working directory during the run (the default keeps this one: pytest's).
    """
    from mist_infra_manager.cli.main import main

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stdout, stderr = io.StringIO(), io.StringIO()
    previous_cwd = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            returncode = int(main(list(arguments), cli_environment(env)))
    finally:
        os.chdir(previous_cwd)
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
    return Completed(list(arguments), returncode, stdout.getvalue(), stderr.getvalue())


def run_cli(
    arguments: List[str],
    *,
    cwd: Path = Path("/"),
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run `python src/main.py ARGS` in a subprocess, by default from `/` as cron does (e2e tests; see run_main)."""
    return subprocess.run(
        [sys.executable, str(MAIN_SCRIPT), *arguments],
        cwd=str(cwd),
        env=cli_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
