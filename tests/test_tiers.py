"""The test suite's own rules: every test module has a tier, and run_main leaves no trace between runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import conftest
from conftest import MODULE_TIERS, TIERS, run_main

TESTS = Path(__file__).resolve().parent


def test_every_test_module_has_a_tier_in_conftest() -> None:
    modules = {path.name for path in TESTS.glob("test_*.py")}
    missing = sorted(modules - set(MODULE_TIERS))
    assert not missing, f"add these to MODULE_TIERS in tests/conftest.py (unit, integration or e2e): {missing}"
    assert sorted(set(MODULE_TIERS) - modules) == [], "MODULE_TIERS names modules that no longer exist"
    assert set(MODULE_TIERS.values()) <= set(TIERS)


def test_every_collected_test_has_exactly_one_tier(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        tiers = [name for name in TIERS if item.get_closest_marker(name) is not None]
        assert len(tiers) == 1, f"{item.nodeid}: {tiers}"
        if item.get_closest_marker("browser") or item.get_closest_marker("bruno"):
            assert tiers == ["e2e"], item.nodeid


def test_the_fast_profile_caps_the_example_count_and_ci_runs_the_full_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "HYPOTHESIS_PROFILE", "fast")
    assert conftest.example_count(150) == conftest.FAST_EXAMPLES
    assert conftest.example_count(3) == 3
    monkeypatch.setattr(conftest, "HYPOTHESIS_PROFILE", "ci")
    assert conftest.example_count(150) == 150


def test_run_main_captures_the_output_and_leaves_the_root_logger_as_it_found_it(make_config, tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    # Nothing listens on port 9 of loopback: the run configures logging, fails fast and says why on stderr.
    config_path = make_config("http://127.0.0.1:9", {"mist": {"max_retry_wait_seconds": 0}})
    for _ in range(2):
        completed = run_main(["--mode", "report", "--config", str(config_path)])
        assert completed.returncode == 1
        assert "cannot connect" in completed.stderr
        assert root.handlers == before
    assert run_main(["--version"]).stdout.startswith("mist-infra-manager ")
