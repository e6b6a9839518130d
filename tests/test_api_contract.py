"""Contract tests (issue 7): simulator bodies and example files against the official Mist OpenAPI subset.

Every response schema is resolved from the operation's ``responses`` entry in
``tests/fixtures/openapi-subset.json`` (OpenAPI 3.1, so JSON Schema 2020-12) through a ``referencing``
registry that holds the whole document, and validated with ``Draft202012Validator``.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mist_infra_manager.simulator.mist_simulator import (
    ENABLED_SITE_METRICS,
    SITE_TO_ORG_METRIC,
    TYPE_KEYS,
    TYPE_SITE_TO_ORG_METRIC,
    MistSimulator,
    SimSite,
)

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "examples"
SPEC: Dict[str, Any] = json.loads((FIXTURES / "openapi-subset.json").read_text(encoding="utf-8"))
SPEC_URI = "urn:mist-infra-manager:test:openapi-subset"  # made up: only names the resource in the registry
REGISTRY: Registry = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012))
FIXED_NOW = 1760545815.0
TOKEN = "contract-token"
REQUEST_TIMEOUT_S = 10

# Operation paths exactly as in the spec.
SELF = "/api/v1/self"
ORG_SITES = "/api/v1/orgs/{org_id}/sites"
SITES_SLE = "/api/v1/orgs/{org_id}/insights/sites-sle"
SLE_METRICS = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metrics"
CLASSIFIERS = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metric/{metric}/classifiers"
SUMMARY = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metric/{metric}/summary"
SUMMARY_TREND = "summary-trend (derived: sle_summary without impact/events)"
IMPACT_SUMMARY = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metric/{metric}/impact-summary"
IMPACTED_USERS = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metric/{metric}/impacted-users"
IMPACTED_APS = "/api/v1/sites/{site_id}/sle/{scope}/{scope_id}/metric/{metric}/impacted-aps"

KINDS = ("critical", "major", "warning", "no_data", "html_name", "major_multi", "healthy")

# The org under contract: 40 sites, every kind present, pages capped at 7.
ORG = MistSimulator(40, token=TOKEN, page_cap=7, clock=lambda: FIXED_NOW)
# Benchmark mode: every degraded level on every metric (21 degraded sites out of 84).
SHARE_ORG = MistSimulator(84, token=TOKEN, degraded_share=0.25, clock=lambda: FIXED_NOW)


def _first_of_kind(simulator: MistSimulator, kind: str) -> SimSite:
    return next(site for site in simulator.sites if site.kind == kind)


def _pointer(ref: str) -> Any:
    """The node a local '#/a/b' reference points at inside the spec."""
    node: Any = SPEC
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def response_schema_ref(path: str, status: int) -> str:
    """The local schema $ref of an operation's JSON response for a status."""
    response = SPEC["paths"][path]["get"]["responses"][str(status)]
    if "$ref" in response:
        response = _pointer(response["$ref"])
    ref = response["content"]["application/json"]["schema"]["$ref"]
    assert isinstance(ref, str)
    return ref


def _absolute(node: Any) -> Any:
    """Deep copy with local $refs made absolute, for schemas built outside the spec resource."""
    if isinstance(node, dict):
        return {
            key: SPEC_URI + value if key == "$ref" and value.startswith("#") else _absolute(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_absolute(item) for item in node]
    return node


def trend_schema() -> Dict[str, Any]:
    """sle_summary minus impact and events (top level and per classifier): REFERENCE §5c."""
    schemas = SPEC["components"]["schemas"]
    classifier = _absolute(copy.deepcopy(schemas["sle_classifier"]))
    del classifier["properties"]["impact"]
    classifier["required"] = [name for name in classifier["required"] if name != "impact"]
    classifier["not"] = {"required": ["impact"]}
    classifiers = _absolute(copy.deepcopy(schemas["sle_summary_classifiers"]))
    classifiers["items"] = classifier
    summary = _absolute(copy.deepcopy(schemas["sle_summary"]))
    for name in ("impact", "events"):
        del summary["properties"][name]
    summary["required"] = [name for name in summary["required"] if name not in ("impact", "events")]
    summary["properties"]["classifiers"] = classifiers
    summary["not"] = {"anyOf": [{"required": ["impact"]}, {"required": ["events"]}]}
    return summary


@functools.cache
def validator(path: str, status: int = 200) -> Draft202012Validator:
    """A validator for an operation's response (or the derived summary-trend schema)."""
    schema = trend_schema() if path == SUMMARY_TREND else {"$ref": SPEC_URI + response_schema_ref(path, status)}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=REGISTRY)


