"""Scale benchmark: the whole `--mode report` process against the Mist simulator, as a user runs it.

Not part of the test run (pytest collects only tests/test_*.py). Run from the project root:

    .venv/bin/python tests/benchmarks/bench_scale.py            # every scenario, about 2 minutes
    .venv/bin/python tests/benchmarks/bench_scale.py --quick    # 100 and 1,000 sites only
    .venv/bin/python tests/benchmarks/bench_scale.py --all-types  # 1,000 sites with sle.types [wifi, wired, wan] only

For each scenario the simulator runs in this process on loopback; `python src/main.py --mode report --config FILE`
runs as a child process with a fresh reports directory (cold caches). Wall time is measured around the child,
API calls and the highest number of requests in flight by the simulator, and the child's peak RSS from the
rusage that os.wait4 returns for it (the per-child form of getrusage(RUSAGE_CHILDREN)).

The seed-like configuration (`mist.max_workers: 1`, `sle.classifier_detail: all`) is measured for real at the
smallest size and at 200 sites / 20 ms; larger sizes are extrapolated from its measured time per call,
and so is the seed design itself (5 + 14 × sites sequential calls). The output says which is which.
"""

from __future__ import annotations

import argparse
import email
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import Message
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "src"))
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from conftest import SIMULATOR_TOKEN, base_config, deep_merge, write_config  # noqa: E402
from mist_infra_manager.simulator.mist_simulator import MistSimulator  # noqa: E402

MAIN_SCRIPT = PROJECT_ROOT / "src" / "main.py"
PAGE_LIMIT = 1000
SEED_LIKE = {"mist": {"max_workers": 1, "calls_per_hour": 10_000_000}, "sle": {"classifier_detail": "all"}}
EMAIL_ON = {
    "notifications": {
        "enabled": True,
        "email": {
            "enabled": True,
            "transport": "file",
            "from_address": "bench@example.com",
            "recipients": ["noc@example.com"],
        },
    }
}
ALL_TYPES = {"sle": {"types": ["wifi", "wired", "wan"]}}
MB = 1024 * 1024
# The simulator keeps this many summary bodies; warming more than that would be wasted.
SIMULATOR_SUMMARY_CACHE = 2048


@dataclass
class Measure:
    """One child run."""

    wall_s: float
    calls: int
    max_concurrent: int
    peak_rss_mb: float
    exit_code: int
    email_body_kb: Optional[float] = None
    attachment_kb: Optional[float] = None
    # Critical and major site-metrics (one impact-summary each with sle.root_cause: major) and the calls made.
    severe: int = 0
    impact_calls: int = 0
    # Degraded site-metrics of the simulated org (with wired and WAN when the run collected them).
    degraded: int = 0


def formula(sites: int, degraded: int, severe: int = 0) -> int:
    """The call formula of a cold run (docs/benchmarks.md): 1 + 2 × ceil(sites / 1000) + degraded + severe."""
    return 1 + 2 * max(1, math.ceil(sites / PAGE_LIMIT)) + degraded + severe


def severe_count(simulator: MistSimulator) -> int:
    """Return the critical and major site-metrics (below 80 %): the ones that get a root cause by default."""
    return sum(
        1
        for site in simulator.sites
        for key, fraction in site.fractions.items()
        if key != "ap-availability" and fraction is not None and fraction < 0.8
    )


def degraded_count(simulator: MistSimulator, types: bool = False) -> int:
    """Degraded Wi-Fi site-metrics, and with types the degraded wired and WAN ones too."""
    wifi = sum(
        1
        for site in simulator.sites
        for key, fraction in site.fractions.items()
        if key != "ap-availability" and fraction is not None and fraction < 0.9
    )
    others = sum(1 for site in simulator.sites for fraction in site.type_fractions.values() if fraction < 0.9)
    return wifi + (others if types else 0)


def types_formula(sites: int, degraded: int, types: int = 3) -> int:
    """The call floor with more SLE types: 1 + (1 + types) × ceil(sites / 1000) + degraded site-metrics."""
    return 1 + (1 + types) * max(1, math.ceil(sites / PAGE_LIMIT)) + degraded


def peak_rss_mb(usage: Any) -> float:
    # ru_maxrss is in kilobytes on Linux and bytes on macOS.
    return usage.ru_maxrss / (MB if sys.platform == "darwin" else 1024)


