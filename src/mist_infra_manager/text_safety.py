"""Text from the API made safe to show: control characters escaped visibly, secrets redacted.

Pure functions, foundation level (no imports from the package): logging_setup, outputs and alerting use them.
Names (sites, org, classifiers) and error messages come from the Mist API; an ANSI escape, a CR/LF (a forged log
line), a NUL or a bidi override (U+202E) in them must reach no terminal, log, report or email as it is. They are
escaped, not removed, so that the operator sees something odd is there: `\\x1b[31m`, `\\u202e`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, List, Pattern, Tuple

REDACTED = "[REDACTED]"

# The bidi marks, embeddings, overrides and isolates that reorder what a reader sees, and the Unicode line and
# paragraph separators (they break lines as CR/LF do).
_UNICODE_CONTROLS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# C0 controls, DEL, C1 controls, and the above.
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
# The same without tab and LF: the layout of a whole rendered document or a traceback.
_CONTROLS_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# A credential that looks like one even when it was never registered: what follows an HTTP auth scheme or an
# Authorization header (Mist API tokens are sent as `Authorization: Token <key>`; an API error body may echo it).
# At least 16 credential characters, so that prose stays readable: "Token expired", and the Mist classifier
# "Authorization: 9.1% degraded".
_CREDENTIAL = r"[A-Za-z0-9._~+/=-]{16,}"
_CREDENTIAL_PATTERNS: List[Pattern[str]] = [
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:token|bearer|basic)\s+)?)" + _CREDENTIAL),
    re.compile(r"(?i)(\b(?:token|bearer)\s+)" + _CREDENTIAL),
]
# Every text a pattern above can match holds "token", "bearer" or "authorization", and is at least this long.
_SHORTEST_CREDENTIAL_TEXT = len("token ") + 16


def _escape_one(match: re.Match[str]) -> str:
    character = match.group(0)
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Return text with every control, line-separator and bidi character escaped (`\\x1b`, `\\r`, `\\u202e`).

    For a name or a one-line message: tab and newline are escaped too. Printable text comes back unchanged.
    """
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(_escape_one, text)


def escape_controls_keep_layout(text: str) -> str:
    """Return a multi-line document (a rendered report, a traceback) with controls escaped except tab and LF."""
    if not _CONTROLS_BUT_LAYOUT.search(text):
        return text
    return _CONTROLS_BUT_LAYOUT.sub(_escape_one, text)


def _html_escaped(text: str, quotes: Tuple[str, str]) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace('"', quotes[0]).replace("'", quotes[1])


def secret_forms(secrets: Iterable[str]) -> List[str]:
    """Return each secret as written plainly, inside a JSON string and HTML-escaped, longest first."""
    forms = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            forms.add(json.dumps(secret)[1:-1])
            # As Jinja2 (MarkupSafe) and as html.escape write quotes.
            forms.add(_html_escaped(secret, ("&#34;", "&#39;")))
            forms.add(_html_escaped(secret, ("&quot;", "&#x27;")))
    return sorted(forms, key=lambda form: (-len(form), form))


def redact_credentials(text: str) -> str:
    """Return text with anything shaped like a credential (`Token <key>`, `Authorization: ...`) redacted."""
    # The patterns cost a second on a 10,000-site report: run them only where they can match.
    if len(text) < _SHORTEST_CREDENTIAL_TEXT:
        return text
    lowered = text.lower()
    if "token" in lowered or "bearer" in lowered or "authorization" in lowered:
        for pattern in _CREDENTIAL_PATTERNS:
            text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class Redactor:
    """Redacts a fixed set of secrets from many texts (their forms are built once), and credential patterns.

    credentials=False skips the patterns: for a whole rendered document whose values were each redacted already.
    """

    def __init__(self, secrets: Iterable[str], *, credentials: bool = True) -> None:
        self.forms = secret_forms(secrets)
        self.credentials = credentials

    def __call__(self, text: str) -> str:
        """Return text with each secret (and credential) replaced by [REDACTED]."""
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return redact_credentials(text) if self.credentials else text


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return text with each secret, and anything shaped like an Authorization credential, replaced by [REDACTED]."""
    return Redactor(secrets)(text)


def safe_text(text: str, secrets: Iterable[str]) -> str:
    """Return a name or a one-line message fit for any output: secrets redacted, then controls escaped."""
    return escape_controls(redact(text, secrets))


def map_strings(value: Any, function: Callable[[str], str]) -> Any:
    """Return a JSON-like value (dicts, lists, strings, numbers) with function applied to every string in it."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {map_strings(key, function): map_strings(item, function) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_strings(item, function) for item in value]
    return value


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """Return a JSON-like value with redact applied to every string in it."""
    return map_strings(value, Redactor(secrets))
