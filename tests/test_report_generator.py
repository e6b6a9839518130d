"""Unit tests of the report files: the dashboard JSON contract and the text reports, from one RunResult."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from mist_infra_manager.analysis import catalog, insights_analyzer, sle_monitor
from mist_infra_manager.analysis.models import DETAIL_FETCHED, RunResult, SiteResult
from mist_infra_manager.outputs import report_generator

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "examples"
GENERATED = datetime(2025, 10, 15, 16, 30, 15, tzinfo=timezone.utc)
ORG_ID = "7f3c2a91-5d4e-4b8a-9c21-3e6f0d8b1a42"
LONDON = "4b1e2c3d-8a9f-4e7b-b2c1-0d9e8f7a6b51"
HOSTILE_NAME = "<b>&\"'Lab"


def load_example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def make_result(
    extra_sites: Optional[List[Dict[str, Any]]] = None, *, complete: bool = True, problems: Optional[List[str]] = None
) -> RunResult:
    """Return a run result: London-HQ from the example files with coverage detail, plus any extra sites."""
    thresholds = dict(sle_monitor.DEFAULT_THRESHOLDS)
    london_sle = dict(load_example("insights_sites_sle.json")["results"][0])
    london_sle["coverage"] = 0.75  # major, so London has an insight with a classifier breakdown
    sites: List[SiteResult] = [sle_monitor.build_site(LONDON, "London-HQ", london_sle, thresholds)]
    coverage = sites[0].metrics["coverage"]
    sle_monitor.apply_breakdown(
        coverage, sle_monitor.parse_summary(load_example("sle_summary_coverage.json")), "summary", thresholds
    )
    coverage.detail = DETAIL_FETCHED
    for extra in extra_sites or []:
        sites.append(sle_monitor.build_site(extra["site_id"], extra["name"], extra, thresholds))
    sites.append(sle_monitor.build_site("site-empty", "Empty-Site", None, thresholds))
    sites.sort(key=sle_monitor.site_sort_key)
    return RunResult(
        generated_at=GENERATED,
        org_id=ORG_ID,
        org_name="Acme Retail Europe",
        window_start=datetime(2025, 10, 14, 16, 30, 15, tzinfo=timezone.utc),
        window_end=GENERATED,
        duration="1d",
        thresholds=thresholds,
        overall_status=sle_monitor.overall_status(site.status for site in sites),
        summary=sle_monitor.status_counts(sites),
        sites=sites,
        insights=insights_analyzer.build_insights(sites),
        api_calls=12,
        base_url="https://api.eu.mist.com",
        complete=complete,
        problems=problems or [],
        detail_source="summary",
    )


# --- the dashboard JSON contract -----------------------------------------------------------------------


def test_the_dashboard_document_has_the_contract_keys() -> None:
    document = report_generator.dashboard_document(make_result([{"site_id": "s2", "name": "Paris", "coverage": 0.6}]))

    assert {
        "schema_version",
        "generated_at",
        "org",
        "window",
        "overall_status",
        "summary",
        "sites",
        "insights",
        "api",
    } <= set(document)
    assert document["schema_version"] == 1
    assert document["generated_at"] == "2025-10-15T16:30:15Z"
    assert document["org"] == {"id": ORG_ID, "name": "Acme Retail Europe"}
    assert {"start", "end"} <= set(document["window"])
    assert (document["window"]["start"], document["window"]["end"]) == ("2025-10-14T16:30:15Z", "2025-10-15T16:30:15Z")
    assert document["overall_status"] == "critical"
    assert document["summary"] == {
        "sites_total": 3,
        "critical": 1,
        "major": 1,
        "warning": 0,
        "healthy": 0,
        "no_data": 1,
    }
    assert document["api"] == {"calls": 12, "base_url": "https://api.eu.mist.com"}


def test_every_site_has_its_keys_and_the_seven_metrics_in_seed_order() -> None:
    document = report_generator.dashboard_document(make_result())

    assert [site["name"] for site in document["sites"]] == ["London-HQ", "Empty-Site"]
    for site in document["sites"]:
        assert set(site) == {"id", "name", "status", "num_aps", "num_clients", "metrics"}
        assert list(site["metrics"]) == list(catalog.METRIC_KEYS)
        for metric in site["metrics"].values():
            assert {"name", "sle_pct", "severity", "detail", "classifiers"} <= set(metric)
    london = document["sites"][0]
    assert (london["id"], london["status"], london["num_aps"], london["num_clients"]) == (LONDON, "major", 14, 186)
    assert london["metrics"]["successful-connect"]["name"] == "Successful Connects"
    # 100 × 717 / 782 = 91.688…: the JSON rounds down, like every output.
    assert london["metrics"]["time-to-connect"]["sle_pct"] == 91.68
    empty = document["sites"][1]
    assert (empty["status"], empty["num_aps"], empty["num_clients"]) == ("no_data", None, None)
    assert {m["sle_pct"] for m in empty["metrics"].values()} == {None}
    assert {m["severity"] for m in empty["metrics"].values()} == {"no_data"}


def test_classifiers_carry_id_name_percentages_users_and_aps() -> None:
    document = report_generator.dashboard_document(make_result())
    coverage = document["sites"][0]["metrics"]["coverage"]

    assert (coverage["severity"], coverage["detail"], coverage["sle_pct"]) == ("major", "fetched", 75.0)
    classifiers = coverage["classifiers"]
    assert [c["id"] for c in classifiers] == ["weak-signal", "asymmetry-uplink", "asymmetry-downlink"]
    assert all(set(c) == {"id", "name", "degraded_pct", "share_pct", "users", "aps"} for c in classifiers)
    assert classifiers[0] == {
        "id": "weak-signal",
        "name": "Weak Signal",
        "degraded_pct": 2.75,
        "share_pct": 65.63,
        "users": 33,
        "aps": 8,
    }


def test_insights_carry_site_metric_sle_severity_and_top_classifier() -> None:
    document = report_generator.dashboard_document(make_result())

    assert len(document["insights"]) == 1
    insight = document["insights"][0]
    assert set(insight) == {"site_id", "site_name", "metric", "sle_pct", "severity", "top_classifier"}
    assert (insight["site_id"], insight["site_name"], insight["metric"]) == (LONDON, "London-HQ", "coverage")
    assert (insight["sle_pct"], insight["severity"]) == (75.0, "major")
    assert insight["top_classifier"]["id"] == "weak-signal"


def test_the_dashboard_document_is_strict_json() -> None:
    document = report_generator.dashboard_document(make_result())
    text = json.dumps(document, allow_nan=False)

    assert json.loads(text) == document


def test_an_incomplete_result_says_so_in_the_json() -> None:
    document = report_generator.dashboard_document(make_result(complete=False, problems=["London-HQ / Roaming: 500"]))

    assert document["complete"] is False
    assert document["problems"] == ["London-HQ / Roaming: 500"]


# --- written files --------------------------------------------------------------------------------------------


def test_write_reports_writes_three_files_named_with_the_utc_time(tmp_path: Path) -> None:
    files = report_generator.write_reports(make_result(), tmp_path / "reports")

    assert files.summary_txt.name == "SUMMARY_REPORT_20251015T163015Z.txt"
    assert files.dashboard_txt.name == "HEALTH_DASHBOARD_20251015T163015Z.txt"
    assert files.dashboard_json.name == "HEALTH_DASHBOARD_20251015T163015Z.json"
    for path in files.all():
        assert path.parent == tmp_path / "reports"
        assert path.is_file()
        assert re.match(report_generator.REPORT_NAME_PATTERN, path.name)
    assert json.loads(files.dashboard_json.read_text(encoding="utf-8"))["schema_version"] == 1
    assert not [path for path in (tmp_path / "reports").iterdir() if path.name.endswith(".tmp")]


def test_a_second_run_in_the_same_second_does_not_overwrite_the_first(tmp_path: Path) -> None:
    first = report_generator.write_reports(make_result(), tmp_path)
    first_text = first.summary_txt.read_text(encoding="utf-8")
    second = report_generator.write_reports(make_result(complete=False, problems=["boom"]), tmp_path)

    assert set(first.all()).isdisjoint(second.all())
    assert second.summary_txt.name == "SUMMARY_REPORT_20251015T163015Z_1.txt"
    assert second.dashboard_json.name == "HEALTH_DASHBOARD_20251015T163015Z_1.json"
    assert first.summary_txt.read_text(encoding="utf-8") == first_text
    assert len(list(tmp_path.iterdir())) == len(first.all()) + len(second.all())


def test_an_incomplete_result_says_data_incomplete_in_both_text_files(tmp_path: Path) -> None:
    problems = ["London-HQ / Roaming: HTTP 500", "London-HQ / Capacity: timeout"]
    files = report_generator.write_reports(make_result(complete=False, problems=problems), tmp_path)

    for path in (files.summary_txt, files.dashboard_txt):
        text = path.read_text(encoding="utf-8")
        assert "DATA INCOMPLETE" in text
        assert "London-HQ / Capacity: timeout" in text
    assert json.loads(files.dashboard_json.read_text(encoding="utf-8"))["complete"] is False


def test_a_complete_result_does_not_say_data_incomplete(tmp_path: Path) -> None:
    files = report_generator.write_reports(make_result(), tmp_path)

    assert "DATA INCOMPLETE" not in files.summary_txt.read_text(encoding="utf-8")
    assert "DATA INCOMPLETE" not in files.dashboard_txt.read_text(encoding="utf-8")


def test_a_site_name_with_markup_characters_appears_verbatim_in_the_text_files(tmp_path: Path) -> None:
    hostile = {"site_id": "s-hostile", "name": HOSTILE_NAME, "coverage": 0.5, "num_clients": 3}
    files = report_generator.write_reports(make_result([hostile]), tmp_path)

    for path in (files.summary_txt, files.dashboard_txt):
        text = path.read_text(encoding="utf-8")
        assert HOSTILE_NAME in text
        assert "&lt;" not in text
        assert "&amp;" not in text
        assert "&#34;" not in text
    assert json.loads(files.dashboard_json.read_text(encoding="utf-8"))["sites"][0]["name"] == HOSTILE_NAME


def test_the_summary_report_shows_the_classifier_cells_and_the_action() -> None:
    text = report_generator.render_summary_text(make_result())

    assert "[MAJOR] London-HQ - Coverage: 75.0%" in text
    assert "Weak Signal: 2.7% degraded, users=33, aps=8 (66% of failures)" in text
    assert catalog.recommended_action("weak-signal") in text


def test_the_dashboard_text_counts_sites_by_status() -> None:
    text = report_generator.render_dashboard_text(make_result())

    assert "Overall:    MAJOR" in text
    assert re.search(r"no data\s+1\n", text)
    assert re.search(r"total\s+2\n", text)


# --- Control characters in names and secrets in error messages --------------------------------------------------

CONTROL_NAME = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil"
ESCAPED_CONTROL_NAME = "\\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil"
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\x00", "\u202e")
ECHOED_TOKEN = "tok-echoed-4f3e2d1c0b9a8877665544332211"


@pytest.fixture
def registered_token() -> Any:
    """Register ECHOED_TOKEN as a secret, as main does with the configured token, and forget it afterwards."""
    from mist_infra_manager import logging_setup

    secrets = list(logging_setup._redactor.secrets)
    logging_setup.add_secret(ECHOED_TOKEN)
    yield ECHOED_TOKEN
    logging_setup._redactor.secrets[:] = secrets


def control_name_result() -> RunResult:
    result = make_result([{"site_id": "s-ctl", "name": CONTROL_NAME, "coverage": 0.6}])
    result.org_name = f"Org {CONTROL_NAME}"
    return result


def test_control_characters_in_names_are_escaped_in_the_text_and_html_reports(tmp_path: Path) -> None:
    files = report_generator.write_reports(control_name_result(), tmp_path)

    assert files.dashboard_html is not None
    for path in (files.summary_txt, files.dashboard_txt, files.dashboard_html):
        text = path.read_text(encoding="utf-8")
        assert not [control for control in RAW_CONTROLS if control in text], path.name
        assert "\nFAKE LOG LINE" not in text
        assert ESCAPED_CONTROL_NAME in text, path.name


def test_the_status_grid_keeps_its_columns_with_an_escaped_name() -> None:
    header, *lines = report_generator.status_grid(control_name_result())

    assert all(len(line) == len(header) for line in lines)
    assert any(line.startswith(ESCAPED_CONTROL_NAME[: report_generator.GRID_NAME_WIDTH - 1] + "~") for line in lines)


def test_the_json_keeps_a_name_as_data_and_escapes_its_controls_as_json_does(tmp_path: Path) -> None:
    files = report_generator.write_reports(control_name_result(), tmp_path)

    raw = files.dashboard_json.read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\r" not in raw and "\\u001b" in raw
    assert CONTROL_NAME in [site["name"] for site in json.loads(raw)["sites"]]


def test_a_secret_echoed_in_a_problem_is_redacted_from_the_json_text_and_html(tmp_path: Path, registered_token) -> None:
    problem = f'London-HQ / Coverage: GET /sites/x/summary: HTTP 400: {{"detail": "bad Token {registered_token}"}}'
    result = make_result(complete=False, problems=[problem])

    files = report_generator.write_reports(result, tmp_path)

    assert json.loads(files.dashboard_json.read_text(encoding="utf-8"))["problems"] == [
        'London-HQ / Coverage: GET /sites/x/summary: HTTP 400: {"detail": "bad Token [REDACTED]"}'
    ]
    for path in files.all():
        assert registered_token not in path.read_text(encoding="utf-8"), path.name
    assert "bad Token [REDACTED]" in files.summary_txt.read_text(encoding="utf-8")


def test_a_registered_secret_is_redacted_from_notes_and_names_too(registered_token) -> None:
    result = make_result([{"site_id": "s-sec", "name": f"site {registered_token}", "coverage": 0.6}])
    result.notes.append(f"note with {registered_token}")

    document = report_generator.dashboard_document(result)
    texts = [report_generator.render_summary_text(result), report_generator.render_dashboard_text(result)]

    assert registered_token not in json.dumps(document) and "note with [REDACTED]" in document["notes"]
    assert all(registered_token not in text for text in texts)


def test_a_credential_echoed_in_a_problem_is_redacted_from_the_text_reports_even_unregistered() -> None:
    problem = f"London-HQ / Coverage: GET /x: HTTP 429: throttled Token {ECHOED_TOKEN}"
    result = make_result(complete=False, problems=[problem])

    texts = [report_generator.render_summary_text(result), report_generator.render("health_dashboard.html.j2", result)]

    assert all(ECHOED_TOKEN not in text and "throttled Token [REDACTED]" in text for text in texts)


def test_templates_compiled_by_an_earlier_version_without_the_escaping_step_are_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import jinja2

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = tmp_path / f"mist-infra-manager-templates-{report_generator.getpass_user()}"
    directory.mkdir(mode=0o700)
    stale = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(report_generator.TEMPLATE_DIRECTORY)),
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(directory)),
    )
    stale.filters.update(report_generator._build_environment().filters)
    stale.get_template("_macros.txt.j2")
    stale.get_template("monitor.txt.j2")
    assert list(directory.iterdir())
    monkeypatch.setattr(report_generator, "_environment", None)

    text = (
        report_generator.environment()
        .get_template("monitor.txt.j2")
        .render(**report_generator.template_context(control_name_result()))
    )

    assert "\x1b" not in text and "Org \\x1b[31mRED" in text
