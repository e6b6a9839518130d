"""The Mist client against the simulator over loopback HTTP: paging, retries, rate limits, errors."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import List

import pytest

from mist_infra_manager.mist.mist_client import (
    AuthError,
    MistApiError,
    MistClient,
    NotFoundError,
    RateLimitError,
    _retry_after_seconds,
)
from mist_infra_manager.simulator.mist_simulator import MistSimulator


class RecordingSleep:
    """Stands in for time.sleep: records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(simulator: MistSimulator, **options) -> MistClient:  # type: ignore[no-untyped-def]
    options.setdefault("sleep", RecordingSleep())
    return MistClient(simulator.base_url, simulator.token, **options)


def test_sites_are_read_across_all_pages_when_the_server_caps_pages_at_seven(capped_simulator) -> None:
    client = make_client(capped_simulator)
    sites, total = client.get_paged_array(f"/orgs/{capped_simulator.org_id}/sites")
    assert total == 40
    assert len({site["id"] for site in sites}) == 40
    assert capped_simulator.calls_matching("/sites") == 6
    assert client.calls == 6


def test_sites_sle_results_are_read_across_all_pages_by_the_body_total(capped_simulator) -> None:
    client = make_client(capped_simulator)
    first, results = client.get_paged_results(
        f"/orgs/{capped_simulator.org_id}/insights/sites-sle", {"sle": "wifi", "duration": "1d"}
    )
    assert first["total"] == 40
    assert len({result["site_id"] for result in results}) == 40
    queries = [query for path, query in capped_simulator.requests_log if path.endswith("sites-sle")]
    assert all("sle=wifi" in query and "limit=1000" in query for query in queries)


def test_a_429_with_retry_after_is_waited_out_then_the_call_succeeds(simulator) -> None:
    sleep = RecordingSleep()
    client = make_client(simulator, sleep=sleep)
    simulator.add_fault(429, times=3, path_contains="/self", retry_after=2)
    body = client.get_self()
    assert body["privileges"]
    assert sleep.waits == [2, 2, 2]
    assert client.calls == 4


def test_a_429_asking_for_more_than_the_wait_cap_fails_the_call_at_once(simulator) -> None:
    client = make_client(simulator, max_retry_wait_seconds=60)
    simulator.add_fault(429, times=1, path_contains="/self", retry_after=3600)
    with pytest.raises(RateLimitError) as caught:
        client.get_self()
    assert caught.value.retry_after == 3600
    assert client.calls == 1


def test_a_429_without_retry_after_backs_off_exponentially_within_the_total_wait(simulator) -> None:
    sleep = RecordingSleep()
    client = make_client(simulator, sleep=sleep, max_retry_wait_seconds=60)
    simulator.add_fault(429, times=2, path_contains="/self")
    client.get_self()
    assert sleep.waits == [5.0, 10.0]


def test_a_503_then_success_is_retried_with_backoff(simulator) -> None:
    sleep = RecordingSleep()
    client = make_client(simulator, sleep=sleep)
    simulator.add_fault(503, times=2, path_contains="/self")
    assert client.get_self()["privileges"]
    assert len(sleep.waits) == 2
    assert 0 < sleep.waits[0] <= 0.5 < sleep.waits[1] * 2 <= 2.0


def test_persistent_5xx_fails_after_the_attempts_with_the_path_in_the_message(simulator) -> None:
    client = make_client(simulator)
    simulator.add_fault(502, times=50, path_contains="/self")
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "/self" in str(caught.value) and "HTTP 502" in str(caught.value)
    assert client.calls == 5


def test_a_wrong_token_is_an_auth_error_naming_the_likely_causes_without_the_token(simulator) -> None:
    client = MistClient(simulator.base_url, "wrong-token-abcdef0123456789", sleep=RecordingSleep())
    with pytest.raises(AuthError) as caught:
        client.get_self()
    message = str(caught.value)
    assert "rejected the token" in message and "regional host" in message
    assert "wrong-token-abcdef0123456789" not in message


def test_a_slow_answer_is_retried_then_reported_as_past_its_deadline(simulator) -> None:
    client = make_client(simulator, timeout_seconds=0.2)
    simulator.add_fault(200, times=5, path_contains="/self", delay_seconds=1.0)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "no complete answer within" in str(caught.value)


def test_malformed_json_is_a_clean_error_not_a_traceback(simulator) -> None:
    client = make_client(simulator)
    simulator.add_fault(200, times=1, path_contains="/self", malformed=True)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "not valid JSON" in str(caught.value)


def test_a_removed_summary_answers_not_found(simulator) -> None:
    simulator.summary_removed = True
    site = simulator.sites[0]
    client = make_client(simulator)
    with pytest.raises(NotFoundError):
        client.get(f"/sites/{site.id}/sle/site/{site.id}/metric/coverage/summary")


def test_an_unreachable_host_is_a_connection_error_after_retries() -> None:
    client = MistClient("http://127.0.0.1:9", "token", sleep=RecordingSleep())
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "cannot connect" in str(caught.value)
    assert client.calls == 5


def test_429s_that_keep_coming_end_as_a_rate_limit_error_not_a_plain_failure(simulator) -> None:
    client = make_client(simulator)
    simulator.add_fault(429, times=10, path_contains="/self", retry_after=1)
    with pytest.raises(RateLimitError) as caught:
        client.get_self()
    assert "429" in str(caught.value)
    assert client.calls == 5


def test_a_retry_after_of_years_counts_as_one_hour(simulator) -> None:
    client = make_client(simulator)
    simulator.add_fault(429, times=1, path_contains="/self", retry_after=1e12)
    with pytest.raises(RateLimitError) as caught:
        client.get_self()
    assert caught.value.retry_after == 3600


def test_a_retry_after_given_as_an_http_date_is_read_as_seconds_from_now() -> None:
    now = datetime(2026, 11, 28, 3, 0, 0, tzinfo=timezone.utc)
    assert _retry_after_seconds("Sat, 28 Nov 2026 03:00:30 GMT", now) == 30
    assert _retry_after_seconds("Sat, 28 Nov 2026 02:59:00 GMT", now) == 0
    assert _retry_after_seconds("soon", now) is None


class TruncatingHandler(BaseHTTPRequestHandler):
    """Announces a longer body than it sends, then closes: the client sees the body cut off mid-transfer."""

    requests_seen = 0

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        type(self).requests_seen += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b'{"privileges": [')
        self.close_connection = True


def test_a_body_cut_off_mid_transfer_is_retried_then_reported_without_a_traceback() -> None:
    server = HTTPServer(("127.0.0.1", 0), TruncatingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = MistClient(f"http://127.0.0.1:{server.server_address[1]}", "token", sleep=RecordingSleep())
        with pytest.raises(MistApiError) as caught:
            client.get_self()
    finally:
        server.shutdown()
        server.server_close()
    assert "connection failed" in str(caught.value)
    assert TruncatingHandler.requests_seen == 5


def test_time_lost_to_timeouts_counts_against_the_total_wait_of_a_call(simulator) -> None:
    client = make_client(simulator, timeout_seconds=0.3, max_retry_wait_seconds=0.5)
    simulator.add_fault(200, times=5, path_contains="/self", delay_seconds=1.0)
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    assert "no complete answer within" in str(caught.value)
    # 0.3 s lost to the first timeout plus at least 0.25 s of backoff would pass the 0.5 s allowed: no retry.
    assert client.calls == 1
