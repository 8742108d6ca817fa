"""The built-in simulator as a child process: started on a free loopback port, stopped after.

A child process keeps the simulator's CPU off the run's event loop (the filter is CPU-bound),
and it is the same program a user starts with `asyncgen sim`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.abc import Process

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
URL_PREFIX = "listening on "


class SimulatorFailed(RuntimeError):
    """The simulator process did not start."""


@asynccontextmanager
async def simulator(args: Sequence[str] = ()) -> AsyncIterator[str]:
    """Run `python -m asyncgen.sim --port 0 ARGS`; yield its base URL (ending in /v1)."""
    command = [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", "0", *args]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=None)
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
            line = buffer.split(b"\n", 1)[0].decode()
            if URL_PREFIX not in line:
                raise SimulatorFailed(f"unexpected first line from the simulator: {line!r}")
            return line.split(URL_PREFIX, 1)[1].strip()
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
