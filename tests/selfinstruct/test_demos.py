"""The few-shot demonstrations (data/demonstrations.jsonl): schema, shape, order, and what a
provider receives."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from asyncgen.cli import main
from asyncgen.errors import UsageError
from asyncgen.selfinstruct.demos import DEFAULT_DEMOS, FIELD_NAME, Demonstrations, load_demos
from asyncgen.selfinstruct.parsing import Instance, parse_instances
from asyncgen.selfinstruct.prompts import (
    CLASSIFY_HEADER,
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_HEADER,
    Demo,
    classify_prefix,
    classify_prompt,
    input_first_prefix,
    input_first_prompt,
    output_first_prefix,
    output_first_prompt,
)
from tests.conftest import sim_process

PAPER_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"
# the fields a demonstration's input names, "Input" aside; "Word 1" counts as "Word"
_FIELDS = re.compile(r"^([A-Z][A-Za-z' ()/-]*?)(?: \d+)?(?: \([^)]*\))?:", re.M)


@pytest.fixture(scope="module")
def demos() -> Demonstrations:
    return load_demos(DEFAULT_DEMOS)


def longest_run(answers: list[bool]) -> int:
    return max(len(list(group)) for _, group in itertools.groupby(answers))


def named_fields(text: str) -> set[str]:
    return {name for name in _FIELDS.findall(text)} - {"Input", "Output", "Class label", "Task",
                                                       "Example"}


def check_instance_prompt(prompt: str, header: str) -> None:
    """The done-when counts of one instance prompt, read off the prompt text itself."""
    assert prompt.startswith(header)
    blocks = prompt.split("\n\nTask: ")[1:-1]  # the demonstrations, not the query
    assert len(blocks) >= 8
    assert len(named_fields(prompt)) >= 3, named_fields(prompt)
    several = [b for b in blocks if b.count("\nExample ") >= 2 or b.count("\nClass label: ") >= 2]
    assert len(several) >= 4


def check_classify_prompt(prompt: str) -> None:
    assert prompt.startswith(CLASSIFY_HEADER)
    answers = [a == "Yes" for a in re.findall(r"^Is it classification\? (Yes|No)$", prompt, re.M)]
    assert len(answers) >= 25
    assert longest_run(answers) <= 4
    assert len(set(answers[-4:])) == 2


def test_the_default_set_has_the_released_shape(demos: Demonstrations) -> None:
    assert len(demos.input_first) >= 11 and len(demos.output_first) >= 16
    assert len(demos.classify) >= 31
    check_classify_prompt(classify_prompt(demos.classify, "Name a colour."))
    check_instance_prompt(input_first_prompt(demos.input_first, "X"), INPUT_FIRST_HEADER)
    check_instance_prompt(output_first_prompt(demos.output_first, "X"), OUTPUT_FIRST_HEADER)
    inputs = [i for d in demos.input_first for i, _ in d.instances]
    outputs = [o for d in demos.input_first for _, o in d.instances]
    assert sum(not i for i in inputs) >= 2  # tasks that need no input
    assert sum("\n" in o for o in outputs) >= 4  # multi-line outputs
    assert any("def " in o for o in outputs) and any(len(o) > 300 for o in outputs)
    borderline = [d.instruction for d in demos.classify
                  if d.is_classification and re.match(r"(Given .*, )?(select|find|pick|from)",
                                                      d.instruction, re.I)]
    assert len(borderline) >= 3, borderline


def test_no_demonstration_is_a_paper_seed(demos: Demonstrations) -> None:
    if not PAPER_SEEDS.exists():
        pytest.skip("the paper's seeds are not here")
    theirs = {json.loads(line)["instruction"].strip().lower()
              for line in PAPER_SEEDS.read_text().splitlines()}
    ours = [d.instruction.lower() for d in (*demos.classify, *demos.input_first,
                                            *demos.output_first)]
    assert not theirs & set(ours)


def test_each_demonstration_parses_back_to_its_examples(demos: Demonstrations) -> None:
    """What the demonstrations teach is what the parser reads: the input as written, named
    fields included; the output (or class label) after it."""
    for demo in (*demos.input_first, *demos.output_first):
        prefix = (output_first_prefix if demo.is_classification else input_first_prefix)((demo,))
        body = prefix.split("\n\nTask: ", 1)[1].split("\n", 1)[1]
        expected = [Instance(i, o) for i, o in demo.instances]
        assert parse_instances(body, classification=demo.is_classification,
                               finish_reason="stop", max_instances=10) == (expected, None)


def test_the_fixed_prefix_comes_first_and_is_long_enough_to_cache(
    demos: Demonstrations,
) -> None:
    """Everything but the candidate is the same bytes on every request."""
    kinds = [(classify_prompt, classify_prefix, demos.classify),
             (input_first_prompt, input_first_prefix, demos.input_first),
             (output_first_prompt, output_first_prefix, demos.output_first)]
    for build, prefix, shown in kinds:
        fixed = prefix(shown)
        a, b = build(shown, "Sort the list."), build(shown, "Is the review positive?")
        assert a.startswith(fixed) and b.startswith(fixed)
        assert a[len(fixed):].startswith("Task: Sort the list.\n")
        assert len(fixed) / 4 > 1_100, (build.__name__, len(fixed))  # chars/4 tokens


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"prompt": "other", "instruction": "x"}', "field 'prompt' must be one of"),
        ('{"prompt": "classify", "instruction": "x", "is_classification": "yes"}',
         "'is_classification' must be true or false"),
        ('{"prompt": "classify", "instruction": " ", "is_classification": true}',
         "field 'instruction' must be a non-empty string"),
        ('{"prompt": "input_first", "instruction": "x", "examples": []}',
         "'examples' must be a non-empty list"),
        ('{"prompt": "input_first", "instruction": "x", "examples": [{"input": "plain", '
         '"output": "y"}]}', "must start with its field name"),
        ('{"prompt": "input_first", "instruction": "x", "examples": [{"input": "", "output": '
         '"y"}, {"input": "", "output": "z"}]}', "without input must be the task's only one"),
        ('{"prompt": "output_first", "instruction": "x", "examples": [{"label": "a\\nb", '
         '"input": ""}]}', "'label' must be one line"),
        ('{"prompt": "output_first", "instruction": "x", "examples": [{"output": "a", '
         '"input": ""}]}', "unknown field 'output'"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    good = DEFAULT_DEMOS.read_text().splitlines()[0]
    path = tmp_path / "demos.jsonl"
    path.write_text(f"{good}\n{line}\n")
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        load_demos(path)
    assert f"{path}:2" in str(caught.value)


def test_every_prompt_needs_demonstrations(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    path.write_text(DEFAULT_DEMOS.read_text().splitlines()[0] + "\n")
    with pytest.raises(UsageError, match="no input_first or output_first demonstrations"):
        load_demos(path)


def test_field_names_are_what_a_model_writes() -> None:
    for text in ("Sentence: a", "Word 1: a", "Recipe (serves 4): x", "Code:\nx = 1"):
        assert FIELD_NAME.match(text)
    assert not FIELD_NAME.match("just text: no")


def test_a_demos_flag_error_is_one_line_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["run", "--out", str(out), "--demos", str(tmp_path / "missing.jsonl"),
                 "--log-format", "none"])
    assert code == 2 and not out.exists()
    assert "--demos: cannot read" in capsys.readouterr().err


# --- captured at a provider -----------------------------------------------------------------


@pytest.fixture
def capturing_proxy() -> Iterator[tuple[str, list[str]]]:
    """A simulator behind a recording HTTP proxy: (base URL, prompts as received)."""
    prompts: list[str] = []
    with sim_process("--seed", "3") as upstream:
        ready = threading.Event()
        box: dict[str, object] = {}

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            sent = json.loads(body)
            prompts.append(sent["messages"][-1]["content"] if "messages" in sent
                           else sent["prompt"])
            session = box["session"]
            assert isinstance(session, aiohttp.ClientSession)
            tail = request.path.removeprefix("/v1")
            async with session.post(upstream + tail, data=body,
                                    headers={"Content-Type": "application/json"}) as answer:
                return web.Response(status=answer.status, body=await answer.read(),
                                    content_type="application/json")

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/{tail:.*}", forward)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
            async with aiohttp.ClientSession() as session:
                box["session"] = session
                ready.set()
                stop = asyncio.Event()
                box["stop"], box["loop"] = stop, asyncio.get_running_loop()
                await stop.wait()
            await runner.cleanup()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        assert ready.wait(10)
        try:
            yield str(box["url"]), prompts
        finally:
            loop, stop = box["loop"], box["stop"]
            assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)


def test_prompts_captured_at_the_provider_carry_the_demonstrations(
    tmp_path: Path, capturing_proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prompts = capturing_proxy
    for var in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["run", "--out", str(tmp_path / "out"), "--provider", "openai-compatible",
                 "--base-url", url, "--model", "sim-1", "--target-instructions", "10",
                 "--log-format", "none"]) == 0
    by_kind = {header: [p for p in prompts if p.startswith(header)]
               for header in (CLASSIFY_HEADER, INPUT_FIRST_HEADER, OUTPUT_FIRST_HEADER)}
    assert all(by_kind.values()), {h[:20]: len(p) for h, p in by_kind.items()}
    for header, seen in by_kind.items():
        fixed = {p[: p.rindex("Task: ")] for p in seen}
        assert len(fixed) == 1  # byte-identical prefix on every request of the stage
        if header == CLASSIFY_HEADER:
            check_classify_prompt(seen[0])
        else:
            check_instance_prompt(seen[0], header)


def test_demo_counts_fail_on_a_trivial_prompt() -> None:
    """The checks above can fail: four short field-less demonstrations do not pass."""
    shallow = [Demo("Sort the numbers.", False, (("Input: 3, 1", "1, 3"),))] * 4
    with pytest.raises(AssertionError):
        check_instance_prompt(input_first_prompt(shallow, "X"), INPUT_FIRST_HEADER)
    seven_no = [Demo(f"Task {n}.", n < 3, ()) for n in range(30)]
    with pytest.raises(AssertionError):
        check_classify_prompt(classify_prompt(seven_no, "X"))
