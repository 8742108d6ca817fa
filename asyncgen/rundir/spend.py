"""The spend journal, OUT/spend.jsonl: money is written before it is risked.

Every change of the run's money is one appended line, written with write(2) before the
change takes effect outside the process (no fsync per line: a killed process loses nothing
the kernel has; only a power loss can):

    {"run": "3f2a…", "spent": 0.0123, "held": 0.0}                 a run starts (its prior)
    {"run": …, "spent": …, "held": 0.0, "rescued": 3, "rescued_usd": -0.0021}
                                     … having settled 3 reservations of killed runs at the bill
                                     of their rescued answers (asyncgen.llm.transport.rescue)
    {"r": 17, "usd": 0.00031, "spent": 0.0123, "held": 0.00093}    reserved, before sending
    {"s": 17, "usd": 0.00012, "spent": 0.01242, "held": 0.00062}   settled, after the attempt

`r`/`s` number the reservations of one run; `usd` is the amount reserved (the attempt's worst
case) or settled (its billed cost; the whole reservation when the cost is unknown or the
attempt was cancelled). `spent` and `held` are the totals after the change, all runs into this
directory included. So the last whole line alone is the state of the money: the spend figure
is `spent + held`, which counts a reservation that was never settled (a kill -9 in flight) at
its reserved cost. Recovering it reads one line from the end of the file, whatever its size.

While a run goes on, its checkpointer compacts the file once it has passed `COMPACT_BYTES` and
four times its last compacted size (`SpendFold`, `SpendJournal.compact`, as the work journal
is): the settled reservations go; every run's first line, the current run's reservations still
open and the last totals stay, then the lines appended meanwhile. Recovery reads the last line
either way; a kill at any moment leaves the old file or the new one.

`figure` is the ONE spend figure: the budget, run.progress, the live line, run.finished and
`asyncgen report` all read it, and it is never below what the provider billed as long as no
attempt costs more than its reservation (see asyncgen.llm.budget).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import UsageError
from asyncgen.jsonl import LineAppender, last_line, settle_tail, swap_in
from asyncgen.llm.pricing import figure

COMPACT_BYTES = 1 << 22  # compacted past this size (and 4x its last compacted size)

_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True, slots=True)
class Recovered:
    """The money state a directory's journal ends with."""

    spent_usd: float  # settled
    held_usd: float  # reserved and never settled (the run was killed with them in flight)
    journaled: bool  # False: no journal (or an empty one)

    @property
    def figure_usd(self) -> float:
        return figure(self.spent_usd, self.held_usd)


@dataclass(slots=True)
class SpendFold:
    """spend.jsonl folded for compaction: every run's first line, the last run's open
    reservations, the last line (the totals)."""

    starts: list[dict[str, Any]] = field(default_factory=list)
    open: dict[int, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, Any] | None = None

    def add(self, record: dict[str, Any]) -> None:
        if "run" in record:  # a run's first line: earlier reservations count as spent
            self.starts.append(record)
            self.open = {}
        elif "r" in record:
            self.open[record["r"]] = record
        elif "s" in record:
            self.open.pop(record["s"], None)
        self.last = record

    def records(self) -> list[dict[str, Any]]:
        kept = [*self.starts, *self.open.values()]
        if self.last is not None and (not kept or kept[-1] is not self.last):
            kept.append(self.last)  # the current totals last
        return kept


def stage(path: Path) -> tuple[Path, int]:
    """The compacted lines of `path`'s whole lines, staged beside it (synced), and the bytes
    they stand for (a worker thread; `SpendJournal.compact` swaps them in)."""
    data = path.read_bytes()
    covered = data.rfind(b"\n") + 1
    fold = SpendFold()
    for raw in data[:covered].splitlines():
        if raw.strip():
            fold.add(orjson.loads(raw))
    staged = path.with_name(path.name + ".compact")
    with staged.open("wb") as f:
        f.write(b"".join(_dumps(record, option=_NEWLINE) for record in fold.records()))
        f.flush()
        os.fsync(f.fileno())
    return staged, covered


