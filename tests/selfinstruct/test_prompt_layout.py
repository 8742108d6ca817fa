"""Prompt layout for prefix caches: each few-shot prompt is a fixed prefix, then the candidate."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from asyncgen.selfinstruct.prompts import (
    Demo,
    classify_prompt,
    input_first_prompt,
    instruction_prompt,
    output_first_prompt,
    split_fixed,
)

DEMOS = [
    Demo("Is this review positive or negative?", True, (("Review: Great.", "Positive"),)),
    Demo("Write a haiku about rain.", False, (("", "Soft rain on the roof\nTask: hums"),)),
    Demo("Sort the numbers.", False, (("List: 3, 1, 2", "1, 2, 3"), ("List: 9, 8", "8, 9"))),
]
Builder = Callable[[Sequence[Demo], str], str]


@pytest.mark.parametrize("build", [classify_prompt, input_first_prompt, output_first_prompt])
def test_fixed_prefix_is_byte_identical_and_the_candidate_comes_last(build: Builder) -> None:
    one = build(DEMOS, "Translate the sentence into French.")
    other = build(DEMOS, "Name three rivers in Africa.\n\nTask: not a new part")
    fixed_one, variable_one = split_fixed(one)
    fixed_other, variable_other = split_fixed(other)
    assert fixed_one == fixed_other and fixed_one + variable_one == one
    assert fixed_one.endswith("\n\n") and variable_one.startswith("Task: Translate")
    assert "Translate" not in fixed_one and "rivers" in variable_other


def test_the_instruction_prompt_has_no_fixed_few_shot_part() -> None:
    prompt = instruction_prompt(["Write a poem.", "Sort a list."])
    assert split_fixed(prompt) == ("", prompt)
