"""The Mist client against a hostile server on loopback: dripping answers, gzip bombs, lying and looping pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from hostile_server import MIB, Exchange, HostileServer, drip, gzip_bomb, gzip_chunks, json_reply, paged_array
from mist_infra_manager.mist import bounded_http
from mist_infra_manager.mist.mist_client import MAX_PAGES, MistApiError, MistClient

SITES_PATH = "/orgs/o1/sites"
SITES_URL = "/api/v1" + SITES_PATH


class RecordingSleep:
    """Stands in for time.sleep: records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class StopNow(Exception):
    """What the test's stop check raises."""


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


def client_for(server: HostileServer, **options: Any) -> MistClient:
    options.setdefault("sleep", RecordingSleep())
    return MistClient(server.base_url, "hostile-test-token-0123456789", **options)


def sites(page: int, count: int) -> List[Any]:
    return [{"id": f"site-{page}-{index}"} for index in range(count)]


def test_an_answer_dripping_one_byte_at_a_time_fails_at_the_call_deadline(server: HostileServer) -> None:
    server.route("/api/v1/self", drip(b'{"privileges": []}' + b" " * 100, interval_seconds=0.3))
    client = client_for(server, timeout_seconds=1, max_retry_wait_seconds=0)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert str(caught.value).endswith("sent no complete answer within 1 s (deadline) after 1 attempts")
    assert server.count("/api/v1/self") == 1


def test_a_deadline_failure_is_retried_like_a_timeout_within_the_retry_allowance(server: HostileServer) -> None:
    server.route("/api/v1/self", drip(b"{}" + b" " * 100, interval_seconds=0.3))
    sleep = RecordingSleep()
    client = client_for(server, timeout_seconds=0.5, max_retry_wait_seconds=1.5, sleep=sleep)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "(deadline)" in str(caught.value)
    assert server.count("/api/v1/self") >= 2
    assert len(sleep.waits) == server.count("/api/v1/self") - 1


def test_a_gzip_bomb_is_refused_at_the_size_cap_in_one_line_without_retry(server: HostileServer) -> None:
    server.route("/api/v1/self", gzip_bomb(64 * MIB))
    client = client_for(server, max_response_bytes=1 * MIB)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert str(caught.value) == "GET /self: answer larger than 1 MiB (decompressed); refused"
    assert server.count("/api/v1/self") == 1


def test_an_announced_body_beyond_the_cap_is_refused_before_it_is_read(server: HostileServer) -> None:
    server.route("/api/v1/self", lambda exchange: exchange.send_raw(200, b"[" + b"0," * 600_000 + b"0]"))
    client = client_for(server, max_response_bytes=1 * MIB)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "answer larger than 1 MiB (decompressed); refused" in str(caught.value)


def test_an_answer_within_the_cap_and_deadline_reads_as_before(server: HostileServer) -> None:
    server.route("/api/v1/self", json_reply({"privileges": [{"scope": "org"}]}, headers={"X-Extra": "1"}))
    client = client_for(server, max_response_bytes=1 * MIB, timeout_seconds=2)
    body, headers = client.get("/self")
    assert body == {"privileges": [{"scope": "org"}]}
    assert headers["X-Extra"] == "1"


def bomb_with_429(exchange: Exchange) -> None:
    exchange.send_head(429, {"Content-Encoding": "gzip", "Retry-After": "1"})
    for piece in gzip_chunks(16 * MIB):
        if not exchange.write(piece):
            return


def test_an_error_body_is_read_within_the_cap_too_and_not_retried(server: HostileServer) -> None:
    server.route("/api/v1/orgs/o1/thing", bomb_with_429)
    client = client_for(server, max_response_bytes=64 * 1024)
    with pytest.raises(MistApiError) as caught:
        client.get("/orgs/o1/thing")
    assert str(caught.value) == "GET /orgs/o1/thing: answer larger than 64 KiB (decompressed); refused"
    assert server.count("/api/v1/orgs/o1/thing") == 1


