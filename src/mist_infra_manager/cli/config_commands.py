"""`config init` writes the commented template; `config validate` checks a file and prints the effective settings.

Neither takes the run lock nor calls the API, so both work while the daemon runs and without a token.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from mist_infra_manager import config as config_module
from mist_infra_manager.cli.exit_codes import ExitCode
from mist_infra_manager.settings import Settings, proxy_password

MASK = "********"
# The template may hold no secret, but a config written for others to read still should not be world-readable.
CONFIG_FILE_MODE = 0o600


def config_init(path: Optional[Path]) -> List[str]:
    """Write the template to path (default: the user's config file) and return what to say.

    Raises ConfigError when the file exists or cannot be written.
    """
    target = (path or config_module.user_config_path()).expanduser()
    if target.exists():
        raise config_module.ConfigError([f"{target}: already exists; config init never overwrites a file"])
    template = config_module.TEMPLATE_PATH.read_bytes()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, CONFIG_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(template)
    except FileExistsError:
        raise config_module.ConfigError([f"{target}: already exists; config init never overwrites a file"]) from None
    except OSError as error:
        raise config_module.ConfigError([f"{target}: cannot write the file: {error.strerror or error}"]) from None
    return [
        f"Wrote {target}",
        "Edit it: mist.base_url (your region's API host), mist.org_id (or leave empty for the token's one org),",
        "notifications.email (smtp_server, from_address, recipients) or notifications.enabled: false.",
        f"Set the API token in the environment: export {config_module.TOKEN_ENVIRONMENT_VARIABLE}=...",
        f"Check it: mist-infra-manager config validate {target}",
    ]


def config_validate(path: Path, environ: Mapping[str, str]) -> List[str]:
    """Return the lines that describe a valid file's effective settings, secrets masked; raises ConfigError."""
    settings = config_module.load_config(path, environ, require_token=False)
    lines = [f"{path}: valid. Effective settings (secrets masked):", ""]
    lines.extend(yaml.safe_dump(effective_settings(settings), sort_keys=False).rstrip("\n").split("\n"))
    if settings.mist.api_token is None:
        lines.extend(
            ["", f"Note: no API token yet: set {config_module.TOKEN_ENVIRONMENT_VARIABLE} where the tool runs."]
        )
    return lines


def effective_settings(settings: Settings) -> Dict[str, Any]:
    """Return the settings as plain data for display, with every secret masked."""
    plain: Dict[str, Any] = _plain(dataclasses.asdict(settings))
    plain.pop("source", None)
    mist = plain["mist"]
    mist["api_token"] = MASK if settings.mist.api_token else None
    password = proxy_password(settings.mist.proxy)
    if password and settings.mist.proxy:
        mist["proxy"] = settings.mist.proxy.replace(password, MASK)
    email = plain["notifications"]["email"]
    email["password"] = MASK if settings.notifications.email.password else None
    # Channel URLs carry credentials (Slack's path, Teams' sig); routing keys and secrets are secrets.
    for channel, shown in zip(settings.notifications.channels, plain["notifications"]["channels"]):
        for key in ("url", "routing_key", "secret"):
            if shown.get(key) and shown[key] in channel.secrets():
                shown[key] = MASK
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def run_config_command(action: str, path: Optional[Path], environ: Mapping[str, str]) -> Tuple[int, List[str]]:
    """Return the exit code and the lines of `config init` or `config validate`; raises ConfigError."""
    if action == "init":
        return ExitCode.OK, config_init(path)
    return ExitCode.OK, config_validate(config_module.find_config(path, environ), environ)
