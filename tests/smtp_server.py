"""A real SMTP server on loopback for tests (aiosmtpd): plain, STARTTLS or implicit TLS, with optional AUTH.

    with SmtpTestServer(tls="starttls", username="alerts", password="s3cret") as server:
        ...  # point notifications.email at server.host / server.port (server.email_config(...))
        assert server.messages[0].subject.startswith("[CRITICAL]")

The certificate comes from a throwaway trustme CA: a client verifying against the system store refuses it, one with
verify_tls off (or trusting `server.ca`) accepts it. `stop()` then `start()` again serves on the same port, so a
test can take the server down and bring it back.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Dict, List, Optional

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOOPBACK = "127.0.0.1"
TLS_MODES = ("none", "starttls", "implicit")
READY_TIMEOUT_SECONDS = 10.0


@dataclass
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: List[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """Return the parsed message."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        """Return the decoded Subject header (without the space a fold right after "Subject:" leaves)."""
        return str(self.message["Subject"]).strip()

    def body(self, subtype: str) -> str:
        """Return the decoded text/<subtype> part ("plain" or "html")."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None and part.get_content_subtype() == subtype, f"no text/{subtype} part"
        return str(part.get_content())

    def attachment_names(self) -> List[str]:
        """Return the file names of the attachments."""
        return [str(part.get_filename()) for part in self.message.iter_attachments()]


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.reject_data:
            return "554 5.6.0 Message rejected by the test server"
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        with self.server.lock:
            self.server.messages.append(ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Binds port 0 (any free port) and learns the port before aiosmtpd connects to itself to check readiness."""

    def _trigger_server(self) -> None:
        if self.server is not None and not self.port:
            self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()


class SmtpTestServer:
    """An aiosmtpd server on 127.0.0.1 collecting what it receives in `messages`."""

    def __init__(
        self,
        *,
        tls: str = "none",
        username: Optional[str] = None,
        password: Optional[str] = None,
        auth_require_tls: bool = True,
        port: int = 0,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}")
        self.tls = tls
        self.username = username
        self.password = password
        self.auth_require_tls = auth_require_tls
        self.host = LOOPBACK
        self.port = port
        self.messages: List[ReceivedMessage] = []
        self.auth_attempts: List[str] = []
        self.reject_data = False
        self.lock = threading.Lock()
        self.ca = trustme.CA()
        self._certificate = self.ca.issue_cert(LOOPBACK, "localhost")
        self._controller: Optional[_Controller] = None

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._certificate.configure_cert(context)
        return context

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        with self.lock:
            self.auth_attempts.append(login)
        password = auth_data.password.decode("utf-8", "replace")
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=login == self.username and password == self.password, handled=False)

    def start(self) -> SmtpTestServer:
        """Serve in a background thread (on the same port as before after a stop)."""
        if self._controller is not None:
            return self
        kwargs: Dict[str, Any] = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=self._server_context(), require_starttls=True)
        if self.username is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.auth_require_tls and self.tls != "none",
            )
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self._server_context() if self.tls == "implicit" else None,
            ready_timeout=READY_TIMEOUT_SECONDS,
            **kwargs,
        )
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop serving; the port is free until start() is called again."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def email_config(self, **overrides: Any) -> Dict[str, Any]:
        """Return a raw notifications.email section pointing at this server (verify_tls off for the test CA)."""
        section: Dict[str, Any] = {
            "enabled": True,
            "transport": "smtp",
            "smtp_server": self.host,
            "smtp_port": self.port,
            "use_tls": self.tls == "starttls",
            "use_ssl": self.tls == "implicit",
            "verify_tls": self.tls == "none",
            "timeout_seconds": 5,
            "from_address": "mist-alerts@example.test",
            "recipients": ["noc@example.test", "oncall@example.test"],
        }
        if self.username is not None:
            section.update(username=self.username, password=self.password)
        section.update(overrides)
        return section
