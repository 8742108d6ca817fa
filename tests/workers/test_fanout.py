"""fan_out: a stage's items as tasks, at most `most` at once, ending when its stream ends."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from asyncgen.workers.fanout import fan_out

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_items_run_at_once_up_to_most_and_all_are_handled() -> None:
    send, receive = anyio.create_memory_object_stream[int](100)
    gate = anyio.Event()
    running: list[int] = []
    done: list[int] = []
    peak = 0

    async def handle(item: int) -> None:
        nonlocal peak
        running.append(item)
        peak = max(peak, len(running))
        await gate.wait()
        running.remove(item)
        done.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: fan_out(receive, handle, most=3))
        async with send:
            for n in range(10):
                await send.send(n)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert len(running) == 3  # the rest wait in the stream, not in tasks
        gate.set()
    assert sorted(done) == list(range(10)) and peak == 3


async def test_no_item_is_taken_once_go_on_is_false() -> None:
    send, receive = anyio.create_memory_object_stream[int](100)
    taken: list[int] = []
    stop = False

    async def handle(item: int) -> None:
        nonlocal stop
        taken.append(item)
        stop = item == 2

    with send:
        for n in range(6):
            send.send_nowait(n)
        with anyio.fail_after(5):
            await fan_out(receive, handle, most=1, go_on=lambda: not stop)
    assert taken == [0, 1, 2]


async def test_most_below_one_is_refused() -> None:
    send, receive = anyio.create_memory_object_stream[int](1)
    with pytest.raises(ValueError, match="most"):
        await fan_out(receive, lambda item: anyio.lowlevel.checkpoint(), most=0)
    send.close()
    receive.close()
