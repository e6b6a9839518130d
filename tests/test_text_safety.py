"""Text made safe for every output: control and bidi characters escaped visibly, secrets redacted."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from mist_infra_manager import text_safety

BIDI_AND_SEPARATORS = "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
TOKEN = "tok-9d8c7b6a5f4e3d2c1b0a99887766554433221100"


def unsafe(character: str) -> bool:
    """C0, DEL and C1 are Unicode category Cc; the bidi controls and line separators are listed."""
    return unicodedata.category(character) == "Cc" or character in BIDI_AND_SEPARATORS


printable = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI_AND_SEPARATORS))


@given(st.text())
def test_no_control_or_bidi_character_survives_escaping_whatever_the_text(text: str) -> None:
    assert not [character for character in text_safety.escape_controls(text) if unsafe(character)]


@given(st.text())
def test_a_document_keeps_only_tabs_and_line_feeds_of_its_controls(text: str) -> None:
    escaped = text_safety.escape_controls_keep_layout(text)
    assert not [character for character in escaped if unsafe(character) and character not in "\t\n"]
    assert escaped.count("\n") == text.count("\n")


@given(printable)
def test_printable_text_comes_back_unchanged(text: str) -> None:
    assert text_safety.escape_controls(text) == text
    assert text_safety.escape_controls_keep_layout(text) == text


def test_controls_are_shown_escaped_so_the_reader_sees_something_odd() -> None:
    name = "\x1b[31mRED\x1b[0m\r\nFAKE LOG LINE\x07\x00\u202eevil\t\x85\x7f"
    assert text_safety.escape_controls(name) == (
        "\\x1b[31mRED\\x1b[0m\\r\\nFAKE LOG LINE\\x07\\x00\\u202eevil\\t\\x85\\x7f"
    )
    assert text_safety.escape_controls_keep_layout("a\tb\nc\rd") == "a\tb\nc\\rd"


def test_accents_emoji_and_markup_characters_are_not_controls() -> None:
    name = "<b>Café & \"Bar\" 'Store'</b> 東京 \U0001f4f6 \\x1b"
    assert text_safety.escape_controls(name) == name


def test_a_registered_secret_is_redacted_plain_json_escaped_and_html_escaped() -> None:
    secret = 'p"a<s&s\\w'
    plain = f"login with {secret} failed"
    as_json = json.dumps({"detail": plain})
    as_html = "login with p&#34;a&lt;s&amp;s\\w failed, p&quot;a&lt;s&amp;s\\w"
    for text in (plain, as_json, as_html):
        redacted = text_safety.redact(text, [secret])
        assert secret not in redacted and "&lt;s&amp;" not in redacted and "a<s&s" not in redacted
        assert text_safety.REDACTED in redacted
    assert json.loads(text_safety.redact(as_json, [secret])) == {"detail": "login with [REDACTED] failed"}


def test_a_credential_after_token_bearer_or_an_authorization_header_is_redacted_even_unregistered() -> None:
    for text in (
        f'{{"detail": "bad request for Token {TOKEN}"}}',
        f"Authorization: Token {TOKEN}",
        f"authorization='Bearer {TOKEN}'",
        f"Authorization: {TOKEN}",
    ):
        assert TOKEN not in text_safety.redact(text, []), text


def test_prose_about_tokens_and_the_authorization_classifier_stay_readable() -> None:
    for text in (
        "the Mist API rejected the token (401: Invalid token.): Token expired",
        "Authorization: 9.1% degraded, users=101, aps=12",
        "Authorization: 12.5%",
    ):
        assert text_safety.redact(text, []) == text


def test_redacting_twice_changes_nothing_more() -> None:
    once = text_safety.redact(f"Authorization: Token {TOKEN} and Token {TOKEN}", [TOKEN])
    assert text_safety.redact(once, [TOKEN]) == once == "Authorization: Token [REDACTED] and Token [REDACTED]"


def test_every_string_of_a_document_is_redacted_and_the_rest_kept() -> None:
    document = {"problems": [f"echo {TOKEN}"], "sites": [{"name": "A", "pct": 66.0, "ok": None}]}
    assert text_safety.redact_value(document, [TOKEN]) == {
        "problems": ["echo [REDACTED]"],
        "sites": [{"name": "A", "pct": 66.0, "ok": None}],
    }
