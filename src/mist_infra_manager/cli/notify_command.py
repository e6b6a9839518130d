"""`notify-test [--channel NAME]`: a clearly marked test message to each alert channel and the email.

No run lock and no API token: it works beside a running daemon. One line per channel, exit 1 when any failed.
"""

from __future__ import annotations

import argparse
from typing import Callable, Mapping, Sequence

from mist_infra_manager import config as config_module
from mist_infra_manager.alerting import notify_test
from mist_infra_manager.analysis.models import utc_now
from mist_infra_manager.cli.exit_codes import ExitCode
from mist_infra_manager.settings import Settings


def run_notify_test(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    configure_logging: Callable[[Settings, argparse.Namespace], None],
    print_console: Callable[[Sequence[str], bool], None],
) -> int:
    """Send the tests and print one line per channel; returns 0 when every one was delivered, 1 otherwise.

    Raises ConfigError (exit 2) for a file that does not validate or a --channel that names no channel.
    """
    config = config_module.load_config(config_module.find_config(args.config, environ), environ, require_token=False)
    configure_logging(config, args)
    names = notify_test.channel_names(config)
    if args.channel is not None and args.channel not in names:
        raise config_module.ConfigError(
            [f"--channel: no channel named {args.channel!r} in {config.source} (channels: {', '.join(names)})"]
        )
    results = notify_test.run_tests(config, utc_now(), only=args.channel)
    print_console([f"{result.name}: {result.text}" for result in results], False)
    return ExitCode.OK if all(result.ok for result in results) else ExitCode.FAILURE
