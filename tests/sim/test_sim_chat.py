"""`asyncgen sim --chat-format`: generation answers written as chat models write lists."""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
from collections import Counter

import aiohttp
import orjson
import pytest

from asyncgen.llm.params import CHAT_INSTRUCTION_STOP
from asyncgen.selfinstruct import prompts
from asyncgen.selfinstruct.parsing import parse_instruction_answer
from asyncgen.sim import SimConfig, serve
from asyncgen.sim.chat import CHAT_FORMATS, STYLES
from asyncgen.sim.command import add_arguments, config_from_args
from asyncgen.sim.generator import Generator, finish
from tests.conftest import OUR_SEEDS

SEEDS = [orjson.loads(line)["instruction"] for line in OUR_SEEDS.read_bytes().splitlines()]
PROMPTS = [prompts.instruction_prompt(random.Random(n).sample(SEEDS, 8)) for n in range(150)]
MARKUP = re.compile(r"\*\*|^[-*\u2022#]|(?i:task|instruction) \d+|(?<=\. )\d+\. |"
                    r"(?i:here are|let me know|i hope)")


def _answers(chat_format: str) -> list[tuple[str, str]]:
    generator = Generator(3, chat_format=chat_format)
    answers = []
    for prompt in PROMPTS:
        done = finish(generator.generate(prompt), stop=CHAT_INSTRUCTION_STOP, max_tokens=1024)
        answers.append((done.text, done.finish_reason))
    return answers


@pytest.mark.parametrize("chat_format", [*STYLES, "random"])
def test_each_chat_style_holds_the_plain_lists_instructions(chat_format: str) -> None:
    """The same items as the plain list (the same random draws), written another way: the
    parser gets back (nearly) every instruction the plain list gives, and no markup."""
    plain = [parse_instruction_answer(text, finish_reason=reason).kept
             for text, reason in _answers("plain")]
    styled = [parse_instruction_answer(text, finish_reason=reason)
              for text, reason in _answers(chat_format)]
    same = sum(a.kept == b for a, b in zip(styled, plain, strict=True))
    assert same >= 0.95 * len(PROMPTS)
    kept = sum(len(a.kept) for a in styled)
    assert kept >= 0.97 * sum(map(len, plain))
    assert not [k for a in styled for k in a.kept if MARKUP.search(k)]
    if chat_format != "random":
        assert all(text != plain_text for (text, _), (plain_text, _) in
                   zip(_answers(chat_format), _answers("plain"), strict=True))


def test_random_draws_every_style_and_is_a_function_of_the_prompt() -> None:
    formats = Counter(parse_instruction_answer(text, finish_reason=reason).format.split("+")[0]
                      for text, reason in _answers("random"))
    assert set(formats) >= {"numbered", "task", "bullets", "headings"}
    assert _answers("random") == _answers("random")


def test_a_cut_answer_has_no_closing_remark() -> None:
    for text, reason in _answers("random"):
        if reason == "length":
            assert not re.search(r"(?i:let me know|i hope|happy writing|feel free)", text)


def test_bad_chat_format_is_refused() -> None:
    with pytest.raises(ValueError, match="chat_format must be one of plain, "):
        SimConfig(chat_format="emoji")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--chat-format", "random"])).chat_format == "random"
    assert CHAT_FORMATS[0] == "plain" and parser.parse_args([]).chat_format == "plain"
    proc = subprocess.run([sys.executable, "-m", "asyncgen.sim", "--chat-format", "emoji"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--chat-format: invalid choice: 'emoji'" in proc.stderr


@pytest.mark.anyio
async def test_the_server_answers_generation_prompts_in_the_chat_format() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPTS[0]}],
            "max_tokens": 1024, "stop": list(CHAT_INSTRUCTION_STOP)}
    async with serve(SimConfig(seed=3, chat_format="task")) as url, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10)) as client:
        async with client.post(url + "/chat/completions", json=body) as response:
            data = await response.json()
    text = data["choices"][0]["message"]["content"]
    assert re.match(r"(\*\*)?(Task|Instruction) 9:", text), text
    answer = parse_instruction_answer(text, finish_reason=data["choices"][0]["finish_reason"])
    assert answer.format == "task" and answer.kept


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
