"""`asyncgen report DIR --html FILE`: one self-contained page, checked in a real browser.

The browser tests run headless Chromium (skipped where none is installed) with a NetLog: a
request the page makes is a URL request whose network isolation key is the file:// page
(Chromium's own background requests have none), and each console message is a CONSOLE line of
its log. A deliberately bad page shows that both checks catch what they look for.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asyncgen.cli import main
from asyncgen.commands import charts, report, report_html
from asyncgen.novelty.pool import Instance, Task
from asyncgen.rundir.tasks import load_tasks

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")
ADDRESS = re.compile(rb"(?i)(https?|ftp|wss?):/|//[a-z0-9.-]+\.[a-z]{2,}/")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200-task run on the embedded simulator."""
    out = tmp_path_factory.mktemp("html") / "run"
    assert main(["run", "--out", str(out), "--provider", "sim", "--target-instructions", "200",
                 "--log-format", "none", "--progress-interval", "0.05"]) == 0
    return out


def _page(out: Path, tmp_path: Path) -> Path:
    page = tmp_path / "report.html"
    args = Namespace(dir=out, json=False, plots=None, html=page)
    assert report.main(args) == 0
    return page


def test_the_page_holds_the_report_and_points_nowhere(run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(run_dir, tmp_path)
    assert str(page) in capsys.readouterr().out  # the text report says where it went
    raw = page.read_bytes()
    assert ADDRESS.search(raw) is None  # nothing in it points to a network address
    text = raw.decode()
    for absent in ("<script", "<link", "<img", "<iframe", " src=", " href=", "url(", "@import"):
        assert absent not in text, absent
    assert 'id="table1"' in text and "# of instructions" in text
    assert text.count("<svg") >= 6  # funnel, reasons, cost, two over time, latency, figures
    tasks, _ = load_tasks(run_dir)
    assert f"<td>{len(tasks)}</td>" in text  # Table 1's count of instructions
    assert "Figure 4" in text and "Figure 5" in text and 'name="viewport"' in text


def test_task_text_is_escaped_and_links_nothing() -> None:
    evil = Task(id="t<1>", instruction='Say <script>alert("x")</script> & see https://evil.test/a',
                is_classification=False,
                instances=(Instance("<img src=//evil.test/p.png>", "</section><b>x</b>"),),
                model="m", created_at="2026-12-08T00:00:00Z")
    data = report.build_report([evil], [])
    text = report_html.render_html({**data, "dir": "<out>"}, [evil])
    assert "<script" not in text and "<img" not in text and "</section><b>" not in text
    assert "&lt;script&gt;" in text and "https:&#47;&#47;evil.test" in text
    assert ADDRESS.search(text.encode()) is None
    assert "&lt;out&gt;" in text


def test_several_models_get_a_row_each(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = [{"event": "run.started", "run_id": "a", "timestamp": "2026-12-08T00:00:00Z",
              "prior_cost_usd": 0.0},
             {"event": "request.completed", "model": "m1", "prompt_tokens": 10,
              "completion_tokens": 2, "cost_usd": 0.5},
             {"event": "run.finished", "timestamp": "2026-12-08T00:00:10Z",
              "cost_usd_all_runs": 0.5},
             {"event": "run.started", "run_id": "b", "timestamp": "2026-12-08T01:00:00Z",
              "prior_cost_usd": 0.5},
             {"event": "request.completed", "model": "m2", "prompt_tokens": 5,
              "completion_tokens": 1, "cost_usd": 0.25}]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"event": "run.pr')
    scan = report_html.EventScan().read(events, endpoints={"a": "chat", "b": "completions"})
    assert {name: dict(c) for name, c in scan.models.items()} == {
        "chat / m1": {"requests": 1, "prompt_tokens": 10, "completion_tokens": 2,
                      "cost_nano_usd": 500_000_000},
        "completions / m2": {"requests": 1, "prompt_tokens": 5, "completion_tokens": 1,
                             "cost_nano_usd": 250_000_000}}
    assert [usd for _, usd in scan.spend] == [0.0, 0.5, 0.5]  # the torn last line is skipped
    assert not report_html.EventScan().read(events).models  # one model: not scanned for
    page = report_html.render_html({**report.build_report([], []), "dir": "d"}, [],
                                   models=scan.models)
    assert "endpoint / model" in page and "completions / m2" in page and "$0.2500" in page


def _chromium(page: Path, tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """Render `page` headless: its DOM, its console messages and the URLs it requested."""
    assert CHROMIUM is not None
    netlog = tmp_path / "netlog.json"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # whatever asks, nothing leaves the machine
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--log-net-log={netlog}", "--window-size=390,2000", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=50,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    log: dict[str, Any] = json.loads(netlog.read_text())
    requested = [event["params"]["url"] for event in log["events"]
                 if "file://" in str(event.get("params", {}).get("network_isolation_key", ""))
                 and "url" in event.get("params", {})
                 and not event["params"]["url"].startswith("file:")]
    return done.stdout, console, requested


@needs_chromium
def test_chromium_catches_a_bad_page(tmp_path: Path) -> None:
    """The checks below can fail: a console error and a fetched image are both seen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><img src="http://example.invalid/a.png">'
                   '<script>console.error("BOOM")</script>')
    _, console, requested = _chromium(bad, tmp_path)
    assert any("BOOM" in line for line in console), console
    assert requested == ["http://example.invalid/a.png"]


@needs_chromium
def test_chromium_renders_the_page_with_no_error_and_no_request(run_dir: Path,
                                                                 tmp_path: Path) -> None:
    dom, console, requested = _chromium(_page(run_dir, tmp_path), tmp_path)
    assert console == [] and requested == []
    assert 'id="table1"' in dom and dom.count("<svg") >= 2
    assert "Figure 4" in dom and "A sample of tasks" in dom


def test_histogram_bins_like_the_plots_and_a_long_line_is_thinned() -> None:
    svg = charts.histogram([0.0, 0.05, 0.05, 0.5, 0.99, 1.0], [i / 20 for i in range(21)],
                           label="f", x_label="x", y_label="y")
    counts = [int(n) for n in re.findall(r"<title>[^:]+: (\d+)</title>", svg)]
    assert len(counts) == 20 and sum(counts) == 6
    assert counts[0] == 1 and counts[1] == 2 and counts[10] == 1 and counts[19] == 2
    start = datetime(2026, 12, 8, tzinfo=UTC)
    points = [(start + timedelta(seconds=n), float(n)) for n in range(100_001)]
    line = charts.line_chart(points, label="l", y_label="y")
    shown = re.search(r'points="([^"]+)"', line)
    assert shown is not None
    assert len(shown.group(1).split()) <= charts.MAX_POINTS + 2
    assert shown.group(1).split()[-1] == "470.0,10.0"  # the last point is kept: the top right
