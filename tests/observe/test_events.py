"""The event contract, the budget cap across runs, secrets, and fatal provider errors."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from asyncgen.cli import main
from asyncgen.observe import events
from asyncgen.sim.books import fetch_totals
from tests.conftest import sim_process
from tests.workers.test_pipeline import KEY_VARS, QUIET, _events, _tasks

MARKER_KEY = "sk-MARKER-0123456789abcdef"

REQUIRED_FIELDS: dict[str, set[str]] = {
    "run.started": {"run_id", "config", "provider", "model"},
    "run.finished": {"run_id", "reason", "committed", "requests", "cost_usd", "elapsed_s"},
    "run.progress": {"committed", "target", "rps", "tokens_per_s", "cost_usd", "cost_per_hour",
                     "projected_cost_usd", "eta_s", "queues", "limiter", "acceptance_rate",
                     "loop_lag_ms", "loop_lag_max_ms", "fields_pending", "neighbours"},
    "request.completed": {"stage", "model", "status", "attempt", "latency_ms", "prompt_tokens",
                          "completion_tokens", "cost_usd"},
    "request.retry": {"stage", "error_kind", "status", "attempt", "wait_s"},
    "request.failed": {"stage", "error_kind", "status", "attempt", "final"},
    "task.rejected": {"reason", "instruction"},
    "task.admitted": {"instruction"},
    "task.committed": {"id", "instances", "is_classification"},
    "candidate.parsed": {"count"},
}
# --event-detail lean (the default) leaves out what report never reads
LEAN_FIELDS: dict[str, set[str]] = {
    **REQUIRED_FIELDS,
    "request.completed": REQUIRED_FIELDS["request.completed"] - {"status", "attempt"},
    "task.rejected": {"reason"},  # and `count` (unpaid) or `instruction` (paid for)
    "task.admitted": set(),
    "task.committed": {"id"},  # its instances and label are in tasks.jsonl
}


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def faulty_sim() -> Iterator[str]:
    """A simulator with some of every fault, so retries and failures show up in events."""
    with sim_process("--fail-429", "0.05", "--fail-5xx", "0.05", "--fail-malformed", "0.03",
                     "--fail-200-error", "0.03", "--fail-reset", "0.02") as url:
        yield url


@pytest.mark.parametrize("detail", ["lean", "full"])
def test_every_event_line_parses_and_carries_its_fields(
    tmp_path: Path, faulty_sim: str, detail: str
) -> None:
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--provider", "sim", "--base-url", faulty_sim,
                 "--target-instructions", "40", "--log-format", "none",
                 "--progress-interval", "0.05", "--event-detail", detail])
    assert code == 0
    required = REQUIRED_FIELDS if detail == "full" else LEAN_FIELDS
    seen: set[str] = set()
    for event in _events(out):
        name = str(event["event"])
        levelled = detail == "full" or name not in events.LEAN_DROPS
        assert {"event", "timestamp", *(("level",) if levelled else ())} <= event.keys()
        stamp = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
        missing = required.get(name, set()) - event.keys()
        assert not missing, (name, missing)
        seen.add(name)
    assert {"run.started", "run.finished", "run.progress", "request.completed",
            "request.retry", "task.committed", "task.rejected"} <= seen


def test_budget_is_never_exceeded_across_resumed_runs(tmp_path: Path) -> None:
    """Against what the simulator billed (its books), not the run's own ledger."""
    out, books = tmp_path / "out", tmp_path / "books.jsonl"
    budget = "0.05"  # room for a few tasks: a task's prompts carry ~4,000 tokens of demos
    with sim_process("--books", str(books), "--fail-429", "0.05", "--fail-5xx", "0.05",
                     "--fail-malformed", "0.03", "--fail-200-error", "0.03",
                     "--fail-reset", "0.02") as url:
        argv = ["run", "--out", str(out), "--provider", "sim", "--base-url", url,
                "--target-instructions", "100000", "--budget-usd", budget, *QUIET]
        assert main(argv) == 0
        assert _events(out)[-1]["reason"] == "budget"
        first = fetch_totals(url)["billed_usd"]
        assert main(argv) == 0  # a resume with the same cap may spend only what is left
        billed = fetch_totals(url)["billed_usd"]
    finished = _events(out)[-1]
    assert finished["reason"] == "budget"
    assert 0.025 < first <= billed <= float(budget)
    assert billed <= finished["cost_usd_all_runs"] <= float(budget)
    assert len(_tasks(out)) > 0


def test_api_key_never_reaches_an_output(tmp_path: Path, faulty_sim: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", MARKER_KEY)
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--provider", "openai", "--base-url", faulty_sim,
                 "--model", "sim-1", "--target-instructions", "20", "--log-format", "json",
                 "--progress-interval", "0.05"])
    assert code == 0
    captured = capfd.readouterr()
    assert MARKER_KEY not in captured.out + captured.err
    for path in out.iterdir():
        assert MARKER_KEY.encode() not in path.read_bytes(), path
    assert "openai" in (out / "events.jsonl").read_text()  # the run did log its provider


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A provider that rejects every key: a peer speaking HTTP, not a patched client."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = orjson.dumps({"error": {"message": "Incorrect API key provided",
                                       "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_fatal_provider_error_stops_the_run_with_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", MARKER_KEY)
    out = tmp_path / "out"
    try:
        code = main(["run", "--out", str(out), "--provider", "openai", "--base-url",
                     f"http://127.0.0.1:{server.server_address[1]}/v1",
                     "--target-instructions", "10", "--log-format", "none"])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    err = capfd.readouterr().err
    assert "401" in err or "auth" in err.lower()
    assert MARKER_KEY not in err
    finished = _events(out)[-1]
    assert finished["event"] == "run.finished" and finished["reason"] == "fatal"
    assert finished["error"]
    assert (out / "tasks.jsonl").read_bytes() == b""


def test_an_unreachable_provider_stops_the_run_instead_of_retrying_forever(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--provider", "openai-compatible", "--base-url",
                 f"http://127.0.0.1:{port}/v1", "--model", "m", "--max-attempts", "1",
                 "--max-consecutive-failures", "5", "--log-format", "none"])
    assert code == 1
    assert "5 requests in a row failed" in capfd.readouterr().err
    finished = _events(out)[-1]
    assert finished["reason"] == "fatal"
    assert sum(e["event"] == "request.failed" for e in _events(out)) >= 5


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        (b"", b""),
        (b"a\n", b"a\n"),
        (b"a\nb\n", b"a\nb\n"),
        (b"a\nb", b"a\n"),
        (b"torn", b""),
        (b"a\n" + b"x" * 5000, b"a\n"),  # the torn line is longer than one read from the end
        (b"x" * 5000 + b"\n" + b"y" * 3000, b"x" * 5000 + b"\n"),
        # a whole last line without its newline is kept, and the newline added
        (b'{"a": 1}\n{"b": 2}', b'{"a": 1}\n{"b": 2}\n'),
        (b'{"s": "' + b"y" * 3000 + b'"}', b'{"s": "' + b"y" * 3000 + b'"}\n'),
    ],
)
def test_a_torn_events_tail_is_cut_before_appending(tmp_path: Path, data: bytes,
                                                    kept: bytes) -> None:
    from asyncgen.jsonl import settle_tail

    path = tmp_path / "events.jsonl"
    path.write_bytes(data)
    settle_tail(path, chunk=1000)
    assert path.read_bytes() == kept
