"""A stage's items as tasks: as many at once as the client's window admits, no fixed pool.

Each item a stage receives becomes one task (its request, its retries, its answer sent on), at
most `most` at once: the concurrency window (`llm/limits.py`) decides how many of them are in
flight, and which stage's request goes first (`params.PRIORITY`). `most` is a ceiling on the
items a stage holds, for memory; by default it is `--max-concurrency`, so it never binds below
the window. A task costs memory only while its item is under way (a fixed pool of that size
would hold ~7 KB per idle worker).

The stage ends when its stream is closed and drained and its last task is done, as a pool of
workers reading the same stream would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from anyio.abc import ObjectReceiveStream

T = TypeVar("T")


async def fan_out(
    receive: ObjectReceiveStream[T],
    handle: Callable[[T], Awaitable[object]],
    *,
    most: int,
    go_on: Callable[[], bool] = lambda: True,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """`handle(item)` for each item received, in its own task, at most `most` at once; each
    item taken once `ready()` (if given) returns; stop taking items once `go_on()` is false
    (the rest stay in the stream)."""
    if most < 1:
        raise ValueError(f"most must be >= 1, got {most}")
    room = anyio.Semaphore(most)

    async def one(item: T) -> None:
        try:
            await handle(item)
        finally:
            room.release()

    async with receive, anyio.create_task_group() as tg:
        while True:
            await room.acquire()  # taken before the item: an item taken is always handled
            if ready is not None:
                try:
                    await ready()
                except BaseException:
                    room.release()
                    raise
            if not go_on():
                room.release()
                break
            try:
                item = await receive.receive()
            except anyio.EndOfStream:
                room.release()
                break
            except BaseException:
                room.release()
                raise
            tg.start_soon(one, item)
