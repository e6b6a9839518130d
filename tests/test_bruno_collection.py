"""The Bruno collection in bruno/.

Static checks (no Node.js needed): the requests, their order, docs and assertions, one environment per
Mist cloud host plus `local`, and no token, UUID or email address in any committed file.

The `bruno` test runs the whole collection with the real Bruno CLI (`bru run --env local`) against the
project's simulator. It is skipped when Node.js or the CLI is missing (`.ci/install_bruno.sh` installs
the CLI into bruno/node_modules).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
BRUNO = REPO / "bruno"
ENVIRONMENTS = BRUNO / "environments"

# REFERENCE §1: every Mist cloud API host (Global 01-05, EMEA 01-04, APAC 01-03).
REGION_HOSTS = (
    "api.mist.com",
    "api.gc1.mist.com",
    "api.ac2.mist.com",
    "api.gc2.mist.com",
    "api.gc4.mist.com",
    "api.eu.mist.com",
    "api.gc3.mist.com",
    "api.ac6.mist.com",
    "api.gc6.mist.com",
    "api.ac5.mist.com",
    "api.gc5.mist.com",
    "api.gc7.mist.com",
)

SITE_SLE = "/api/v1/sites/{{site_id}}/sle/site/{{site_id}}"
# The requests in the order the tool makes them: (path, query parameters that must be sent).
EXPECTED_REQUESTS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("/api/v1/self", ()),
    ("/api/v1/orgs/{{org_id}}/sites", ("limit", "page")),
    ("/api/v1/orgs/{{org_id}}/insights/sites-sle", ("sle={{sle}}", "duration", "limit", "page")),
    (SITE_SLE + "/metrics", ()),
    (SITE_SLE + "/metric/{{metric}}/classifiers", ()),
    (SITE_SLE + "/metric/{{metric}}/summary", ()),
    (SITE_SLE + "/metric/{{metric}}/summary-trend", ()),
    ("/api/v1/orgs/{{org_id}}/insights/{{metric}}", ()),
    ("/api/v1/orgs/{{org_id}}/alarms/search", ()),
    ("/api/v1/sites/{{site_id}}/stats/devices", ("type=ap",)),
)

TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{40,}(?![A-Za-z0-9])")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

BLOCK_START_RE = re.compile(r"^([A-Za-z][\w:-]*)\s*([{\[])\s*$")


# --------------------------------------------------------------------------- .bru parsing


def parse_bru(text: str) -> Dict[str, str]:
    """Top-level blocks of a .bru file: {"meta": "...", "get": "...", "docs": "...", ...} (bodies dedented)."""
    blocks: Dict[str, str] = {}
    name: Optional[str] = None
    closer = ""
    body: List[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if name is None:
            match = BLOCK_START_RE.match(line)
            if match:
                name, closer = match.group(1), "}" if match.group(2) == "{" else "]"
                body = []
            continue
        if line.rstrip() == closer:
            blocks[name] = "\n".join(b[2:] if b.startswith("  ") else b for b in body).strip("\n")
            name = None
        else:
            body.append(line)
    assert name is None, f"block {name!r} is not closed"
    return blocks


def pairs(block: str) -> Dict[str, str]:
    """`key: value` lines of a dictionary block (first colon splits)."""
    result: Dict[str, str] = {}
    for line in block.splitlines():
        if ":" in line and not line.startswith((" ", "\t")):
            key, _, value = line.partition(":")
            result[key.strip()] = value.strip()
    return result


def request_files() -> List[Path]:
    """The request .bru files (not collection.bru, not folder.bru, not environments)."""
    return sorted(p for p in BRUNO.glob("*.bru") if p.name not in ("collection.bru", "folder.bru"))


def requests_in_order() -> List[Tuple[Path, Dict[str, str]]]:
    parsed = [(p, parse_bru(p.read_text(encoding="utf-8"))) for p in request_files()]
    return sorted(parsed, key=lambda item: int(pairs(item[1]["meta"])["seq"]))


def repository_files() -> List[Path]:
    """Files under bruno/ that git would commit (tracked or not ignored); a walk without git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "bruno"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode("utf-8")
        files = [REPO / name for name in out.split("\0") if name]
        if files:
            return [f for f in files if f.is_file()]
    except (OSError, subprocess.SubprocessError):
        pass
    skip_dirs = {"node_modules", ".git"}
    return [
        p
        for p in BRUNO.rglob("*")
        if p.is_file()
        and not skip_dirs.intersection(p.relative_to(BRUNO).parts)
        and p.name != ".env"
        and not p.name.endswith(".local.bru")
    ]


