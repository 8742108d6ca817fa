"""Lists as chat models write them (issue 21): every item one clean instruction, the format
named. The answers below were written for this project, in the styles today's chat models use
when asked to continue a numbered list."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncgen.selfinstruct.chatlist import LIST_FORMATS, split_list
from asyncgen.selfinstruct.parsing import Rejected, parse_instruction_answer, parse_instructions

A = "Plan a three-day walking tour of Lisbon for two retired teachers."
B = "Given a list of temperatures, report the warmest and the coldest day."
C = "Explain the difference between weather and climate to a ten-year-old."
D = "Suggest five names for a bakery that sells only sourdough bread."

# (id, answer, finish_reason, kept, format, chat)
CHAT_CASES: list[tuple[str, str, str, list[str], str, bool]] = [
    ("paren_numbers", f"9) {A}\n10) {B}\n11) {C}", "stop", [A, B, C], "numbered", False),
    ("colon_numbers", f"9: {A}\n10: {B}\n11: {C}", "stop", [A, B, C], "numbered", False),
    ("bold_numbers", f"**9.** {A}\n**10.** {B}", "stop", [A, B], "numbered", False),
    (
        "bold_titles_colon_after",
        f"9. **Lisbon Walking Tour**: {A}\n10. **Temperature Extremes**: {B}\n"
        f"11. **Weather Versus Climate**: {C}",
        "stop", [A, B, C], "numbered+titles", False,
    ),
    (
        "bold_titles_colon_inside",
        f"9. **Lisbon Walking Tour:** {A}\n10. **Sourdough Names:** {D}",
        "stop", [A, D], "numbered+titles", False,
    ),
    (
        "bold_title_and_dash",
        f"9. **Lisbon Walking Tour** - {A}\n10. __Sourdough Names__ \u2013 {D}",
        "stop", [A, D], "numbered+titles", False,
    ),
    (
        "title_carries_the_instruction",
        '9. **Translate into German**: "The library closes at noon on Saturdays."\n'
        "10. **Summarise in one line**: the story of a book you read recently.",
        "stop",
        ['Translate into German: "The library closes at noon on Saturdays."',
         "Summarise in one line: the story of a book you read recently."],
        "numbered+titles", False,
    ),
    (
        "bold_title_line_then_text",
        f"9. **Lisbon Walking Tour**\n   {A}\n10. **Temperature Extremes**\n   {B}",
        "stop", [A, B], "numbered+titles", False,
    ),
    ("whole_item_in_bold", f"9. **{A}**\n10. **{B}**", "stop", [A, B], "numbered", False),
    (
        "bold_inside_an_item_but_not_code",
        "9. Explain what **kwargs does in a Python function call.\n"
        "10. Compute 2**10 and say why it is a **power of two**.",
        "stop",
        ["Explain what **kwargs does in a Python function call.",
         "Compute 2**10 and say why it is a power of two."],
        "numbered", False,
    ),
    ("task_lines", f"Task 9: {A}\nTask 10: {B}\nTask 11: {C}", "stop", [A, B, C], "task", False),
    (
        "instruction_lines",
        f"Instruction 9: {A}\nInstruction 10: {B}", "stop", [A, B], "task", False,
    ),
    (
        "bold_task_labels",
        f"**Task 9:** {A}\n**Task 10**: {B}\n**Task 11** - {C}", "stop", [A, B, C], "task", False,
    ),
    (
        "label_and_instruction_all_bold",
        f"**Task 9: {A}**\n**Task 10: {B}**", "stop", [A, B], "task", False,
    ),
    (
        "bold_field_name_as_title",
        f"9. **Instruction:** {A}\n10. **Instruction:** {C}", "stop", [A, C],
        "numbered+titles", False,
    ),
    (
        "task_labels_glued_on_one_line",
        f"Task 9: {A} Task 10: {B} Task 11: {C}", "stop", [A, B, C], "task", False,
    ),
    (
        "task_labels_with_blank_lines_and_remarks",
        f"Here are the next tasks:\n\nTask 9: {A}\n\nTask 10: {B}\n\nI hope these are useful!",
        "stop", [A, B], "task", True,
    ),
    (
        "dash_bullets_with_preamble",
        f"Here are some new tasks:\n- {A}\n- {B}\n- {C}", "stop", [A, B, C], "bullets", True,
    ),
    (
        "star_and_dot_bullets",
        f"* {A}\n* {B}\n\u2022 {C}", "stop", [A, B, C], "bullets", False,
    ),
    (
        "bullets_with_bold_titles",
        f"Sure! Here are a few more:\n\n- **Lisbon Walking Tour**: {A}\n"
        f"- **Sourdough Names**: {D}\n\nLet me know if you need more!",
        "stop", [A, D], "bullets+titles", True,
    ),
    (
        "preamble_without_colon",
        f"Here are some additional tasks for the list.\n- {A}\n- {B}",
        "stop", [A, B], "bullets", True,
    ),
    (
        "numbered_headings_over_paragraphs",
        f"### 9. Lisbon Walking Tour\n{A}\n\n### 10. Temperature Extremes\n\n{B}\n",
        "stop", [A, B], "headings", False,
    ),
    (
        "task_headings",
        f"## Task 9\n{A}\n\n## Task 10\n{B}", "stop", [A, B], "headings", False,
    ),
    (
        "headings_without_numbers",
        f"## New tasks\n\n### Lisbon Walking Tour\n{A}\n\n### Sourdough Names\n{D}",
        "stop", [A, D], "headings", True,
    ),
    (
        "section_headings_between_items",
        f"## Planning\n9. {A}\n## Data\n10. {B}\n11. {C}",
        "stop", [A, B, C], "numbered", True,
    ),
    (
        "blank_lines_preamble_and_remark",
        f"Certainly! Here are 3 more tasks:\n\n9. {A}\n\n10. {B}\n\n11. {C}\n\n"
        "Let me know if you would like any changes.",
        "stop", [A, B, C], "numbered", True,
    ),
    (
        "remark_right_after_the_last_item",
        f"9. {A}\n10. {B}\nI hope these help with your dataset!", "stop", [A, B], "numbered", True,
    ),
    (
        "bullet_details_under_a_numbered_item",
        "9. Plan a three-day walking tour of Lisbon.\n   - Include one museum a day.\n"
        f"   - Keep each walk under ten kilometres.\n10. {B}",
        "stop",
        ["Plan a three-day walking tour of Lisbon. Include one museum a day. Keep each walk "
         "under ten kilometres.", B],
        "numbered", False,
    ),
    (
        "chat_answer_cut_short",
        f"Here are more tasks:\n\n9. **Lisbon Walking Tour**: {A}\n10. **Sourdough**: Suggest",
        "length", [A], "numbered+titles", True,
    ),
    ("completion_continuation", f" {A}\n10. {B}", "stop", [A, B], "numbered", False),
    ("one_unnumbered_item", f" {A}", "stop", [A], "unnumbered", False),
    ("nothing", "  \n", "stop", [], "empty", False),
]


@pytest.mark.parametrize(
    ("text", "finish_reason", "kept", "fmt", "chat"),
    [case[1:] for case in CHAT_CASES],
    ids=[case[0] for case in CHAT_CASES],
)
def test_each_chat_format_gives_one_instruction_per_item(
    text: str, finish_reason: str, kept: list[str], fmt: str, chat: bool
) -> None:
    answer = parse_instruction_answer(text, finish_reason=finish_reason)
    assert answer.kept == kept
    assert (answer.format, answer.chat) == (fmt, chat)
    assert parse_instructions(text, finish_reason=finish_reason) == (answer.kept, answer.rejected)


def test_the_papers_rules_still_apply_to_chat_items() -> None:
    text = ("Here are some new tasks:\n- **Route**: Find the fastest way to go to the airport.\n"
            "- Write a program that reverses a linked list.\n- **Fruit**: Name three fruits.\n"
            f"- {A}\n- {B}")
    answer = parse_instruction_answer(text, finish_reason="length")
    assert answer.kept == [A]
    assert answer.rejected == [
        Rejected("keyword", "Find the fastest way to go to the airport."),
        Rejected("program", "Write a program that reverses a linked list."),
        Rejected("length", "Name three fruits."),
        Rejected("truncated", B),
    ]


def test_the_issues_two_failures_are_fixed() -> None:
    """Issue 21: titles gave 0 of 3 ("bad_start"), "Task N:" lines gave one merged item."""
    titled = ("9. **Weekly Meal Plan**: Put together a weekly meal plan for a family of four.\n"
              "10. **Garden Layout**: Suggest a layout for a small vegetable garden.\n"
              "11. **Cover Letter**: Write a short cover letter for a barista job.")
    assert len(parse_instructions(titled, finish_reason="stop")[0]) == 3
    tasks = f"Task 9: {C}\nTask 10: {B}\nTask 11: {D}"
    assert parse_instructions(tasks, finish_reason="stop")[0] == [C, B, D]


def test_bullets_are_items_only_when_nothing_is_numbered() -> None:
    assert split_list(f"- {A}\n- {B}").items == [A, B]
    numbered = split_list(f"9. {A}\n- with a map\n10. {B}")
    assert numbered.items == [f"{A} with a map", B]


# --- Property: any of these renderings of a list parses back to the list ------------------------

VERBS = ["Plan", "Explain", "Suggest", "Describe", "Compare", "Summarise", "Rewrite", "List",
         "Classify", "Given", "How", "Which", "Tell", "Create", "Translate", "Rank"]
WORDS = ["a", "the", "recipe", "letter", "for", "of", "student", "river", "budget", "short",
         "three", "why", "people", "winter", "garden", "in", "and", "city", "story", "polite",
         "review", "children", "with", "old", "train", "music", "today", "every", "small",
         "43", "km", "kind,", "team", "colour", "evening", "rules", "birthday", "friend"]
INSTRUCTION = st.builds(
    lambda verb, words, end: " ".join([verb, *words]) + end,
    st.sampled_from(VERBS),
    st.lists(st.sampled_from(WORDS), min_size=3, max_size=18),
    st.sampled_from([".", "?", "!", ""]),
)
PREAMBLES = ["", "Here are some new tasks:", "Sure! Here are more instructions:",
             "Certainly! Below are additional tasks:", "## New tasks"]
REMARKS = ["", "Let me know if you would like more!", "I hope these help.",
           "Feel free to ask for other kinds of tasks."]


def _title(instruction: str) -> str:
    return string.capwords(" ".join(instruction.split()[:3]).rstrip(".?!,"))


def _render(style: str, items: list[str], first: int, variant: int) -> str:
    """`items` as one list in `style`; `variant` picks the number, label or bullet mark."""
    numbers = range(first, first + len(items))
    if style == "numbered":
        mark = ["{n}. ", "{n}) ", "{n}: ", "**{n}.** "][variant % 4]
        return "\n".join(mark.format(n=n) + item for n, item in zip(numbers, items, strict=True))
    if style == "task":
        mark = ["Task {n}: ", "Instruction {n}: ", "**Task {n}:** ", "Task {n} - "][variant % 4]
        return "\n".join(mark.format(n=n) + item for n, item in zip(numbers, items, strict=True))
    if style == "bullets":
        mark = ["- ", "* ", "\u2022 "][variant % 3]
        return "\n".join(mark + item for item in items)
    if style == "titles":
        mark = ["{n}. **{t}**: ", "{n}. **{t}:** ", "- **{t}**: ", "{n}. **{t}** - "][variant % 4]
        return "\n".join(mark.format(n=n, t=_title(item)) + item
                         for n, item in zip(numbers, items, strict=True))
    mark = ["### {n}. {t}\n", "## Task {n}\n", "### {t}\n\n"][variant % 3]
    return "\n\n".join(mark.format(n=n, t=_title(item)) + item
                       for n, item in zip(numbers, items, strict=True))


STYLES = ["numbered", "task", "bullets", "titles", "headings"]


@settings(max_examples=300, deadline=None, database=None)
@given(
    items=st.lists(INSTRUCTION, min_size=1, max_size=8, unique=True),
    style=st.sampled_from(STYLES),
    variant=st.integers(0, 11),
    preamble=st.sampled_from(PREAMBLES),
    remark=st.sampled_from(REMARKS),
    gap=st.sampled_from(["\n", "\n\n"]),
    spaced=st.booleans(),
    first=st.sampled_from([9, 1, 10]),
)
def test_a_list_in_any_chat_format_parses_back_to_itself(
    items: list[str], style: str, variant: int, preamble: str, remark: str, gap: str,
    spaced: bool, first: int,
) -> None:
    body = _render(style, items, first, variant)
    if spaced:
        body = body.replace("\n", "\n\n")
    text = "".join([preamble + gap if preamble else "", body, gap + remark if remark else ""])
    answer = parse_instruction_answer(text, finish_reason="stop")
    assert answer.kept == items, text
    assert answer.rejected == []
    assert answer.chat == bool(preamble or remark), text
    for item in answer.kept:
        assert not re.search(r"\*\*|^[-*\u2022#]|(?i:task|instruction) \d+", item)


def test_large_chat_markup_parses_in_linear_time() -> None:
    """A regex with catastrophic backtracking, or a quadratic scan, hits the timeout here."""
    for text in ["#\n" * 50_000, "### x\n\n" * 20_000, "**" * 100_000, "- **a" * 40_000,
                 "Task 9 " * 40_000, "9. **t**\n" * 30_000, ("\n" * 1000 + "#") * 100,
                 "- \n" * 50_000, "9.\n\n" * 30_000, "### x\ny\n" * 30_000,
                 "x" + " **" * 40_000, "** - " * 40_000, "**x " * 40_000]:
        parse_instruction_answer(text, finish_reason="length")


# bold left in an item: "**" at an end, or around words (not glued to one: "2**10" is code)
BOLD = re.compile(r"^\*\*|\*\*$|(?<![\w*])\*\*[^\s*](?:[^*]*[^\s*])?\*\*(?![\w*])")
CHAT_FRAGMENTS = ["\n", "\n\n", " ", "9.", "10) ", "11: ", "**12.**", "Task 9:", "**Task 10:**",
                  "Instruction 3", "- ", "* ", "\u2022 ", "#", "### ", "## 9. ", "**", "__",
                  "**Title**: ", "Title:", " - ", "Here are more tasks:", "Let me know!",
                  "I hope this helps.", "Sure!", "word ", "Write a poem about ", "the sea. ",
                  "3.5 ", "10:30 "]
CHAT_TEXTS = st.lists(st.one_of(st.sampled_from(CHAT_FRAGMENTS), st.text(max_size=4)),
                      max_size=40).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(text=CHAT_TEXTS, finish_reason=st.sampled_from([None, "stop", "length"]))
def test_any_mix_of_chat_markup_parses_to_clean_items(
    text: str, finish_reason: str | None
) -> None:
    answer = parse_instruction_answer(text, finish_reason=finish_reason)
    assert answer.kept or answer.rejected
    base, _, titles = answer.format.partition("+")
    assert base in LIST_FORMATS and titles in ("", "titles")
    for item in [*answer.kept, *(r.text for r in answer.rejected if r.reason != "empty")]:
        assert not BOLD.search(item) and item == " ".join(item.split())
        assert not re.match(r"[-*\u2022][ \t]", item)
