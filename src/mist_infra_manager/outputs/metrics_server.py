"""The /metrics endpoint: a small threaded HTTP server that answers every scrape with the bytes of the last cycle."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict

from prometheus_client import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Seconds a scraper may take to send its request: a stuck client must not hold a thread for long.
REQUEST_TIMEOUT_SECONDS = 30


class _GzipCache:
    """The gzip form of the latest body, compressed once per body, not once per scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: bytes = b""
        self._compressed: bytes = gzip.compress(b"")

    def of(self, body: bytes) -> bytes:
        with self._lock:
            if body is not self._source:
                self._source, self._compressed = body, gzip.compress(body, compresslevel=6)
            return self._compressed


def _handler(body: Callable[[], bytes]) -> type:
    cache = _GzipCache()

    class MetricsHandler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_SECONDS

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] != METRICS_PATH:
                self._reply(404, b"Not found: the metrics are at /metrics\n", {"Content-Type": "text/plain"})
                return
            data = body()
            headers = {"Content-Type": CONTENT_TYPE_LATEST}
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                data = cache.of(data)
                headers["Content-Encoding"] = "gzip"
            self._reply(200, data, headers)

        def _reply(self, status: int, data: bytes, headers: Dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            logger.debug("metrics: %s %s", self.address_string(), format % args)

    return MetricsHandler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(host: str, port: int, body: Callable[[], bytes]) -> ThreadingHTTPServer:
    """Start serving body() on http://host:port/metrics in a daemon thread; raises OSError when it cannot listen.

    Stop it with shutdown() and server_close().
    """
    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), _handler(body))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