def run_child(config_path: Path, log_path: Path) -> tuple:
    """Run the CLI once; return (wall seconds, exit code, peak RSS MB)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIST_")}
    with open(log_path, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(MAIN_SCRIPT), "--mode", "report", "--config", str(config_path)],
            cwd="/",
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, process.returncode, peak_rss_mb(usage)


def email_sizes(reports: Path) -> tuple:
    """Return (body kB, attachment kB) of the email the file transport wrote, or (None, None)."""
    messages = sorted((reports / "outbox" / "sent").glob("*.eml"))
    if not messages:
        return None, None
    message: Message = email.message_from_bytes(messages[-1].read_bytes())
    body = attachment = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            attachment += len(payload)
        else:
            body += len(payload)
    return body / 1024, attachment / 1024


def warm_up(simulator: MistSimulator, every_metric: bool, types: bool = False) -> None:
    """Have the simulator build and cache the bodies a run will ask for, then zero its counters.

    The simulator shares this machine's CPUs with the measured process; a real Mist cloud builds its answers
    elsewhere. Warming it first keeps its first-time JSON building out of the measured wall time.
    """
    from concurrent.futures import ThreadPoolExecutor

    from mist_infra_manager.mist.mist_client import MistClient

    latency = simulator.latency_ms
    simulator.latency_ms = 0
    client = MistClient(simulator.base_url, simulator.token, max_workers=8)
    try:
        client.get_paged_array(f"/orgs/{simulator.org_id}/sites")
        client.get_paged_results(f"/orgs/{simulator.org_id}/insights/sites-sle", {"sle": "wifi", "duration": "1d"})
        type_paths: List[str] = []
        if types:
            for sle_type in ("wired", "wan"):
                path = f"/orgs/{simulator.org_id}/insights/sites-sle"
                client.get_paged_results(path, {"sle": sle_type, "duration": "1d"})
            type_paths = [
                f"/sites/{site.id}/sle/site/{site.id}/metric/{key.replace('_', '-')}/summary"
                for site in simulator.sites
                for key, fraction in site.type_fractions.items()
                if fraction < 0.9
            ]
        paths = type_paths + [
            f"/sites/{site.id}/sle/site/{site.id}/metric/{metric}/summary"
            for site in simulator.sites
            for key, fraction in site.fractions.items()
            if key != "ap-availability" and (every_metric or (fraction is not None and fraction < 0.9))
            for metric in ["failed-to-connect" if key == "successful-connect" else key]
        ]
        if len(paths) <= SIMULATOR_SUMMARY_CACHE:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda path: client.get(path, {"duration": "1d"}), paths))
    finally:
        client.close()
        simulator.latency_ms = latency
        simulator.reset_counters()


def measure(
    sites: int,
    latency_ms: float,
    degraded_share: float,
    overrides: Mapping[str, Any],
    workdir: Path,
    *,
    warm_runs: int = 0,
) -> List[Measure]:
    """Run the CLI against a fresh simulator and reports directory; return the cold run and any warm ones."""
    results: List[Measure] = []
    directory = Path(tempfile.mkdtemp(dir=workdir))
    with MistSimulator(
        num_sites=sites, token=SIMULATOR_TOKEN, latency_ms=latency_ms, degraded_share=degraded_share
    ) as simulator:
        config_path = write_config(
            directory / "config.yaml", deep_merge(base_config(simulator.base_url, directory), overrides)
        )
        sle = overrides.get("sle", {})
        warm_up(simulator, sle.get("classifier_detail") == "all", "types" in sle)
        for number in range(1 + warm_runs):
            simulator.reset_counters()
            wall, code, rss = run_child(config_path, directory / f"run{number}.log")
            body_kb, attachment_kb = email_sizes(directory / "reports")
            results.append(
                Measure(
                    wall,
                    simulator.calls,
                    simulator.max_concurrent,
                    rss,
                    code,
                    body_kb,
                    attachment_kb,
                    severe_count(simulator),
                    simulator.calls_matching("/impact-summary"),
                )
            )
            results[-1].degraded = degraded_count(simulator, types="types" in overrides.get("sle", {}))
            if code != 0:
                sys.stderr.write((directory / f"run{number}.log").read_text(encoding="utf-8", errors="replace")[-3000:])
    shutil.rmtree(directory, ignore_errors=True)
    return results


def print_row(cells: List[str], widths: List[int]) -> None:
    print("| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |")


def table(header: List[str], rows: List[List[str]]) -> None:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    print_row(header, widths)
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        print_row(row, widths)


def main_table(sizes: List[int], latency_ms: float, share: float, seed_sites: int, workdir: Path) -> None:
    print(f"\n## {latency_ms:g} ms latency, {share:.0%} of sites with one degraded metric (cold caches)\n")
    print(f"Seed-like run (max_workers 1, classifier_detail all) measured at {seed_sites} sites:", flush=True)
    seed = measure(seed_sites, latency_ms, share, SEED_LIKE, workdir)[0]
    per_call = seed.wall_s / seed.calls
    print(
        f"  {seed.wall_s:.1f} s wall, {seed.calls} calls, {per_call * 1000:.1f} ms per call, "
        f"max {seed.max_concurrent} in flight, exit {seed.exit_code}\n"
    )
    rows = []
    for sites in sizes:
        cold, warm = measure(sites, latency_ms, share, {}, workdir, warm_runs=1)
        degraded = round(share * sites)
        seed_like_calls = 3 + 7 * sites
        seed_like_s = seed.wall_s if sites == seed_sites else per_call * seed_like_calls
        seed_design_s = per_call * (5 + 14 * sites)
        rows.append(
            [
                f"{sites:,}",
                f"{cold.wall_s:.2f}",
                f"{cold.calls:,}",
                f"{formula(sites, degraded, cold.severe):,}",
                str(cold.max_concurrent),
                f"{cold.peak_rss_mb:.0f}",
                f"{warm.calls} / {warm.wall_s:.2f}",
                f"{seed_like_s:,.0f}" + ("" if sites == seed_sites else " (est.)"),
                f"{seed_like_s / cold.wall_s:,.0f}x",
                f"{seed_design_s:,.0f} (est.)",
                f"{seed_design_s / cold.wall_s:,.0f}x",
            ]
        )
        if cold.exit_code != 0 or warm.exit_code != 0:
            print(f"  warning: {sites} sites exited {cold.exit_code}/{warm.exit_code}")
    table(
        [
            "sites",
            "wall s",
            "API calls",
            "formula",
            "max in flight",
            "peak RSS MB",
            "warm run: calls / s",
            "seed-like s",
            "speed-up",
            "seed design s",
            "speed-up",
        ],
        rows,
    )
    print(
        f"\n(est.) = extrapolated from the seed-like run at {seed_sites} sites ({per_call * 1000:.1f} ms per "
        "sequential call): seed-like = 3 + 7 × sites calls, seed design = 5 + 14 × sites calls."
    )


def big_org(sites: int, share: float, workdir: Path) -> None:
    print(f"\n## {sites:,} sites at 0 ms, {share:.0%} degraded: report, HTML dashboard and email (transport file)\n")
    cold = measure(sites, 0, share, EMAIL_ON, workdir)[0]
    table(
        ["sites", "wall s", "API calls", "formula", "peak RSS MB", "email body kB", "attachment kB", "exit"],
        [
            [
                f"{sites:,}",
                f"{cold.wall_s:.2f}",
                f"{cold.calls:,}",
                f"{formula(sites, round(share * sites), cold.severe):,}",
                f"{cold.peak_rss_mb:.0f}",
                "-" if cold.email_body_kb is None else f"{cold.email_body_kb:.1f}",
                "-" if cold.attachment_kb is None else f"{cold.attachment_kb:.1f}",
                str(cold.exit_code),
            ]
        ],
    )


def root_cause_cost(sites: int, latency_ms: float, share: float, workdir: Path) -> None:
    """The same cold run with sle.root_cause major (the default) and none: the calls and time root cause adds."""
    print(f"\n## {sites:,} sites at {latency_ms:g} ms, {share:.0%} degraded: root cause on (major) and off (none)\n")
    rows = []
    for level in ("major", "none"):
        cold = measure(sites, latency_ms, share, {"sle": {"root_cause": level}}, workdir)[0]
        severe = cold.severe if level == "major" else 0
        rows.append(
            [
                level,
                f"{cold.wall_s:.2f}",
                f"{cold.calls:,}",
                f"{formula(sites, round(share * sites), severe):,}",
                str(cold.impact_calls),
                str(cold.max_concurrent),
                str(cold.exit_code),
            ]
        )
    table(["sle.root_cause", "wall s", "API calls", "formula", "impact-summary calls", "max in flight", "exit"], rows)


def versus_sequential(sites: int, latency_ms: float, share: float, workdir: Path) -> None:
    print(
        f"\n## {sites} sites at {latency_ms:g} ms, {share:.0%} degraded: "
        "this tool vs a sequential every-summary client\n"
    )
    ours = measure(sites, latency_ms, share, {}, workdir)[0]
    sequential = measure(sites, latency_ms, share, SEED_LIKE, workdir)[0]
    table(
        ["configuration", "wall s", "API calls", "max in flight"],
        [
            ["defaults (8 workers, degraded only)", f"{ours.wall_s:.2f}", f"{ours.calls:,}", str(ours.max_concurrent)],
            [
                "max_workers 1, classifier_detail all",
                f"{sequential.wall_s:.2f}",
                f"{sequential.calls:,}",
                str(sequential.max_concurrent),
            ],
        ],
    )
    print(f"\nspeed-up, both measured: {sequential.wall_s / ours.wall_s:.0f}x")


def all_types(sites: int, latency_ms: float, share: float, workdir: Path) -> None:
    """sle.types [wifi, wired, wan] against Wi-Fi alone on the same org: wall time and calls at the floor."""
    print(
        f"\n## {sites:,} sites at {latency_ms:g} ms, {share:.0%} degraded: sle.types [wifi] vs [wifi, wired, wan] "
        "(cold caches)\n"
    )
    wifi = measure(sites, latency_ms, share, {}, workdir)[0]
    every = measure(sites, latency_ms, share, ALL_TYPES, workdir)[0]
    table(
        ["sle.types", "wall s", "API calls", "floor", "degraded site-metrics", "peak RSS MB", "exit"],
        [
            [
                name,
                f"{run.wall_s:.2f}",
                f"{run.calls:,}",
                f"{types_formula(sites, run.degraded, count):,}",
                f"{run.degraded:,}",
                f"{run.peak_rss_mb:.0f}",
                str(run.exit_code),
            ]
            for name, run, count in (("[wifi]", wifi, 1), ("[wifi, wired, wan]", every, 3))
        ],
    )
    print("\nfloor = 1 + (1 + types) × ceil(sites / 1000) + degraded site-metrics")


class SharedClock:
    """The injected clock of the simulated hour: aware datetimes for the tool, epoch seconds for the simulator."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


