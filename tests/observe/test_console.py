"""The console: a live line that fits the terminal, JSON logs on stdout only, a closed pipe.

The tmux test runs a real run in an 80x30 tmux pane (skipped when tmux is not installed).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from asyncgen.observe import events

RUN = [sys.executable, "-m", "asyncgen", "run"]


@pytest.mark.parametrize(
    ("text", "columns", "expected"),
    [
        ("short", 80, "short"),
        ("x" * 77, 80, "x" * 77),
        ("x" * 78, 80, "x" * 76 + "…"),
        ("abcdef", 5, "a…"),
        ("abcdef", 1, "…"),
    ],
)
def test_fit_leaves_the_margin_free(text: str, columns: int, expected: str) -> None:
    assert events.fit(text, columns) == expected
    assert len(events.fit(text, columns)) <= max(columns - events.STATUS_MARGIN, 1)


def test_status_line_is_measured_at_every_draw() -> None:
    stream = io.StringIO()
    status = events.StatusLine(stream)
    widths = iter([120, 40])
    status.columns = lambda: next(widths)
    status.show("y" * 100)
    status.show("y" * 100)  # the terminal shrank between draws
    draws = stream.getvalue().split("\r\x1b[2K")[1:]
    assert [len(d) for d in draws] == [100, 37]
    status.close()
    assert stream.getvalue().endswith("\r\x1b[2K")


def test_human_lines_have_no_none_fields() -> None:
    render = events.ConsoleRenderer("human")
    line = render(None, "info", {"event": "run.stopping", "reason": "target", "note": None})
    assert "reason=target" in line and "None" not in line and "note" not in line


def test_closed_console_stops_once_and_writes_nothing_more(tmp_path: Path) -> None:
    calls: list[str] = []
    read, write = __import__("os").pipe()
    stream = open(write, "w")  # noqa: SIM115 - closed below
    console = events.Console(stream, None)
    console.on_closed = lambda: calls.append("closed")
    __import__("os").close(read)
    console.msg("one")
    console.msg("two")
    assert calls == ["closed"]
    stream.close()


def test_json_logs_go_to_stdout_and_nothing_else(tmp_path: Path) -> None:
    done = subprocess.run([*RUN, "--out", str(tmp_path / "o"), "--target-instructions", "10",
                           "--log-format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # every line is JSON
    assert lines[0]["event"] == "run.started" and lines[-1]["event"] == "run.finished"


def test_a_closed_pipe_ends_the_run_as_a_signal_does(tmp_path: Path) -> None:
    out = tmp_path / "o"
    process = subprocess.Popen(
        [*RUN, "--out", str(out), "--target-instructions", "100000", "--log-format", "json",
         "--progress-interval", "0.2", "--drain-timeout", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # `| head -1`
    process.stdout.close()
    code = process.wait(timeout=60)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert code == 0 and "Traceback" not in err, err
    finished = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()
                if '"run.finished"' in line]
    assert finished[-1]["reason"] == "signal"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_live_line_fits_an_80_column_tmux_pane(tmp_path: Path) -> None:
    session = f"asyncgen-{uuid.uuid4().hex[:8]}"  # also its own server: no one else's env
    command = " ".join([*RUN, "--out", str(tmp_path / "o"), "--target-instructions", "100000",
                        "--drain-timeout", "1", "--progress-interval", "60"])
    subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", "80",
                    "-y", "30", f"env -u OPENAI_API_KEY -u OPENROUTER_API_KEY {command}; "
                    "sleep 60"], check=True)
    try:
        screens: list[str] = []
        deadline = time.monotonic() + 60  # a loaded machine starts slowly
        while sum(" tasks  ETA " in screen for screen in screens) < 3:
            assert time.monotonic() < deadline, screens[-1:]
            time.sleep(0.5)
            screens.append(_capture(session))
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "C-c"], check=True)
        deadline = time.monotonic() + 30
        while "finished: " not in _capture(session) and time.monotonic() < deadline:
            time.sleep(0.3)
        final = _capture(session)
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], check=False)
    assert any(" tasks  ETA " in screen for screen in screens), screens[-1]
    for screen in [*screens, final]:
        for line in screen.splitlines():
            if " tasks  ETA " in line:
                assert len(line) <= 80, line
    assert "finished: stopped by a signal" in final  # the human console's closing summary
    assert sum(" tasks  ETA " in line for line in final.splitlines()) <= 2, final


def _capture(session: str) -> str:
    return subprocess.run(["tmux", "-L", session, "capture-pane", "-p", "-t", session],
                          capture_output=True, text=True, check=True).stdout
