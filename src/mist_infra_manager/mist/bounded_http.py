"""Bounded HTTP for the Mist client: a deadline over a whole call, a cap on the decompressed body, a stop check.

requests only offers a read timeout per socket read, so a server that drips one byte a second never times out.
Here every socket read of a call is bounded instead:
- CallGuard holds, per thread, the monotonic deadline of the call in progress and a stop check (a callable that
  raises to stop the run, such as the daemon's Stopper.check).
- BoundedAdapter (a requests HTTPAdapter) makes its connections wrap their socket in a GuardedSocket, whose
  reads wait at most POLL_SECONDS at a time: between two waits it runs the stop check and, once the deadline has
  passed, raises DeadlineExceeded. This bounds the status line, the headers, chunk headers and the body alike.
- read_body reads a streamed response in decompressed chunks and refuses it once it passes the size cap, so a
  gzip bomb never holds more than the cap (plus one chunk) in memory.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from contextlib import contextmanager, suppress
from typing import Any, Callable, Dict, Iterator, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

# The largest decompressed answer accepted. A page of 1000 sites (the API's largest page) is 0.5 MB of JSON from
# the simulator and a few MB with all the fields of real sites; 1000 sites-sle results are less. 64 MiB leaves a
# wide margin, while a gzip bomb (6 MB that inflates to 6 GB) is stopped long before it exhausts a small VM.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Raw bytes read from the socket per step. urllib3 inflates at most this many bytes per read, so the memory a
# step can take stays small whatever the compression ratio.
CHUNK_BYTES = 64 * 1024
# The longest one socket wait lasts before the stop check and the deadline are looked at again.
POLL_SECONDS = 0.25

StopCheck = Callable[[], None]


def never_stop() -> None:
    """The stop check of a client nothing stops."""
    return None


class DeadlineExceeded(socket.timeout):
    """The call's deadline passed while waiting for the server (a socket.timeout, so urllib3 treats it as one)."""


class ResponseTooLarge(Exception):
    """The decompressed body passed the size cap; the message says so in one line."""


class CallGuard:
    """The deadline of the call in progress on each thread, and the run's stop check."""

    def __init__(self, check_stop: StopCheck = never_stop, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.check_stop = check_stop
        self.monotonic = monotonic
        self._local = threading.local()

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[float]:
        """Bound every socket read on this thread by a deadline `seconds` from now; yields the deadline."""
        moment = self.monotonic() + seconds
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = moment
        try:
            yield moment
        finally:
            self._local.deadline = previous

    def current(self) -> Optional[float]:
        """Return the deadline of this thread's call in progress, or None outside a call."""
        value: Optional[float] = getattr(self._local, "deadline", None)
        return value

    def expired(self) -> bool:
        """Return whether this thread's call has passed its deadline."""
        moment = self.current()
        return moment is not None and self.monotonic() >= moment

    def next_wait(self) -> float:
        """Return how long the next socket wait may last; raises DeadlineExceeded once the deadline has passed."""
        self.check_stop()
        moment = self.current()
        if moment is None:
            return POLL_SECONDS
        remaining = moment - self.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the call's deadline passed")
        return min(remaining, POLL_SECONDS)


class GuardedSocket:
    """A connected socket whose reads wait in steps of at most POLL_SECONDS, bounded by the guard's deadline.

    Everything but reading is passed on to the socket (plain or TLS).
    """

    def __init__(self, sock: Any, guard: CallGuard) -> None:
        self._sock = sock
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Return the bytes read into buffer; raises DeadlineExceeded, or what the stop check raises."""
        if self._guard.current() is None:
            # Outside a guarded call the socket keeps the timeout urllib3 gave it.
            return int(self._sock.recv_into(buffer, nbytes, flags))
        original = self._sock.gettimeout()
        try:
            while True:
                self._sock.settimeout(self._guard.next_wait())
                try:
                    return int(self._sock.recv_into(buffer, nbytes, flags))
                except socket.timeout:
                    continue  # nothing yet: look at the stop flag and the deadline, then wait again
        finally:
            with suppress(OSError):  # closed meanwhile: nothing left to restore
                self._sock.settimeout(original)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Return up to bufsize bytes, read as recv_into does."""
        buffer = bytearray(bufsize)
        count = self.recv_into(buffer, bufsize, flags)
        return bytes(buffer[:count])

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        """Return a buffered reader over this socket (http.client reads responses through it)."""
        if "r" not in mode or "w" in mode:
            return self._sock.makefile(mode, *args, **kwargs)
        # As socket.makefile does: the socket stays open while the reader is (http.client closes the connection
        # of a `Connection: close` answer before its body is read).
        self._sock._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        """Called by SocketIO.close: the socket closes once its last reader has."""
        self._sock._decref_socketios()


class _GuardedHTTPConnection(HTTPConnection):
    guard: Optional[CallGuard] = None

    def connect(self) -> None:
        super().connect()
        if self.guard is not None and self.sock is not None:
            self.sock = GuardedSocket(self.sock, self.guard)


class _GuardedHTTPSConnection(HTTPSConnection):
    guard: Optional[CallGuard] = None

    def connect(self) -> None:
        super().connect()
        if self.guard is not None and self.sock is not None:
            self.sock = GuardedSocket(self.sock, self.guard)


def _pool_classes(guard: CallGuard) -> Dict[str, type]:
    """Return urllib3 pool classes (by scheme) whose connections read through GuardedSocket."""
    http_connection = type("GuardedHTTPConnection", (_GuardedHTTPConnection,), {"guard": guard})
    https_connection = type("GuardedHTTPSConnection", (_GuardedHTTPSConnection,), {"guard": guard})
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }


class BoundedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through a proxy) honour the guard's deadline and stop check."""

    def __init__(self, guard: CallGuard, **kwargs: Any) -> None:
        # HTTPAdapter.__init__ builds the pool manager, which needs the guard's pool classes.
        self._pool_classes = _pool_classes(guard)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pool_classes)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(self._pool_classes)
        return manager


def describe_size(limit: int) -> str:
    """Return a byte count as the docs write it (64 MiB, 512 KiB or 100 bytes)."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


def read_body(response: requests.Response, max_bytes: int = MAX_RESPONSE_BYTES) -> bytes:
    """Read a streamed response's whole decompressed body, then make it the response's content; returns it.

    Raises ResponseTooLarge past max_bytes, requests.ReadTimeout when the deadline passed (the guarded socket
    underneath enforces it, and runs the stop check) and ChunkedEncodingError for a broken body.
    """
    too_large = f"answer larger than {describe_size(max_bytes)} (decompressed); refused"
    announced = response.headers.get("Content-Length", "").strip()
    if announced.isdigit() and int(announced) > max_bytes:
        response.close()
        raise ResponseTooLarge(too_large)
    body = bytearray()
    try:
        for chunk in response.raw.stream(CHUNK_BYTES, decode_content=True):
            body.extend(chunk)
            if len(body) > max_bytes:
                response.close()
                raise ResponseTooLarge(too_large)
    except ReadTimeoutError:
        response.close()
        raise requests.ReadTimeout("the read timed out") from None
    except Urllib3Error as error:
        response.close()
        # A body cut off or undecodable: a network error; the exception text may quote headers, so it is dropped.
        raise requests.exceptions.ChunkedEncodingError(type(error).__name__) from None
    # From here on the response behaves as a fully read one: .json(), .text and .content use this body.
    content = bytes(body)
    response._content = content
    response._content_consumed = True  # type: ignore[attr-defined]
    return content
