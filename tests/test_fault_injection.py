"""Issue 12, end to end: each of its 16 fault cases replayed through the real command against a hostile server.

The hostile org is a HostileServer on loopback that forwards every Mist call to a small simulator org (so the org
is whole and valid) unless a test routes a path to a hostile answer instead. Email goes to the real aiosmtpd server.
Each test asserts the issue's "Done when": the documented exit code and line, no traceback, no hang (hang guards
only, never timings), the alert delivered when SMTP is up, the token in no output, no file outside the configured
folders touched, nothing sent twice.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import urlencode, urlsplit

import pytest

from conftest import MAIN_SCRIPT, SIMULATOR_TOKEN, base_config, deep_merge, write_config
from hostile_server import MIB, Exchange, HostileServer, drip, gzip_bomb, json_reply, paged_array
from mist_infra_manager.alerting import alert_state, email_delivery
from mist_infra_manager.cli.main import main
from mist_infra_manager.mist.mist_client import MAX_PAGES
from mist_infra_manager.simulator.mist_simulator import MistSimulator, SimSite
from mist_infra_manager.state import paths
from smtp_server import ReceivedMessage, SmtpTestServer

SITES = 8  # the simulator's special sites: 0 critical, 1 major, 2 warning, 3 no data, 4 html name, 5 major multi
HANG_GUARD_SECONDS = 20.0  # a guard against a hang, never a timing
Transform = Callable[[Any], Any]


class Killed(BaseException):
    """Stands for kill -9: nothing after the point where it is raised runs."""


# --- the hostile org -----------------------------------------------------------------------------------------


def forward_to(simulator: MistSimulator, transform: Optional[Transform] = None, **headers: str) -> Callable[..., None]:
    """Return a handler answering as the simulator does (its body passed through transform, extra headers added)."""
    target = urlsplit(simulator.base_url)

    def handle(exchange: Exchange) -> None:
        request = exchange.request
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=10)
        try:
            query = f"?{urlencode(request.query)}" if request.query else ""
            auth = {"Authorization": request.headers.get("Authorization", "")}
            connection.request("GET", request.path + query, headers=auth)
            response = connection.getresponse()
            body = response.read()
            kept = {name: value for name, value in response.getheaders() if name.lower().startswith("x-page")}
        finally:
            connection.close()
        if transform is not None and response.status == 200:
            body = json.dumps(transform(json.loads(body))).encode("utf-8")
        kept.update(headers)
        exchange.send_raw(response.status, body, dict(kept, **{"Content-Type": "application/json"}))

    return handle


class HostileOrg:
    """A simulator org served through a HostileServer: route() a path to make that answer hostile."""

    def __init__(self, simulator: MistSimulator, server: HostileServer) -> None:
        self.simulator = simulator
        self.server = server
        server.route("/api/v1/", forward_to(simulator), prefix=True)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def org_id(self) -> str:
        return self.simulator.org_id

    def site(self, index: int) -> SimSite:
        return self.simulator.sites[index]

    def summary_path(self, index: int, metric: str = "coverage") -> str:
        site_id = self.site(index).id
        return f"/api/v1/sites/{site_id}/sle/site/{site_id}/metric/{metric}/summary"

    def sites_sle_path(self) -> str:
        return f"/api/v1/orgs/{self.org_id}/insights/sites-sle"

    def sites_path(self) -> str:
        return f"/api/v1/orgs/{self.org_id}/sites"

    def route(self, path: str, handler: Callable[[Exchange], None], *, prefix: bool = False) -> None:
        self.server.route(path, handler, prefix=prefix)


@pytest.fixture(autouse=True)
def private_temp_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fallback alert state goes under tempfile.gettempdir(): keep it inside the test's folder."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def org() -> Iterator[HostileOrg]:
    with MistSimulator(num_sites=SITES, token=SIMULATOR_TOKEN) as simulator, HostileServer() as server:
        yield HostileOrg(simulator, server)


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


# --- running the command and reading what it left ---------------------------------------------------------


class Setup:
    """The folders and config of one test: everything the tool may touch is under tmp_path/work."""

    def __init__(self, tmp_path: Path, base_url: str, smtp: Optional[SmtpTestServer], overrides: Mapping[str, Any]):
        self.root = tmp_path
        self.work = tmp_path / "work"
        raw = base_config(base_url, self.work)
        raw["mist"]["max_retry_wait_seconds"] = 0
        if smtp is not None:
            raw["notifications"] = {"enabled": True, "email": smtp.email_config()}
        self.config = write_config(tmp_path / "config.yaml", deep_merge(raw, overrides))
        self.reports = self.work / "reports"
        self.state = self.reports / paths.STATE_DIRECTORY_NAME
        self.log = self.work / "mist_infra_manager.log"

    def argv(self, mode: str = "all") -> List[str]:
        return ["--config", str(self.config), "--mode", mode]

    def dashboard(self) -> Dict[str, Any]:
        """Return the newest dashboard JSON."""
        newest = sorted(self.reports.glob("HEALTH_DASHBOARD_*.json"))[-1]
        document: Dict[str, Any] = json.loads(newest.read_text(encoding="utf-8"))
        return document

    def outputs(self) -> Dict[str, bytes]:
        """Return every file the tool wrote (reports, state, outbox, history, log), by path."""
        return {str(path): path.read_bytes() for path in sorted(self.work.rglob("*")) if path.is_file()}


def setup_for(
    tmp_path: Path,
    org: HostileOrg,
    smtp: Optional[SmtpTestServer] = None,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Setup:
    return Setup(tmp_path, org.base_url, smtp, overrides or {})


class Run:
    """What one in-process run of the command gave."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def error_lines(self) -> List[str]:
        return [line for line in self.err.splitlines() if line.startswith(("ERROR", "error:", "CRITICAL"))]