def simulated_hour(sites: int, share: float, workdir: Path) -> None:
    """Five 15-minute cycles (0 to 60 min) in this process with an injected clock; the simulator enforces 5,000/h."""
    from mist_infra_manager.mist import collector
    from mist_infra_manager.mist.mist_client import MistClient

    print(f"\n## A simulated hour: {sites:,} sites, {share:.0%} degraded, a cycle every 15 minutes, 5,000 calls/h\n")
    clock = SharedClock()
    state = Path(tempfile.mkdtemp(dir=workdir))
    rows = []
    calls: List[Dict[str, Any]] = []
    with MistSimulator(
        num_sites=sites, token=SIMULATOR_TOKEN, degraded_share=share, calls_per_hour=5000, clock=clock.epoch
    ) as simulator:
        for cycle in range(5):
            simulator.reset_counters()
            client = MistClient(simulator.base_url, simulator.token, sleep=lambda seconds: None)
            try:
                result = collector.collect(
                    client, collector.CollectionSettings(), clock(), state_directory=state, clock=clock
                )
            finally:
                client.close()
            calls.append({"at": clock(), "calls": simulator.calls})
            in_hour = sum(c["calls"] for c in calls if c["at"] > clock() - timedelta(hours=1))
            limited = any("rate limit" in note for note in result.notes)
            rows.append(
                [
                    f"+{cycle * 15} min",
                    str(simulator.calls),
                    str(in_hour),
                    str(result.deferred_count),
                    "yes" if limited else "no",
                ]
            )
            clock.now += timedelta(minutes=15)
    table(["cycle", "API calls", "calls in the last hour", "deferred", "429 seen"], rows)
    shutil.rmtree(state, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="org sizes of the main table")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--degraded", type=float, default=0.1, help="share of sites with one degraded metric")
    parser.add_argument("--seed-sites", type=int, default=100, help="org size at which the seed-like run is measured")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 sites only, no other scenario")
    parser.add_argument("--root-cause", action="store_true", help="only the root cause on/off scenario (1,000 sites)")
    parser.add_argument(
        "--all-types", action="store_true", help="only 1,000 sites with sle.types [wifi, wired, wan] vs [wifi]"
    )
    args = parser.parse_args(argv)
    if args.root_cause:
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as work:
            root_cause_cost(1000, args.latency_ms, args.degraded, Path(work))
        return 0
    if args.all_types:
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as work:
            all_types(1000, args.latency_ms, args.degraded, Path(work))
        return 0
    sizes = [size for size in args.sizes if size <= 1000] if args.quick else args.sizes
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as work:
        workdir = Path(work)
        main_table(sizes, args.latency_ms, args.degraded, args.seed_sites, workdir)
        if not args.quick:
            big_org(10_000, args.degraded, workdir)
            root_cause_cost(1000, args.latency_ms, args.degraded, workdir)
            versus_sequential(200, 20, args.degraded, workdir)
            simulated_hour(10_000, 0.05, workdir)
            all_types(1000, args.latency_ms, args.degraded, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
