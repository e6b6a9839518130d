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
        self.smtp = smtp
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
    """Run the command in-process (as cron would: environment empty) and return its code and console.

    Whatever the fault, every run shows no traceback, leaves the token in no output (console, files, emails) and
    touches no file outside the configured folders.
    """
    before = outside(setup)
    code = main([*setup.argv(mode), *extra], {})
    captured = capsys.readouterr()
    result = Run(code, captured.out, captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert outside(setup) == before
    assert_no_token(setup, [result], setup.smtp)
    return result


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


# A one-shot run stopped by SIGTERM exits 130 ("Interrupted."); a daemon exits 0 with its heartbeat "stopped".
STOPPED_BY_SIGTERM = {"one-shot run": (130, "Interrupted."), "daemon": (0, None)}


@pytest.mark.parametrize("kind", sorted(STOPPED_BY_SIGTERM))
def test_sigterm_stops_a_run_stuck_on_a_dripping_answer_and_the_next_run_is_not_locked_out(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    setup = setup_for(tmp_path, org, overrides={"mist": {"timeout_seconds": 60}})
    org.route(org.sites_sle_path(), hold)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    daemon = ["--daemon"] if kind == "daemon" else []
    process = subprocess.Popen(
        [sys.executable, str(MAIN_SCRIPT), *setup.argv("report"), *daemon],
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

    code, last_line = STOPPED_BY_SIGTERM[kind]
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    if last_line is not None:
        assert stderr.strip().splitlines()[-1] == last_line
    heartbeat = setup.state / paths.HEARTBEAT_FILE_NAME
    if kind == "daemon":
        assert json.loads(heartbeat.read_text(encoding="utf-8"))["state"] == "stopped"
    else:
        assert not heartbeat.exists() or json.loads(heartbeat.read_text(encoding="utf-8"))["state"] != "running"
    org.route(org.sites_sle_path(), forward_to(org.simulator))
    later = run(setup, capsys, "report")
    assert later.code == 0, later.err


def test_an_org_answer_dripping_past_the_call_deadline_ends_the_run_with_exit_1_and_one_line(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, overrides={"mist": {"timeout_seconds": 0.3}})
    org.route(org.sites_sle_path(), hold)

    result = run(setup, capsys, "report")

    assert result.code == 1
    [line] = result.error_lines()
    assert "(deadline)" in line and "/insights/sites-sle" in line
    assert_no_token(setup, [result])


def test_a_summary_dripping_past_the_call_deadline_leaves_that_metric_unavailable_and_still_alerts(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp, {"mist": {"timeout_seconds": 0.3}})
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


# Running as root, a folder's mode cannot refuse a write: the refusal is injected where the report files land.
DISK_FAULTS = {"a full disk": errno.ENOSPC, "a reports folder that cannot be written": errno.EACCES}


@pytest.mark.parametrize("fault", sorted(DISK_FAULTS))
def test_a_disk_fault_for_the_reports_still_emails_the_alert_saying_so_and_exits_1(
    tmp_path: Path,
    org: HostileOrg,
    smtp: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    real_replace = os.replace
    number = DISK_FAULTS[fault]

    def replace_failing_for_reports(source: Any, target: Any) -> None:
        if paths.REPORT_NAME_PATTERN.match(Path(target).name):
            raise OSError(number, os.strerror(number))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_failing_for_reports)
    result = run(setup, capsys)

    assert result.code == 1
    line = f"Report files could not be written to {setup.reports}: {os.strerror(number)}"
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


# --- case 9: values that cannot be read are never healthy ---------------------------------------------------


def every_site(key: str, value: Any) -> Transform:
    """Return a sites-sle transform setting metric key to value on every site."""

    def transform(body: Any) -> Any:
        for result in body["results"]:
            result[key] = value
        return body

    return transform


def announcing(total: int) -> Transform:
    return lambda body: dict(body, total=total)


UNREADABLE = {
    "NaN on every site": (every_site("capacity", float("nan")), "could not be read"),
    "percentages on every site": (every_site("roaming", 95), "could not be read"),
    "100 sites announced, 8 delivered": (announcing(100), "got 8 results, the API announced 100"),
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_values_that_cannot_be_read_make_the_run_incomplete_exit_1_and_never_healthy(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    transform, problem = UNREADABLE[kind]
    org.route(org.sites_sle_path(), forward_to(org.simulator, transform))

    result = run(setup, capsys)

    assert result.code == 1
    document = setup.dashboard()
    assert document["complete"] is False
    assert any(problem in text for text in document["problems"])
    if kind != "100 sites announced, 8 delivered":
        assert document["summary"]["healthy"] == 0
        assert "healthy" not in {site["status"] for site in document["sites"]}
    assert len(critical(smtp.messages)) == 1


# --- case 10: the outbox sends only what the tool wrote -----------------------------------------------------

SENDER = "mist-alerts@example.test"
RECIPIENTS = ["noc@example.test", "oncall@example.test"]


def queued_message(subject: str, to: List[str]) -> bytes:
    now = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    message = email_delivery.build_message(
        subject=subject, sender=SENDER, recipients=to, text=f"{subject}\n", now=now, kind="critical"
    )
    return email_delivery.message_bytes(message)


def test_hostile_files_in_the_outbox_are_set_aside_and_never_sent(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    outbox = setup.reports / paths.OUTBOX_DIRECTORY_NAME
    outbox.mkdir(parents=True)
    outside = tmp_path / "secret.eml"
    outside.write_bytes(queued_message("the contents of an outside file", RECIPIENTS))
    planted = {
        "20260102T030400Z-001-critical-aa0001.eml": None,  # the symbolic link
        "20260102T030400Z-002-critical-aa0002.eml": queued_message("relay me", ["attacker@evil.test"]),
        "20260102T030400Z-003-critical-aa0003.eml": b"",
        "20260102T030400Z-004-critical-aa0004.eml": b"\x00\xff garbage \x1b[31m\r\n\r\n",
        "notes.eml": queued_message("not a name the outbox gives", RECIPIENTS),
    }
    for name, data in planted.items():
        if data is None:
            (outbox / name).symlink_to(outside)
        else:
            (outbox / name).write_bytes(data)
    before = outside.stat().st_mtime_ns, outside.read_bytes()

    result = run(setup, capsys)

    assert result.code in (0, 1)
    assert [message.subject.startswith("[CRITICAL]") for message in smtp.messages] == [True]
    assert all(message.rcpt_tos == RECIPIENTS for message in smtp.messages)
    texts = "\n".join(email_texts(smtp))
    assert "outside file" not in texts and "relay me" not in texts and "attacker@evil.test" not in texts
    assert (outside.stat().st_mtime_ns, outside.read_bytes()) == before
    rejected = outbox / "rejected"
    assert sorted(path.name for path in rejected.iterdir()) == sorted(planted)
    warnings = [line for line in result.err.splitlines() if line.startswith("WARNING") and "outbox/" in line]
    assert len(warnings) == len(planted)


# --- case 11: control characters from the API are escaped wherever text goes --------------------------------

HOSTILE_NAME = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil"
ESCAPED_NAME = "\\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil"
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\x00", "\u202e")


def test_control_characters_in_api_names_are_escaped_in_console_log_reports_and_email(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    org.site(0).name = HOSTILE_NAME  # the critical site
    org.simulator.org_name = f"Org {HOSTILE_NAME}"  # named in the Subject
    setup = setup_for(tmp_path, org, smtp)

    result = run(setup, capsys, "all", "--verbose")

    assert result.code == 0, result.err
    reports = [path.read_text(encoding="utf-8") for p in ("*.txt", "*.html") for path in setup.reports.glob(p)]
    log = setup.log.read_text(encoding="utf-8")
    [message] = smtp.messages
    headers = [f"{name}: {value}" for name, value in message.message.items()]
    bodies = [message.body("plain"), message.body("html")]
    bodies += [str(part.get_content()) for part in message.message.iter_attachments()]
    bodies = [text.replace("\r\n", "\n") for text in bodies]
    for text in [result.out, result.err, log, *reports, *headers, *bodies]:
        assert not [control for control in RAW_CONTROLS if control in text], text[:200]
        assert "\nFAKE LOG LINE" not in text
    assert ESCAPED_NAME in message.subject
    assert all(ESCAPED_NAME in text for text in [result.out, *reports, *bodies])
    assert json.loads(json.dumps(setup.dashboard()))["sites"][0]["name"] == HOSTILE_NAME


# --- case 12: a hostile config is exit 2 with one line per error --------------------------------------------


def yaml_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    return "\n".join(lines) + "\n"


def hostile_config(tmp_path: Path, base_url: str, kind: str) -> Tuple[Path, str]:
    """Return (config path, what the error line must name) for one kind of hostile config."""
    raw = base_config(base_url, tmp_path / "work")
    text = json.dumps(raw)
    if kind == "YAML bomb":
        body = yaml_bomb() + text.replace('"base_url": ', '"base_url": *a9, "unused": ')
        named = "config.yaml"
    elif kind == ".nan":
        body = text.replace('"timeout_seconds": 5', '"timeout_seconds": .nan')
        named = "mist.timeout_seconds"
    elif kind == ".inf":
        body = text.replace('"timeout_seconds": 5', '"timeout_seconds": .inf')
        named = "mist.timeout_seconds"
    elif kind == "nested 1,000 deep":
        body = text.replace('"base_url": ', '"deep": ' + "[" * 1_000 + "]" * 1_000 + ', "base_url": ')
        named = "config.yaml"
    else:  # a file where a folder must be
        (tmp_path / "work").mkdir(parents=True)
        (tmp_path / "work" / "reports").write_text("a file where the reports folder must be\n")
        body = text
        named = "reports.directory"
    path = tmp_path / "config.yaml"
    path.write_text(body, encoding="utf-8")
    return path, named


@pytest.mark.parametrize("kind", ["YAML bomb", ".nan", ".inf", "nested 1,000 deep", "file where a folder must be"])
def test_a_hostile_config_is_exit_2_with_one_line_naming_it(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    config_path, named = hostile_config(tmp_path, org.base_url, kind)

    code = main(["--config", str(config_path), "--mode", "report"], {})

    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    # One line per error: the history folder lies under the blocked reports folder, so it is named too.
    expected = 2 if kind == "file where a folder must be" else 1
    assert len(lines) == expected and named in lines[0], captured.err[:500]
    assert all(line.startswith("error:") and len(line) < 1000 for line in lines)
    assert "Traceback" not in captured.err
    assert org.server.requests == []


# --- case 13: a clock that jumped back ----------------------------------------------------------------------


def test_future_alert_times_and_meter_entries_are_clamped_to_now_with_a_warning(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org, smtp)
    assert run(setup, capsys).code == 0
    future = datetime.now(timezone.utc) + timedelta(days=5)
    state_file = setup.state / paths.ALERT_STATE_FILE_NAME
    jumped = {
        key: alert_state.Entry(**{**entry.__dict__, "last_sent": future, "first_seen": future})
        for key, entry in alert_state.load_state(state_file).items()
    }
    alert_state.save_state(state_file, jumped, future)
    meter = setup.state / paths.METER_FILE_NAME
    document = json.loads(meter.read_text(encoding="utf-8"))
    document["calls"] = [{"at": future.strftime("%Y-%m-%dT%H:%M:%SZ"), "count": 5000}]
    meter.write_text(json.dumps(document), encoding="utf-8")

    result = run(setup, capsys)

    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("WARNING")]
    assert any(str(state_file) in line and "later than now" in line for line in warnings)
    assert any(str(meter) in line and "after now" in line for line in warnings)
    after = datetime.now(timezone.utc)
    assert all(
        entry.last_sent is None or entry.last_sent <= after for entry in alert_state.load_state(state_file).values()
    )
    stored = json.loads(meter.read_text(encoding="utf-8"))["calls"]
    assert stored and all(item["at"] <= after.strftime("%Y-%m-%dT%H:%M:%SZ") for item in stored)


# --- case 14: file modes ------------------------------------------------------------------------------------


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("file_mode", [None, "0644"])
def test_state_and_outbox_are_private_and_reports_group_readable_whatever_the_umask(
    tmp_path: Path, org: HostileOrg, smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str], file_mode: Any
) -> None:
    overrides: Dict[str, Any] = {"metrics": {"textfile": str(tmp_path / "work" / "metrics" / "mist.prom")}}
    if file_mode is not None:
        overrides["reports"] = {"file_mode": file_mode}
    setup = setup_for(tmp_path, org, smtp, overrides)
    smtp.stop()  # the alert stays queued in the outbox
    previous = os.umask(0)
    try:
        result = run(setup, capsys)
    finally:
        os.umask(previous)

    assert result.code in (0, 1)
    report_mode = 0o640 if file_mode is None else 0o644
    reports = [path for path in setup.reports.iterdir() if paths.REPORT_NAME_PATTERN.match(path.name)]
    assert len(reports) >= 3 and {mode_of(path) for path in reports} == {report_mode}
    assert mode_of(setup.state / paths.HEARTBEAT_FILE_NAME) == 0o640
    assert mode_of(setup.work / "metrics" / "mist.prom") == report_mode
    outbox = setup.reports / paths.OUTBOX_DIRECTORY_NAME
    queued = list(outbox.glob("*.eml"))
    private = [path for path in setup.state.glob("*.json") if path.name != paths.HEARTBEAT_FILE_NAME] + queued
    assert queued and {mode_of(path) for path in private} == {0o600}
    assert mode_of(setup.state) == 0o700 and mode_of(outbox) == 0o700


# --- case 15: the two number fixes --------------------------------------------------------------------------


def test_a_summary_whose_buckets_total_zero_but_names_classifiers_is_unavailable(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org)
    body = summary_body([0, 0, None], [0, 0, None], {"weak-signal": [0, 0, None], "asymmetry-uplink": [0, 0, None]})
    org.route(org.summary_path(0), json_reply(body))

    result = run(setup, capsys, "report")

    assert result.code in (0, 1)
    site = next(s for s in setup.dashboard()["sites"] if s["id"] == org.site(0).id)
    assert site["metrics"]["coverage"]["detail"] == "unavailable"
    assert not site["metrics"]["coverage"].get("classifiers")
    [text] = [path.read_text(encoding="utf-8") for path in setup.reports.glob("SUMMARY_REPORT_*.txt")]
    assert "no classifier reported degraded time" not in text


def test_an_sle_of_exactly_80_percent_is_warning_and_reads_80_0_percent(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    # sites-sle has no coverage value for site 0, so its SLE % comes from its summary: 100 × (23 − 4.6) / 23.
    org.simulator.set_fraction(0, "coverage", None)
    org.route(org.summary_path(0), json_reply(summary_body([23], [4.6], {"weak-signal": [4.6]})))
    setup = setup_for(tmp_path, org, overrides={"sle": {"classifier_detail": "all"}})

    result = run(setup, capsys, "report")

    assert result.code in (0, 1), result.err
    coverage = next(s for s in setup.dashboard()["sites"] if s["id"] == org.site(0).id)["metrics"]["coverage"]
    assert (coverage["sle_pct"], coverage["severity"]) == (80.0, "warning")
    texts = [path.read_text(encoding="utf-8") for path in setup.reports.glob("*.txt")]
    assert any("80.0%" in text for text in texts) and not any("79.9" in text for text in texts)


# --- case 16: disk: compact JSON and report thinning --------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def test_the_json_is_compact_and_old_report_runs_are_compressed_then_thinned_to_one_a_day(
    tmp_path: Path, org: HostileOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = setup_for(tmp_path, org)
    setup.reports.mkdir(parents=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    day = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0)
    runs = {
        "recent": now - timedelta(hours=1),
        "older than 6 h": now - timedelta(hours=10),
        "early that day": day + timedelta(hours=1),
        "last of that day": day + timedelta(hours=23),
        "past keep_days": now - timedelta(days=40),
    }
    for moment in runs.values():
        (setup.reports / f"SUMMARY_REPORT_{stamp(moment)}.txt").write_text("an old report\n", encoding="utf-8")

    result = run(setup, capsys, "report")

    assert result.code == 0, result.err
    names = {path.name for path in setup.reports.iterdir()}
    assert f"SUMMARY_REPORT_{stamp(runs['recent'])}.txt" in names
    assert f"SUMMARY_REPORT_{stamp(runs['older than 6 h'])}.txt.gz" in names
    assert f"SUMMARY_REPORT_{stamp(runs['last of that day'])}.txt.gz" in names
    assert not any(stamp(runs["early that day"]) in name or stamp(runs["past keep_days"]) in name for name in names)
    newest = sorted(setup.reports.glob("HEALTH_DASHBOARD_*.json"))[-1].read_text(encoding="utf-8")
    assert newest.count("\n") == 1 and '": ' not in newest and '", "' not in newest