def _errors(checker: Draft202012Validator, body: Any) -> List[ValidationError]:
    return sorted(checker.iter_errors(body), key=lambda error: list(map(str, error.absolute_path)))


def assert_valid(path: str, body: Any, status: int = 200) -> None:
    """Fail with every schema error listed (JSON path and message)."""
    errors = _errors(validator(path, status), body)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors)


def _get(simulator: MistSimulator, path: str, *, token: Optional[str] = TOKEN, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Token {token}"} if token is not None else {}
    return requests.get(simulator.base_url + path, params=params, headers=headers, timeout=REQUEST_TIMEOUT_S)


def _site_path(template: str, site: SimSite, metric: str = "") -> str:
    return template.format(site_id=site.id, scope="site", scope_id=site.id, metric=metric)


@pytest.fixture(scope="module")
def org() -> Iterator[MistSimulator]:
    with ORG:
        yield ORG


@pytest.fixture(scope="module")
def share_org() -> Iterator[MistSimulator]:
    with SHARE_ORG:
        yield SHARE_ORG


# --- the contract's own machinery ------------------------------------------------------------------


def test_every_operation_of_the_subset_is_covered_by_these_tests() -> None:
    covered = {
        SELF,
        ORG_SITES,
        SITES_SLE,
        SLE_METRICS,
        CLASSIFIERS,
        SUMMARY,
        IMPACT_SUMMARY,
        IMPACTED_USERS,
        IMPACTED_APS,
    }
    assert set(SPEC["paths"]) == covered


def test_derived_trend_schema_rejects_a_summary_that_still_carries_impact() -> None:
    summary = json.loads((EXAMPLES / "sle_summary_coverage.json").read_text(encoding="utf-8"))
    assert _errors(validator(SUMMARY_TREND), summary)
    assert not _errors(validator(SUMMARY), summary)


# --- org-level endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra_orgs", [0, 2], ids=["one-org", "three-orgs"])
def test_self_matches_admin_schema(extra_orgs: int) -> None:
    with MistSimulator(3, token=TOKEN, extra_orgs=extra_orgs) as simulator:
        body = _get(simulator, SELF).json()
    assert len(body["privileges"]) == 1 + extra_orgs
    assert_valid(SELF, body)


@pytest.mark.parametrize("page", range(1, 7), ids=lambda page: f"page-{page}")
def test_every_org_sites_page_matches_sites_schema(org: MistSimulator, page: int) -> None:
    response = _get(org, ORG_SITES.format(org_id=org.org_id), limit=100, page=page)
    assert response.status_code == 200
    assert response.headers["X-Page-Limit"] == "7"
    assert_valid(ORG_SITES, response.json())


@pytest.mark.parametrize("page", range(1, 7), ids=lambda page: f"page-{page}")
def test_every_sites_sle_page_matches_org_site_sle_schema(org: MistSimulator, page: int) -> None:
    response = _get(org, SITES_SLE.format(org_id=org.org_id), sle="wifi", duration="1d", limit=100, page=page)
    assert response.status_code == 200
    assert response.json()["limit"] == 7
    assert_valid(SITES_SLE, response.json())


@pytest.mark.parametrize("kind", KINDS)
def test_org_sites_entry_of_each_kind_matches_sites_schema(org: MistSimulator, kind: str) -> None:
    site = _first_of_kind(org, kind)
    body = _get(org, ORG_SITES.format(org_id=org.org_id), limit=1, page=site.index + 1).json()
    assert [entry["id"] for entry in body] == [site.id]
    assert_valid(ORG_SITES, body)


@pytest.mark.parametrize("kind", KINDS)
def test_sites_sle_result_of_each_kind_matches_org_site_sle_schema(org: MistSimulator, kind: str) -> None:
    site = _first_of_kind(org, kind)
    path = SITES_SLE.format(org_id=org.org_id)
    body = _get(org, path, sle="wifi", duration="1d", limit=1, page=site.index + 1).json()
    assert [result["site_id"] for result in body["results"]] == [site.id]
    assert_valid(SITES_SLE, body)


def test_sites_sle_page_past_the_end_matches_only_the_wifi_branch_because_the_spec_oneof_is_ambiguous(
    org: MistSimulator,
) -> None:
    body = _get(org, SITES_SLE.format(org_id=org.org_id), sle="wifi", page=99).json()
    assert body["results"] == []
    wifi = Draft202012Validator({"$ref": SPEC_URI + "#/components/schemas/org_site_sle_wifi"}, registry=REGISTRY)
    assert not _errors(wifi, body)
    # An empty results list satisfies the wifi, wired and wan branches at once, so oneOf fails:
    # a gap in the spec, not in the simulator (see tests/fixtures/README.md).
    assert any(error.validator == "oneOf" for error in _errors(validator(SITES_SLE), body))


# --- wired and WAN (sle=wired|wan, issue 16) --------------------------------------------------------
# (type, the page schema of that type, its result schema); the page schemas carry the spec's odd names.
TYPE_SCHEMAS = [
    pytest.param("wired", "org_site_wired_wifi", "org_site_sle_wired_result", id="wired"),
    pytest.param("wan", "org_site_wan_wifi", "org_site_sle_wan_result", id="wan"),
]


def _schema(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": SPEC_URI + "#/components/schemas/" + name}, registry=REGISTRY)


@pytest.mark.parametrize("sle_type, page_schema, result_schema", TYPE_SCHEMAS)
def test_every_wired_and_wan_sites_sle_page_matches_its_schema_and_names_the_sites_with_devices(
    org: MistSimulator, sle_type: str, page_schema: str, result_schema: str
) -> None:
    path = SITES_SLE.format(org_id=org.org_id)
    seen: List[str] = []
    for page in range(1, 10):
        body = _get(org, path, sle=sle_type, duration="1d", limit=100, page=page).json()
        assert not _errors(_schema(page_schema), body)
        assert_valid(SITES_SLE, body)
        for result in body["results"]:
            assert not _errors(_schema(result_schema), result)
        seen += [result["site_id"] for result in body["results"]]
        if len(seen) >= body["total"]:
            break
    expected = [site.id for site in org.sites if site.has_type(sle_type)]
    assert seen == expected and 0 < len(expected) < len(org.sites)


@pytest.mark.parametrize("sle_type", ["wired", "wan"])
def test_wired_and_wan_summaries_and_trends_match_the_summary_schemas(org: MistSimulator, sle_type: str) -> None:
    site = next(site for site in org.sites if site.has_type(sle_type) and site.kind != "healthy")
    # The site ids the simulator serves by default: application health hyphenated.
    metrics = [m for m, key in TYPE_SITE_TO_ORG_METRIC.items() if key in TYPE_KEYS[sle_type] and "_" not in m]
    assert len(metrics) == 3
    for metric in metrics:
        assert_valid(SUMMARY, _get(org, _site_path(SUMMARY, site, metric)).json())
        trend = _get(org, _site_path(SUMMARY, site, metric).replace("/summary", "/summary-trend")).json()
        assert_valid(SUMMARY_TREND, trend)
        assert_valid(CLASSIFIERS, _get(org, _site_path(CLASSIFIERS, site, metric)).json())
    assert_valid(SLE_METRICS, _get(org, _site_path(SLE_METRICS, site)).json())


def test_the_degraded_share_org_serves_schema_valid_wired_and_wan_problems(share_org: MistSimulator) -> None:
    degraded = [
        (site, key) for site in share_org.sites for key, fraction in site.type_fractions.items() if fraction < 0.9
    ]
    assert {key for _, key in degraded} == {"switch-throughput", "wan-link-health"}
    for site, key in degraded:
        body = _get(share_org, _site_path(SUMMARY, site, key)).json()
        assert_valid(SUMMARY, body)


# --- site-level endpoints, for every kind of site --------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_site_sle_metrics_of_each_kind_match_site_sle_metrics_schema(org: MistSimulator, kind: str) -> None:
    site = _first_of_kind(org, kind)
    assert_valid(SLE_METRICS, _get(org, _site_path(SLE_METRICS, site)).json())


KIND_METRIC_CASES = [
    pytest.param(kind, metric, id=f"{kind}-{metric}") for kind in KINDS for metric in ENABLED_SITE_METRICS
]


@pytest.mark.parametrize(("kind", "metric"), KIND_METRIC_CASES)
def test_metric_classifiers_match_strings_schema(org: MistSimulator, kind: str, metric: str) -> None:
    site = _first_of_kind(org, kind)
    assert_valid(CLASSIFIERS, _get(org, _site_path(CLASSIFIERS, site, metric)).json())


@pytest.mark.parametrize(("kind", "metric"), KIND_METRIC_CASES)
def test_metric_summary_matches_sle_summary_schema(org: MistSimulator, kind: str, metric: str) -> None:
    site = _first_of_kind(org, kind)
    response = _get(org, _site_path(SUMMARY, site, metric), duration="1d")
    assert response.status_code == 200
    assert_valid(SUMMARY, response.json())


@pytest.mark.parametrize(("kind", "metric"), KIND_METRIC_CASES)
def test_metric_summary_trend_matches_summary_schema_without_impact_and_events(
    org: MistSimulator, kind: str, metric: str
) -> None:
    site = _first_of_kind(org, kind)
    response = _get(org, _site_path(SUMMARY, site, metric) + "-trend", duration="1d")
    assert response.status_code == 200
    assert_valid(SUMMARY_TREND, response.json())


@pytest.mark.parametrize(
    "params",
    [{"duration": "7d"}, {"duration": "2w"}, {"duration": "6h"}, {"start": "-2d", "end": "now"}],
    ids=["7d", "2w", "6h", "start-end"],
)
def test_metric_summary_of_other_windows_matches_sle_summary_schema(org: MistSimulator, params: Dict[str, str]) -> None:
    site = _first_of_kind(org, "critical")
    assert_valid(SUMMARY, _get(org, _site_path(SUMMARY, site, "coverage"), **params).json())


SHARE_CASES = [
    pytest.param(index, id=f"site-{index}-{site.kind}")
    for index, site in enumerate(SHARE_ORG.sites)
    if site.kind != "healthy" or index == 1
]


@pytest.mark.parametrize("index", SHARE_CASES)
def test_degraded_share_sites_match_the_summary_and_sites_sle_schemas(share_org: MistSimulator, index: int) -> None:
    site = share_org.sites[index]
    for metric in ENABLED_SITE_METRICS:
        assert_valid(SUMMARY, _get(share_org, _site_path(SUMMARY, site, metric)).json())
    path = SITES_SLE.format(org_id=share_org.org_id)
    assert_valid(SITES_SLE, _get(share_org, path, limit=1, page=index + 1).json())


# --- root cause: impact-summary and the impacted lists (issue 18) ------------------------------------


def _top_classifier(site: SimSite, metric: str) -> str:
    weights = site.classifier_weights[SITE_TO_ORG_METRIC[metric]]
    return max(weights, key=lambda name: weights[name])


@pytest.mark.parametrize(("kind", "metric"), KIND_METRIC_CASES)
def test_impact_summary_of_the_top_classifier_matches_sle_impact_summary_schema(
    org: MistSimulator, kind: str, metric: str
) -> None:
    site = _first_of_kind(org, kind)
    classifier = _top_classifier(site, metric)
    response = _get(org, _site_path(IMPACT_SUMMARY, site, metric), duration="1d", classifier=classifier)
    assert response.status_code == 200
    body = response.json()
    assert body["classifier"] == classifier and body["metric"] == metric
    assert_valid(IMPACT_SUMMARY, body)


@pytest.mark.parametrize("params", [{}, {"fields": "ap"}, {"fields": "band", "classifier": "weak-signal"}])
def test_impact_summary_without_classifier_or_with_fields_matches_the_schema(
    org: MistSimulator, params: Dict[str, str]
) -> None:
    body = _get(org, _site_path(IMPACT_SUMMARY, org.sites[0], "coverage"), duration="1d", **params).json()
    assert_valid(IMPACT_SUMMARY, body)
    if "fields" in params:
        assert [name for name in ("ap", "band", "wlan", "device_os", "device_type") if body[name]] == [params["fields"]]


@pytest.mark.parametrize("operation", [IMPACTED_USERS, IMPACTED_APS], ids=["users", "aps"])
@pytest.mark.parametrize("limit", [None, 1], ids=["all", "limit-1"])
@pytest.mark.parametrize("kind", KINDS)
def test_impacted_lists_match_their_schemas(
    org: MistSimulator, operation: str, limit: Optional[int], kind: str
) -> None:
    site = _first_of_kind(org, kind)
    params: Dict[str, Any] = {"duration": "1d", "classifier": _top_classifier(site, "coverage")}
    if limit is not None:
        params["limit"] = limit
    body = _get(org, _site_path(operation, site, "coverage"), **params).json()
    assert_valid(operation, body)
    listed = body["users"] if operation == IMPACTED_USERS else body["aps"]
    assert len(listed) == (body["total_count"] if limit is None else min(1, body["total_count"]))


# --- error bodies ----------------------------------------------------------------------------------


def _operation_paths(org: MistSimulator) -> Dict[str, str]:
    site = org.sites[0]
    return {
        SELF: SELF,
        ORG_SITES: ORG_SITES.format(org_id=org.org_id),
        SITES_SLE: SITES_SLE.format(org_id=org.org_id),
        SLE_METRICS: _site_path(SLE_METRICS, site),
        CLASSIFIERS: _site_path(CLASSIFIERS, site, "coverage"),
        SUMMARY: _site_path(SUMMARY, site, "coverage"),
        IMPACT_SUMMARY: _site_path(IMPACT_SUMMARY, site, "coverage"),
        IMPACTED_USERS: _site_path(IMPACTED_USERS, site, "coverage"),
        IMPACTED_APS: _site_path(IMPACTED_APS, site, "coverage"),
    }


OPERATIONS = [
    SELF,
    ORG_SITES,
    SITES_SLE,
    SLE_METRICS,
    CLASSIFIERS,
    SUMMARY,
    IMPACT_SUMMARY,
    IMPACTED_USERS,
    IMPACTED_APS,
]
OPERATION_IDS = [SPEC["paths"][path]["get"]["operationId"] for path in OPERATIONS]


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "invalid-token"])
def test_401_bodies_match_the_http401_schema(org: MistSimulator, operation: str, token: Optional[str]) -> None:
    response = _get(org, _operation_paths(org)[operation], token=token)
    assert response.status_code == 401
    assert_valid(operation, response.json(), 401)


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_429_fault_bodies_match_the_http429_schema(org: MistSimulator, operation: str) -> None:
    path = _operation_paths(org)[operation]
    org.add_fault(429, path_contains=path, retry_after=1)
    response = _get(org, path)
    assert response.status_code == 429
    assert_valid(operation, response.json(), 429)


