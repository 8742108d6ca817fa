"""The courier: the run's HTTP exchange in a child process that outlives the run long enough to
keep what was bought.

A provider bills a request when it generates the answer, whatever happens to the client: an
answer held only by the run's process dies with it when the run is killed (kill -9 included).
The courier sends the requests instead, and when the run's end of their socket closes — a normal
end, a crash, a kill -9 — it finishes the requests still in flight (each bounded by its own
timeout), appends each answer whole to `OUT/rescued.jsonl` (`transport.rescue`), and exits. It
keeps the answers of requests the run cancelled (drain deadline, second signal, target) the same
way. It never sends a request on its own: only the frames the run wrote before it went.

    run  ──post frames──▶  courier ──HTTP──▶ provider
         ◀─answer frames──          ◀───────

The run side is `asyncgen.llm.transport.couriered.CourierTransport` (the same `post` contract as the
in-process transport). A pool of endpoints (`[[endpoints]]`) shares one courier: each endpoint
is a route (its URL, its headers, its name), and each answer kept names the endpoint that gave
it. The process belongs to its run and to nothing else:
- the IPC is an inherited socketpair (`pass_fds`): length-prefixed frames, an orjson head and
  the raw body (`frame`), read and written whole and without blocking (`Link`);
- it starts in its own session with SIGINT and SIGTERM ignored: a terminal's Ctrl-C to the
  run's process group reaches the run, which drains through the courier; the run ends it by
  closing the socket;
- it detaches (forks once more) so that no run has a child to reap, and holds an flock on
  `OUT/.courier.lock` (taken by the run, passed down) until it exits: the next run waits for
  it (`wait_for_previous`) before it reads the rescued answers. Its pid and, once draining, the
  time it will be gone by are in that file; a kernel timer (SIGALRM) ends it then at the latest;
- the API key travels only in a frame's headers (`route` frames), never to a file or a log.

Frames (the head is a JSON array; `body` is raw bytes after it):

    run → courier   ["route", n, url, [[name, value], ...], endpoint]   once per url/headers
                    ["post", id, route, total_s, connect_s, stage, reservation, usd] + body
                    ["cancel", id]              the run gave up on it: keep its answer
                    ["used", seq, answer_id]    mark a rescued answer used; acknowledged
                    ["read", [id, ...]]         answers the run has read (once per loop turn)
    courier → run   ["ready", pid]              first: the run sends nothing before it
                    ["answer", id, status, {header: value}, reason] + body
                    ["error", id, kind, text, maybe_billed, refused]   (`CourierError`)
                    ["ack", seq, written]       false: the mark is not written, do not use it
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import math
import os
import signal
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from asyncgen.jsonl import LineAppender, settle_tail
from asyncgen.llm.errors import courier_error
from asyncgen.llm.providers import DEFAULT_MAX_CONCURRENCY
from asyncgen.llm.transport import rescue

DRAIN_GRACE_S = 1.0  # past the last in-flight request's own timeout, the courier is gone
WAIT_POLL_S = 0.05
READ_CHUNK = 1 << 15
"""Bytes read per loop turn: a few dozen answers (or posts), whose handling then runs before the
next read; a larger read woke hundreds of requests in one turn (a stall of the loop)."""
MAX_IOV = 512  # buffers per sendmsg (IOV_MAX is 1024 on Linux)
KEPT_HEADERS = ("x-ratelimit", "retry-after")  # what the client reads off a response
_HEAD = struct.Struct("<II")  # head length, body length
_loads = orjson.loads
_dumps = orjson.dumps

FrameHandler = Callable[[list[Any], bytes], None]


def frame(head: list[Any], body: bytes = b"") -> bytes:
    """One frame: lengths, the JSON head, the raw body."""
    encoded = _dumps(head)
    return _HEAD.pack(len(encoded), len(body)) + encoded + body


def kept_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The response headers the client reads (rate limits, waits), names lower-cased."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(KEPT_HEADERS):
            kept[lower] = value
    return kept


class Link:
    """One end of the run–courier socket: whole frames in and out, never blocking the loop.

    Frames are queued and written with one sendmsg per loop turn (one system call and one
    wake-up of the peer for all the frames of a turn, not one each); what the kernel does not
    take yet stays queued until the socket is writable. Each frame may carry a tag.
    When the peer is gone (end of file, a broken pipe), `on_closed` gets the tags of the frames
    the kernel never accepted (not even in part would the peer have a whole frame of them)."""

    __slots__ = ("_sock", "_loop", "_on_frame", "_on_closed", "_inbox", "_out", "_flushing",
                 "_writer", "closed")

    def __init__(self, sock: socket.socket, on_frame: FrameHandler,
                 on_closed: Callable[[list[Any]], None]) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._on_frame = on_frame
        self._on_closed = on_closed
        self._inbox = bytearray()
        self._out: deque[list[Any]] = deque()  # [bytes or memoryview left to write, tag]
        self._flushing = False
        self._writer = False
        self.closed = False
        self._loop.add_reader(sock.fileno(), self._readable)

    def __repr__(self) -> str:
        return f"<Link fd={self._sock.fileno()} queued={len(self._out)} closed={self.closed}>"

    def send(self, data: bytes | memoryview, tag: Any = None) -> bool:
        """Queue a frame; False when the link is closed (the frame is not sent)."""
        if self.closed:
            return False
        self._out.append([data, tag])
        if not self._flushing and not self._writer:
            self._flushing = True
            self._loop.call_soon(self._flush)
        return True

    def close(self) -> None:
        """Close this end (the peer sees end of file) after one last try to write what is
        queued; what the kernel does not take then is dropped."""
        if self._out and not self.closed:
            self._flush()
        self._closed(notify=False)

    def _flush(self) -> None:
        """Write what is queued, as far as the kernel takes it."""
        self._flushing = False
        out = self._out
        while out and not self.closed:
            try:
                sent = self._sock.sendmsg([item[0] for item in islice(out, MAX_IOV)])
            except (BlockingIOError, InterruptedError):
                if not self._writer:
                    self._writer = True
                    self._loop.add_writer(self._sock.fileno(), self._writable)
                return
            except OSError:
                self._closed()
                return
            while sent and out:
                data = out[0][0]
                if sent >= len(data):
                    sent -= len(data)
                    out.popleft()
                else:
                    out[0][0] = memoryview(data)[sent:]
                    sent = 0

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._writer = False
        self._flush()

    def _readable(self) -> None:
        """Read what is there; hand over each whole frame."""
        try:
            data = self._sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._closed()
            return
        inbox = self._inbox
        inbox += data
        at, size = 0, len(inbox)
        while size - at >= 8:
            head_len, body_len = _HEAD.unpack_from(inbox, at)
            start = at + 8
            end = start + head_len + body_len
            if end > size:
                break
            head = _loads(inbox[start:start + head_len])
            self._on_frame(head, bytes(inbox[start + head_len:end]))
            at = end
            if self.closed:
                return
        if at:
            del inbox[:at]

    def _closed(self, *, notify: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        fd = self._sock.fileno()
        self._loop.remove_reader(fd)
        if self._writer:
            self._loop.remove_writer(fd)
        undelivered = [tag for _, tag in self._out if tag is not None]
        self._out.clear()
        self._sock.close()
        if notify:
            self._on_closed(undelivered)


# --- the lock: one courier per run directory, and the next run waits for it -------------------


def lock(path: Path, *, create: bool = True) -> int:
    """Take the courier lock at `path` (non-blocking); its descriptor, for the courier.
    BlockingIOError when a courier still holds it (FileNotFoundError: no file, not `create`).
    Taken for a courier (`create`), the last courier's note (its pid, its `until`) is cleared:
    until the new courier writes its own, a waiting run uses its own bound."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if create:
            os.ftruncate(fd, 0)
    except OSError:
        os.close(fd)
        raise
    return fd


