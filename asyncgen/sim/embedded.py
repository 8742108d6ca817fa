"""The built-in simulator as a child process: started on a free loopback port, stopped after.

A child process keeps the simulator's CPU off the run's event loop (the filter is CPU-bound),
and it is the same program a user starts with `asyncgen sim`. `simulator` is for async code
(the run); `simulator_process` is the same for synchronous callers (tests, benchmarks).

The child belongs to its run and to nothing else:
- it has its own session (`start_new_session`), so a terminal's Ctrl-C, which signals the
  whole foreground process group, reaches the run (which drains) and not the simulator the
  drain still needs;
- its stdin is a pipe from the run and it exits when that pipe closes (`--exit-with-stdin`):
  the kernel closes it when the run dies, kill -9 included, so no simulator outlives its run;
- its stderr goes to a temporary file, read only to explain a failed start: it never writes on
  the run's console (which may carry JSON only, or be a closed pipe).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import IO

import anyio
from anyio.abc import Process

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
URL_PREFIX = "listening on "


class SimulatorFailed(RuntimeError):
    """The simulator process did not start."""


def _command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "asyncgen.sim", "--host", "127.0.0.1", "--port", "0",
            "--exit-with-stdin", *args]


def _url(line: str, stderr: IO[bytes]) -> str:
    """The base URL from the simulator's first line of output."""
    if URL_PREFIX not in line:
        raise SimulatorFailed(f"the simulator did not start: {_last_line(stderr) or line!r}")
    return line.split(URL_PREFIX, 1)[1].strip()


def _last_line(stderr: IO[bytes]) -> str:
    """The last line the simulator wrote on stderr (its error, when it failed)."""
    stderr.seek(0)
    lines = stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """`simulator` for synchronous code: yield the base URL, stop the process after."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            _command(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True, text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            yield _url(process.stdout.readline(), stderr)
        finally:
            process.stdin.close()  # the simulator exits on end of file
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
    with tempfile.TemporaryFile() as stderr:
        process = await anyio.open_process(
            _command(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True,
        )
        try:
            with anyio.fail_after(START_TIMEOUT_S):
                url = await _first_url(process, stderr)
            yield url
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)


async def _first_url(process: Process, stderr: IO[bytes]) -> str:
    """Read the simulator's first line of output and take the URL from it."""
    assert process.stdout is not None
    buffer = b""
    async for chunk in process.stdout:
        buffer += chunk
        if b"\n" in buffer:
            return _url(buffer.split(b"\n", 1)[0].decode(), stderr)
    code = await process.wait()
    raise SimulatorFailed(f"the simulator exited with code {code} before serving"
                          + (f": {last}" if (last := _last_line(stderr)) else ""))


async def _stop(process: Process) -> None:
    if process.returncode is None:
        if process.stdin is not None:
            await process.stdin.aclose()  # end of file: the simulator exits
        process.terminate()
        with anyio.move_on_after(STOP_TIMEOUT_S):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
    await process.aclose()
