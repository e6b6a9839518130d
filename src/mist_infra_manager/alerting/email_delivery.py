"""Email delivery: MIME messages, the SMTP and file transports, and the outbox of messages not yet delivered.

Outbox layout (under `reports.directory`):
  outbox/<YYYYmmddTHHMMSSZ>-<NNN>-<kind>-<hex>.eml   messages the SMTP server has not accepted yet; sent oldest
                                                      first by the next run, each removed once accepted
  outbox/sent/<same name>                            messages written by `transport: file` (and --demo)
  outbox/drafts/<same name>                          a message written before its alert state was saved; moved
                                                      into outbox/ once the state records it
  outbox/rejected/<name>                             anything found in outbox/ that the outbox did not write
                                                      (other names, symlinks, foreign recipients, garbage): never sent

The outbox sends only what it wrote itself: a regular file (never followed through a symlink) named by
OUTBOX_NAME_PATTERN, of a sane size, parseable, from the configured sender to exactly the configured recipients.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets as random_tokens
import smtplib
import socket
import ssl
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Any, Collection, List, Optional, Sequence, Tuple, Union

from mist_infra_manager.settings import EmailSettings
from mist_infra_manager.state import paths
from mist_infra_manager.state.fileio import atomic_write_bytes, make_private_directory

logger = logging.getLogger(__name__)

OUTBOX_DIRECTORY_NAME = paths.OUTBOX_DIRECTORY_NAME
FILE_TRANSPORT_DIRECTORY_NAME = paths.FILE_TRANSPORT_DIRECTORY_NAME
EML_SUFFIX = ".eml"
DRAFTS_DIRECTORY_NAME = "drafts"
REJECTED_DIRECTORY_NAME = "rejected"
# The outbox's own folders inside outbox/, skipped when it looks for messages.
# channels/: the outboxes of the alert channels (alerting/channels.py), never email messages.
OUTBOX_SUBFOLDERS = (
    FILE_TRANSPORT_DIRECTORY_NAME,
    DRAFTS_DIRECTORY_NAME,
    REJECTED_DIRECTORY_NAME,
    paths.CHANNELS_DIRECTORY_NAME,
)
# The largest outbox file sent: an alert is under 100 kB of HTML plus the summary attachment (about 2 MB at
# 10,000 sites); most SMTP relays refuse more than 25 MB anyway.
MAX_OUTBOX_MESSAGE_BYTES = 25 * 1024 * 1024
# The names Outbox.new_name makes; retention deletes only files matching it.
OUTBOX_NAME_PATTERN = paths.OUTBOX_NAME_PATTERN
OUTBOX_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAILER_NAME = "Mist Infrastructure Manager"
_HEADER_BREAKS = re.compile(r"[\r\n\t]+")
_NAME_UNSAFE = re.compile(r"[^a-z0-9]+")


class DeliveryError(Exception):
    """A message was not delivered. `connection` is True when the server itself is unusable for this run."""

    def __init__(self, message: str, *, connection: bool) -> None:
        super().__init__(message)
        self.connection = connection


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server (from notifications.email)."""

    host: str
    port: int
    use_tls: bool = False
    use_ssl: bool = False
    verify_tls: bool = True
    username: Optional[str] = None
    password: Optional[str] = None
    timeout_seconds: float = 30.0
    # A PEM file of CA certificates trusted in addition to the system's (notifications.email.ca_bundle).
    ca_bundle: Optional[str] = None

    @classmethod
    def from_config(cls, email: EmailSettings) -> SmtpSettings:
        """Return the settings of a validated notifications.email section."""
        return cls(
            host=email.smtp_server or "",
            port=email.smtp_port,
            use_tls=email.use_tls,
            use_ssl=email.use_ssl,
            verify_tls=email.verify_tls,
            username=email.username or None,
            password=email.password or None,
            timeout_seconds=float(email.timeout_seconds),
            ca_bundle=None if email.ca_bundle is None else str(email.ca_bundle),
        )

    def __repr__(self) -> str:
        # Never show the password, whatever prints this object.
        return f"SmtpSettings(host={self.host!r}, port={self.port}, use_tls={self.use_tls}, use_ssl={self.use_ssl})"