def scannable_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.name == "package-lock.json":
        # npm's sha512 `integrity` hashes are long base64 strings, not secrets: leave them out.
        def strip(node: object) -> object:
            if isinstance(node, dict):
                return {k: strip(v) for k, v in node.items() if k != "integrity"}
            if isinstance(node, list):
                return [strip(v) for v in node]
            return node

        text = json.dumps(strip(json.loads(text)), indent=1)
    return text


# --------------------------------------------------------------------------- static tests


def test_collection_layout() -> None:
    config = json.loads((BRUNO / "bruno.json").read_text(encoding="utf-8"))
    assert config["type"] == "collection"
    assert config["name"]
    assert (BRUNO / "collection.bru").is_file()
    assert (BRUNO / "README.md").is_file()
    collection = parse_bru((BRUNO / "collection.bru").read_text(encoding="utf-8"))
    auth = pairs(collection["auth:apikey"])
    assert auth == {"key": "Authorization", "value": "Token {{apiToken}}", "placement": "header"}
    # The token falls back to process.env.MIST_API_TOKEN when no secret environment value is set.
    assert 'bru.getProcessEnv("MIST_API_TOKEN")' in collection["script:pre-request"]


def test_requests_in_the_tool_order() -> None:
    requests = requests_in_order()
    assert len(requests) >= 10
    seqs = [int(pairs(blocks["meta"])["seq"]) for _, blocks in requests]
    assert len(set(seqs)) == len(seqs), "duplicate seq"
    urls = [pairs(blocks["get"])["url"] for _, blocks in requests]
    for (path, params), url in zip(EXPECTED_REQUESTS, urls):
        base, _, query = url.partition("?")
        assert base == "{{baseUrl}}" + path
        sent = query.split("&") if query else []
        for param in params:
            assert any(s == param or s.startswith(param + "=") for s in sent), f"{url} lacks {param}"


@pytest.mark.parametrize("path", request_files(), ids=lambda p: p.name)
def test_request_has_docs_assertions_and_auth(path: Path) -> None:
    blocks = parse_bru(path.read_text(encoding="utf-8"))
    assert pairs(blocks["meta"])["type"] == "http"
    assert pairs(blocks["get"])["auth"] == "inherit", "requests inherit the collection's Token auth"
    docs = blocks.get("docs", "")
    assert len(docs) > 50, "docs block missing or empty"
    assert re.search(r"Used by: (`--mode [a-z|]*(monitor|insights|report|all)`|none of the modes)", docs), (
        "docs must say which --mode uses the request"
    )
    asserts = pairs(blocks.get("assert", ""))
    assert asserts.get("res.status") == "eq 200"
    assert len(asserts) >= 2, "assert the key fields too, not only the status"


def test_the_sites_sle_type_is_a_variable_defaulting_to_wifi_with_wired_and_wan_examples() -> None:
    collection = parse_bru((BRUNO / "collection.bru").read_text(encoding="utf-8"))
    request = parse_bru((BRUNO / "03-org-sites-sle.bru").read_text(encoding="utf-8"))
    assert pairs(collection["vars:pre-request"]) == {"sle": "wifi"}
    assert pairs(request["params:query"])["sle"] == "{{sle}}"
    for example in ("`sle=wifi`", "`sle=wired`", "`sle=wan`"):
        assert example in request["docs"]


def test_ids_are_chained_by_scripts() -> None:
    requests = dict((p.name, blocks) for p, blocks in requests_in_order())
    assert 'bru.setVar("org_id"' in requests["01-self.bru"]["script:post-response"]
    assert 'bru.setVar("site_id"' in requests["02-org-sites.bru"]["script:post-response"]


def test_one_environment_per_region_plus_local() -> None:
    hosts: Dict[str, str] = {}
    for path in sorted(ENVIRONMENTS.glob("*.bru")):
        if path.name.endswith(".local.bru"):
            continue  # a developer's private, git-ignored environment
        blocks = parse_bru(path.read_text(encoding="utf-8"))
        variables = pairs(blocks["vars"])
        for name in ("baseUrl", "metric", "duration", "limit"):
            assert variables.get(name), f"{path.name}: {name} missing"
        # The token is a secret variable (value kept by Bruno, not in the file) or comes from the env.
        secret = blocks.get("vars:secret", "").split()
        assert "apiToken" in secret or variables.get("apiToken") == "{{process.env.MIST_API_TOKEN}}"
        hosts[path.stem] = variables["baseUrl"]
    assert hosts.pop("local").startswith("http://127.0.0.1:")
    assert sorted(h.removeprefix("https://") for h in hosts.values()) == sorted(REGION_HOSTS)