def run(setup: Setup, capsys: pytest.CaptureFixture[str], mode: str = "all", *extra: str) -> Run:
    """Run the command in-process (as cron would: environment empty) and return its code and console."""
    code = main([*setup.argv(mode), *extra], {})
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return Run(code, captured.out, captured.err)


def email_texts(smtp: SmtpTestServer) -> List[str]:
    """Return every header, part and attachment of every message received, as a mail client reads them."""
    texts: List[str] = []
    for received in smtp.messages:
        texts.append(received.data.decode("utf-8", "replace"))
        texts += [f"{name}: {value}" for name, value in received.message.items()]
        texts += [received.subject, received.body("plain"), received.body("html")]
        texts += [str(part.get_content()) for part in received.message.iter_attachments()]
    return texts


def assert_no_token(setup: Setup, runs: List[Run], smtp: Optional[SmtpTestServer] = None) -> None:
    """The token (or a long piece of it) is in no console, log, report, state file or email."""
    texts = [text for r in runs for text in (r.out, r.err)]
    texts += [data.decode("utf-8", "replace") for data in setup.outputs().values()]
    texts += email_texts(smtp) if smtp is not None else []
    for text in texts:
        assert SIMULATOR_TOKEN not in text and SIMULATOR_TOKEN[:20] not in text


def listing(folder: Path, *skip: Path) -> Dict[str, Tuple[int, int]]:
    """Return every path under folder outside the skipped folders with its (size, mtime_ns)."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if any(path == folder or folder in path.parents for folder in skip):
            continue
        status = path.lstat()
        result[str(path)] = (status.st_size, status.st_mtime_ns)
    return result


def outside(setup: Setup) -> Dict[str, Tuple[int, int]]:
    """Return the listing of the test's folder outside the configured ones (and the system temp folder)."""
    return listing(setup.root, setup.work, setup.root / "system-temp")


def critical(messages: List[ReceivedMessage]) -> List[ReceivedMessage]:
    return [message for message in messages if message.subject.startswith("[CRITICAL]")]


