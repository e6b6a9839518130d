"""Mist Infrastructure Manager: the command line entry point, with the one top-level error handler.

Exit codes are the ExitCode enum (cli/exit_codes.py); only console_entry calls sys.exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Mapping, Optional, Sequence

from mist_infra_manager import config as config_module
from mist_infra_manager import logging_setup
from mist_infra_manager.cli.arguments import DEFAULT_MODE, argument_problem, build_parser
from mist_infra_manager.cli.config_commands import run_config_command
from mist_infra_manager.cli.exit_codes import ExitCode
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import run_lock

logger = logging.getLogger("mist_infra_manager")
CHECK_COMMAND = "check"
# Nagios' UNKNOWN: what `check` returns for any error of its own, its usage included.
CHECK_USAGE_ERROR = 3

__all__ = ["ExitCode", "build_parser", "console_entry", "main"]


def _print_console(lines: Sequence[str], quiet: bool) -> None:
    if quiet:
        return
    for line in lines:
        # Names from the API reach the terminal here: no secret, and no control character but tab and LF.
        text = logging_setup.safe_document(line)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _configure_logging(config: Settings, args: argparse.Namespace) -> None:
    logging_settings = config.logging
    logging_setup.configure(
        verbose=args.verbose,
        quiet=args.quiet,
        log_file=logging_settings.file,
        file_level=logging_settings.level,
        max_bytes=logging_settings.max_bytes,
        backup_count=logging_settings.backup_count,
        secrets=config.secrets(),
    )


def run_demo(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run the mode (default all) against the built-in simulator and print where the files are."""
    from mist_infra_manager.pipeline import cycle as pipeline
    from mist_infra_manager.pipeline import demo
    from mist_infra_manager.simulator.mist_simulator import MistSimulator

    directory = demo.demo_directory(environ)
    with MistSimulator(num_sites=demo.DEMO_SITES, page_cap=demo.DEMO_PAGE_CAP) as simulator:
        demo.prepare_simulator(simulator)
        raw = demo.demo_raw_config(simulator.base_url, simulator.token, directory)
        config = config_module.validate(raw, "demo", environ={}, base_directory=directory)
        _configure_logging(config, args)
        logger.info("Demo: Mist simulator with %d sites on %s", demo.DEMO_SITES, simulator.base_url)
        outcome = pipeline.run_cycle(config, args.mode)
    files = outcome.files.all() if outcome.files is not None else []
    _print_console(outcome.console, quiet=args.quiet)
    _print_console(demo.demo_lines(files, directory) + demo.email_lines(outcome.notification, directory), quiet=False)
    return outcome.exit_code


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run once or as a daemon; raises the errors main() turns into exit codes."""
    if args.demo:
        return run_demo(args, environ)
    config = config_module.load_config(config_module.find_config(args.config, environ), environ)
    _configure_logging(config, args)
    from mist_infra_manager.pipeline import daemon

    # SIGTERM, SIGINT and Ctrl-Break only set a flag: the run stops at its next API call, never mid-file.
    stopper = daemon.Stopper()
    restore_signals = stopper.install()
    try:
        with run_lock.RunLock(config.reports.directory):
            if args.daemon:
                interval = args.interval if args.interval is not None else config.monitoring.interval_minutes
                daemon.run_daemon(config, args.mode, interval, stopper)
                return ExitCode.OK
            outcome = daemon.run_once(config, args.mode, stopper, show_progress=not args.quiet)
    finally:
        restore_signals()
    _print_console(outcome.console, args.quiet)
    return outcome.exit_code


def dispatch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run the subcommand, or a run when there is none; raises the errors main() turns into exit codes."""
    if args.command == "check":
        from mist_infra_manager.cli.check import run_check

        verdict = run_check(args.config, environ, site=args.site, metric=args.metric, max_age=args.max_age)
        sys.stdout.write(logging_setup.redact(verdict.line) + "\n")
        return verdict.code
    if args.command == "config":
        code, lines = run_config_command(args.config_command, args.path or args.config, environ)
        _print_console(lines, quiet=False)
        return code
    if args.command == "notify-test":
        from mist_infra_manager.cli.notify_command import run_notify_test

        return run_notify_test(args, environ, _configure_logging, _print_console)
    if args.command == "silence":
        from mist_infra_manager.cli.silence_command import run_silence

        return run_silence(args, environ, _configure_logging, _print_console)
    if args.mode is None:
        args.mode = DEFAULT_MODE
    return run(args, environ)


def main(argv: Optional[List[str]] = None, environ: Optional[Mapping[str, str]] = None) -> int:
    """Parse the command line, run, and return the exit code; the one place errors become exit codes."""
    parser = build_parser()
    arguments = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(arguments)
    except SystemExit as stop:
        if CHECK_COMMAND in arguments and stop.code not in (0, None):
            return CHECK_USAGE_ERROR  # a plugin's usage error is UNKNOWN, not the tool's exit 2
        return int(stop.code) if isinstance(stop.code, int) else ExitCode.USAGE
    problem = argument_problem(args)
    if problem is not None:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {problem}\n")
        return CHECK_USAGE_ERROR if args.command == CHECK_COMMAND else ExitCode.USAGE
    try:
        return dispatch(args, os.environ if environ is None else environ)
    except config_module.ConfigError as error:
        for line in error.errors:
            sys.stderr.write(f"error: {logging_setup.safe_text(line)}\n")
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
    from mist_infra_manager.pipeline.exporter import MetricsServerError

    if not logging.getLogger().handlers:
        logging_setup.configure(verbose=verbose)
    if isinstance(error, (MistApiError, OrgSelectionError, MetricsServerError)):
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
