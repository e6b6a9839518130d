"""Unit tests of atomic writes and state-file reads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mist_infra_manager.state import fileio


def test_an_atomic_write_creates_the_file_and_its_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "report.txt"
    fileio.atomic_write_text(target, "héllo\n")

    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert [path.name for path in target.parent.iterdir()] == ["report.txt"]


def test_an_atomic_write_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old and much longer content\n")
    fileio.atomic_write_json(target, {"b": 1, "a": [1.5, None]})

    assert json.loads(target.read_text(encoding="utf-8")) == {"b": 1, "a": [1.5, None]}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text('{"old": true}\n')

    with pytest.raises(ValueError):
        fileio.atomic_write_json(target, {"sle": float("nan")})

    assert target.read_text() == '{"old": true}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]


def test_json_is_written_indented_with_unicode_kept_and_a_final_newline(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    fileio.atomic_write_json(target, {"name": "Zürich"})

    assert target.read_text(encoding="utf-8") == '{\n  "name": "Zürich"\n}\n'


def test_reading_a_missing_state_file_gives_none(tmp_path: Path) -> None:
    assert fileio.read_json_or_none(tmp_path / "absent.json", "alert state") is None
    assert list(tmp_path.iterdir()) == []


def test_reading_a_state_file_gives_its_document(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text('{"alerts": [1, 2]}')

    assert fileio.read_json_or_none(target, "alert state") == {"alerts": [1, 2]}


def test_a_corrupt_state_file_is_set_aside_with_a_warning_and_gives_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "state.json"
    target.write_text('{"alerts": [1, 2')

    with caplog.at_level(logging.WARNING, logger="mist_infra_manager.state.fileio"):
        assert fileio.read_json_or_none(target, "alert state") is None

    assert not target.exists()
    assert (tmp_path / "state.json.corrupt").read_text() == '{"alerts": [1, 2'
    assert "alert state" in caplog.text
    assert "state.json.corrupt" in caplog.text


def test_after_setting_a_corrupt_file_aside_the_next_write_starts_afresh(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("not json")
    fileio.read_json_or_none(target, "call meter")
    fileio.atomic_write_json(target, {"calls": 3})

    assert fileio.read_json_or_none(target, "call meter") == {"calls": 3}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json", "state.json.corrupt"]