def test_429_rate_limit_body_matches_the_http429_schema() -> None:
    with MistSimulator(3, token=TOKEN, calls_per_hour=1, clock=lambda: FIXED_NOW) as simulator:
        assert _get(simulator, SELF).status_code == 200
        response = _get(simulator, SELF)
    assert response.status_code == 429
    assert_valid(SELF, response.json(), 429)


NOT_FOUND_CASES = [
    pytest.param(ORG_SITES, ORG_SITES.format(org_id="00000000-0000-0000-0000-000000000000"), id="unknown-org"),
    pytest.param(SITES_SLE, SITES_SLE.format(org_id="00000000-0000-0000-0000-000000000000"), id="unknown-org-sle"),
    pytest.param(
        SLE_METRICS,
        SLE_METRICS.format(site_id="0" * 8, scope="site", scope_id="0" * 8),
        id="unknown-site",
    ),
    pytest.param(CLASSIFIERS, "{site}/metric/no-such-metric/classifiers", id="unknown-metric-classifiers"),
    pytest.param(SUMMARY, "{site}/metric/no-such-metric/summary", id="unknown-metric-summary"),
    pytest.param(SUMMARY, "{site_ap}/metric/coverage/summary", id="unknown-scope"),
    pytest.param(IMPACT_SUMMARY, "{site}/metric/no-such-metric/impact-summary", id="unknown-metric-impact-summary"),
    pytest.param(IMPACTED_USERS, "{site}/metric/no-such-metric/impacted-users", id="unknown-metric-impacted-users"),
    pytest.param(IMPACTED_APS, "{site}/metric/no-such-metric/impacted-aps", id="unknown-metric-impacted-aps"),
]


