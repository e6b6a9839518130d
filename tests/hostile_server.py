"""A hostile HTTP server on loopback for fault-injection tests: it answers as a broken or malicious Mist API would.

Usage:

    with HostileServer() as server:
        server.route("/api/v1/self", drip(b'{"privileges": []}', interval_seconds=0.5))
        server.route("/api/v1/orgs/", gzip_bomb(200 * MIB), prefix=True)
        client = MistClient(server.base_url, "token")
        ...
        assert server.count("/api/v1/orgs/") <= 100
        server.wait_for_request("/api/v1/self", timeout=5)  # a hang guard, not a timing

A handler is any callable taking an Exchange; the factories below (json_reply, drip, gzip_bomb, paged_array)
cover the usual faults, and Exchange.send_json / send_raw make new ones short. Unrouted paths answer 404.
Every request is logged (server.requests) before its handler runs. A handler that writes slowly looks at
server.stopping, so leaving the `with` block never waits for a drip to end.
"""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

MIB = 1024 * 1024


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]


class Exchange:
    """One request and the means to answer it (the handler's view of BaseHTTPRequestHandler)."""

    def __init__(self, handler: BaseHTTPRequestHandler, request: Request, stopping: threading.Event) -> None:
        self.request = request
        self.stopping = stopping
        self._handler = handler

    def send_head(self, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> None:
        """Send the status line and headers (and no Content-Length unless given: the body ends at close)."""
        self._handler.send_response(status)
        for name, value in (headers or {}).items():
            self._handler.send_header(name, value)
        self._handler.send_header("Connection", "close")
        self._handler.end_headers()
        self._handler.close_connection = True

    def write(self, data: bytes) -> bool:
        """Write body bytes; returns False once the client has gone away."""
        try:
            self._handler.wfile.write(data)
            self._handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False
        return True

    def send_raw(self, status: int, body: bytes, headers: Optional[Mapping[str, str]] = None) -> None:
        """Send a whole answer with a Content-Length."""
        self.send_head(status, dict(headers or {}, **{"Content-Length": str(len(body))}))
        self.write(body)

    def send_json(self, body: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> None:
        """Send body as JSON."""
        data = json.dumps(body).encode("utf-8")
        self.send_raw(status, data, dict(headers or {}, **{"Content-Type": "application/json"}))


Handler = Callable[[Exchange], None]


def json_reply(body: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Handler:
    """Return a handler answering body as JSON."""
    return lambda exchange: exchange.send_json(body, status, headers)


def drip(body: bytes, interval_seconds: float = 1.0, *, content_length: bool = True) -> Handler:
    """Return a handler sending body one byte per interval (a server that never times out per socket read)."""

    def handle(exchange: Exchange) -> None:
        headers = {"Content-Type": "application/json"}
        if content_length:
            headers["Content-Length"] = str(len(body))
        exchange.send_head(200, headers)
        for index in range(len(body)):
            if not exchange.write(body[index : index + 1]) or exchange.stopping.wait(interval_seconds):
                return

    return handle


def gzip_chunks(decompressed_bytes: int, piece_bytes: int = MIB) -> Iterator[bytes]:
    """Yield a gzip stream of decompressed_bytes zeros, made as it is read (nothing large is ever held)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(piece_bytes)
    left = decompressed_bytes
    while left > 0:
        piece = compressor.compress(zeros[: min(left, piece_bytes)])
        left -= min(left, piece_bytes)
        if piece:
            yield piece
    yield compressor.flush()


def gzip_bomb(decompressed_bytes: int) -> Handler:
    """Return a handler answering `Content-Encoding: gzip` with a body that inflates to decompressed_bytes."""

    def handle(exchange: Exchange) -> None:
        exchange.send_head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        for piece in gzip_chunks(decompressed_bytes):
            if exchange.stopping.is_set() or not exchange.write(piece):
                return

    return handle


def paged_array(
    page: Callable[[int, int], List[Any]],
    *,
    total: Optional[int] = None,
    limit_header: Optional[int] = None,
) -> Handler:
    """Return a handler for a bare-array endpoint: page(page_number, limit) gives the items, X-Page-* the rest.

    total: the X-Page-Total to announce (None: no header), whatever is really served.
    """

    def handle(exchange: Exchange) -> None:
        query = exchange.request.query
        number = int(query.get("page", "1"))
        limit = int(query.get("limit", "100"))
        headers = {"X-Page-Page": str(number), "X-Page-Limit": str(limit_header or limit)}
        if total is not None:
            headers["X-Page-Total"] = str(total)
        exchange.send_json(page(number, limit), headers=headers)

    return handle


class HostileServer:
    """A threaded HTTP server on 127.0.0.1 with routes set per test, and a log of every request."""

    def __init__(self) -> None:
        self._routes: List[Tuple[str, bool, Handler]] = []
        self._requests: List[Request] = []
        self._lock = threading.Condition()
        self.stopping = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def route(self, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Answer requests for path (or, with prefix, every path starting with it) with handler; last set wins."""
        with self._lock:
            self._routes.insert(0, (path, prefix, handler))

    @property
    def requests(self) -> List[Request]:
        """Return the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str) -> int:
        """Return how many requests had a path starting with path."""
        return sum(1 for request in self.requests if request.path.startswith(path))

    def wait_for_request(self, path: str, timeout: float = 10.0) -> bool:
        """Wait until a request for a path starting with path has arrived; returns whether one did."""
        with self._lock:
            return self._lock.wait_for(lambda: any(r.path.startswith(path) for r in self._requests), timeout)

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT of the running server."""
        if self._server is None:
            raise RuntimeError("the hostile server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HostileServer:
        """Start serving in a background thread; returns self."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow handlers see `stopping` and end."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        request = Request(handler.command, parts.path, dict(parse_qsl(parts.query)), dict(handler.headers.items()))
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            chosen = next(
                (
                    h
                    for path, prefix, h in self._routes
                    if request.path == path or (prefix and request.path.startswith(path))
                ),
                None,
            )
        exchange = Exchange(handler, request, self.stopping)
        if chosen is None:
            exchange.send_json({"detail": "not found"}, status=404)
        else:
            chosen(exchange)

    def _handler_class(self) -> type:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server._dispatch(self)

        return _Handler