# --- the control: the hostile org answering as a sound one ---------------------------------------------------


def test_the_forwarding_org_answering_soundly_gives_a_complete_run_and_one_alert(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    before = outside(setup)

    first = run(setup, capsys)
    second = run(setup, capsys)

    assert (first.code, second.code) == (0, 0), first.err
    assert setup.dashboard()["complete"] is True
    assert len(critical(smtp.messages)) == 1 and len(smtp.messages) == 1
    assert outside(setup) == before
    assert_no_token(setup, [first, second], smtp)


# --- case 1: an answer that drips never hangs a run --------------------------------------------------------


def hold(exchange: Exchange) -> None:
    """Drip a long answer a byte at a time until the client or the server goes away."""
    drip(b'{"results": []}' + b" " * 100_000, interval_seconds=0.1)(exchange)


def test_sigterm_stops_a_run_stuck_on_a_dripping_answer_and_the_next_run_is_not_locked_out(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, overrides={"mist": {"timeout_seconds": 60}})
    org.route(org.sites_sle_path(), hold)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    process = subprocess.Popen(
        [sys.executable, str(MAIN_SCRIPT), *setup.argv("report")],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert org.server.wait_for_request(org.sites_sle_path(), timeout=HANG_GUARD_SECONDS)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=HANG_GUARD_SECONDS)  # a hang guard, not a timing
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "Interrupted." and "Traceback" not in stderr
    heartbeat = setup.state / paths.HEARTBEAT_FILE_NAME
    assert not heartbeat.exists() or json.loads(heartbeat.read_text(encoding="utf-8"))["state"] != "running"
    org.route(org.sites_sle_path(), forward_to(org.simulator))
    later = run(setup, capsys, "report")
    assert later.code == 0, later.err


def test_an_org_answer_dripping_past_the_call_deadline_ends_the_run_with_exit_1_and_one_line(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, overrides={"mist": {"timeout_seconds": 1}})
    org.route(org.sites_sle_path(), hold)

    result = run(setup, capsys, "report")

    assert result.code == 1
    [line] = result.error_lines()
    assert "(deadline)" in line and "/insights/sites-sle" in line
    assert_no_token(setup, [result])


def test_a_summary_dripping_past_the_call_deadline_leaves_that_metric_unavailable_and_still_alerts(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp, {"mist": {"timeout_seconds": 1}})
    org.route(org.summary_path(0), hold)

    result = run(setup, capsys)

    assert result.code in (0, 1)
    document = setup.dashboard()
    site = next(s for s in document["sites"] if s["id"] == org.site(0).id)
    assert site["metrics"]["coverage"]["detail"] == "unavailable"
    assert any("(deadline)" in problem for problem in document["problems"])
    assert len(critical(smtp.messages)) == 1
    assert_no_token(setup, [result], smtp)


# --- case 2: one bad byte in a state file stops nothing -----------------------------------------------------

DAMAGES = {
    "non-UTF-8": b'{"version": 1, "\xff\xfe": "\xc3"}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}


def state_files(setup: Setup) -> List[Path]:
    """Return every JSON state file a run keeps: heartbeat, alert state, meter, both caches, history rollups."""
    found = sorted(setup.state.glob("*.json")) + sorted(setup.reports.glob("history/**/rollup.json"))
    return found


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_bad_byte_in_every_state_file_is_set_aside_and_the_run_still_reports_and_alerts(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    assert run(setup, capsys).code == 0
    files = state_files(setup)
    names = {path.name for path in files}
    assert {"heartbeat.json", "alert_state.json", "call_meter.json", "sites_cache.json", "rollup.json"} <= names
    for path in files:
        path.write_bytes(DAMAGES[damage])
    smtp.messages.clear()

    result = run(setup, capsys)
    again = run(setup, capsys)

    assert (result.code, again.code) == (0, 0), result.err
    for path in files:
        assert path.with_name(path.name + ".corrupt").read_bytes() == DAMAGES[damage]
        assert len([line for line in result.err.splitlines() if str(path) in line]) == 1, path
    assert len(critical(smtp.messages)) == 1  # the alert state was lost: the alert again, once
    assert setup.dashboard()["complete"] is True


# --- case 3: a full disk still emails, and says so ----------------------------------------------------------


def test_a_full_disk_for_the_reports_still_emails_the_alert_saying_so_and_exits_1(
    tmp_path: Path,
    org: HostileOrg,
    smtp: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    real_replace = os.replace

    def replace_on_a_full_disk(source: Any, target: Any) -> None:
        if paths.REPORT_NAME_PATTERN.match(Path(target).name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_on_a_full_disk)
    result = run(setup, capsys)

    assert result.code == 1
    line = f"Report files could not be written to {setup.reports}: No space left on device"
    assert [text for text in result.error_lines() if "Report files" in text] == [f"ERROR {line}"]
    [message] = critical(smtp.messages)
    assert line in message.body("plain") and line in message.body("html")
    assert not any(paths.REPORT_NAME_PATTERN.match(path.name) for path in setup.reports.iterdir())
    assert_no_token(setup, [result], smtp)


# --- case 4: one hostile /summary body does not end the run -------------------------------------------------


def summary_body(total: List[Any], degraded: List[Any], classifiers: Dict[str, List[Any]]) -> Dict[str, Any]:
    return {
        "start": 1764298800,
        "end": 1764385200,
        "sle": {"name": "coverage", "samples": {"total": total, "degraded": degraded, "value": [None] * len(total)}},
        "impact": {"num_users": 1, "num_aps": 1, "total_users": 10, "total_aps": 2},
        "classifiers": [
            {"name": name, "samples": {"total": total, "degraded": bad, "duration": bad}}
            for name, bad in classifiers.items()
        ],
        "events": [],
    }


HOSTILE_SUMMARIES = {
    "nested 100,000 deep": b'{"sle":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "finite numbers summing to inf": json.dumps(
        summary_body([1.7e308, 1.7e308], [1e308, 1e308], {"weak-signal": [1e308, 1e308]})
    ).encode(),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_SUMMARIES))
def test_a_hostile_summary_body_leaves_that_metric_unavailable_with_a_warning_and_the_run_goes_on(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    body = HOSTILE_SUMMARIES[kind]
    org.route(org.summary_path(0), lambda exchange: exchange.send_raw(200, body))

    result = run(setup, capsys)

    assert result.code == 0, result.err
    assert org.server.count(org.summary_path(0)) >= 1
    document = setup.dashboard()
    site = next(s for s in document["sites"] if s["id"] == org.site(0).id)
    assert site["metrics"]["coverage"]["detail"] == "unavailable"
    assert any(org.site(0).name in note for note in document["notes"])
    assert any(org.site(0).name in line for line in result.err.splitlines() if line.startswith("WARNING"))
    fetched = [m for s in document["sites"] for m in s["metrics"].values() if m.get("detail") == "fetched"]
    assert fetched, "the other metrics' detail was fetched"
    assert len(critical(smtp.messages)) == 1


# --- case 5: a token echoed by an API error body is in no output --------------------------------------------


ECHOES = {
    "400": (400, {}),
    "429": (429, {"Retry-After": "3600"}),
}


@pytest.mark.parametrize("status", sorted(ECHOES))
def test_a_token_echoed_in_an_api_error_body_reaches_no_output(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    code, headers = ECHOES[status]
    detail = {"detail": f"bad request for Token {SIMULATOR_TOKEN}"}
    org.route(org.summary_path(0), json_reply(detail, status=code, headers=headers))

    result = run(setup, capsys)

    assert result.code in (0, 1)
    assert org.server.count(org.summary_path(0)) >= 1
    document = setup.dashboard()
    assert any("Token [REDACTED]" in text for text in document["problems"] + document["notes"])
    assert len(critical(smtp.messages)) == 1
    assert_no_token(setup, [result], smtp)


# --- case 6: an alert state that cannot be saved sends no spam; a crash doubles nothing ---------------------


def test_an_unsaveable_alert_state_sends_one_email_in_three_runs(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    (setup.state / paths.ALERT_STATE_FILE_NAME).mkdir(parents=True)  # a folder where the file must be

    runs = [run(setup, capsys) for _ in range(3)]

    assert [r.code for r in runs] == [0, 0, 0]
    assert len(smtp.messages) == 1
    assert all(any("using fallback" in line for line in r.error_lines()) for r in runs)
    assert "Alert state could not be saved" in smtp.messages[0].body("plain")


def test_a_crash_right_after_the_smtp_server_accepted_the_alert_sends_nothing_twice(
    tmp_path: Path,
    org: HostileOrg,
    smtp: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    accepted = email_delivery.Outbox.accepted

    def accepted_then_killed(self: email_delivery.Outbox, path: Path) -> None:
        accepted(self, path)
        raise Killed  # kill -9 right after the 250 was recorded

    with monkeypatch.context() as patch:
        patch.setattr(email_delivery.Outbox, "accepted", accepted_then_killed)
        with pytest.raises(Killed):
            main(setup.argv(), {})
    assert len(smtp.messages) == 1

    runs = [run(setup, capsys) for _ in range(2)]

    assert [r.code for r in runs] == [0, 0]
    assert len(smtp.messages) == 1


def test_a_crash_before_the_alert_state_was_saved_sends_the_alert_once_later(
    tmp_path: Path,
    org: HostileOrg,
    smtp: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = setup_for(tmp_path, org, smtp)

    def killed(*args: Any, **kwargs: Any) -> bool:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(alert_state.StateStore, "save", killed)
        with pytest.raises(Killed):
            main(setup.argv(), {})
    assert smtp.messages == []

    runs = [run(setup, capsys) for _ in range(2)]

    assert [r.code for r in runs] == [0, 0]
    assert len(smtp.messages) == 1


# --- case 7: a lying paging total never spends the budget ---------------------------------------------------


def test_a_lying_page_total_makes_at_most_the_page_cap_of_calls_and_an_incomplete_run(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    real = [{"id": site.id, "name": site.name} for site in org.simulator.sites]

    def one_site_a_page(page: int, limit: int) -> List[Any]:
        return [real[page - 1] if page <= len(real) else {"id": f"ghost-{page:04d}", "name": f"Ghost {page}"}]

    org.route(org.sites_path(), paged_array(one_site_a_page, total=1_000_000_000, limit_header=1))

    result = run(setup, capsys)

    assert result.code == 1
    assert org.server.count(org.sites_path()) == MAX_PAGES
    document = setup.dashboard()
    assert document["complete"] is False
    assert any("announced 1000000000" in text for text in document["problems"])
    assert len(critical(smtp.messages)) == 1


# --- case 8: a gzip bomb is refused -------------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_at_the_size_cap_and_the_run_ends_with_one_line(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org)
    org.route(org.sites_sle_path(), gzip_bomb(65 * MIB))

    result = run(setup, capsys, "report")

    assert result.code == 1
    [line] = result.error_lines()
    assert line.endswith("answer larger than 64 MiB (decompressed); refused") and "sites-sle" in line
    assert org.server.count(org.sites_sle_path()) == 1


def test_a_gzip_bomb_for_one_summary_leaves_that_metric_unavailable_and_still_alerts(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    org.route(org.summary_path(0), gzip_bomb(65 * MIB))

    result = run(setup, capsys)

    assert result.code in (0, 1)
    document = setup.dashboard()
    assert any("answer larger than 64 MiB (decompressed); refused" in text for text in document["problems"])
    assert len(critical(smtp.messages)) == 1