def _say_in_lock(fd: int, pid: int, until: float | None) -> None:
    """Write who holds the lock, and the time it will be gone by once draining."""
    data = _dumps({"pid": pid, "until": until})
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _lock_note(path: Path) -> tuple[int | None, float | None]:
    try:
        note = _loads(path.read_bytes())
        return int(note["pid"]), (None if note.get("until") is None else float(note["until"]))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None, None


def wait_for_previous(path: Path, *, bound_s: float, say: Callable[[str], None]) -> float:
    """Wait until no courier of an earlier run holds the courier lock at `path`: the seconds
    waited.

    Bounded by the time the courier said it will be gone by (its last timeout, plus a grace),
    else by `bound_s`; `say` gets one line when there is a wait. RuntimeError if it is still
    there after that (a courier is never left alive that long: see the module doc)."""
    started = time.monotonic()
    deadline = started + bound_s
    said = False
    while True:
        try:
            os.close(lock(path, create=False))  # looking writes nothing
            return time.monotonic() - started
        except FileNotFoundError:
            return 0.0
        except BlockingIOError:
            pass
        pid, until = _lock_note(path)
        limit = bound_s if until is None else max(0.0, until - time.time()) + DRAIN_GRACE_S
        if not said:
            said = True
            who = "" if pid is None else f" (pid {pid})"
            say(f"waiting up to {limit:.0f}s for the last run's courier{who} to finish "
                "the requests it still has in flight")
            deadline = started + limit
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the last run's courier{who} is still running after "
                               f"{limit:.0f}s; end it, then resume")
        time.sleep(WAIT_POLL_S)


