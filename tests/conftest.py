"""Shared test fixtures: the Mist simulator over loopback, config files on disk, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest
import yaml

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


def run_cli(
    arguments: List[str],
    *,
    cwd: Path = Path("/"),
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run `python src/main.py ARGS` in a subprocess, by default from `/` as cron does."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(MAIN_SCRIPT), *arguments],
        cwd=str(cwd),
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
