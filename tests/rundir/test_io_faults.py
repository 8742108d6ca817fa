"""A disk that fills mid-run, or a file-size limit: one line, exit 1, and the directory resumes.

Real faults, real processes: a 300 KB tmpfs (needs root to mount; skipped elsewhere) and
RLIMIT_FSIZE with SIGXFSZ ignored, which makes write(2) fail with EFBIG, as a full disk fails
with ENOSPC.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TARGET = 40
RUN = [sys.executable, "-m", "asyncgen", "run", "--target-instructions", str(TARGET),
       "--log-format", "none", "--progress-interval", "1"]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _check_fault_then_resume(out: Path, done: subprocess.CompletedProcess[str],
                             tmp_path: Path) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("asyncgen run: stopped: cannot write"), lines
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    resumed = subprocess.run([*RUN, "--out", str(copy)], capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    tasks = [json.loads(line) for line in (copy / "tasks.jsonl").read_text().splitlines()]
    # at the target; a resumed run may also finish the jobs journaled by the stopped one
    assert len(tasks) >= TARGET and len({t["id"] for t in tasks}) == len(tasks)
    assert all(t["instances"] for t in tasks)
    runs = [json.loads(line) for line in (copy / "events.jsonl").read_text().splitlines()]
    finished = [e for e in runs if e["event"] == "run.finished"]
    assert finished[-1]["reason"] == "target"
    assert finished[-1]["committed_all_runs"] == len(tasks)


def test_a_full_300k_tmpfs_stops_with_one_line_and_resumes(
    small_tmpfs: Path, tmp_path: Path
) -> None:
    (small_tmpfs / "filler").write_bytes(b"x" * 245_000)  # the run fills the rest mid-way
    out = small_tmpfs / "run"
    done = subprocess.run([*RUN, "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert "No space left on device" in done.stderr
    _check_fault_then_resume(out, done, tmp_path)


def test_a_file_size_limit_stops_with_one_line_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run([*RUN, "--out", str(out)], capture_output=True, text=True,
                          timeout=120, preexec_fn=_file_size_limit(30_000))
    assert "File too large" in done.stderr
    _check_fault_then_resume(out, done, tmp_path)
