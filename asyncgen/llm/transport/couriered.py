"""The default transport of a run: the HTTP exchange in a courier process (`transport.courier`).

`CourierTransport.post` has the contract of `WholeBodyAiohttpTransport.post` (status, headers,
body, reason; aiohttp's own exceptions), so the client's hot path and its one mapping boundary
(`asyncgen.llm.errors.map_transport_errors`) are unchanged: a failure in the courier comes back
already classified there (`CourierError`: its kind, text, whether it may have been billed,
whether the connection was refused), and the boundary maps it like any transport error. A
courier that died under its run is `CourierFailed`, already typed. The client passes each
request's spend reservation (`receipt`), so that an answer the run never reads is kept with it
in `OUT/rescued.jsonl`.

A cancelled `post` tells the courier to keep the answer (the provider bills it anyway).
Everything that is not a POST (OpenRouter's key check) stays in-process.

One transport (one courier, one rescue file, one lock) may serve a pool's endpoints: each
client's receipt names its endpoint, which tags the answers kept for it (a route per endpoint:
its URL, its headers, its name). The courier starts at the first `async with` and ends when the
last one exits (the pool's, which enters it first).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
from aiohttp import ClientTimeout

from asyncgen.llm.errors import CourierError, CourierFailed
from asyncgen.llm.providers import DEFAULT_MAX_CONCURRENCY, KEY_VARIABLES
from asyncgen.llm.transport import courier
from asyncgen.llm.transport.aiohttp import Receipt, WholeBodyAiohttpTransport

START_TIMEOUT_S = 10.0
DEFAULT_LIMITS = httpx.Limits(max_connections=DEFAULT_MAX_CONCURRENCY,
                              max_keepalive_connections=DEFAULT_MAX_CONCURRENCY)
_NO_RECEIPT: Receipt = ("", None, 0.0, "")
_KEYS = frozenset(name for names in KEY_VARIABLES.values() for name in names)

def _environment() -> dict[str, str]:
    """The courier's environment: the run's without the key variables (the key travels only
    in a `route` frame; a process that outlives its run shows no key in /proc/PID/environ)."""
    return {name: value for name, value in os.environ.items() if name not in _KEYS}


@dataclass(frozen=True, slots=True)
class CourierFiles:
    """Where a run's courier keeps what its run never read: handed down by the run, which owns
    the directory (the provider layer names no file of it)."""

    run_id: str
    rescue: Path  # the answers the run never read
    lock: Path  # held by the courier until it exits


class CourierTransport(WholeBodyAiohttpTransport):
    """POSTs through a courier process; `rescue`/`lock` (a run directory's) make it keep the
    answers its run never reads. Enter it (`async with`) to start the courier."""

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS, run_id: str = "",
                 rescue: Path | None = None, lock: Path | None = None) -> None:
        super().__init__(limits=limits)
        self._run_id = run_id
        self._rescue = rescue
        self._lock = lock
        self._limit = limits.max_connections or DEFAULT_MAX_CONCURRENCY
        self._link: courier.Link | None = None
        self._launcher: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._routes: dict[tuple[str, int], tuple[int, Mapping[str, str]]] = {}
        self._route_of: tuple[str, Mapping[str, str] | None, int] = ("", None, 0)
        self._failure: str | None = None
        self._ready: asyncio.Future[Any] | None = None
        self.pid: int | None = None  # the courier's, once it is ready
        self._read: list[int] = []  # answers read, to tell the courier (once per loop turn)
        self._users = 0  # `async with` entered and not exited: the last one ends the courier

    def __repr__(self) -> str:
        return (f"<CourierTransport run={self._run_id!r} in_flight={len(self._pending)} "
                f"link={self._link!r}>")

    async def __aenter__(self) -> CourierTransport:
        self._users += 1
        if self._users > 1:
            if self._link is None or self._link.closed:
                self._users -= 1
                raise CourierFailed(self._failure or "the courier is not running",
                                    maybe_billed=False)
            return self  # shared (a pool's endpoints): started by its first user
        await super().__aenter__()
        self._ready = asyncio.get_running_loop().create_future()
        self._start()
        try:  # before the first request: a courier still starting would bunch them up
            async with asyncio.timeout(START_TIMEOUT_S):
                self.pid = await self._ready
        except BaseException as exc:
            await self.__aexit__()
            if isinstance(exc, TimeoutError):  # an OSError: the run would call it a bad write
                raise CourierFailed(f"the courier did not start within {START_TIMEOUT_S:g}s",
                                    maybe_billed=False) from None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._users -= 1
        if self._users > 0:
            return  # another user (the pool) still sends through it
        if self._link is not None:
            if self._read:
                self._say_read()
            self._link.close()  # end of file: the courier finishes what is in flight, exits
        await self._reap()
        await super().__aexit__(exc_type, exc_value, traceback)

    def _start(self) -> None:
        """Start the courier on one end of a socketpair; it holds the lock from here on."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        lock_fd = None if self._lock is None else courier.lock(self._lock)
        command = [sys.executable, "-m", "asyncgen.llm.transport.courier",
                   "--fd", str(theirs.fileno()),
                   "--run", self._run_id, "--limit", str(self._limit)]
        fds = [theirs.fileno()]
        if lock_fd is not None:
            command += ["--lock-fd", str(lock_fd)]
            fds.append(lock_fd)
        if self._rescue is not None:
            command += ["--rescue", str(self._rescue)]
        self._stderr = tempfile.TemporaryFile()
        try:
            self._launcher = subprocess.Popen(
                command, pass_fds=fds, start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self._stderr, env=_environment())
        finally:
            theirs.close()
            if lock_fd is not None:
                os.close(lock_fd)  # the courier's copy holds the lock
        self._link = courier.Link(ours, self._on_frame, self._on_closed)

    async def _reap(self) -> None:
        """Wait for the launcher, which exits as soon as the courier has detached."""
        launcher = self._launcher
        if launcher is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while launcher.poll() is None and loop.time() < deadline:  # noqa: ASYNC110 (a child)
            await asyncio.sleep(0.01)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        self._launcher = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _route(self, url: str, headers: Mapping[str, str], endpoint: str) -> int:
        """The courier's number for this url and these headers (sent once, with the key and
        the name of the endpoint they are: one client's headers are one endpoint's)."""
        last_url, last_headers, number = self._route_of
        if headers is last_headers and url == last_url:
            return number
        key = (url, id(headers))
        known = self._routes.get(key)
        if known is not None:
            number = known[0]
        else:
            number = len(self._routes) + 1
            self._routes[key] = (number, headers)  # held: its id is not reused
            assert self._link is not None
            self._link.send(courier.frame(["route", number, url, list(headers.items()),
                                           endpoint]))
        self._route_of = (url, headers, number)
        return number

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        content: bytes,
        timeouts: ClientTimeout,
        *,
        decompress: bool = True,
        receipt: Receipt | None = None,
    ) -> tuple[int, Mapping[str, str], bytes, str | None]:
        """POST through the courier and read the whole body (see the module doc)."""
        link = self._link
        if link is None or link.closed:
            raise CourierFailed(self._failure or "the courier is not running (use `async with`)",
                                maybe_billed=False)
        stage, reservation, usd, endpoint = receipt or _NO_RECEIPT
        route = self._route(url, headers, endpoint)
        self._next = n = self._next + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[n] = future
        sent = link.send(courier.frame(
            ["post", n, route, timeouts.total, timeouts.sock_connect, stage, reservation, usd],
            content), n)  # tagged: if the link closes before the kernel takes it, never sent
        try:
            if not sent:  # the link closed under the route frame: nobody would answer
                raise CourierFailed(self._failure or "the courier process exited",
                                    maybe_billed=False)
            result: tuple[int, Mapping[str, str], bytes, str | None] = await future
        except asyncio.CancelledError:
            if not future.done():  # the provider answers anyway: the courier keeps it
                link.send(courier.frame(["cancel", n]))
            raise
        finally:
            del self._pending[n]
        if not self._read:
            asyncio.get_running_loop().call_soon(self._say_read)
        self._read.append(n)
        return result

    def _say_read(self) -> None:
        """Tell the courier which answers the run has read (it keeps the others at the end)."""
        read, self._read = self._read, []
        if self._link is not None:
            self._link.send(courier.frame(["read", read]))

    async def mark_used(self, answer_id: str) -> bool:
        """Mark a rescued answer used, in the rescue file, before the run uses it; False when
        the courier could not write the mark (then the answer must not be used)."""
        link = self._link
        if link is None or link.closed:
            raise CourierFailed(self._failure or "the courier is not running")
        self._next = n = self._next + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[n] = future
        link.send(courier.frame(["used", n, answer_id]))
        try:
            written: bool = await future
        finally:
            del self._pending[n]
        return written

    def _on_frame(self, head: list[Any], body: bytes) -> None:
        op = head[0]
        if op == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(head[1])
            return
        future = self._pending.get(head[1])
        if future is None or future.done():
            return  # cancelled meanwhile
        if op == "answer":
            future.set_result((head[2], head[3], body, head[4]))
        elif op == "error":
            future.set_exception(CourierError(*head[2:6]))
        elif op == "ack":
            future.set_result(bool(head[2]))

    def _on_closed(self, undelivered: list[Any]) -> None:
        """The courier is gone: every request waiting on it fails, typed; one whose post frame
        the kernel never took was never sent (not billed)."""
        self._failure = "the courier process exited" + self._last_words()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(CourierFailed(self._failure, maybe_billed=False))
        unsent = set(undelivered)
        for n, future in self._pending.items():
            if not future.done():
                future.set_exception(CourierFailed(self._failure, maybe_billed=n not in unsent))

    def _last_words(self) -> str:
        """The courier's last line on stderr, if it wrote one."""
        stderr = self._stderr
        if stderr is None:
            return ""
        stderr.seek(0)
        lines = stderr.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""