def test_a_lying_page_total_makes_at_most_the_page_cap_of_calls(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(sites, total=1_000_000_000))
    client = client_for(server)
    items, total = client.get_paged_array(SITES_PATH)
    assert total == 1_000_000_000
    assert server.count(SITES_URL) == MAX_PAGES
    assert len(items) == MAX_PAGES * 1000
    assert client.paging[-1].stopped == "page cap"
    assert client.paging[-1].shortfall
    assert any("the API announced 1000000000 (paging stopped: page cap)" in text for text in client.shortfalls)


def test_a_lying_page_total_read_in_parallel_also_stops_at_the_page_cap(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(lambda page, limit: sites(page, 10), total=1_000_000_000, limit_header=10))
    client = client_for(server)
    client.get_paged_array(SITES_PATH, parallel=8)
    assert server.count(SITES_URL) == MAX_PAGES


def test_a_short_page_ends_paging_whatever_the_total_says(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(lambda page, limit: sites(page, 8), total=100))
    client = client_for(server)
    items, total = client.get_paged_array(SITES_PATH, parallel=4)
    assert (len(items), total) == (8, 100)
    assert server.count(SITES_URL) == 1
    outcome = client.paging[-1]
    assert (outcome.announced, outcome.delivered, outcome.stopped) == (100, 8, "short page")
    assert client.shortfalls == [f"GET {SITES_PATH}: got 8 items, the API announced 100 (paging stopped: short page)"]


def test_a_repeated_page_ends_paging_and_is_not_counted_twice(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(lambda page, limit: sites(1, limit), total=5000))
    client = client_for(server)
    items, _ = client.get_paged_array(SITES_PATH)
    assert len(items) == 1000
    assert server.count(SITES_URL) == 2
    assert client.paging[-1].stopped == "repeated page"


def test_an_empty_page_ends_paging(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(lambda page, limit: sites(page, limit) if page < 3 else [], total=9000))
    client = client_for(server)
    items, _ = client.get_paged_array(SITES_PATH)
    assert len(items) == 2000
    assert server.count(SITES_URL) == 3
    assert client.paging[-1].stopped == "empty page"


def test_paging_without_a_total_ends_at_the_short_page_as_a_normal_end(server: HostileServer) -> None:
    server.route(SITES_URL, paged_array(lambda page, limit: sites(page, limit if page == 1 else 3)))
    client = client_for(server)
    items, total = client.get_paged_array(SITES_PATH)
    assert (len(items), total) == (1003, None)
    assert client.paging[-1].stopped == "last page"
    assert client.shortfalls == []


def test_a_stop_check_ends_a_dripping_read_with_what_it_raises(server: HostileServer) -> None:
    server.route("/api/v1/self", drip(b"{}" + b" " * 100, interval_seconds=0.2))
    checks: List[int] = []

    def check_stop() -> None:
        checks.append(1)
        if len(checks) > 2:
            raise StopNow

    client = client_for(server, timeout_seconds=30, check_stop=check_stop)
    with pytest.raises(StopNow):
        client.get_self()


def test_the_call_guard_has_no_deadline_outside_a_call_and_restores_it_after() -> None:
    guard = bounded_http.CallGuard()
    assert guard.current() is None
    with guard.deadline(5) as moment:
        assert guard.current() == moment
    assert guard.current() is None
    assert bounded_http.describe_size(64 * MIB) == "64 MiB"
    assert bounded_http.describe_size(1000) == "1000 bytes"


def hold_forever(exchange: Exchange) -> None:
    drip(b'{"privileges": []}' + b" " * 10_000, interval_seconds=0.1)(exchange)


def test_sigterm_stops_a_one_shot_run_mid_read_with_exit_130(server: HostileServer, make_config) -> None:  # type: ignore[no-untyped-def]
    server.route("/api/v1/", hold_forever, prefix=True)
    config = make_config(server.base_url, {"mist": {"timeout_seconds": 60}})
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    main_script = Path(__file__).resolve().parent.parent / "src" / "main.py"
    process = subprocess.Popen(
        [sys.executable, str(main_script), "--config", str(config), "--quiet"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.wait_for_request("/api/v1/", timeout=30), "the run never called the API"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)  # a hang guard, not a timing
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Interrupted." in stderr
    assert "Traceback" not in stderr
