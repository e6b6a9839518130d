"""Disk benchmark: the bytes one `--mode report` run writes, and what a month of 15-minute runs keeps.

Not part of the test run (pytest collects only tests/test_*.py). Run from the project root:

    .venv/bin/python tests/benchmarks/bench_disk.py                 # 300 and 10,000 sites, about 30 s
    .venv/bin/python tests/benchmarks/bench_disk.py --sizes 300     # one size only

Per size, the simulator runs in this process on loopback and `python src/main.py --mode report --config FILE` runs
once as a child process with a fresh reports directory; every file it writes is measured. "Before" is the same
dashboard re-encoded as the JSON was written before (`", "` and `": "` separators), without retention.

The month is computed, not run: 2,880 runs 15 minutes apart are named as the tool names them, and after each run
the real retention (history_store.plan_report_retention, with that run's time as `now`) decides which names are
kept, compressed or deleted. Each name is then costed at the size measured for its file (plain or gzip, gzip
measured with the same level the retention uses). The history (history.keep_days 7 by default) is costed by its
thinning rule: the snapshots of the last 27 h plus one per date.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "src"))
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from conftest import SIMULATOR_TOKEN, base_config, write_config  # noqa: E402
from mist_infra_manager.simulator.mist_simulator import MistSimulator  # noqa: E402
from mist_infra_manager.state import history_store  # noqa: E402

MAIN_SCRIPT = PROJECT_ROOT / "src" / "main.py"
MB = 1_000_000
CADENCE = timedelta(minutes=15)
MONTH_DAYS = 30
RUNS_PER_MONTH = MONTH_DAYS * 24 * 4
HISTORY_KEEP_DAYS = 7
KINDS = ("SUMMARY_REPORT_{}.txt", "HEALTH_DASHBOARD_{}.txt", "HEALTH_DASHBOARD_{}.json", "HEALTH_DASHBOARD_{}.html")
START = datetime(2026, 11, 1, 0, 7, tzinfo=timezone.utc)


def run_once(sites: int, degraded: float, workdir: Path) -> Tuple[Dict[str, int], Dict[str, int], int, int]:
    """Run the CLI once; return (plain bytes per kind, gzip bytes per kind, old-style JSON bytes, snapshot bytes)."""
    with MistSimulator(num_sites=sites, token=SIMULATOR_TOKEN, degraded_share=degraded, latency_ms=0) as simulator:
        config_path = write_config(workdir / "config.yaml", base_config(simulator.base_url, workdir))
        environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
        with open(workdir / "run.log", "wb") as output:
            code = subprocess.call(
                [sys.executable, str(MAIN_SCRIPT), "--mode", "report", "--config", str(config_path)],
                cwd="/",
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
    if code != 0:
        sys.stderr.write((workdir / "run.log").read_text(encoding="utf-8", errors="replace")[-3000:])
    reports = workdir / "reports"
    plain: Dict[str, int] = {}
    packed: Dict[str, int] = {}
    old_json = 0
    for kind in KINDS:
        pattern = kind.format("*")
        path = sorted(reports.glob(pattern))[-1]
        data = path.read_bytes()
        plain[kind] = len(data)
        packed[kind] = len(gzip.compress(data, compresslevel=history_store.REPORT_GZIP_LEVEL, mtime=0))
        if kind.endswith(".json"):
            old = json.dumps(json.loads(data), separators=(", ", ": "), ensure_ascii=False, allow_nan=False)
            old_json = len(old.encode("utf-8")) + 1
    snapshot = sum(path.stat().st_size for path in (reports / "history").rglob("snapshot_*"))
    return plain, packed, old_json, snapshot


def month_of_names(plain: Dict[str, int], packed: Dict[str, int], keep_days: int) -> Tuple[int, int, int]:
    """Run the retention after each of a month's runs; return (peak bytes, bytes at the end, files at the end)."""
    files: Dict[str, Tuple[str, datetime, bool]] = {}  # name -> (kind, run time, compressed)
    peak = 0
    for number in range(RUNS_PER_MONTH):
        now = START + number * CADENCE
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        plan = history_store.plan_report_retention(
            [(name, moment) for name, (_, moment, _) in files.items()], now, keep_days
        )
        for name in plan.delete:
            del files[name]
        for name in plan.compress:
            kind, moment, _ = files.pop(name)
            files[name + history_store.COMPRESSED_SUFFIX] = (kind, moment, True)
        for kind in KINDS:
            files[kind.format(stamp)] = (kind, now, False)
        total = sum(packed[kind] if compressed else plain[kind] for kind, _, compressed in files.values())
        peak = max(peak, total)
    return peak, total, len(files)


def history_bytes(snapshot: int) -> int:
    """Return the steady-state bytes of the history at 15-minute runs: the last 27 h, then one per date."""
    recent = int(history_store.THIN_AFTER / CADENCE) + 1
    return snapshot * (recent + HISTORY_KEEP_DAYS)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 10_000])
    parser.add_argument("--degraded", type=float, default=0.1, help="share of sites with one degraded metric")
    parser.add_argument("--keep-days", type=int, default=30, help="reports.keep_days")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    for sites in args.sizes:
        workdir = Path(tempfile.mkdtemp(prefix="bench_disk_"))
        try:
            plain, packed, old_json, snapshot = run_once(sites, args.degraded, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        json_kind = KINDS[2]
        print(f"\n## {sites:,} sites, {args.degraded:.0%} degraded: one report run\n")
        print("| file | plain MB | gzip MB |")
        print("|---|---:|---:|")
        for kind in KINDS:
            print(f"| {kind.format('<ts>')} | {plain[kind] / MB:.3f} | {packed[kind] / MB:.3f} |")
        print(f"| history snapshot (.json.gz) | {snapshot / MB:.3f} | |")
        run_total = sum(plain.values())
        before_run = run_total - plain[json_kind] + old_json
        print(f"| all report files | {run_total / MB:.3f} | {sum(packed.values()) / MB:.3f} |")
        print(f"\nbefore (JSON with spaces): JSON {old_json / MB:.3f} MB, all {before_run / MB:.3f} MB per run")
        peak, end, count = month_of_names(plain, packed, args.keep_days)
        before_month = before_run * RUNS_PER_MONTH
        history = history_bytes(snapshot)
        print(f"\nA month of 15-minute runs ({RUNS_PER_MONTH:,} runs, reports.keep_days {args.keep_days}):")
        print(f"  before: every file kept plain: {before_month / MB:,.0f} MB")
        print(f"  after: {count} report files, {end / MB:,.0f} MB at the end, {peak / MB:,.0f} MB at the peak")
        print(f"  history (keep_days {HISTORY_KEEP_DAYS}, thinned): {history / MB:,.0f} MB")
        print(f"  after, reports + history at the peak: {(peak + history) / MB:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
