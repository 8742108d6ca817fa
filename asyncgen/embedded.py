"""The built-in simulator as a child process: started on a free loopback port, stopped after.

A child process keeps the simulator's CPU off the run's event loop (the filter is CPU-bound),
and it is the same program a user starts with `asyncgen sim`. `simulator` is for async code
(the run); `simulator_process` is the same for synchronous callers (tests, benchmarks).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import anyio
from anyio.abc import Process

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
URL_PREFIX = "listening on "


class SimulatorFailed(RuntimeError):
    """The simulator process did not start."""


def _command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", "0", *args]


def _url(line: str) -> str:
    """The base URL from the simulator's first line of output."""
    if URL_PREFIX not in line:
        raise SimulatorFailed(f"unexpected first line from the simulator: {line!r}")
    return line.split(URL_PREFIX, 1)[1].strip()


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """`simulator` for synchronous code: yield the base URL, stop the process after."""
    process = subprocess.Popen(_command(args), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        yield _url(process.stdout.readline())
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@asynccontextmanager
async def simulator(args: Sequence[str] = ()) -> AsyncIterator[str]:
    """Run `python -m asyncgen.sim --port 0 ARGS`; yield its base URL (ending in /v1)."""
    process = await anyio.open_process(_command(args), stdout=subprocess.PIPE, stderr=None)
    try:
        with anyio.fail_after(START_TIMEOUT_S):
            url = await _first_url(process)
        yield url
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)


async def _first_url(process: Process) -> str:
    """Read the simulator's first line of output and take the URL from it."""
    assert process.stdout is not None
    buffer = b""
    async for chunk in process.stdout:
        buffer += chunk
        if b"\n" in buffer:
            return _url(buffer.split(b"\n", 1)[0].decode())
    raise SimulatorFailed(f"simulator exited with code {await process.wait()} before serving")


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(STOP_TIMEOUT_S):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
    await process.aclose()
