"""Stopping and owning a run directory: the failure counter, held stages, the directory lock,
the one JSONL tail reader, recorded settings. Real simulator, real files, real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from asyncgen.cli import main
from asyncgen.config import DEFAULT_DEMOS
from asyncgen.llm import DEFAULT_PARAMS, LLMClient, ProviderConfig
from asyncgen.llm.errors import ProviderUnusable, SendingStopped
from asyncgen.workers.control import Asker, Control
from tests.conftest import OUR_SEEDS, sim_process

PROMPT = "Is the following a classification task? Task: Sort these words. Answer:"


def test_consecutive_failures_count_resets_on_success() -> None:
    """A run stops after K failed requests *in a row*; a success in between starts again."""
    limit = 4

    async def scenario(url: str) -> tuple[list[bool], bool]:
        config = ProviderConfig(transport="aiohttp",
                                provider="sim", base_url=url, max_concurrency=1,
                                max_attempts=1)
        outcomes: list[bool] = []
        async with LLMClient(config) as client:
            ask = Asker(client, Control(target=10), DEFAULT_PARAMS, max_failures=limit)
            try:
                for _ in range(60):  # one at a time: the seeded faults come in a fixed order
                    outcomes.append(await ask("classify", PROMPT) is not None)
            except ProviderUnusable:
                return outcomes, True
        return outcomes, False

    with sim_process("--fail-5xx", "0.25", "--seed", "1") as url:
        outcomes, stopped = anyio.run(scenario, url)
    streak = longest = 0
    for ok in outcomes:
        streak = 0 if ok else streak + 1
        longest = max(longest, streak)
    assert longest < limit  # never `limit` failures in a row ...
    assert not stopped and len(outcomes) == 60, f"stopped after {outcomes}"
    assert outcomes.count(False) >= limit  # ... but enough in all to stop a counter never reset

    with sim_process("--fail-5xx", "1.0") as url:  # every request fails: stopped at `limit`
        outcomes, stopped = anyio.run(scenario, url)
    assert stopped and outcomes == [False] * (limit - 1)


def test_a_held_stage_sends_nothing_more() -> None:
    async def scenario(url: str) -> None:
        config = ProviderConfig(transport="aiohttp",
                                provider="sim", base_url=url, max_concurrency=4)
        async with LLMClient(config) as client:
            assert (await client.complete("classify", PROMPT)).text
            client.hold("instructions")
            with pytest.raises(SendingStopped):
                await client.complete("instructions", PROMPT)
            assert (await client.complete("classify", PROMPT)).text  # other stages go on
            assert client.stats()["attempts"] == 2

    with sim_process() as url:
        anyio.run(scenario, url)


# --- one owner of OUT/, and what the directory records -----------------------------------------


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with sim_process() as url:
        yield url


def _run(out: Path, url: str, *extra: str, target: int = 3) -> int:
    return main(["run", "--out", str(out), "--provider", "sim", "--base-url", url,
                 "--target-instructions", str(target), "--log-format", "none", *extra])


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_a_busy_out_is_refused_and_kill_9_leaves_no_stale_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with sim_process("--latency-ms", "100") as url:
        first = subprocess.Popen(
            [sys.executable, "-m", "asyncgen", "run", "--out", str(out), "--provider", "sim",
             "--base-url", url, "--target-instructions", "100000", "--log-format", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            tasks = out / "tasks.jsonl"
            deadline = time.monotonic() + 30
            while not (tasks.exists() and b"\n" in tasks.read_bytes()):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            before = sorted(p.name for p in out.iterdir())
            assert _run(out, url) == 2
            _one_line_error(capsys, "in use by another asyncgen run")
            assert sorted(p.name for p in out.iterdir()) == before  # nothing written
        finally:
            first.kill()  # kill -9: the kernel drops its lock
            first.wait()
        assert _run(out, url, target=len(_lines(out / "tasks.jsonl")) + 2) == 0
    ids = [t["id"] for t in _lines(out / "tasks.jsonl")]
    assert len(ids) == len(set(ids))
    assert sum(e["event"] == "run.started" for e in _lines(out / "events.jsonl")) == 2


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path, sim_url: str) -> None:
    out = tmp_path / "out"
    assert _run(out, sim_url) == 0
    path = out / "tasks.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # as another editor might leave it
    kept = _lines(path)
    assert _run(out, sim_url, target=len(kept) + 2) == 0
    tasks = _lines(path)
    assert tasks[:len(kept)] == kept and len(tasks) >= len(kept) + 2  # paid jobs finish
    names = [e["event"] for e in _lines(out / "events.jsonl")]
    assert "store.newline_added" in names and "store.torn_tail_cut" not in names


@pytest.mark.parametrize("tool", ["no_manifest", "foreign_run"])
def test_another_tools_tasks_file_is_refused_untouched(
    tmp_path: Path, sim_url: str, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    out = tmp_path / "out"
    line = orjson.dumps({"id": "x1", "instruction": "Name a river.", "is_classification": False,
                         "instances": [{"input": "", "output": "The Nile."}],
                         "run_id": "not-ours"}) + b"\n"
    if tool == "no_manifest":
        out.mkdir()
        (out / "tasks.jsonl").write_bytes(line)
    else:  # an asyncgen directory, then another tool appends to its tasks.jsonl
        assert _run(out, sim_url) == 0
        capsys.readouterr()
        with (out / "tasks.jsonl").open("ab") as f:
            f.write(line)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _run(out, sim_url, target=10) == 2
    _one_line_error(capsys, "not written by asyncgen")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # untouched


def test_a_directory_from_before_the_manifest_is_adopted(tmp_path: Path, sim_url: str) -> None:
    out = tmp_path / "out"
    assert _run(out, sim_url) == 0
    first = orjson.loads((out / "asyncgen.json").read_bytes())["runs"]
    (out / "asyncgen.json").unlink()  # as the previous release left its directories
    target = len(_lines(out / "tasks.jsonl")) + 2
    assert _run(out, sim_url, target=target) == 0
    runs = orjson.loads((out / "asyncgen.json").read_bytes())["runs"]
    assert [r["run_id"] for r in runs][0] == first[0]["run_id"] and len(runs) == 2
    assert len(_lines(out / "tasks.jsonl")) >= target  # jobs paid for finish past it


def test_other_data_settings_are_refused_unless_allowed(
    tmp_path: Path, sim_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _run(out, sim_url, "--model", "sim-1") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert _run(out, sim_url, "--model", "other-model", "--similarity-threshold", "0.6",
                target=6) == 2
    _one_line_error(capsys, "model 'sim-1' (now 'other-model')", "similarity_threshold 0.7",
                    "--allow-changes")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    first = len(_lines(out / "tasks.jsonl"))  # 3, or a few more: jobs paid for finish
    assert _run(out, sim_url, "--model", "other-model", "--allow-changes",
                target=first + 3) == 0
    models = [t["model"] for t in _lines(out / "tasks.jsonl")]
    assert models[:first] == ["sim-1"] * first
    assert len(models) >= first + 3 and set(models[first:]) == {"other-model"}
    runs = orjson.loads((out / "asyncgen.json").read_bytes())["runs"]
    assert [r["settings"]["model"] for r in runs] == ["sim-1", "other-model"]
    started = [e for e in _lines(out / "events.jsonl") if e["event"] == "run.started"]
    assert started[-1]["settings_changed"] == ["model 'sim-1' (now 'other-model')"]
    # the seed file's contents count too, wherever the file is
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(OUR_SEEDS.read_bytes().replace(b"\n", b"\n\n", 1))
    assert _run(out, sim_url, "--model", "other-model", "--seeds", str(seeds),
                target=len(models) + 1) == 2
    _one_line_error(capsys, "seeds_sha256")
    demos = tmp_path / "demos.jsonl"
    demos.write_bytes(DEFAULT_DEMOS.read_bytes() + b"\n")
    assert _run(out, sim_url, "--model", "other-model", "--demos", str(demos), target=7) == 2
    _one_line_error(capsys, "demos_sha256")
