"""Bodies generated from the official Mist OpenAPI schemas pass through the collector without an exception.

A second, independent set of responses: hypothesis-jsonschema draws schema-valid bodies (missing optional keys,
nulls where allowed, empty arrays, extra keys) and a canned HTTP server on loopback serves them to the real client.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from conftest import FIXTURES, example_count
from mist_infra_manager.analysis.models import SEVERITIES, STATUSES
from mist_infra_manager.analysis.sle_monitor import parse_summary
from mist_infra_manager.mist.collector import CollectionSettings, collect
from mist_infra_manager.mist.mist_client import MistClient

OPENAPI = json.loads((FIXTURES / "openapi-subset.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
ORG_ID = "00000000-0000-4000-8000-000000000001"
MAX_SITES_PER_BODY = 4


def _resolve(node: Any, depth: int = 0) -> Any:
    """Return a schema with every local `$ref` of the OpenAPI document inlined."""
    if depth > 40:
        raise RecursionError("schema nesting too deep")
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#/"):
            target: Any = OPENAPI
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            merged = {key: value for key, value in node.items() if key != "$ref"}
            resolved = _resolve(copy.deepcopy(target), depth + 1)
            return {**resolved, **_resolve(merged, depth + 1)} if merged else resolved
        return {key: _resolve(value, depth + 1) for key, value in node.items() if key not in ("example", "examples")}
    if isinstance(node, list):
        return [_resolve(item, depth + 1) for item in node]
    return node


def response_schema(name: str) -> Dict[str, Any]:
    """Return the inlined JSON schema of a named response of the document."""
    response = OPENAPI["components"]["responses"][name]
    return _resolve(response["content"]["application/json"]["schema"])


SUMMARY_SCHEMA = response_schema("SleSummary")
SELF_SCHEMA = response_schema("Admin")
SITES_SCHEMA = response_schema("SitesArray")
SITES_SLE_SCHEMA = response_schema("OrgSiteSle")


class CannedApi:
    """A loopback HTTP server answering each endpoint with the body the current example set."""

    def __init__(self) -> None:
        self.bodies: Dict[str, Any] = {}
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                page = int(parse_qs(split.query).get("page", ["1"])[0])
                body = canned.body_for(split.path, page)
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body_for(self, path: str, page: int) -> Any:
        if path.endswith("/self"):
            return self.bodies["self"]
        if path.endswith("/sites"):
            return self.bodies["sites"] if page == 1 else []
        if path.endswith("/sites-sle"):
            return self.bodies["sites-sle"] if page == 1 else {"results": [], "total": 0, "limit": 1000, "page": page}
        return self.bodies["summary"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canned_api() -> Iterator[CannedApi]:
    api = CannedApi()
    yield api
    api.close()


@settings(max_examples=example_count(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(body=from_schema(SUMMARY_SCHEMA))
def test_any_schema_valid_summary_parses_to_a_percentage_or_no_data(body: Dict[str, Any]) -> None:
    breakdown = parse_summary(body)
    assert breakdown.sle_pct is None or isinstance(breakdown.sle_pct, float)
    for stat in breakdown.classifiers:
        assert isinstance(stat.id, str) and stat.name
        assert stat.users is None or stat.users >= 0


# A whole org per example, generated from the schemas, costs seconds: the fast profile runs 3, CI all 50.
@settings(max_examples=example_count(50, fast=3), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    self_body=from_schema(SELF_SCHEMA),
    sites=from_schema(SITES_SCHEMA),
    sites_sle=from_schema(SITES_SLE_SCHEMA),
    summary=from_schema(SUMMARY_SCHEMA),
    detail=st.sampled_from(["degraded", "all"]),
)
def test_the_collector_never_crashes_on_schema_valid_bodies(
    canned_api: CannedApi,
    self_body: Dict[str, Any],
    sites: Any,
    sites_sle: Dict[str, Any],
    summary: Dict[str, Any],
    detail: str,
) -> None:
    if isinstance(sites_sle.get("results"), list):
        sites_sle["results"] = sites_sle["results"][:MAX_SITES_PER_BODY]
    canned_api.bodies = {
        "self": self_body,
        "sites": sites[:MAX_SITES_PER_BODY],
        "sites-sle": sites_sle,
        "summary": summary,
    }
    client = MistClient(canned_api.base_url, "token", sleep=lambda seconds: None, max_retry_wait_seconds=0)
    try:
        result = collect(client, CollectionSettings(org_id=ORG_ID, classifier_detail=detail, max_workers=2), NOW)
    finally:
        client.close()
    assert result.overall_status in STATUSES
    for site in result.sites:
        assert site.status in STATUSES
        for metric in site.metrics.values():
            assert metric.severity in SEVERITIES
            assert metric.sle_pct is None or 0.0 <= metric.sle_pct <= 100.0 or metric.detail == "fetched"
            assert metric.detail in ("fetched", "skipped", "unavailable", "deferred")