@pytest.mark.parametrize(("operation", "path"), NOT_FOUND_CASES)
def test_404_bodies_match_the_http404_schema(org: MistSimulator, operation: str, path: str) -> None:
    site = org.sites[0]
    base = f"/api/v1/sites/{site.id}/sle"
    response = _get(org, path.format(site=f"{base}/site/{site.id}", site_ap=f"{base}/ap/{site.id}"))
    assert response.status_code == 404
    assert_valid(operation, response.json(), 404)


def test_404_of_a_removed_summary_matches_the_http404_schema(org: MistSimulator) -> None:
    org.summary_removed = True
    try:
        response = _get(org, _operation_paths(org)[SUMMARY])
    finally:
        org.summary_removed = False
    assert response.status_code == 404
    assert_valid(SUMMARY, response.json(), 404)


@pytest.mark.parametrize(
    ("operation", "params"),
    [(ORG_SITES, {"limit": "many"}), (SITES_SLE, {"page": "0"}), (SUMMARY, {"duration": "forever"})],
    ids=["bad-limit", "bad-page", "bad-duration"],
)
def test_400_bodies_match_the_http400_schema(org: MistSimulator, operation: str, params: Dict[str, str]) -> None:
    response = _get(org, _operation_paths(org)[operation], **params)
    assert response.status_code == 400
    assert_valid(operation, response.json(), 400)