def test_no_secret_in_the_collection() -> None:
    files = repository_files()
    assert any(f.name == "bruno.json" for f in files)
    problems = []
    for path in files:
        if path.suffix.lower() in (".png", ".jpg", ".ico"):
            continue
        text = scannable_text(path)
        for kind, regex in (("token", TOKEN_RE), ("uuid", UUID_RE), ("email", EMAIL_RE)):
            for match in regex.finditer(text):
                problems.append(f"{path.relative_to(REPO)}: {kind} {match.group(0)[:12]}...")
    assert not problems, "\n".join(problems)


def test_readme_troubleshooting() -> None:
    readme = (BRUNO / "README.md").read_text(encoding="utf-8")
    for needle in ("401", "403", "404", "/summary", "429", "MIST_API_TOKEN", "--env local"):
        assert needle in readme


# --------------------------------------------------------------------------- the real Bruno CLI


def find_bru() -> Optional[str]:
    candidates = [os.environ.get("BRU_BIN", ""), str(BRUNO / "node_modules" / ".bin" / "bru"), shutil.which("bru")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def bru_or_skip() -> str:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (the Bruno CLI needs it)")
    bru = find_bru()
    if bru is None:
        pytest.skip("Bruno CLI not installed: run .ci/install_bruno.sh (npm install @usebruno/cli into bruno/)")
    return bru


def import_simulator() -> Any:
    try:
        from mist_infra_manager.simulator import mist_simulator
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        from mist_infra_manager.simulator import mist_simulator
    return mist_simulator.MistSimulator


def collection_copy(tmp_path: Path) -> Path:
    """The committed collection, without node_modules and local secret files (bruno/.env, *.local.bru),
    so a developer's own token can never reach the simulator or the report."""
    target = tmp_path / "bruno"
    shutil.copytree(BRUNO, target, ignore=shutil.ignore_patterns("node_modules", ".env", "*.local.bru"))
    return target


def run_bru(bru: str, cwd: Path, token: str, base_url: str, report: Path, *paths: str) -> Tuple[int, str]:
    command = [
        bru,
        "run",
        *paths,
        "--env",
        "local",
        "--env-var",
        f"baseUrl={base_url}",
        "--reporter-json",
        str(report),
        "--reporter-skip-all-headers",
        "--noproxy",
    ]
    env = dict(os.environ, MIST_API_TOKEN=token, NO_COLOR="1", FORCE_COLOR="0")
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    output = (result.stdout + result.stderr).replace(token, "<token>")
    return result.returncode, output


@pytest.mark.bruno
def test_bru_run_local_against_the_simulator(tmp_path: Path) -> None:
    bru = bru_or_skip()
    MistSimulator = import_simulator()
    collection = collection_copy(tmp_path)
    report = tmp_path / "report.json"
    token = "bruno-test-" + secrets.token_hex(6)
    with MistSimulator(num_sites=10, token=token) as sim:
        returncode, output = run_bru(bru, collection, token, sim.base_url, report)
        org_id = sim.org_id
    assert returncode == 0, output[-4000:]

    (iteration,) = json.loads(report.read_text(encoding="utf-8"))
    summary = iteration["summary"]
    expected = len(request_files())
    assert summary["totalRequests"] == expected >= 10, summary
    assert summary["passedRequests"] == expected, output[-4000:]
    assert summary["failedAssertions"] == summary["failedTests"] == summary["errorRequests"] == 0, summary
    assert summary["passedAssertions"] >= 2 * expected
    assert "PASS" in output, output[-4000:]

    results = iteration["results"]
    for result in results:
        assert result["response"]["status"] == 200, (result["path"], result["response"]["status"])
        assert result["assertionResults"], f"{result['path']}: no assertion ran"
        assert all(a["status"] == "pass" for a in result["assertionResults"]), result["path"]
    # The chaining found the simulator's org: /self -> org_id -> first site.
    urls = [r["request"]["url"] for r in results]
    assert f"/api/v1/orgs/{org_id}/sites" in urls[1]
    assert "/api/v1/sites/{{" not in " ".join(urls), "an id was not chained"
    # The report never carries the token.
    assert token not in report.read_text(encoding="utf-8")


@pytest.mark.bruno
def test_bru_run_with_a_wrong_token_fails(tmp_path: Path) -> None:
    bru = bru_or_skip()
    MistSimulator = import_simulator()
    collection = collection_copy(tmp_path)
    report = tmp_path / "report.json"
    with MistSimulator(num_sites=2, token="right-" + secrets.token_hex(6)) as sim:
        returncode, output = run_bru(bru, collection, "wrong-token", sim.base_url, report, "01-self.bru")
    assert returncode != 0, output[-2000:]
    (iteration,) = json.loads(report.read_text(encoding="utf-8"))
    assert iteration["results"][0]["response"]["status"] == 401
