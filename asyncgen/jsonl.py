"""JSON Lines files, the one way asyncgen reads and appends them: whole lines, one torn tail rule.

Every file a run writes (tasks.jsonl, events.jsonl, any journal) follows one rule: a line is
whole or absent. `LineAppender` writes each line with write(2) on an O_APPEND descriptor,
synchronously, so a cancellation can never leave half a line; only a crash mid-syscall can.

**A torn tail** is a last line with no newline that does not parse as JSON (`is_torn`): what
a kill mid-write leaves. A last line that parses but lacks its newline is whole and kept.
`JsonlFile` reads (run, report and export all read through it) and skips a torn tail, noting
it; `settle_tail` makes a file appendable again before a run appends to it: the torn tail cut,
or the missing newline added. A bad line anywhere else is corruption, not a torn write: a
`UsageError` naming the file and the line, because silently dropping data is worse than
stopping.

**A replaced file** (a journal rewritten to what is still open, the summary, the run record,
an export) is written whole beside its path and renamed over it by `atomic_write`, the one
place that does so: a reader, or a kill, sees the old file or the new one, never a part.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from asyncgen.errors import UsageError

TAIL_CHUNK = 1 << 16


def is_torn(last_line: bytes) -> bool:
    """Whether a file's last line is a torn write: no newline, and not valid JSON."""
    if last_line.endswith(b"\n"):
        return False
    try:
        orjson.loads(last_line)
    except orjson.JSONDecodeError:
        return True
    return False


def parse_line(raw: bytes, path: Path, number: int) -> dict[str, Any]:
    """One whole line as its JSON object, or UsageError naming the file and line."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UsageError(
            f"{path}, line {number}: corrupt line, not valid JSON ({exc.msg})"
        ) from exc
    if not isinstance(obj, dict):
        raise UsageError(f"{path}, line {number}: expected a JSON object")
    return obj


class JsonlFile:
    """Iterate the JSON objects of one file; a torn last line is skipped and noted."""

    __slots__ = ("path", "lines_read", "torn_line")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines_read = 0
        # line number of a skipped torn last line, once iteration has reached it
        self.torn_line: int | None = None

    def __repr__(self) -> str:
        return f"<JsonlFile {str(self.path)!r} lines_read={self.lines_read} torn={self.torn_line}>"

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield (line number, object); blank lines are ignored."""
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot read ({exc.strerror})") from exc
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                self.lines_read = lineno
                if not raw.strip():
                    continue
                if is_torn(raw):  # only the last line can lack its newline
                    self.torn_line = lineno
                    return
                yield lineno, parse_line(raw, self.path, lineno)

    def torn_note(self) -> str | None:
        """A one-line note for the report if a torn last line was skipped."""
        if self.torn_line is None:
            return None
        return f"{self.path}, line {self.torn_line}: skipped a torn last line (run interrupted?)"


@dataclass(frozen=True, slots=True)
class TailFix:
    """What `settle_tail` did to a file's end."""

    offset: int  # where the last line starts
    cut: int  # bytes of a torn tail removed (0 when a newline was added instead)

    @property
    def newline_added(self) -> bool:
        return self.cut == 0


def _line_start(f: BinaryIO, before: int, chunk: int) -> int:
    """Where the line that ends at offset `before` starts: after the last newline before it."""
    position = before
    while position > 0:
        start = max(position - chunk, 0)
        f.seek(start)
        newline = f.read(position - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def _read(f: BinaryIO, start: int, stop: int) -> bytes:
    f.seek(start)
    return f.read(stop - start)


def settle_tail(path: Path, chunk: int = TAIL_CHUNK) -> TailFix | None:
    """Make `path` end with a whole line before appending: cut a torn tail, or add the newline
    a whole last line lacks. Reads from the end only; None when nothing was needed."""
    if not path.exists():
        return None
    with path.open("r+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0 or _read(f, end - 1, end) == b"\n":
            return None  # empty, or whole
        offset = _line_start(f, end, chunk)
        if not is_torn(_read(f, offset, end)):
            f.seek(end)
            f.write(b"\n")
            return TailFix(offset=offset, cut=0)
        f.truncate(offset)
        return TailFix(offset=offset, cut=end - offset)


def last_line(path: Path, chunk: int = TAIL_CHUNK) -> bytes | None:
    """The file's last line that is not a torn tail (without its newline), reading from the
    end only; None when there is none (no file, an empty one, or one torn line)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return None
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return None
        if _read(f, end - 1, end) != b"\n":
            start = _line_start(f, end, chunk)
            line = _read(f, start, end)
            if not is_torn(line):
                return line
            if start == 0:
                return None
            end = start  # the line before the torn tail, which ends in a newline
        return _read(f, _line_start(f, end - 1, chunk), end - 1)


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

    def close(self, *, sync: bool = True) -> None:
        """Flush to disk (unless `sync` is False: a file replaced already) and close; closing
        twice is fine."""
        if self._fd is not None:
            if sync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def atomic_write(path: Path, data: bytes | Iterable[bytes]) -> int:
    """Replace `path` with `data` (bytes, or chunks never joined in memory); bytes written.

    The new file is written to a temporary name beside `path`, fsynced, then renamed over it.
    It is created with mode 0666 less the umask, like any file a user writes. On error the
    temporary file is removed and `path` is untouched.
    """
    chunks = (data,) if isinstance(data, bytes) else data
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    written = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                written += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def swap_in(lines: LineAppender, staged: Path, covered: int) -> LineAppender:
    """Replace the file of `lines` with `staged` (the compacted form of its first `covered`
    bytes, whole lines) followed by whatever was appended after them, and return the handle to
    append to from now on. One `os.replace`, so a kill at any moment leaves the old file or the
    new one; the new handle is opened on `staged` before the swap (it follows the file), so a
    failure to open leaves everything as it was. The caller is the file's one writer, between
    two of its (synchronous) writes."""
    path = lines.path
    fresh = LineAppender(staged)
    try:
        with path.open("rb") as f:
            f.seek(covered)
            appended = f.read()
        fresh.write(appended)
        os.replace(staged, path)
    except BaseException:
        fresh.close(sync=False)
        raise
    fresh.path = path
    lines.close(sync=False)  # the replaced file's
    return fresh
