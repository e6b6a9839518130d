"""The command line: run options, and subcommands beside them (`config init|validate`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Optional

from mist_infra_manager import __version__

PROGRAM = "mist-infra-manager"
MODES = ("monitor", "insights", "report", "all")
DEFAULT_MODE = "all"
# Options of a run; refused with a subcommand.
RUN_OPTIONS = ("mode", "daemon", "interval", "demo")


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Add --config, --verbose and --quiet; with suppress, an option not given leaves the namespace alone."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--config",
        type=Path,
        default=default(None),
        metavar="PATH",
        help="configuration file (default: $MIST_INFRA_MANAGER_CONFIG, the checkout's config/config.yaml, "
        "the user's config folder, then the system one)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default(False),
        help="debug logging on the console (each API request), tracebacks on errors",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=default(False),
        help="only warnings and errors on the console (for cron)",
    )


def _add_config_commands(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config_parser = subcommands.add_parser("config", help="write or check a configuration file")
    actions = config_parser.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    init = actions.add_parser(
        "init",
        help="write the commented template (default: the user's config folder); never over an existing file",
    )
    init.add_argument("path", nargs="?", type=Path, metavar="PATH")
    _add_common(init, suppress=True)
    validate = actions.add_parser("validate", help="check a configuration file and print the effective settings")
    validate.add_argument("path", nargs="?", type=Path, metavar="PATH")
    _add_common(validate, suppress=True)


def _add_check_command(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subcommands.add_parser(
        "check",
        help="Nagios/Icinga plugin: the newest dashboard's verdict (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
    )
    scope = check.add_mutually_exclusive_group()
    scope.add_argument("--site", metavar="NAME", help="one site, by name or id")
    scope.add_argument("--org", action="store_true", help="the whole org (the default)")
    check.add_argument("--metric", metavar="METRIC", help="one metric key, e.g. coverage (default: all)")
    check.add_argument(
        "--max-age",
        default="30m",
        metavar="DURATION",
        help="UNKNOWN when the newest dashboard is older (default: 30m)",
    )
    _add_common(check, suppress=True)


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Watch the SLEs of every site of a Juniper Mist org: reports, trends and alerts. "
        "Without a command, run once (or as a daemon).",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="monitor: per-site SLEs with classifier breakdown; insights: org-level SLEs by priority; "
        "report: report files and alerts; all: the three from one collection (default: all)",
    )
    parser.add_argument("--daemon", action="store_true", help="run continuously, one cycle per interval")
    parser.add_argument(
        "--interval",
        type=float,
        metavar="MINUTES",
        help="minutes between daemon cycles (default: monitoring.interval_minutes, 15)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="run against the built-in Mist simulator: no config, no token"
    )
    _add_common(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_config_commands(subcommands)
    _add_check_command(subcommands)
    _add_notify_test(subcommands)
    _add_silence_command(subcommands)
    return parser


def _add_silence_command(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = subcommands.add_parser("silence", help="mute known problems for a while: add, list, expire")
    actions = silence.add_subparsers(dest="silence_command", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="mute the problems of matching sites (and one metric) until a time")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--site", metavar="GLOB", help='site name glob, e.g. "Leeds*" (case-insensitive)')
    target.add_argument("--group", metavar="NAME", help="a Mist site group name")
    add.add_argument("--metric", metavar="KEY", help="only this metric (a JSON metric key such as coverage)")
    end = add.add_mutually_exclusive_group(required=True)
    end.add_argument("--for", dest="duration", metavar="DURATION", help="how long: 30m, 4h, 2d")
    end.add_argument("--until", metavar="TIME", help="until an ISO time, e.g. 2026-12-02T18:00Z (UTC by default)")
    add.add_argument("--reason", required=True, help="why: shown in the reports beside each muted problem")
    _add_common(add, suppress=True)
    listing = actions.add_parser("list", help="the active silences (with --all: also the recently ended ones)")
    listing.add_argument("--all", action="store_true", help="also list expired and ended silences")
    _add_common(listing, suppress=True)
    expire = actions.add_parser("expire", help="end a silence now; its problems alert again as new")
    expire.add_argument("id", metavar="ID", help="the silence id shown by add and list")
    _add_common(expire, suppress=True)
    _add_common(silence, suppress=True)


def _add_notify_test(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = subcommands.add_parser(
        "notify-test",
        help="send a test message to every alert channel and the email (or one of them); exit 1 if any failed",
    )
    notify.add_argument(
        "--channel", metavar="NAME", default=None, help="only this channel (a notifications.channels name, or email)"
    )
    _add_common(notify, suppress=True)


def argument_problem(args: argparse.Namespace) -> Optional[str]:
    """Return what is wrong with a combination of options, or None."""
    if args.verbose and args.quiet:
        return "--verbose and --quiet exclude each other"
    if args.command is not None:
        given = [f"--{name}" for name in RUN_OPTIONS if getattr(args, name) not in (None, False)]
        if given:
            return f"{', '.join(given)} belong to runs, not to the {args.command} command"
        return None
    if args.daemon and args.demo:
        return "--daemon and --demo exclude each other"
    if args.interval is not None:
        if not args.daemon:
            return "--interval applies only with --daemon"
        if not (math.isfinite(args.interval) and args.interval > 0):
            return f"--interval: expected minutes greater than 0, got {args.interval:g}"
    return None
