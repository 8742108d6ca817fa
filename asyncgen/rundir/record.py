"""The run directory's owner and its record: one run at a time, and what the data was made with.

**One owner.** A run holds an exclusive `flock` on the `--out` directory itself from before it
reads anything until it exits: a second run on the same directory is refused at once, and
the kernel drops the lock when its holder dies (kill -9 included), so there is never a stale
lock to clean by hand. Taking it writes nothing (where a directory cannot be locked, a lock
file `OUT/.asyncgen.lock` is locked instead).

**The record.** `OUT/asyncgen.json` (the manifest, replaced atomically) lists every run that
wrote into the directory (`run_id`, start time, version) with the settings that change the
data: provider, model, endpoint, similarity threshold, the SHA-256 of the seed file and of the
prompt demonstrations file. It proves the
files beside it are asyncgen's: every task in tasks.jsonl must come from a run it lists.

A directory from an asyncgen without a manifest is adopted when its events.jsonl records
(`run.started`) every run whose tasks are in tasks.jsonl; its settings are then read from the
last `run.started`. Journal files with neither proof were written by another tool: refused,
untouched. Resuming with other data-changing settings is refused naming each difference,
unless `--allow-changes`.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from asyncgen import __version__
from asyncgen.errors import UsageError
from asyncgen.jsonl import JsonlFile, atomic_write
from asyncgen.observe import events
from asyncgen.rundir.layout import EVENTS_FILE, JOURNAL_FILES, LOCK_FILE, RECORD_FILE, TASKS_FILE

try:
    import fcntl
except ImportError:  # not POSIX: no lock (asyncgen's signals and files assume POSIX anyway)
    fcntl = None  # type: ignore[assignment]

MANIFEST_FORMAT = "asyncgen-run-dir/1"
# the settings that change the data, in the order a refusal names them
SETTINGS: tuple[str, ...] = ("provider", "model", "stage_models", "endpoint",
                             "similarity_threshold", "seeds_sha256", "demos_sha256")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's contents, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DirectoryLock:
    """An exclusive, non-blocking flock on a directory, held until `release` (or exit)."""

    __slots__ = ("path", "_fd")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<DirectoryLock {str(self.path)!r} held={self._fd is not None}>"

    def acquire(self) -> None:
        """Take the lock; UsageError if another process holds it."""
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            self._flock(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise self._busy() from None
            # this file system cannot lock a directory: lock a file in it instead
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._flock(fd)
            except OSError:
                os.close(fd)
                raise self._busy() from None
        self._fd = fd

    @staticmethod
    def _flock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _busy(self) -> UsageError:
        return UsageError(f"--out {self.path} is in use by another asyncgen run; wait for it "
                          "to end or choose another --out")

    def release(self) -> None:
        """Let go (closing the descriptor drops the lock); releasing twice is fine."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True, slots=True)
class Record:
    """What the directory says about itself: its runs and their data-changing settings."""

    runs: tuple[Mapping[str, Any], ...] = ()
    adopted: bool = False  # read from an older asyncgen's events.jsonl, no manifest yet

    @property
    def run_ids(self) -> frozenset[str]:
        return frozenset(str(run.get("run_id", "")) for run in self.runs)

    @property
    def settings(self) -> Mapping[str, Any]:
        """The settings of the last run (what a resume must match)."""
        return self.runs[-1].get("settings", {}) if self.runs else {}


def read_record(out: Path) -> Record:
    """The directory's record: from its manifest, or adopted from an older asyncgen's events;
    an empty record for a directory with no journal in it. UsageError when journal files are
    there and nothing proves asyncgen wrote them."""
    manifest = out / RECORD_FILE
    if manifest.exists():
        return _from_manifest(manifest)
    present = [name for name in JOURNAL_FILES if (out / name).exists()]
    if not present:
        return Record()
    runs = _runs_in_events(out / EVENTS_FILE) if (out / EVENTS_FILE).is_file() else []
    if not runs:
        raise UsageError(
            f"--out {out}: {present[0]} was not written by asyncgen (no {RECORD_FILE} and no "
            f"asyncgen run in {EVENTS_FILE}); it is left untouched: choose another --out"
        )
    return Record(runs=tuple(runs), adopted=True)


def _from_manifest(path: Path) -> Record:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable asyncgen manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT \
            or not isinstance(data.get("runs"), list):
        raise UsageError(f"{path}: not an asyncgen manifest (format {MANIFEST_FORMAT!r})")
    return Record(runs=tuple(run for run in data["runs"] if isinstance(run, dict)))


def _runs_in_events(path: Path) -> list[dict[str, Any]]:
    """The runs an older asyncgen recorded in events.jsonl (`run.started`), as manifest runs."""
    runs: list[dict[str, Any]] = []
    for _, event in JsonlFile(path):
        if event.get("event") != events.RUN_STARTED or not event.get("run_id"):
            continue
        raw = event.get("config")
        config: dict[str, Any] = raw if isinstance(raw, dict) else {}
        settings = {
            "provider": event.get("provider"),
            "model": event.get("model"),
            "endpoint": config.get("endpoint"),
            "similarity_threshold": config.get("similarity_threshold"),
        }  # the seed file's contents were not recorded: not compared
        runs.append({"run_id": str(event["run_id"]), "started_at": event.get("timestamp"),
                     "settings": {k: v for k, v in settings.items() if v is not None}})
    return runs


def check_authorship(record: Record, out: Path, tasks: Iterable[tuple[str, str]]) -> None:
    """Every task (id, run_id) must come from a run the record lists."""
    known = record.run_ids
    for task_id, run_id in tasks:
        if run_id not in known:
            raise UsageError(
                f"--out {out}: {TASKS_FILE} holds task {task_id!r} of run {run_id!r}, which "
                "this directory has no record of: not written by asyncgen here; it is left "
                "untouched: choose another --out"
            )


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The data-changing settings that differ, as `name 'was' (now 'is')`; a setting the
    record does not have is not compared."""
    return [
        f"{name} {recorded[name]!r} (now {current.get(name)!r})"
        for name in SETTINGS
        if name in recorded and recorded[name] != current.get(name)
    ]


def check_settings(record: Record, out: Path, current: Mapping[str, Any], *,
                   allow_changes: bool) -> list[str]:
    """Refuse a resume whose data-changing settings differ, unless allowed; the differences."""
    changed = differences(record.settings, current)
    if changed and not allow_changes:
        raise UsageError(
            f"--out {out} was made with other settings: {', '.join(changed)}; resuming would "
            "mix them in one dataset: pass --allow-changes to resume anyway, or choose "
            "another --out"
        )
    return changed


def write_record(out: Path, record: Record, run: Mapping[str, Any]) -> None:
    """Add this run to the manifest, atomically (a kill leaves the old one or the new one)."""
    runs: Sequence[Mapping[str, Any]] = [*record.runs, run]
    data = {"format": MANIFEST_FORMAT, "asyncgen": __version__, "runs": list(runs)}
    atomic_write(out / RECORD_FILE,
                 orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
