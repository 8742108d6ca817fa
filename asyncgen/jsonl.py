"""Append-only JSON Lines files: whole lines in, a torn tail cut before appending again.

Both files a run writes (tasks.jsonl, events.jsonl) follow one rule: a line is whole or absent.
`LineAppender` writes each line with write(2) on an O_APPEND descriptor, synchronously, so a
cancellation can never leave half a line; only a crash mid-syscall can, and the next run cuts
that torn tail (`cut_torn_tail`) before it appends.
"""

from __future__ import annotations

import os
from pathlib import Path

TAIL_CHUNK = 1 << 16


class LineAppender:
    """One writer's append-only handle on a JSONL file."""

    __slots__ = ("path", "_fd")

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __repr__(self) -> str:
        return f"<LineAppender {str(self.path)!r} open={self._fd is not None}>"

    def write(self, line: bytes) -> None:
        """Append `line` (ending in a newline); a short write is finished, never interleaved."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        """Flush to disk and close; closing twice is fine."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def cut_torn_tail(path: Path, chunk: int = TAIL_CHUNK) -> int:
    """Drop a last line that has no newline (left by a kill mid-write), reading from the end.

    Returns the number of bytes cut (0 when the file is whole or absent).
    """
    if not path.exists():
        return 0
    with path.open("r+b") as f:
        end = f.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(position - chunk, 0)
            f.seek(start)
            block = f.read(position - start)
            if position == end and block.endswith(b"\n"):
                return 0  # whole
            newline = block.rfind(b"\n")
            if newline >= 0:
                f.truncate(start + newline + 1)
                return end - (start + newline + 1)
            position = start
        f.truncate(0)  # one torn line and nothing else
        return end
