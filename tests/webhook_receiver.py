"""A loopback HTTP receiver for alert channel tests: records each POST and answers a configurable status sequence.

with WebhookReceiver() as receiver:
    receiver.statuses = [503, 503]   # the next two answers; then `default_status` (202)
    ...  # point a channel at receiver.url("/services/T0/B0/secret")
    assert receiver.json_bodies()[0]["type"] == "message"
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

LOOPBACK = "127.0.0.1"


@dataclass
class ReceivedRequest:
    """One request the receiver got, and the status it answered."""

    path: str
    headers: Dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """Return the decoded JSON body."""
        return json.loads(self.body.decode("utf-8"))


class WebhookReceiver:
    """A threaded http.server on 127.0.0.1 that records requests (path, headers, body)."""

    def __init__(self, default_status: int = 202) -> None:
        self.default_status = default_status
        # Statuses answered next, one per request, before falling back to default_status.
        self.statuses: List[int] = []
        self.retry_after: Optional[str] = None
        self.requests: List[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def _next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else self.default_status

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._next_status()
                receiver._record(ReceivedRequest(self.path, dict(self.headers.items()), body, status))
                answer = b"ok" if status < 300 else b"busy"
                self.send_response(status)
                if receiver.retry_after is not None and status in (429, 503):
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        """Return the URL of a path on this receiver."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    def accepted(self, path_prefix: str = "") -> List[ReceivedRequest]:
        """Return the requests answered 2xx, optionally only those under path_prefix, in arrival order."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300 and r.path.startswith(path_prefix)]

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()
