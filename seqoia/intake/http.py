"""The intake's HTTP plumbing: a bounded pool of connection threads and a read deadline.

``ThreadingHTTPServer`` starts a thread per connection, so a few hundred half-open
requests are a few hundred threads. :class:`PooledHTTPServer` hands accepted connections
to a fixed number of threads through a bounded queue and answers 503 at once when the
queue is full. :class:`DeadlineReader` bounds the time one request may take to arrive
(request line, headers and body together), which a per-``recv`` socket timeout does not:
a sender dripping one byte at a time would hold a thread forever.
"""

from __future__ import annotations

import io
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

log = logging.getLogger(__name__)

_BUSY_BODY = b'{"error": "intake is busy"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
) % (len(_BUSY_BODY), _BUSY_BODY)


class DeadlineReader(io.RawIOBase):
    """Socket reads that fail with :class:`TimeoutError` once ``deadline`` has passed."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request read time limit reached")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class PooledHTTPServer(HTTPServer):
    """An ``HTTPServer`` whose requests run on ``threads`` threads, ``backlog`` waiting."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        threads: int,
        backlog: int,
        tls: ssl.SSLContext | None = None,
        on_busy: Callable[[], None] = lambda: None,
    ) -> None:
        if threads < 1 or backlog < 0:
            raise ValueError("threads must be >= 1 and backlog >= 0")
        super().__init__(address, handler)
        if tls is not None:
            # The handshake happens on a pool thread (see handler setup), never in the
            # accept loop, where one silent client would stall every other.
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
        self.tls = tls is not None
        self._on_busy = on_busy
        self._queue: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=max(backlog, 1))
        self._workers = [
            threading.Thread(target=self._work, name=f"seqoia-intake-{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self._on_busy()
            self._refuse(request)

    def _refuse(self, request: Any) -> None:
        if not self.tls:  # a TLS client would need a handshake first: just close
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
        self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets, or a TLS handshake that fails: not our fault, no traceback.
        log.debug("request from a client failed", exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            try:
                self._queue.put(None, timeout=1)
            except queue.Full:
                break
        for worker in self._workers:
            worker.join(timeout=2)
