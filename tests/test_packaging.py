"""The package as a user installs it: a wheel with its templates and command, run from `/`, away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import yaml

from conftest import PROJECT_ROOT, SIMULATOR_TOKEN
from mist_infra_manager.simulator import MistSimulator

BUILD_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel built from this checkout, installed with its command into a folder of its own."""
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("installed")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here (no build backend reachable): {build.stderr.strip()[-300:]}")
    (wheel,) = wheels.glob("mist_infra_manager-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    assert install.returncode == 0, install.stderr
    yield target


def command(installed: Path, arguments: List[str], home: Path, extra: Dict[str, str]) -> subprocess.CompletedProcess:
    """Run the installed `mist-infra-manager` command from `/` with a home of its own."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("MIST_", "XDG_"))}
    environment.update(
        {
            "PYTHONPATH": str(installed),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
    )
    environment.update(extra)
    return subprocess.run(
        [sys.executable, str(installed / "bin" / "mist-infra-manager"), *arguments],
        cwd="/",
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def test_the_wheel_carries_the_templates_the_config_template_and_the_type_marker(installed: Path) -> None:
    package = installed / "mist_infra_manager"
    assert (package / "py.typed").is_file()
    assert (package / "config.yaml.template").read_bytes() == (
        PROJECT_ROOT / "config" / "config.yaml.template"
    ).read_bytes()
    assert {path.name for path in (package / "outputs" / "templates").glob("*.j2")} == {
        path.name for path in (PROJECT_ROOT / "src" / "mist_infra_manager" / "outputs" / "templates").glob("*.j2")
    }
    assert not list(installed.glob("*.py")), "no loose top-level modules"


def test_the_installed_command_prints_its_version(installed: Path, tmp_path: Path) -> None:
    completed = command(installed, ["--version"], tmp_path, {})

    assert completed.returncode == 0
    assert completed.stdout.strip().startswith("mist-infra-manager 1.")


def test_the_installed_demo_runs_from_any_folder_and_says_where_it_wrote(installed: Path, tmp_path: Path) -> None:
    completed = command(installed, ["--demo", "--mode", "report"], tmp_path, {})

    assert completed.returncode == 0, completed.stderr
    demo = tmp_path / ".local" / "state" / "mist-infra-manager" / "demo"
    assert f"Files in {demo}" in completed.stdout
    assert list(demo.glob("HEALTH_DASHBOARD_*.json"))


def test_config_init_then_a_report_run_writes_under_the_config_files_folder(installed: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "mim-config" / "config.yaml"
    assert command(installed, ["config", "init", str(config_path)], tmp_path, {}).returncode == 0
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    with MistSimulator(num_sites=5, token=SIMULATOR_TOKEN) as simulator:
        raw["mist"]["base_url"] = simulator.base_url
        raw["mist"]["api_token"] = ""
        raw["reports"] = {"directory": "reports"}
        raw["notifications"]["enabled"] = False
        config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        completed = command(
            installed,
            ["--config", str(config_path), "--mode", "report"],
            tmp_path,
            {"MIST_API_TOKEN": SIMULATOR_TOKEN},
        )

    assert completed.returncode == 0, completed.stderr
    reports = tmp_path / "mim-config" / "reports"
    assert list(reports.glob("SUMMARY_REPORT_*.txt")) and list(reports.glob("HEALTH_DASHBOARD_*.json"))
    assert (tmp_path / "mim-config" / "reports" / "mist_infra_manager.log").is_file()


def test_python_dash_m_runs_the_same_command_from_a_checkout(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mist_infra_manager", "--version"],
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("mist-infra-manager ")