# --- Messages -------------------------------------------------------------------------------------------------


def header_text(text: str) -> str:
    """Return text safe for a header: no line breaks (site and org names come from the API)."""
    return _HEADER_BREAKS.sub(" ", text).strip()


def build_message(
    *,
    subject: str,
    sender: str,
    recipients: Sequence[str],
    text: str,
    html: Optional[str] = None,
    attachments: Sequence[Tuple[str, bytes]] = (),
    now: datetime,
    kind: str,
) -> EmailMessage:
    """Return a message: text/plain, or multipart/alternative (text, html); multipart/mixed with attachments."""
    message = EmailMessage()
    message["Subject"] = header_text(subject)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(idstring="mist-sle", domain=domain)
    message["X-Mailer"] = MAILER_NAME
    message["X-Mist-Alert-Kind"] = kind
    message.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    for filename, data in attachments:
        # Bytes as they are on disk (base64), declared UTF-8 so that mail clients show accents and site names.
        message.add_attachment(data, maintype="text", subtype="plain", filename=filename, params={"charset": "utf-8"})
    return message


def html_part_bytes(html: str) -> int:
    """Return the size of html as build_message sends it: the text/html part, encoded, with its part headers."""
    part = EmailMessage()
    part.set_content(html, subtype="html", charset="utf-8")
    return len(part.as_bytes(policy=policy.SMTP))


def message_bytes(message: EmailMessage) -> bytes:
    """Return the message as sent on the wire (CRLF line ends)."""
    return message.as_bytes(policy=policy.SMTP)


def envelope_of(data: bytes) -> Tuple[str, List[str], str]:
    """Return (sender, recipients, subject) read from a stored message's headers."""
    parsed = message_from_bytes(data, policy=policy.default)
    senders = [address for _, address in getaddresses([str(parsed.get("From", ""))]) if address]
    recipients = [address for _, address in getaddresses([str(value) for value in parsed.get_all("To", [])]) if address]
    # A subject that fits on a line of its own is folded right after "Subject:"; the parser keeps that space.
    return (senders[0] if senders else ""), recipients, str(parsed.get("Subject", "")).strip()


# --- Transports -----------------------------------------------------------------------------------------------


def _redacted(text: str, settings: SmtpSettings) -> str:
    if settings.password:
        text = text.replace(settings.password, "[REDACTED]")
    return text


def _smtp_reply(error: smtplib.SMTPResponseException) -> str:
    reply = error.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{error.smtp_code} {' '.join(text.split())}"


