"""A forward HTTP proxy on loopback for tests: CONNECT tunnels and absolute-URI requests, recording what it saw.

    with ProxyServer() as proxy:
        ...  # HTTPS_PROXY=proxy.url
        assert proxy.request_lines[0].startswith("CONNECT localhost:")

`refuse = 403` (or 407) answers every request with that status instead of forwarding it. `username`/`password`
require that Proxy-Authorization (basic); the credentials received are kept in `authorizations`.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
RELAY_CHUNK = 65536
UPSTREAM_TIMEOUT_SECONDS = 10.0
REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def _admitted(self) -> bool:
        proxy = self.server.proxy
        with proxy.lock:
            proxy.request_lines.append(self.requestline)
            proxy.authorizations.append(self.headers.get("Proxy-Authorization", ""))
        status = proxy.refuse
        if status is None and proxy.username is not None:
            expected = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
            if self.headers.get("Proxy-Authorization", "") != f"Basic {expected}":
                status = 407
        if status is None:
            return True
        self.send_response(status, REASONS.get(status))
        if status == 407:
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        return False

    def do_CONNECT(self) -> None:
        if not self._admitted():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=UPSTREAM_TIMEOUT_SECONDS)
        except OSError:
            self.send_error(502, "Bad Gateway")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        with upstream:
            _relay(self.connection, upstream)

    def do_GET(self) -> None:
        if not self._admitted():
            return
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "absolute http:// URI expected")
            return
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = [
            f"{name}: {value}"
            for name, value in self.headers.items()
            if name.lower() not in ("proxy-authorization", "proxy-connection", "connection")
        ]
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in headers) + "Connection: close\r\n\r\n"
        try:
            with socket.create_connection((target.hostname, target.port or 80), UPSTREAM_TIMEOUT_SECONDS) as upstream:
                upstream.sendall(request.encode("latin-1"))
                while True:
                    chunk = upstream.recv(RELAY_CHUNK)
                    if not chunk:
                        break
                    self.connection.sendall(chunk)
        except OSError:
            pass
        self.close_connection = True


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    while True:
        readable, _, broken = select.select(sockets, [], sockets, UPSTREAM_TIMEOUT_SECONDS)
        if broken or not readable:
            return
        for source in readable:
            try:
                chunk = source.recv(RELAY_CHUNK)
            except OSError:
                return
            if not chunk:
                return
            (upstream if source is client else client).sendall(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: ProxyServer) -> None:
        self.proxy = proxy
        super().__init__((LOOPBACK, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that goes away mid-tunnel is normal."""


class ProxyServer:
    """A threaded forward proxy on 127.0.0.1; `url` is http://127.0.0.1:PORT."""

    def __init__(
        self, *, refuse: Optional[int] = None, username: Optional[str] = None, password: Optional[str] = None
    ) -> None:
        self.refuse = refuse
        self.username = username
        self.password = password
        self.request_lines: List[str] = []
        self.authorizations: List[str] = []
        self.lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    @property
    def url(self) -> str:
        """Return the proxy URL without credentials."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ProxyServer:
        """Serve in a daemon thread."""
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            with contextlib.suppress(OSError):
                server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
