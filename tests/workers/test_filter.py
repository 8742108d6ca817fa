"""The filter shares the event loop: it yields between verdicts once it has held it a slice."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from asyncgen.novelty.pool import Pool, TaskStore, load_seeds
from asyncgen.rundir.fields import FieldsPass
from asyncgen.rundir.journal import Journal
from asyncgen.workers import filter as filter_module
from asyncgen.workers.control import Control
from asyncgen.workers.filter import Filter
from asyncgen.workers.instructions import Outlook
from tests.conftest import OUR_SEEDS


async def _yields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(filter_module, "_clock", lambda: now[0])
    pool = Pool(load_seeds(OUR_SEEDS))
    judge = Filter(pool=pool, store=TaskStore(tmp_path / "tasks.jsonl"),
                   journal=Journal(tmp_path / "journal.jsonl"), control=Control(target=1),
                   outlook=Outlook(), slots=anyio.Semaphore(1), model="m", run_id="r",
                   next_id=1, fields=FieldsPass(tmp_path / "fields.jsonl", pool))
    yielded: list[float] = []
    checkpoint = anyio.lowlevel.checkpoint

    async def counted() -> None:
        yielded.append(now[0])
        await checkpoint()

    monkeypatch.setattr(anyio.lowlevel, "checkpoint", counted)
    for at in (0.005, 0.012, 0.02, 0.03, 0.05):
        now[0] = at
        await judge._share_the_loop()
    return yielded


def test_the_filter_yields_only_once_it_held_the_loop_for_a_slice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert filter_module.SLICE_S == 0.01
    assert anyio.run(_yields, tmp_path, monkeypatch) == [0.012, 0.03, 0.05]