# --- the courier process -------------------------------------------------------------------


@dataclass(slots=True)
class _Exchange:
    """One request in flight: what the rescue line needs if its answer is not handed over."""

    body: bytes
    stage: str
    reservation: int | None
    reserved_usd: float
    endpoint: str  # its route's endpoint name ("": a run of one endpoint)
    keep: bool = False  # the run cancelled it: its answer goes to the rescue file


class Courier:
    """Sends what its run posts; hands back the answers, or keeps them once the run is gone."""

    def __init__(self, sock: socket.socket, *, run_id: str, rescue_path: Path | None,
                 limit: int, lock_fd: int | None) -> None:
        self._sock = sock
        self._run = run_id
        self._rescue_path = rescue_path
        self._rescued: LineAppender | None = None
        self._limit = limit
        self._lock_fd = lock_fd
        self._routes: dict[int, tuple[str, Any, str]] = {}
        self._flight: dict[int, _Exchange] = {}
        self._delivered: dict[int, tuple[int, _Exchange, int, dict[str, str], bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadlines: dict[int, float] = {}
        self._timeouts: dict[tuple[float | None, float | None], Any] = {}
        self._session: Any = None
        self._gone = asyncio.Event()
        self._link: Link | None = None
        self.kept = 0

    async def serve(self) -> None:
        """Until the run's end closes, then until the requests in flight are done."""
        self._client()  # aiohttp imported and its session made before the first request
        self._link = Link(self._sock, self._on_frame, self._on_closed)
        self._link.send(frame(["ready", os.getpid()]))
        await self._gone.wait()
        if self._deadlines:
            remaining = max(self._deadlines.values()) - time.monotonic()
            limit = max(0.0, remaining) + DRAIN_GRACE_S
            if self._lock_fd is not None:
                _say_in_lock(self._lock_fd, os.getpid(), time.time() + limit)
            signal.setitimer(signal.ITIMER_REAL, limit)  # SIGALRM's default action ends us
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._session is not None:
            await self._session.close()
        if self._rescued is not None:
            self._rescued.close()

    def _on_frame(self, head: list[Any], body: bytes) -> None:
        op = head[0]
        if op == "post":
            _, n, route, total, connect, stage, reservation, usd = head
            exchange = _Exchange(body, stage, reservation, usd or 0.0, self._routes[route][2])
            self._flight[n] = exchange
            self._deadlines[n] = time.monotonic() + (total or 0.0)
            task = asyncio.get_running_loop().create_task(
                self._exchange(n, route, exchange, total, connect))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif op == "cancel":
            cancelled = self._flight.get(head[1])
            if cancelled is not None:
                cancelled.keep = True
        elif op == "read":
            delivered = self._delivered
            for n in head[1]:
                delivered.pop(n, None)
        elif op == "route":
            self._routes[head[1]] = (head[2], _headers(head[3]), head[4])
        elif op == "used":
            written = self._keep(rescue.used_line(head[2]))
            assert self._link is not None
            self._link.send(frame(["ack", head[1], written]))

    def _on_closed(self, undelivered: list[Any]) -> None:
        """The run's end closed: what it never received is kept, and so is what is in flight."""
        for n, exchange, status, headers, data in undelivered:
            self._delivered.pop(n, None)
            self._keep_answer(n, exchange, status, headers, data)
        for n, exchange, status, headers, data in self._delivered.values():
            self._keep_answer(n, exchange, status, headers, data, delivered=True)
        self._delivered.clear()
        for exchange in self._flight.values():
            exchange.keep = True
        self._gone.set()

    def _client(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=5.0, ssl=_ssl_context()))
        return self._session

    def _timeout(self, total: float | None, connect: float | None) -> Any:
        timeout = self._timeouts.get((total, connect))
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[(total, connect)] = aiohttp.ClientTimeout(
                total=total, sock_connect=connect)
        return timeout

    async def _exchange(self, n: int, route: int, exchange: _Exchange, total: float | None,
                        connect: float | None) -> None:
        """One POST, its whole body read; the answer handed back or kept."""
        url, headers, _ = self._routes[route]
        try:
            async with self._client().request(
                "POST", url, headers=headers, data=exchange.body, allow_redirects=False,
                compress=False, timeout=self._timeout(total, connect),
            ) as response:
                data = await response.read()
                status, reason = response.status, response.reason
                kept = kept_headers(response.headers.items())
        except Exception as exc:  # every failure goes back to the run, typed there
            self._flight.pop(n, None)
            self._deadlines.pop(n, None)
            if self._link is not None and not exchange.keep:
                self._link.send(frame(["error", n, *courier_error(exc).frame_fields()]))
            return
        self._flight.pop(n, None)
        self._deadlines.pop(n, None)
        link = self._link
        if exchange.keep or link is None or link.closed:
            self._keep_answer(n, exchange, status, kept, data)
        else:
            tag = (n, exchange, status, kept, data)
            self._delivered[n] = tag  # until the run says it has read it
            link.send(frame(["answer", n, status, kept, reason], data), tag)

    def _keep_answer(self, n: int, exchange: _Exchange, status: int,
                     headers: dict[str, str], data: bytes, *, delivered: bool = False) -> None:
        """Append one answer the run will never read to the rescue file."""
        self.kept += 1
        self._keep(rescue.answer_line(
            id=f"{self._run}-{n}", run=self._run, stage=exchange.stage, body=exchange.body,
            reservation=exchange.reservation, reserved_usd=exchange.reserved_usd,
            status=status, headers=headers, answer=data, delivered=delivered,
            endpoint=exchange.endpoint))

    def _keep(self, line: bytes) -> bool:
        """Append one line (False: not written); the file's torn tail (a courier killed
        mid-write, a short write) is cut first, as before any append (`asyncgen.jsonl`)."""
        if self._rescue_path is None:
            return False
        try:
            if self._rescued is None:
                settle_tail(self._rescue_path)
                self._rescued = LineAppender(self._rescue_path)
            self._rescued.write(line)
        except OSError as exc:
            print(f"asyncgen courier: cannot write {self._rescue_path}: {exc}", file=sys.stderr)
            self._drop_file()  # the next line settles the tail again
            return False
        return True

    def _drop_file(self) -> None:
        rescued, self._rescued = self._rescued, None
        if rescued is not None:
            try:
                rescued.close()
            except OSError:
                pass


def _headers(pairs: list[list[str]]) -> Any:
    from multidict import CIMultiDict

    return CIMultiDict((name, value) for name, value in pairs)


def _ssl_context() -> Any:
    """The TLS context the in-process transport uses (httpx's default: certifi's CA bundle)."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m asyncgen.llm.transport.courier",
                                     description="a run's courier (started by the run)")
    parser.add_argument("--fd", type=int, required=True, help="the run's socket")
    parser.add_argument("--lock-fd", type=int, help="the courier lock, taken by the run")
    parser.add_argument("--rescue", type=Path, help="where answers the run never read go")
    parser.add_argument("--run", default="", help="the run's id")
    parser.add_argument("--limit", type=int, default=DEFAULT_MAX_CONCURRENCY,
                        help="connections at most")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run ends us by closing the socket
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    if os.fork() > 0:  # detach: the run has no child to reap, we belong to nobody's group
        os._exit(0)
    if args.lock_fd is not None:
        _say_in_lock(args.lock_fd, os.getpid(), None)
    courier = Courier(sock, run_id=args.run, rescue_path=args.rescue, limit=args.limit,
                      lock_fd=args.lock_fd)
    try:
        asyncio.run(courier.serve())
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
    return 0


def drain_limit(timeout_s: float) -> float:
    """How long a courier may outlive its run at most: one request timeout and the grace."""
    return math.ceil(timeout_s + DRAIN_GRACE_S)


if __name__ == "__main__":
    sys.exit(main())
