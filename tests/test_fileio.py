"""Unit tests of atomic writes and state-file reads."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"name": "caf\xe9"}', "not UTF-8 (byte 13)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels deep"),
        (b"[" * 70 + b"]" * 70, "nested more than 64 levels deep"),
        (b'{"sle": NaN}', "holds NaN or infinity"),
        (b'{"sle": 1e999}', "holds NaN or infinity"),
        (b"[1, 2]", "wrong shape: expected a JSON object, found list"),
        (b'{"other": 1}', "wrong shape: missing 'calls'"),
    ],
)
def test_an_unusable_state_file_is_set_aside_with_one_warning_saying_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    target = tmp_path / "call_meter.json"
    target.write_bytes(content)

    with caplog.at_level(logging.WARNING):
        assert fileio.read_json_or_none(target, "API call meter", check=fileio.expect_object("calls")) is None

    assert (tmp_path / "call_meter.json.corrupt").read_bytes() == content
    assert len(caplog.records) == 1 and reason in caplog.records[0].getMessage()
    assert "call_meter.json" in caplog.records[0].getMessage()


def test_a_file_over_the_size_limit_is_set_aside_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fileio, "MAX_STATE_FILE_BYTES", 16)
    target = tmp_path / "detail_cache.json"
    target.write_text('{"entries": {"a": 1, "b": 2}}')

    assert fileio.read_json_or_none(target, "classifier detail cache") is None
    assert (tmp_path / "detail_cache.json.corrupt").exists()
    assert "larger than 16 bytes" in caplog.text


def test_a_gzip_bomb_is_refused_at_the_decompressed_limit() -> None:
    bomb = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]")

    with pytest.raises(fileio.CorruptFileError, match="larger than 1000000 bytes once decompressed"):
        fileio.decode_json_bytes(bomb, max_decompressed=1_000_000)
    with pytest.raises(fileio.CorruptFileError, match="truncated gzip"):
        fileio.decode_json_bytes(gzip.compress(b"[1, 2]")[:-12])
    assert fileio.decode_json_bytes(gzip.compress(b"[1, 2]")) == [1, 2]


def test_a_parse_error_of_the_caller_sets_the_file_aside_and_a_good_file_is_parsed(tmp_path: Path) -> None:
    target = tmp_path / "rollup.json"
    target.write_text('{"snapshots": 3}')

    def parse(document: Any) -> int:
        return len(document["snapshots"])

    assert fileio.read_parsed_or_none(target, "history rollup", parse) is None
    assert (tmp_path / "rollup.json.corrupt").exists()
    target.write_text('{"snapshots": [1, 2]}')
    assert fileio.read_parsed_or_none(target, "history rollup", parse) == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_a_state_file_that_cannot_be_read_is_left_in_place_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "alert_state.json"
    target.write_text("{}")
    target.chmod(0)
    try:
        assert fileio.read_json_or_none(target, "alert state file") is None
    finally:
        target.chmod(0o600)
    assert target.exists() and not (tmp_path / "alert_state.json.corrupt").exists()
    assert "Cannot read the alert state file" in caplog.text
