"""A loopback webhook receiver for the delivery benchmark: answers ``204`` at once.

The receiver of the integration tests (``tests/integration/webhook_receiver.py``) verifies
every signature and records every request in a thread per connection: right for tests, but its
own cost would then be most of what a throughput figure measures. This one runs an asyncio
server in a process of its own (so its CPU is not the benchmark's), reads each request with
its body, answers ``204 No Content`` on the kept-alive connection and, while recording, notes
when each ``webhook-id`` arrived (``time.monotonic()``, one clock for every process of the
machine), for the latency figures.

::

    with Receiver() as receiver:
        receiver.url                  # http://127.0.0.1:PORT/hook
        receiver.record(True)         # note arrivals from now on (forgets earlier ones)
        receiver.count()              # requests answered so far
        receiver.arrivals()           # {webhook-id: monotonic seconds of arrival}
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

ANSWER = b"HTTP/1.1 204 No Content\r\nServer: bench-receiver\r\n\r\n"
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_HOOK_ID = re.compile(rb"\r\nwebhook-id:[ \t]*([^\r\n]*)", re.IGNORECASE)


class Receiver:
    """The server in a child process, driven over a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self.url = ""

    def __enter__(self) -> Self:
        self._process.start()
        self.url = self._parent.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ask("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()

    def record(self, on: bool) -> None:
        """Start (or stop) noting arrivals; starting forgets those noted before."""
        self._ask("record" if on else "quiet")

    def count(self) -> int:
        counted: int = self._ask("count")
        return counted

    def arrivals(self) -> dict[str, float]:
        noted: dict[str, float] = self._ask("arrivals")
        return noted

    def _ask(self, command: str) -> Any:
        self._parent.send(command)
        return self._parent.recv()


class _State:
    def __init__(self) -> None:
        self.count = 0
        self.recording = False
        self.arrivals: dict[str, float] = {}


def _serve(conn: Connection) -> None:
    asyncio.run(_main(conn))


async def _main(conn: Connection) -> None:
    state = _State()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connection(state, reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), _command, conn, state, done)
    conn.send(f"http://127.0.0.1:{port}/hook")
    async with server:
        await done.wait()
    loop.remove_reader(conn.fileno())
    conn.send(None)


def _command(conn: Connection, state: _State, done: asyncio.Event) -> None:
    command = conn.recv()
    if command == "stop":
        done.set()
        return
    if command == "record":
        state.arrivals = {}
        state.recording = True
        conn.send(None)
    elif command == "quiet":
        state.recording = False
        conn.send(None)
    elif command == "count":
        conn.send(state.count)
    elif command == "arrivals":
        conn.send(state.arrivals)
    else:
        conn.send(ValueError(f"unknown command {command!r}"))


async def _connection(
    state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Requests of one kept-alive connection, one after the other (HTTP/1.1, no pipelining)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            if length:
                await reader.readexactly(int(length.group(1)))
            if state.recording:
                hook_id = _HOOK_ID.search(head)
                if hook_id:
                    state.arrivals[hook_id.group(1).decode("ascii", "replace")] = time.monotonic()
            state.count += 1
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()