class SmtpTransport:
    """Sends messages over one SMTP connection, opened on the first message and reused for the run."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._connection: Optional[smtplib.SMTP] = None
        self._broken: Optional[DeliveryError] = None

    @property
    def where(self) -> str:
        """Return host:port for messages."""
        return f"{self.settings.host}:{self.settings.port}"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.ca_bundle:
            # Raises OSError or ssl.SSLError for a file that is not PEM certificates: reported as a TLS problem.
            context.load_verify_locations(cafile=self.settings.ca_bundle)
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        connection: Optional[smtplib.SMTP] = None
        try:
            if settings.use_ssl:
                connection = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout_seconds, context=self._tls_context()
                )
            else:
                connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
            connection.ehlo()
            if settings.use_tls:
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if settings.username:
                if not (settings.use_tls or settings.use_ssl):
                    logger.warning(
                        "SMTP login to %s without TLS: the password crosses the network in clear "
                        "(set notifications.email.use_tls or use_ssl)",
                        self.where,
                    )
                connection.login(settings.username, settings.password or "")
            return connection
        except Exception as error:
            if connection is not None:
                _close_quietly(connection)
            raise DeliveryError(self._describe_connect_error(error), connection=True) from None

    def _describe_connect_error(self, error: BaseException) -> str:
        where = self.where
        if isinstance(error, ssl.SSLCertVerificationError):
            text = (
                f"TLS certificate of {where} not trusted ({error.verify_message or error.reason}); "
                "set notifications.email.ca_bundle to the relay's CA file, or notifications.email.verify_tls: false"
            )
        elif isinstance(error, ssl.SSLError):
            text = f"TLS handshake with {where} failed ({error.reason or error}); check use_tls/use_ssl and the port"
        elif isinstance(error, smtplib.SMTPAuthenticationError):
            text = f"SMTP login to {where} as {self.settings.username!r} refused: {_smtp_reply(error)}"
        elif isinstance(error, smtplib.SMTPNotSupportedError):
            text = f"{where}: {error} (check use_tls and whether the server offers AUTH)"
        elif isinstance(error, smtplib.SMTPResponseException):
            text = f"{where} refused the session: {_smtp_reply(error)}"
        elif isinstance(error, (socket.timeout, TimeoutError)):
            text = f"no answer from {where} within {self.settings.timeout_seconds:g} s"
        elif isinstance(error, smtplib.SMTPServerDisconnected):
            text = f"{where} closed the connection ({error or 'no reason given'}); check use_ssl/use_tls and the port"
        elif isinstance(error, OSError):
            text = f"cannot connect to {where}: {error.strerror or error}"
        else:
            text = f"SMTP session with {where} failed: {type(error).__name__}: {error}"
        return _redacted(text, self.settings)

    def send(self, data: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Send one message; raises DeliveryError (connection=True: do not try again this run)."""
        if self._broken is not None:
            raise self._broken
        if not recipients:
            raise DeliveryError("the message has no recipients", connection=False)
        if self._connection is None:
            try:
                self._connection = self._connect()
            except DeliveryError as error:
                self._broken = error
                raise
        try:
            refused = self._connection.sendmail(sender, list(recipients), data)
        except smtplib.SMTPRecipientsRefused as error:
            detail = "; ".join(f"{address}: {_smtp_reply_of(reply)}" for address, reply in error.recipients.items())
            raise DeliveryError(f"{self.where} refused every recipient ({detail})", connection=False) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise DeliveryError(f"{self.where} refused the message: {_smtp_reply(error)}", connection=False) from None
        except (UnicodeError, ValueError) as error:
            # smtplib cannot put a non-ASCII address on the wire without SMTPUTF8.
            raise DeliveryError(f"the message cannot be sent as it is: {error}", connection=False) from None
        except (smtplib.SMTPException, OSError) as error:
            self._broken = DeliveryError(
                _redacted(f"{self.where} dropped the session: {type(error).__name__}: {error}", self.settings),
                connection=True,
            )
            _close_quietly(self._connection)
            self._connection = None
            raise self._broken from None
        if refused:
            logger.warning(
                "%s accepted the message but refused %s",
                self.where,
                ", ".join(f"{address} ({_smtp_reply_of(reply)})" for address, reply in refused.items()),
            )

    def close(self) -> None:
        """Say QUIT, ignoring a server that is already gone."""
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                _close_quietly(self._connection)
            self._connection = None


def _smtp_reply_of(reply: Any) -> str:
    if isinstance(reply, tuple) and len(reply) == 2:
        code, text = reply
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{code} {' '.join(text.split())}"
    return str(reply)


