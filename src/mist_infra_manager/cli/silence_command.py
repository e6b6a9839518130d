"""`silence add|list|expire`: mute known problems for a while, kept in the state folder (state/silences.py).

No run lock and no API token: it works beside a running daemon, whose next run reads the silences.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Mapping, Optional, Sequence

from mist_infra_manager import config as config_module
from mist_infra_manager.analysis import catalog
from mist_infra_manager.analysis.models import utc_now
from mist_infra_manager.analysis.policy import Silence
from mist_infra_manager.cli.exit_codes import ExitCode
from mist_infra_manager.settings import Settings
from mist_infra_manager.state import silences as silences_store

# A silence longer than this is almost certainly a typo (use a profile or a maintenance window instead).
MAX_SILENCE = timedelta(days=90)


def _usage(message: str) -> config_module.ConfigError:
    return config_module.ConfigError([message])


def parse_until(text: str, now: datetime) -> datetime:
    """Return the end of a silence from --until (ISO 8601; UTC when it has no offset); raises ConfigError."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _usage(f"--until: expected an ISO time such as 2026-12-02T18:00Z, got {text!r}") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def silence_end(args: argparse.Namespace, now: datetime) -> datetime:
    """Return when the new silence ends, from --for or --until; raises ConfigError when it is not in the future."""
    if args.duration is not None:
        try:
            end = now + timedelta(seconds=config_module.parse_duration_seconds(args.duration))
        except ValueError:
            raise _usage(f"--for: expected a duration such as 30m, 4h or 2d, got {args.duration!r}") from None
    else:
        end = parse_until(args.until, now)
    if end <= now:
        raise _usage("--for/--until: the silence would end before it starts")
    if end - now > MAX_SILENCE:
        raise _usage(f"--for/--until: at most {MAX_SILENCE.days} days (use a policy profile for longer)")
    return end


def _line(item: Silence, now: datetime) -> str:
    state = "active" if item.active(now) else "expired" if item.expired_at is not None else "ended"
    end = (item.expired_at or item.ends_at).strftime("%Y-%m-%dT%H:%MZ")
    return (
        f"{item.id}  {state:<7} until {end}  {item.target}  by {item.created_by} at "
        f"{item.starts_at.strftime('%Y-%m-%dT%H:%MZ')}: {item.reason}"
    )


def run_silence(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    configure_logging: Callable[[Settings, argparse.Namespace], None],
    print_console: Callable[[Sequence[str], bool], None],
    clock: Callable[[], datetime] = utc_now,
) -> int:
    """Run `silence add|list|expire`; returns the exit code. Raises ConfigError (exit 2) for bad options."""
    config = config_module.load_config(config_module.find_config(args.config, environ), environ, require_token=False)
    configure_logging(config, args)
    directory = config.reports.directory
    now = clock()
    lines: List[str]
    if args.silence_command == "add":
        if args.metric is not None and args.metric not in catalog.ALL_METRICS_BY_KEY:
            raise _usage(f"--metric: expected one of {', '.join(catalog.ALL_METRICS_BY_KEY)}, got {args.metric!r}")
        if not args.reason.strip():
            raise _usage("--reason: say why (it is shown in every report of the muted problems)")
        item = silences_store.add_silence(
            directory,
            site=args.site,
            group=args.group,
            metric=args.metric,
            ends_at=silence_end(args, now),
            reason=args.reason.strip(),
            now=now,
        )
        lines = [f"Silence {item.id} added: {_line(item, now)}"]
    elif args.silence_command == "expire":
        expired: Optional[Silence] = silences_store.expire_silence(directory, args.id, now)
        if expired is None:
            print_console([f"No active silence with id {args.id!r} (see: silence list)"], False)
            return ExitCode.FAILURE
        lines = [f"Silence {expired.id} expired: the next run alerts what it muted, as new"]
    else:
        items = [item for item in silences_store.load_silences(directory) if args.all or item.active(now)]
        lines = [_line(item, now) for item in items] or ["No active silence."]
    print_console(lines, False)
    return ExitCode.OK
