"""Mist Infrastructure Manager: command line entry point and orchestration.

Exit codes are documented in ExitCode and in the README; only the `__main__` block calls sys.exit.
"""

from __future__ import annotations

import argparse
import enum
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

from mist_infra_manager import __version__, logging_setup
from mist_infra_manager import config as config_module
from mist_infra_manager.state import run_lock

logger = logging.getLogger("mist_infra_manager")


class ExitCode(enum.IntEnum):
    """Process exit codes."""

    OK = 0
    # A runtime failure: API unreachable, token rejected, data incomplete, an email not sent.
    FAILURE = 1
    # Bad command line or configuration.
    USAGE = 2
    # Another run holds the lock of the reports directory.
    LOCKED = 3
    # Stopped by Ctrl-C or SIGTERM during a one-shot run (the daemon exits 0 on those).
    INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog="mist-infra-manager",
        description="Watch the Wi-Fi SLEs of every site of a Juniper Mist org: reports, trends and email alerts.",
    )
    parser.add_argument(
        "--mode",
        choices=("monitor", "insights", "report", "all"),
        default="all",
        help="monitor: per-site SLEs with classifier breakdown; insights: org-level SLEs by priority; "
        "report: report files and email; all: the three from one collection (default: all)",
    )
    parser.add_argument("--daemon", action="store_true", help="run continuously, one cycle per interval")
    parser.add_argument(
        "--interval",
        type=float,
        metavar="MINUTES",
        help="minutes between daemon cycles (default: monitoring.interval_minutes, 15)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"configuration file (default: {config_module.DEFAULT_CONFIG_PATH})",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging on the console, tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on the console (for cron)")
    parser.add_argument(
        "--demo", action="store_true", help="run against the built-in Mist simulator: no config, no token"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _print_console(lines: Sequence[str], quiet: bool) -> None:
    if quiet:
        return
    for text in lines:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _configure_logging(config: Mapping[str, Any], args: argparse.Namespace) -> None:
    logging_settings = config["logging"]
    logging_setup.configure(
        verbose=args.verbose,
        quiet=args.quiet,
        log_file=logging_settings["file"],
        file_level=logging_settings["level"],
        max_bytes=logging_settings["max_bytes"],
        backup_count=logging_settings["backup_count"],
        secrets=config_module.secrets_of(config),
    )


def run_demo(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run the mode (default all) against the built-in simulator and print where the files are."""
    from mist_infra_manager.pipeline import cycle as pipeline
    from mist_infra_manager.pipeline import demo
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    directory = demo.demo_directory(environ)
    with MistSimulator(num_sites=demo.DEMO_SITES, page_cap=demo.DEMO_PAGE_CAP) as simulator:
        raw = demo.demo_raw_config(simulator.base_url, simulator.token, directory)
        config = config_module.validate(raw, "demo", environ={})
        _configure_logging(config, args)
        logger.info("Demo: Mist simulator with %d sites on %s", demo.DEMO_SITES, simulator.base_url)
        outcome = pipeline.run_cycle(config, args.mode)
    files = outcome.files.all() if outcome.files is not None else []
    _print_console(outcome.console, quiet=args.quiet)
    _print_console(demo.demo_lines(files, directory) + demo.email_lines(outcome.notification, directory), quiet=False)
    return outcome.exit_code


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run the command line's request; raises the errors main() turns into exit codes."""
    if args.demo:
        return run_demo(args, environ)
    config_path = args.config if args.config is not None else config_module.DEFAULT_CONFIG_PATH
    config = config_module.load_config(config_path, environ)
    _configure_logging(config, args)
    from mist_infra_manager.pipeline import daemon

    # SIGTERM, SIGINT and Ctrl-Break only set a flag: the run stops at its next API call, never mid-file.
    stopper = daemon.Stopper()
    restore_signals = stopper.install()
    try:
        with run_lock.RunLock(config["reports"]["directory"]):
            if args.daemon:
                interval = args.interval if args.interval is not None else config["monitoring"]["interval_minutes"]
                daemon.run_daemon(config, args.mode, interval, stopper)
                return ExitCode.OK
            outcome = daemon.run_once(config, args.mode, stopper, show_progress=not args.quiet)
    finally:
        restore_signals()
    _print_console(outcome.console, args.quiet)
    return outcome.exit_code


def _argument_problem(args: argparse.Namespace) -> Optional[str]:
    """Return what is wrong with a combination of options, or None."""
    if args.verbose and args.quiet:
        return "--verbose and --quiet exclude each other"
    if args.daemon and args.demo:
        return "--daemon and --demo exclude each other"
    if args.interval is not None:
        if not args.daemon:
            return "--interval applies only with --daemon"
        if not (math.isfinite(args.interval) and args.interval > 0):
            return f"--interval: expected minutes greater than 0, got {args.interval:g}"
    return None


def main(argv: Optional[List[str]] = None, environ: Optional[Mapping[str, str]] = None) -> int:
    """Parse the command line, run, and return the exit code; the one place errors become exit codes."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code) if isinstance(stop.code, int) else ExitCode.USAGE
    problem = _argument_problem(args)
    if problem is not None:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {problem}\n")
        return ExitCode.USAGE
    try:
        return run(args, os.environ if environ is None else environ)
    except config_module.ConfigError as error:
        for line in error.errors:
            sys.stderr.write(f"error: {logging_setup.redact(line)}\n")
        return ExitCode.USAGE
    except run_lock.LockedError as error:
        logger.error("%s", error)
        return ExitCode.LOCKED
    except KeyboardInterrupt:  # daemon.StopRequested included
        sys.stderr.write("Interrupted.\n")
        return ExitCode.INTERRUPTED
    except Exception as error:  # the one top-level handler: a line, not a traceback
        return _report_failure(error, args.verbose)


def _report_failure(error: Exception, verbose: bool) -> int:
    from mist_infra_manager.mist.collector import OrgSelectionError
    from mist_infra_manager.mist.mist_client import MistApiError

    if not logging.getLogger().handlers:
        logging_setup.configure(verbose=verbose)
    if isinstance(error, (MistApiError, OrgSelectionError)):
        logger.error("%s", error, exc_info=verbose)
    else:
        hint = "" if verbose else " (run with --verbose for the traceback)"
        logger.error("unexpected %s: %s%s", type(error).__name__, error, hint, exc_info=verbose)
    return ExitCode.FAILURE


def console_entry() -> None:
    """The `mist-infra-manager` command: run main() and exit with its code (the only sys.exit)."""
    sys.exit(main())


if __name__ == "__main__":
    console_entry()