def _close_quietly(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        connection.close()


class FileTransport:
    """`transport: file`: writes each message as an .eml file instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.written: List[Path] = []

    @property
    def where(self) -> str:
        """Return the folder for messages."""
        return str(self.directory)

    def send(self, data: bytes, sender: str, recipients: Sequence[str], name: str = "") -> Path:
        """Write the message and return its path; raises DeliveryError when the file cannot be written."""
        path = _unique_path(self.directory, name or f"message-{random_tokens.token_hex(4)}{EML_SUFFIX}")
        try:
            atomic_write_bytes(path, data)
        except OSError as error:
            raise DeliveryError(f"cannot write {path}: {error.strerror or error}", connection=True) from None
        self.written.append(path)
        return path

    def close(self) -> None:
        """Nothing to close."""


Transport = Union[SmtpTransport, FileTransport]


# --- The outbox -----------------------------------------------------------------------------------------------


def _unique_path(directory: Path, name: str) -> Path:
    path = directory / name
    counter = 1
    while path.exists():
        path = directory / f"{Path(name).stem}_{counter}{EML_SUFFIX}"
        counter += 1
    return path


class Outbox:
    """The messages not delivered yet, one .eml file each, named so that sorting by name is oldest first.

    sender and recipients are the configured ones: a queued file addressed otherwise is set aside, never sent.
    """

    def __init__(self, reports_directory: Path, sender: str = "", recipients: Sequence[str] = ()) -> None:
        self.directory = reports_directory / OUTBOX_DIRECTORY_NAME
        self.sent_directory = self.directory / FILE_TRANSPORT_DIRECTORY_NAME
        self.drafts_directory = self.directory / DRAFTS_DIRECTORY_NAME
        self.rejected_directory = self.directory / REJECTED_DIRECTORY_NAME
        self.sender = sender
        self.recipients = list(recipients)
        self._sequence = 0

    def new_name(self, now: datetime, kind: str) -> str:
        """Return a file name for a message of this run: time, sequence in the run, kind, a random part."""
        self._sequence += 1
        safe_kind = _NAME_UNSAFE.sub("-", kind.lower()).strip("-") or "message"
        stamp = now.astimezone(timezone.utc).strftime(OUTBOX_TIMESTAMP_FORMAT)
        return f"{stamp}-{self._sequence:03d}-{safe_kind}-{random_tokens.token_hex(3)}{EML_SUFFIX}"

    def _entries(self) -> List[Path]:
        """Return everything in outbox/ except its own real subfolders, sorted by name."""
        try:
            names = sorted(os.listdir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            logger.warning("Outbox: cannot list %s: %s", self.directory, error.strerror or error)
            return []
        entries = []
        for name in names:
            path = self.directory / name
            if name in OUTBOX_SUBFOLDERS and not path.is_symlink() and path.is_dir():
                continue
            entries.append(path)
        return entries

    def pending(self) -> List[Path]:
        """Return the queued messages (regular files with an outbox name), oldest first, without checking them."""
        return [
            path
            for path in self._entries()
            if OUTBOX_NAME_PATTERN.match(path.name) and not path.is_symlink() and path.is_file()
        ]

    def checked(self) -> List[Tuple[Path, bytes, str]]:
        """Return (path, bytes, subject) of the queued messages fit to send, oldest first.

        Anything else in outbox/ is moved to outbox/rejected/ with one warning naming it and why.
        """
        fit = []
        for path in self._entries():
            try:
                data, subject = self._check(path)
            except _Unfit as unfit:
                self.reject(path, str(unfit))
                continue
            except FileNotFoundError:
                continue
            except OSError as error:
                logger.warning("Outbox: cannot read %s (%s); kept for the next run", path, error.strerror or error)
                continue
            fit.append((path, data, subject))
        return fit

    def _check(self, path: Path) -> Tuple[bytes, str]:
        if not OUTBOX_NAME_PATTERN.match(path.name):
            raise _Unfit("not a name the outbox gives its messages")
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise _Unfit("a symbolic link")
        if not stat.S_ISREG(info.st_mode):
            raise _Unfit("not a regular file")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise _Unfit("owned by another user")
        data = _read_capped(path)
        if not data:
            raise _Unfit("empty")
        if len(data) > MAX_OUTBOX_MESSAGE_BYTES:
            raise _Unfit(f"larger than {MAX_OUTBOX_MESSAGE_BYTES} bytes")
        try:
            parsed = message_from_bytes(data, policy=policy.default)
            senders = [address.lower() for _, address in getaddresses([str(parsed.get("From", ""))]) if address]
            addressed = [
                address.lower()
                for header in ("To", "Cc", "Bcc")
                for _, address in getaddresses([str(value) for value in parsed.get_all(header, [])])
                if address
            ]
            subject = str(parsed.get("Subject", "")).strip()
            message_id = str(parsed.get("Message-ID", "")).strip()
        except Exception as error:  # the email parser raises many kinds of errors on garbage headers
            raise _Unfit(f"not parseable as an email ({type(error).__name__})") from None
        if not message_id or not senders or not parsed.get_payload():
            raise _Unfit("not parseable as an email (no From, Message-ID or body)")
        if senders != _addresses([self.sender]):
            raise _Unfit(f"sender {', '.join(senders)} is not the configured from_address")
        if sorted(set(addressed)) != sorted(set(_addresses(self.recipients))):
            raise _Unfit(f"recipients {', '.join(addressed)} are not the configured ones")
        return data, subject

    def reject(self, path: Path, reason: str) -> None:
        """Move path (the link itself for a symlink) to outbox/rejected/, with one warning; never raises."""
        target = self.rejected_directory / path.name
        try:
            self.rejected_directory.mkdir(parents=True, exist_ok=True)
            counter = 1
            while os.path.lexists(target):
                target = self.rejected_directory / f"{path.name}.{counter}"
                counter += 1
            os.replace(path, target)
        except OSError as error:
            logger.warning("Outbox: %s is not sent (%s); it cannot be set aside either: %s", path, reason, error)
            return
        logger.warning("Outbox: %s is not sent (%s); set aside as %s", path, reason, target)

    def put(self, data: bytes, name: str) -> Path:
        """Store a message atomically and return its path; raises OSError when it cannot be written."""
        make_private_directory(self.directory)
        path = _unique_path(self.directory, name)
        atomic_write_bytes(path, data)
        return path

    def draft(self, data: bytes, name: str) -> Path:
        """Write a message to outbox/drafts/ (not sent from there); raises OSError."""
        # outbox/ first: created on the way to drafts/, it would get the umask's mode.
        make_private_directory(self.directory)
        path = self.drafts_directory / name
        atomic_write_bytes(path, data)
        return path

    def promote(self, name: str) -> Path:
        """Move a draft into the outbox proper and return its new path; raises OSError."""
        path = self.directory / name
        os.replace(self.drafts_directory / name, path)
        return path

    def recover_drafts(self, decided: Collection[str]) -> None:
        """Queue the drafts the saved alert state records; delete the others (their run stopped before saving)."""
        try:
            names = sorted(os.listdir(self.drafts_directory))
        except OSError:
            return
        for name in names:
            if name in decided and OUTBOX_NAME_PATTERN.match(name) and (self.drafts_directory / name).is_file():
                try:
                    self.promote(name)
                except OSError as error:
                    logger.warning("Outbox: cannot queue the draft %s: %s", name, error)
                    continue
                logger.info("Outbox: queued %s, decided by a run that stopped before sending it", name)
                continue
            with contextlib.suppress(OSError):
                (self.drafts_directory / name).unlink()
            logger.info("Outbox: dropped the draft %s: its run stopped before saving the alert state", name)

    def accepted(self, path: Path) -> None:
        """Forget a message the server accepted (or the file transport wrote)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _addresses(values: Sequence[str]) -> List[str]:
    return [address.lower() for _, address in getaddresses(list(values)) if address]


class _Unfit(Exception):
    """Why an outbox file is not sent."""


def _read_capped(path: Path) -> bytes:
    """Return the bytes of a regular file opened without following a symlink, at most one past the cap."""
    descriptor = os.open(str(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _Unfit("not a regular file")
        return handle.read(MAX_OUTBOX_MESSAGE_BYTES + 1)