class SpendJournal:
    """The append side of OUT/spend.jsonl; one per run, owned by the run's Budget."""

    __slots__ = ("path", "_out")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: LineAppender | None = LineAppender(path)

    @classmethod
    def resume(cls, path: Path) -> SpendJournal:
        """Open a directory's journal for appending, its torn tail (if any) cut first."""
        settle_tail(path)
        return cls(path)

    def __repr__(self) -> str:
        return f"<SpendJournal {str(self.path)!r} open={self._out is not None}>"

    def started(self, run_id: str, spent_usd: float, *, rescued: int = 0,
                rescued_usd: float = 0.0) -> None:
        """A run begins with what earlier runs spent (their held money counted as spent);
        `rescued` of their reservations were settled at the bill of their rescued answers
        (transport.rescue), which changed that figure by `rescued_usd` (<= 0 unless a bill
        exceeded its reservation)."""
        record: dict[str, Any] = {"run": run_id, "spent": spent_usd, "held": 0.0}
        if rescued:
            record.update(rescued=rescued, rescued_usd=rescued_usd)
        self._write(record)

    def reserved(self, n: int, usd: float, spent_usd: float, held_usd: float) -> None:
        """Reservation `n` of `usd`; the totals after it. Raises OSError if it cannot be
        written: then the request must not be sent."""
        self._write({"r": n, "usd": usd, "spent": spent_usd, "held": held_usd})

    def settled(self, n: int, usd: float, spent_usd: float, held_usd: float) -> None:
        """Reservation `n` settled at `usd`; the totals after it."""
        self._write({"s": n, "usd": usd, "spent": spent_usd, "held": held_usd})

    def _write(self, record: dict[str, Any]) -> None:
        if self._out is None:
            raise OSError(f"{self.path} is closed")
        self._out.write(_dumps(record, option=_NEWLINE))

    def compact(self, staged: Path, covered: int) -> None:
        """Swap in the compacted lines `stage` made of the first `covered` bytes, with the
        lines written since (on the event loop: between two of the Budget's writes)."""
        if self._out is None:
            return
        self._out = swap_in(self._out, staged, covered)

    def close(self) -> None:
        """Flush to disk and close (once per run; closing twice is fine)."""
        if self._out is not None:
            out, self._out = self._out, None
            out.close()

    def close_quietly(self) -> None:
        """Close after a failed write (the flush may fail the same way)."""
        try:
            self.close()
        except OSError:
            pass


def open_journal(path: Path, run_id: str, prior_usd: float, *, rescued: int = 0,
                 rescued_usd: float = 0.0) -> SpendJournal:
    """A run's journal, its first line written; UsageError (one line) if it cannot be."""
    try:
        journal = SpendJournal.resume(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the spend journal ({exc.strerror})") from None
    try:
        journal.started(run_id, prior_usd, rescued=rescued, rescued_usd=rescued_usd)
    except OSError as exc:
        journal.close_quietly()
        raise UsageError(f"{path}: cannot write the spend journal ({exc.strerror})") from None
    return journal


def recover(path: Path) -> Recovered:
    """The money state at the journal's last whole line (nothing is written).

    A torn last line (a kill mid-write) is skipped: the change it describes never took
    effect outside the process. A whole line that is not a journal record is a UsageError.
    """
    raw = last_line(path)  # the one tail rule (asyncgen.jsonl)
    if raw is None:
        return Recovered(0.0, 0.0, journaled=False)
    try:
        record = orjson.loads(raw)
        spent, held = float(record["spent"]), float(record["held"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UsageError(
            f"{path}: the last line is not a spend record; this file was not written by "
            "asyncgen (move it away to start a new journal)"
        ) from None
    if not (spent >= 0 and held >= 0):
        raise UsageError(f"{path}: negative totals in the last spend record")
    return Recovered(spent, held, journaled=True)