# --- the example files -----------------------------------------------------------------------------

EXAMPLE_SCHEMAS: Dict[str, Tuple[str, int]] = {
    "self.json": (SELF, 200),
    "sites.json": (ORG_SITES, 200),
    "insights_sites_sle.json": (SITES_SLE, 200),
    "sle_metrics.json": (SLE_METRICS, 200),
    "sle_classifiers_coverage.json": (CLASSIFIERS, 200),
    "sle_classifiers_time-to-connect.json": (CLASSIFIERS, 200),
    "sle_summary_coverage.json": (SUMMARY, 200),
    "sle_summary_time-to-connect.json": (SUMMARY, 200),
    "sle_summary_trend_coverage.json": (SUMMARY_TREND, 200),
    "error_401.json": (SELF, 401),
    "error_429.json": (SELF, 429),
}
HEADER_EXAMPLES = {"sites.headers.json"}
# Examples that send null where the schema says `type: string` with OpenAPI 3.0's `nullable: true`
# (which JSON Schema 2020-12 ignores): REFERENCE §10.
NULLABLE_GAP_EXAMPLES = {"sites.json"}
EXAMPLE_FILES = sorted(path.name for path in EXAMPLES.glob("*.json"))


def test_every_example_file_has_a_schema_assigned() -> None:
    assert set(EXAMPLE_FILES) == set(EXAMPLE_SCHEMAS) | HEADER_EXAMPLES


