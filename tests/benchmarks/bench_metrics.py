"""Metrics benchmark: rendering and scraping the Prometheus exposition of a large org, `metrics.sites` all/affected.

Not part of the test run. Run from the project root:

    .venv/bin/python tests/benchmarks/bench_metrics.py

A 10,000-site result (2,000 sites with two degraded metrics and their classifiers, result_builders.large_result)
is rendered once, as the daemon does after each cycle, then served by the daemon's own endpoint on 127.0.0.1;
the scrape figure is the median of 5 scrapes over HTTP, the series counted by prometheus_client's parser.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import List, Tuple

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "src"))
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

import requests  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from mist_infra_manager.outputs import metrics, metrics_server  # noqa: E402
from result_builders import large_result  # noqa: E402

SCRAPES = 5
SITES = 10_000


def scrape(body: bytes, gzip: bool) -> Tuple[float, int]:
    """Return (median seconds, bytes on the wire) of SCRAPES scrapes of a body over loopback HTTP."""
    server = metrics_server.serve("127.0.0.1", 0, lambda: body)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    times: List[float] = []
    size = 0
    try:
        for _ in range(SCRAPES):
            started = time.perf_counter()
            response = requests.get(url, headers=headers, timeout=120, stream=True)
            size = len(response.raw.read(decode_content=False))
            times.append(time.perf_counter() - started)
    finally:
        server.shutdown()
        server.server_close()
    return statistics.median(times), size


def main() -> int:
    result = large_result(SITES, affected=2_000)
    health = metrics.ToolHealth(version="bench", last_success_timestamp=time.time(), collection_complete=True)
    print(f"{SITES} sites, {len(result.affected_sites)} affected")
    for sites in (metrics.SITES_ALL, metrics.SITES_AFFECTED):
        started = time.perf_counter()
        body = metrics.exposition(metrics.MetricsSnapshot(result, health, sites))
        rendering = time.perf_counter() - started
        series = sum(len(family.samples) for family in text_string_to_metric_families(body.decode()))
        plain, plain_size = scrape(body, gzip=False)
        packed, packed_size = scrape(body, gzip=True)
        print(
            f"  metrics.sites: {sites:8}  {series:7d} series  rendered once per cycle in {rendering:5.1f} s;"
            f"  scrape {plain_size / 1e6:5.1f} MB in {plain * 1000:4.0f} ms,"
            f" gzip {packed_size / 1e6:4.1f} MB in {packed * 1000:4.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
