"""What the loopback HTTP servers of the tests share: a threading server that tracks its
open connections so ``stop()`` can cut idle keep-alives and join every handler thread."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, addr = self.socket.accept()
        # Headers and body go out in separate writes; without this, Nagle holds the body
        # back until the client's delayed ACK of the headers (~40 ms per response).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up mid-connection is normal here (aborted bodies, timeouts)."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def cut_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive reads so they can be joined."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def close_and_join(self, thread: threading.Thread | None) -> None:
        """Stop serving, cut open connections and join the serving thread."""
        self.shutdown()
        self.cut_connections()
        self.server_close()
        if thread is not None:
            thread.join(timeout=5)
