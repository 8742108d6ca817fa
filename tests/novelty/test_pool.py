"""Seed loading, the task store (resume, torn tail) and the pool's admission rule."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import anyio
import anyio.lowlevel
import orjson
import pytest
from rouge_score import rouge_scorer

from asyncgen.errors import UsageError
from asyncgen.novelty import pool as pool_module
from asyncgen.novelty.pool import Admitted, Instance, Pool, Refused, Task, TaskStore, load_seeds
from asyncgen.observe import events
from tests.conftest import OUR_SEEDS


def _task(n: int, instruction: str) -> Task:
    return Task(
        id=f"task-{n:06d}",
        instruction=instruction,
        is_classification=False,
        instances=(Instance("", "out"),),
        most_similar={},
        created_at="t",
        model="m",
        run_id="r",
    )


def test_loads_the_papers_seed_file(paper_seeds: Path) -> None:
    seeds = load_seeds(paper_seeds)
    assert len(seeds) == 175
    assert sum(s.is_classification for s in seeds) == 26
    assert all(s.instruction and s.instances for s in seeds)


def test_loads_our_seed_file() -> None:
    seeds = load_seeds(OUR_SEEDS)
    assert len(seeds) >= 175
    assert sum(s.is_classification for s in seeds) >= 25


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (
            b'{"id": "x", "instances": [], "is_classification": false}',
            "missing field 'instruction'",
        ),
        (
            b'{"id": "x", "instruction": "Do it now", "instances": [], "is_classification": "no"}',
            "field 'is_classification' must be bool",
        ),
        (
            b'{"id": "x", "instruction": "Do it", "instances": [{"input": ""}], '
            b'"is_classification": false}',
            "instances[0]: missing field 'output'",
        ),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_seed_line_names_line_and_field(
    tmp_path: Path, line: bytes, message: str
) -> None:
    good = orjson.dumps(
        {
            "id": "a",
            "instruction": "Say hello to the user.",
            "instances": [{"input": "", "output": "Hello"}],
            "is_classification": False,
        }
    )
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(good + b"\n" + line + b"\n")
    with pytest.raises(UsageError) as err:
        load_seeds(path)
    assert f"{path}:2" in str(err.value)
    assert message.removeprefix("line 2: ") in str(err.value)


def test_store_appends_whole_lines_and_reads_them_back(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.jsonl")
    store.open()
    store.append(_task(1, "Name three rivers in Europe."))
    store.append(_task(2, "Explain what a mortgage is."))
    store.close()
    tasks, torn = TaskStore(tmp_path / "tasks.jsonl").read()
    assert [t.id for t in tasks] == ["task-000001", "task-000002"]
    assert torn is None


def test_torn_last_line_is_found_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    whole = orjson.dumps(_task(1, "Name three rivers in Europe.").to_json()) + b"\n"
    path.write_bytes(whole + b'{"id": "task-000002", "instr')
    store = TaskStore(path)
    tasks, torn = store.read()
    assert len(tasks) == 1 and torn == 2
    assert path.read_bytes().endswith(b"instr")  # reading never writes
    events.configure(events_path=None, console_format="none")  # open() logs the cut
    store.open()
    store.close()
    assert path.read_bytes() == whole


def test_corrupt_line_in_the_middle_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    whole = orjson.dumps(_task(1, "Name three rivers in Europe.").to_json()) + b"\n"
    path.write_bytes(whole + b"garbage\n" + whole)
    with pytest.raises(UsageError, match="tasks.jsonl, line 2: corrupt line"):
        TaskStore(path).read()


def test_pool_admits_novel_and_refuses_similar_as_rouge_score_does() -> None:
    seeds = load_seeds(OUR_SEEDS)
    pool = Pool(seeds, threshold=0.7)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    base = seeds[0].instruction
    words = base.split()
    variants = [
        base,
        " ".join(words[:-1]),
        " ".join(reversed(words)),
        "Describe how tides work to a curious ten year old.",
        base.upper(),
    ]
    for text in variants:
        best = max(scorer.score(text, s.instruction)["rougeL"].fmeasure for s in seeds)
        verdict = pool.admit(text)
        if best > 0.7:
            assert isinstance(verdict, Refused), text
            assert verdict.score == best
        else:
            assert isinstance(verdict, Admitted), text
            pool = Pool(seeds)  # judged against the seeds only


def test_kept_instruction_blocks_its_copies_but_is_never_sampled() -> None:
    """A failed (or still open) instruction of an earlier run stays in the index only."""
    seeds = load_seeds(OUR_SEEDS)[:5]
    text = "Describe how tides work to a curious ten year old child."
    pool = Pool(seeds)
    pool.restore([], kept=[text])
    anyio.run(pool.ready)
    refused = pool.admit(text)
    assert isinstance(refused, Refused) and refused.reason == "duplicate"
    assert pool.machine == []
    shown = pool.sample_prompt(random.Random(0), human=3, machine=2)
    assert text not in shown


def test_prompt_sampling_is_all_human_until_machine_tasks_exist() -> None:
    pool = Pool(load_seeds(OUR_SEEDS))
    rng = random.Random(0)
    human = {s.instruction for s in pool.seeds}
    assert set(pool.sample_prompt(rng, human=6, machine=2)) <= human
    assert len(pool.sample_prompt(rng, human=6, machine=2)) == 8
    pool.restore(["Plan a weekend trip to the coast on a tight budget."])
    shown = pool.sample_prompt(rng, human=6, machine=2)
    assert len(shown) == 8 and len(set(shown) - human) == 1


def test_the_pool_freezes_the_collector_every_so_many_instructions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A full GC traverses every tracked object: the pool's are moved out of its reach."""
    frozen: list[int] = []
    monkeypatch.setattr(pool_module, "FREEZE_EVERY", 3)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(pool)))
    pool = Pool(load_seeds(OUR_SEEDS))
    for n in range(7):
        assert isinstance(pool.admit(f"name {n} rivers of zq{n} lands {n * 7}"), Admitted)
    assert frozen == [len(pool.seeds) + 3, len(pool.seeds) + 6]


def test_a_restored_pool_is_sampled_at_once_and_judged_only_once_built() -> None:
    """The sampler may use restored instructions before the index holds them; the filter's
    first decision waits for `ready`, which builds the index off the event loop."""
    seeds = load_seeds(OUR_SEEDS)[:5]
    texts = [f"Write a short poem about the number {n} and its friends." for n in range(200)]
    pool = Pool(seeds)
    pool.restore(texts[:150], kept=texts[150:])
    assert len(pool.machine) == 150 and len(pool) == 5
    with pytest.raises(RuntimeError, match="ready"):
        pool.admit("Anything at all, judged too early.")
    ticks = 0

    async def build_while_ticking() -> None:
        nonlocal ticks
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.ready)
            while len(pool) < 205:
                ticks += 1
                await anyio.lowlevel.checkpoint()
            await pool.ready()  # a second caller waits for the same build

    anyio.run(build_while_ticking)
    assert len(pool) == 205 and ticks > 0
    assert isinstance(pool.admit(texts[170]), Refused)  # kept: compared against
    assert texts[170] not in pool.machine
