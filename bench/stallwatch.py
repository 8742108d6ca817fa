"""Find event-loop stalls in a whole `asyncgen run` and say where the loop thread was.

    python bench/stallwatch.py REPORT.json -- run --out DIR ...   (the arguments of asyncgen)

A watchdog thread posts a heartbeat to the running loop every `BEAT_S`; when one has waited
longer than `SAMPLE_AFTER_S` (the loop is blocked: one callback is running, or the GIL is held
by another thread) it samples the loop thread's stack every `BEAT_S` until the heartbeat runs.
Each stall over `REPORT_OVER_S` is written to REPORT.json with its length and the stacks seen
(the innermost frames of asyncgen, numpy or rapidfuzz code tell what it was). Also records how
long each garbage collection took (`gc.callbacks`), since a full collection of a big pool is a
stall too. Each stall also carries the loop thread's CPU time over it (`cpu_ms`): near `ms`, the
loop was busy in our code; far below it, the loop thread was runnable but not running (another
process or thread had the cores, or the GIL) — on a loaded machine most long stalls are that.
With STALLWATCH_DUMP=FILE, faulthandler also writes every thread's stack to FILE when a
heartbeat is `DUMP_AFTER_S` late, from a C thread that needs no GIL: it shows what the other
threads were doing while the loop thread could not run (a sampled stack cannot). Not a test:
a bench helper (bench_pipeline.py --stalls runs it).
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from typing import Any

BEAT_S = 0.005
SAMPLE_AFTER_S = 0.02
REPORT_OVER_S = 0.05
DUMP_AFTER_S = 0.045  # faulthandler dumps every thread's stack (no GIL needed) this late


class Watch:
    """The watchdog: heartbeat, stack samples, GC pauses (CPU time)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread_id = 0
        self.stalls: list[dict[str, Any]] = []
        self.gc_pauses: list[tuple[int, float]] = []  # generation, seconds (over 10 ms)
        self._gc_started = 0.0
        self._stop = threading.Event()
        dump = os.environ.get("STALLWATCH_DUMP")  # a file for faulthandler's stack dumps
        self.dump = open(dump, "a") if dump else None  # noqa: SIM115 (open for the run)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.cpu_clock = time.pthread_getcpuclockid(self.thread_id)
        threading.Thread(target=self._watch, daemon=True, name="stallwatch").start()
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()  # CPU time: a starved GC is not a slow one
        else:
            took = time.thread_time() - self._gc_started
            if took > 0.01:
                self.gc_pauses.append((info["generation"], took))

    def _watch(self) -> None:
        assert self.loop is not None
        while not self._stop.is_set():
            ran = threading.Event()
            posted = time.perf_counter()
            cpu = time.clock_gettime(self.cpu_clock)
            if self.dump is not None:  # who holds the GIL when nothing else can sample
                faulthandler.dump_traceback_later(DUMP_AFTER_S, file=self.dump)
            try:
                self.loop.call_soon_threadsafe(ran.set)
            except RuntimeError:
                return  # the loop is closed
            stacks: Counter[str] = Counter()
            while not ran.wait(BEAT_S if stacks or self._stop.is_set() else SAMPLE_AFTER_S):
                if self._stop.is_set():
                    return
                frames = sys._current_frames()
                frame = frames.get(self.thread_id)
                if frame is not None:
                    stacks["".join(traceback.format_stack(frame, limit=12))] += 1
            waited = time.perf_counter() - posted
            if self.dump is not None:
                faulthandler.cancel_dump_traceback_later()
                if waited > DUMP_AFTER_S:
                    self.dump.write(f"^ stall of {waited * 1e3:.1f} ms at {time.time():.3f}\n")
                    self.dump.flush()
            if waited > REPORT_OVER_S:
                cpu = time.clock_gettime(self.cpu_clock) - cpu
                self.stalls.append({"at": time.time(), "ms": round(waited * 1e3, 1),
                                    "cpu_ms": round(cpu * 1e3, 1),
                                    "stacks": stacks.most_common(3)})
            time.sleep(BEAT_S)

    def report(self) -> dict[str, Any]:
        self._stop.set()
        return {"stalls": sorted(self.stalls, key=lambda s: -s["ms"]),
                "gc_pauses_ms": [(g, round(s * 1e3, 1)) for g, s in self.gc_pauses],
                "gc_stats": gc.get_stats(), "gc_frozen": gc.get_freeze_count()}


def main() -> int:
    out, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: stallwatch.py REPORT.json -- asyncgen arguments"
    watch = Watch()
    run_forever = asyncio.BaseEventLoop.run_forever

    def watched(self: asyncio.BaseEventLoop) -> None:
        if watch.loop is None:
            watch.attach(self)
        run_forever(self)

    asyncio.BaseEventLoop.run_forever = watched  # type: ignore[method-assign]
    from asyncgen.cli import main as asyncgen
    try:
        return asyncgen(argv)
    finally:
        with open(out, "w") as f:
            json.dump(watch.report(), f, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
