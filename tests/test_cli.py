"""The command line in-process: subcommands beside the run options, config discovery, `config init|validate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from conftest import MAIN_SCRIPT, PROJECT_ROOT, SIMULATOR_TOKEN
from mist_infra_manager import config
from mist_infra_manager.cli.exit_codes import ExitCode
from mist_infra_manager.cli.main import main

SECRET_PASSWORD = "smtp-Pa55word-never-shown"


def run_main(arguments: List[str], capsys: pytest.CaptureFixture[str], environ: Dict[str, str]) -> Tuple[int, str, str]:
    code = main(arguments, environ)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_user_or_system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's and the system's config folders in tmp_path, and no checkout config: nothing to find."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setattr(config, "is_checkout", lambda: False)
    monkeypatch.setattr(config, "system_config_path", lambda: tmp_path / "etc" / "mist-infra-manager" / "config.yaml")
    return tmp_path


def test_config_init_writes_the_commented_template_and_says_what_to_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new" / "folders" / "config.yaml"
    code, out, _ = run_main(["config", "init", str(target)], capsys, {})

    assert code == ExitCode.OK
    assert target.read_bytes() == config.TEMPLATE_PATH.read_bytes()
    assert f"Wrote {target}" in out and "mist.base_url" in out and "MIST_API_TOKEN" in out
    assert (target.stat().st_mode & 0o077) == 0


def test_config_init_never_writes_over_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("mine: true\n", encoding="utf-8")
    code, _, err = run_main(["config", "init", str(target)], capsys, {})

    assert code == ExitCode.USAGE
    assert err.strip() == f"error: {target}: already exists; config init never overwrites a file"
    assert target.read_text(encoding="utf-8") == "mine: true\n"


def test_config_init_without_a_path_writes_into_the_users_config_folder(
    no_user_or_system_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_main(["config", "init"], capsys, {})

    assert code == ExitCode.OK
    assert (no_user_or_system_config / "xdg-config" / "mist-infra-manager" / "config.yaml").is_file()


def test_the_template_config_in_the_checkout_is_the_packaged_template() -> None:
    assert (PROJECT_ROOT / "config" / "config.yaml.template").read_bytes() == config.TEMPLATE_PATH.read_bytes()


def test_config_validate_prints_the_effective_settings_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    raw = {
        "mist": {"api_token": SIMULATOR_TOKEN, "proxy": f"http://alice:{SECRET_PASSWORD}@proxy.example:3128"},
        "reports": {"directory": "out"},
        "notifications": {
            "email": {
                "smtp_server": "relay",
                "password": SECRET_PASSWORD,
                "from_address": "m@b.c",
                "recipients": ["a@b.c"],
            }
        },
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, out, err = run_main(["config", "validate", str(path)], capsys, {})

    assert code == ExitCode.OK, err
    assert SIMULATOR_TOKEN not in out and SECRET_PASSWORD not in out
    shown = yaml.safe_load(out.split("\n", 2)[2])
    assert shown["mist"]["api_token"] == "********"
    assert shown["mist"]["proxy"] == "http://alice:********@proxy.example:3128"
    assert shown["notifications"]["email"]["password"] == "********"
    assert shown["reports"]["directory"] == str(tmp_path / "out")


def test_config_validate_lists_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("mist:\n  max_workerz: 3\nthresholds:\n  critical: low\n", encoding="utf-8")
    code, _, err = run_main(["config", "validate", str(path)], capsys, {})

    assert code == ExitCode.USAGE
    assert "mist.max_workerz: unknown key" in err and "thresholds.critical: expected a number" in err


def test_config_validate_needs_no_token_but_says_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("notifications:\n  enabled: false\n", encoding="utf-8")
    code, out, _ = run_main(["config", "validate", str(path)], capsys, {})

    assert code == ExitCode.OK
    assert "no API token yet" in out


@pytest.mark.parametrize(
    "arguments",
    [
        ["--mode", "report", "config", "validate"],
        ["--daemon", "config", "init"],
        ["--demo", "config", "validate"],
        ["--interval", "5", "config", "validate"],
    ],
)
def test_run_options_are_refused_with_a_subcommand(arguments: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(arguments, capsys, {})

    assert code == ExitCode.USAGE
    assert "belong to runs, not to the config command" in err


def test_common_options_are_accepted_after_the_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("notifications:\n  enabled: false\n", encoding="utf-8")

    assert run_main(["config", "validate", "--config", str(path), "--quiet"], capsys, {})[0] == ExitCode.OK
    assert run_main(["--config", str(path), "config", "validate", "--verbose"], capsys, {})[0] == ExitCode.OK
    assert run_main(["config", "validate", "--verbose", "--quiet"], capsys, {})[0] == ExitCode.USAGE


def test_the_config_environment_variable_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "from-env.yaml"
    path.write_text("notifications:\n  enabled: false\n", encoding="utf-8")
    code, out, _ = run_main(["config", "validate"], capsys, {config.CONFIG_ENVIRONMENT_VARIABLE: str(path)})

    assert code == ExitCode.OK
    assert out.startswith(f"{path}: valid.")


def test_the_users_config_folder_is_found_before_the_system_one(
    no_user_or_system_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = no_user_or_system_config / "xdg-config" / "mist-infra-manager" / "config.yaml"
    system = config.system_config_path()
    for path in (user, system):
        path.parent.mkdir(parents=True)
        path.write_text("notifications:\n  enabled: false\n", encoding="utf-8")

    assert config.find_config(None, {}) == user
    user.unlink()
    assert config.find_config(None, {}) == system


def test_without_any_config_the_error_lists_every_path_tried(
    no_user_or_system_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["--mode", "report"], capsys, {})

    assert code == ExitCode.USAGE
    assert len(err.strip().splitlines()) == 1
    assert str(no_user_or_system_config / "xdg-config" / "mist-infra-manager" / "config.yaml") in err
    assert str(config.system_config_path()) in err
    assert "config init" in err


def test_the_checkout_launcher_accepts_the_subcommands(tmp_path: Path) -> None:
    target = tmp_path / "c" / "config.yaml"
    completed = subprocess.run(
        [sys.executable, str(MAIN_SCRIPT), "config", "init", str(target)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert target.is_file()