@pytest.mark.parametrize("name", sorted(EXAMPLE_SCHEMAS))
def test_example_file_matches_its_endpoint_schema(name: str) -> None:
    body = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    path, status = EXAMPLE_SCHEMAS[name]
    if name not in NULLABLE_GAP_EXAMPLES:
        assert_valid(path, body, status)
        return
    errors = _errors(validator(path, status), body)
    assert errors, f"{name} validates strictly now: drop it from NULLABLE_GAP_EXAMPLES"
    other = [e for e in errors if not (e.validator == "type" and e.instance is None and e.schema.get("nullable"))]
    assert not other, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in other)


def test_example_paging_headers_are_the_mistapi_names_with_string_values() -> None:
    headers = json.loads((EXAMPLES / "sites.headers.json").read_text(encoding="utf-8"))
    sites = json.loads((EXAMPLES / "sites.json").read_text(encoding="utf-8"))
    schema = {
        "type": "object",
        "required": ["X-Page-Total", "X-Page-Limit", "X-Page-Page"],
        "properties": {
            name: {"type": "string", "pattern": "^[0-9]+$"} for name in ("X-Page-Total", "X-Page-Limit", "X-Page-Page")
        },
    }
    assert not _errors(Draft202012Validator(schema), headers)
    assert int(headers["X-Page-Total"]) == len(sites)
