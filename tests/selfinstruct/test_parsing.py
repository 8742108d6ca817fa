"""Table tests for selfinstruct.parsing: the paper's formats (Tables 5, 7, 8, 10, 11) and the
adversarial output that completion and chat models really produce."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncgen.selfinstruct.parsing import (
    DEFAULT_BLACKLIST,
    REJECT_REASONS,
    Instance,
    Rejected,
    parse_classification,
    parse_instances,
    parse_instructions,
)
from asyncgen.selfinstruct.prompts import Demo, input_first_prompt, output_first_prompt

SEED_FILE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"

# --- Step 1: instructions --------------------------------------------------------------------

X = "Suggest a protein-rich breakfast that does not include eggs."
Y = "Rewrite the given sentence in the passive voice."
Z = "Explain why the sky is blue to a five-year-old."

# A completion model's continuation of "...\n8. <instr>\n9." (Table 5).
COMPLETION = (
    f" {X}\n"
    f"10. {Y}\n"
    f"11. {Z}\n"
    "12. Name three fruits.\n"
    "13. Describe the picture in one sentence.\n"
    "14. Write a program that sorts a list of integers.\n"
    "15. Classify the sentiment of the following tweet as positive or negative."
)
COMPLETION_KEPT = [
    X, Y, Z, "Classify the sentiment of the following tweet as positive or negative."
]  # fmt: skip
COMPLETION_REJECTED = [
    Rejected("length", "Name three fruits."),
    Rejected("keyword", "Describe the picture in one sentence."),
    Rejected("program", "Write a program that sorts a list of integers."),
]
WORDS_150 = " ".join(["Summarise"] + ["word"] * 149)
WORDS_151 = WORDS_150 + " more"

INSTRUCTION_CASES = [
    ("table5_completion", COMPLETION, "stop", COMPLETION_KEPT, COMPLETION_REJECTED),
    (
        "table5_completion_truncated",
        COMPLETION,
        "length",
        COMPLETION_KEPT[:3],
        [*COMPLETION_REJECTED, Rejected("truncated", COMPLETION_KEPT[3])],
    ),
    ("restates_first_number", f"9. {X}\n10. {Y}", "stop", [X, Y], []),
    ("number_styles", f" {X}\n10 . {Y}\n11) {Z}", "stop", [X, Y, Z], []),
    ("chat_lines_with_indent", f"  9. {X}\n   10. {Y}\n", "stop", [X, Y], []),
    ("markdown_bold_numbers", f"**9.** {X}\n**10.** {Y}", "stop", [X, Y], []),
    (
        "chat_preamble_restates_9",
        f"Sure! Here are more tasks:\n\n9. {X}\n10. {Y}",
        "stop",
        [X, Y],
        [],
    ),
    ("chat_preamble_from_10", f"Here are six more tasks:\n10. {X}\n11. {Y}", "stop", [X, Y], []),
    (
        "chat_preamble_only",
        "Sure! Here are seven more tasks:",
        "stop",
        [],
        [Rejected("empty", "Sure! Here are seven more tasks:")],
    ),
    (
        "chat_outro_after_blank_line",
        f"9. {X}\n10. {Y}\n\nLet me know if you would like more!",
        "stop",
        [X, Y],
        [],
    ),
    ("blank_lines_between_items", f"9. {X}\n\n10. {Y}\n\n11. {Z}\n", "stop", [X, Y, Z], []),
    ("skipped_numbers", f" {X}\n12. {Y}\n15. {Z}", "stop", [X, Y, Z], []),
    (
        "unnumbered_line_continues_item",
        f" Sort the numbers below in ascending order\nand print them on one line.\n10. {Y}",
        "stop",
        ["Sort the numbers below in ascending order and print them on one line.", Y],
        [],
    ),
    (
        "no_numbers_at_all",
        " Find the odd one out in a list of animals.",
        "stop",
        ["Find the odd one out in a list of animals."],
        [],
    ),
    (
        "decimal_is_not_a_number_line",
        f" Convert\n3.5 kilometres into miles, rounded.\n10. {Y}",
        "stop",
        ["Convert 3.5 kilometres into miles, rounded.", Y],
        [],
    ),
    (
        "whitespace_normalised",
        " Summarise  the\tfollowing\u00a0paragraph in one sentence. ",
        "stop",
        ["Summarise the following paragraph in one sentence."],
        [],
    ),
    ("crlf_line_endings", f" {X}\r\n10. {Y}\r\n11. {Z}\r\n", "stop", [X, Y, Z], []),
    (
        "case_is_kept",
        "10. explain the difference between TCP and UDP in simple words.",
        "stop",
        ["explain the difference between TCP and UDP in simple words."],
        [],
    ),
    ("exact_duplicates_once", f"9. {X}\n10. {Y}\n11.  {X}  \n12. {X}", "stop", [X, Y], []),
    (
        "non_ascii_start",
        "10. ¿Cuál es la capital de Francia y por qué?\n"
        "11. “Summarise” the paragraph in two sentences.\n"
        "12. Énumérez trois avantages du vélo en ville.",
        "stop",
        [],
        [
            Rejected("bad_start", "¿Cuál es la capital de Francia y por qué?"),
            Rejected("bad_start", "“Summarise” the paragraph in two sentences."),
            Rejected("bad_start", "Énumérez trois avantages du vélo en ville."),
        ],
    ),
    (
        # a bullet or bold markup is list markup (issue 21), taken off; other punctuation stays
        "punctuation_start",
        "10. - Suggest a name for a new bakery.\n"
        '11. "Translate the phrase into Spanish," she said.\n'
        "12. (Optional) List three synonyms for happy.\n13. **Write a haiku about autumn leaves**",
        "stop",
        ["Suggest a name for a new bakery.", "Write a haiku about autumn leaves"],
        [
            Rejected("bad_start", '"Translate the phrase into Spanish," she said.'),
            Rejected("bad_start", "(Optional) List three synonyms for happy."),
        ],
    ),
    (
        "blacklist_is_whole_word_only",
        "10. Update the user profile with the new email address.\n"
        "11. Describe the mapping between keys and values in a dictionary.\n"
        "12. Explain when to withdraw money from a savings account.\n"
        "13. Suggest foods that go together well at a picnic.\n"
        "14. Imagine a graphic novel about pirates and describe its hero.\n"
        "15. Plan a trip to Rome for a family of four.",
        "stop",
        [
            "Update the user profile with the new email address.",
            "Describe the mapping between keys and values in a dictionary.",
            "Explain when to withdraw money from a savings account.",
            "Suggest foods that go together well at a picnic.",
            "Imagine a graphic novel about pirates and describe its hero.",
            "Plan a trip to Rome for a family of four.",
        ],
        [],
    ),
    (
        "blacklist_words_and_phrase",
        "10. Attach a file with your answer and summarise it.\n"
        "11. Find the shortest route on the MAP of Paris.\n"
        "12. How would you go  to the airport from downtown?\n"
        "13. Count the images: how many cats are there?\n"
        "14. Describe the file-based storage systems you know.\n"
        "15. Draw a cat sitting on the moon at night.",
        "stop",
        [],
        [
            Rejected("keyword", "Attach a file with your answer and summarise it."),
            Rejected("keyword", "Find the shortest route on the MAP of Paris."),
            Rejected("keyword", "How would you go to the airport from downtown?"),
            Rejected("keyword", "Count the images: how many cats are there?"),
            Rejected("keyword", "Describe the file-based storage systems you know."),
            Rejected("keyword", "Draw a cat sitting on the moon at night."),
        ],
    ),
    (
        "write_a_program_any_case",
        "10. Write a program to reverse a string in place.\n"
        "11. write a Program that counts the vowels in a word.\n"
        "12. Write a poem about programs and programmers.",
        "stop",
        ["Write a poem about programs and programmers."],
        [
            Rejected("program", "Write a program to reverse a string in place."),
            Rejected("program", "write a Program that counts the vowels in a word."),
        ],
    ),
    (
        "length_bounds",
        f"10. Name three fruits.\n11. Name three tropical fruits.\n"
        f"12. {WORDS_150}\n13. {WORDS_151}",
        "stop",
        ["Name three tropical fruits.", WORDS_150],
        [Rejected("length", "Name three fruits."), Rejected("length", WORDS_151)],
    ),
    ("empty_text", "", "stop", [], [Rejected("empty", "")]),
    ("whitespace_only", "  \n\t \r\n", "stop", [], [Rejected("empty", "")]),
    ("numbers_without_text", "10.\n11.\n", "stop", [], [Rejected("empty", "10. 11.")]),
    ("truncated_single_item", f" {X}", "length", [], [Rejected("truncated", X)]),
    (
        "truncated_chat_outro",
        f"9. {X}\n10. {Y}\n\nLet me",
        "length",
        [X],
        [Rejected("truncated", Y)],
    ),
    ("no_finish_reason", f" {X}\n10. {Y}", None, [X, Y], []),
]


@pytest.mark.parametrize(
    ("text", "finish_reason", "kept", "rejected"),
    [case[1:] for case in INSTRUCTION_CASES],
    ids=[case[0] for case in INSTRUCTION_CASES],
)
def test_parse_instructions(
    text: str, finish_reason: str | None, kept: list[str], rejected: list[Rejected]
) -> None:
    assert parse_instructions(text, finish_reason=finish_reason) == (kept, rejected)


def test_default_blacklist_is_the_released_list() -> None:
    assert DEFAULT_BLACKLIST == (
        "image", "images", "graph", "graphs", "picture", "pictures",
        "file", "files", "map", "maps", "draw", "plot", "go to",
    )  # fmt: skip


def test_blacklist_is_configurable() -> None:
    text = "10. Describe the picture in one sentence.\n11. Write a poem about the sea."
    assert parse_instructions(text, finish_reason="stop", blacklist=("poem",)) == (
        ["Describe the picture in one sentence."],
        [Rejected("keyword", "Write a poem about the sea.")],
    )
    kept, rejected = parse_instructions(text, finish_reason="stop", blacklist=())
    assert (len(kept), rejected) == (2, [])


def test_word_limits_are_configurable() -> None:
    text = "10. Name three fruits.\n11. Name three tropical fruits please."
    assert parse_instructions(text, finish_reason="stop", min_words=2, max_words=4) == (
        ["Name three fruits."],
        [Rejected("length", "Name three tropical fruits please.")],
    )


def test_first_number_decides_whether_the_lead_is_a_preamble() -> None:
    text = f"Some more tasks for you to try\n2. {X}"
    assert parse_instructions(text, finish_reason="stop", first_number=2) == ([X], [])
    assert parse_instructions(text, finish_reason="stop") == (
        ["Some more tasks for you to try", X],
        [],
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"min_words": 5, "max_words": 5}, ValueError),
        ({"min_words": -1}, ValueError),
        ({"first_number": 0}, ValueError),
        ({"blacklist": "image"}, TypeError),
    ],
)
def test_parse_instructions_rejects_misuse(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        parse_instructions(COMPLETION, finish_reason="stop", **kwargs)  # type: ignore[arg-type]


# --- Step 3: classification answers ----------------------------------------------------------

CLASSIFICATION_CASES = [
    (" Yes", True), ("Yes", True), ("yes.", True), ("YES", True), (" Yes\n", True),
    ("Yes, it is", True), ("**Yes**", True), ("Answer: Yes", True),
    ("Is it classification? Yes", True), ("\r\nyes\r\n", True),
    (" No", False), ("No\n", False), ("no", False), ("NO.", False), ("No, it is not.", False),
    ("Is it classification? No", False),
    ("Maybe", None), ("", None), ("   \n", None), ("Yes/No", None), ("Yes or no?", None),
    ("Nope", None), ("Yesterday", None), ("Not sure", None), ("It is", None), ("Sí", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CLASSIFICATION_CASES)
def test_parse_classification(text: str, expected: bool | None) -> None:
    assert parse_classification(text) is expected


# --- Step 4: instances -----------------------------------------------------------------------


def I(input: str, output: str) -> Instance:  # noqa: E743 - short name keeps the tables legible
    return Instance(input=input, output=output)


def examples(pairs: list[tuple[str, str]]) -> str:
    """Render pairs in the input-first format of Table 7."""
    return "\n\n".join(
        f"Example {n}\nInput: {i}\nOutput: {o}" for n, (i, o) in enumerate(pairs, start=1)
    )


SPAM = examples([(f"{n} + {n}", str(2 * n)) for n in range(100)])
SPAM_WITH_REPEATS = examples([("1 + 1", "2")] * 3 + [(f"{n} + 1", str(n + 1)) for n in range(2, 9)])

INPUT_FIRST_CASES = [
    ("table7_no_input", "Output: 85°F = 29.44°C", "stop", [I("", "85°F = 29.44°C")], None),
    (
        "table7_examples",
        "Example 1\nInput: Sentence: The cat chased the mouse.\n"
        "Output: The mouse was chased by the cat.\n\n"
        "Example 2\nInput: Sentence: Lisa wrote the report.\n"
        "Output: The report was written by Lisa.\n",
        "stop",
        [
            I("Sentence: The cat chased the mouse.", "The mouse was chased by the cat."),
            I("Sentence: Lisa wrote the report.", "The report was written by Lisa."),
        ],
        None,
    ),
    (
        "table10_short_fields",
        'Example 1\nInput: Word = "hello"\nOutput: Length = 5, Number of vowels = 2\n\n'
        'Example 2\nInput: Word = "rhythm"\nOutput: Length = 6, Number of vowels = 0',
        "stop",
        [
            I('Word = "hello"', "Length = 5, Number of vowels = 2"),
            I('Word = "rhythm"', "Length = 6, Number of vowels = 0"),
        ],
        None,
    ),
    (
        "table10_multi_line_fields",
        "Example 1\nInput: Person: Ada, a chemist.\nAnimal: A parrot.\nObject: A kettle.\n"
        "Output: Ada's parrot hid in the kettle.\nIt whistled when she made tea.",
        "stop",
        [
            I(
                "Person: Ada, a chemist.\nAnimal: A parrot.\nObject: A kettle.",
                "Ada's parrot hid in the kettle.\nIt whistled when she made tea.",
            )
        ],
        None,
    ),
    (
        "table11_incomplete_output",
        "Example 1\nInput: Address: 12 Elm Street, City: Springfield\nOutput: The zip code is:",
        "stop",
        [],
        "no_instances",
    ),
    (
        "pair_without_markers",
        "Input: 12, 7, 3\nOutput: 3, 7, 12\n",
        "stop",
        [I("12, 7, 3", "3, 7, 12")],
        None,
    ),
    ("pair_on_one_line", "Input: 2 + 2 Output: 4", "stop", [I("2 + 2", "4")], None),
    ("numbered_labels", "Input 1: cat\nOutput 1: cats", "stop", [I("cat", "cats")], None),
    (
        "several_pairs_without_markers",
        "Input: a\nOutput: b\nInput: c\nOutput: d",
        "stop",
        [I("a", "b"), I("c", "d")],
        None,
    ),
    (
        "second_pair_glued_in_one_example",
        "Example 1\nInput: a\nOutput: b Input: c Output: d",
        "stop",
        [I("a", "b")],
        None,
    ),
    (
        "chat_preamble_before_examples",
        "Sure! Here are two examples.\n\n" + examples([("3 * 4", "12"), ("5 * 5", "25")]),
        "stop",
        [I("3 * 4", "12"), I("5 * 5", "25")],
        None,
    ),
    (
        "chat_preamble_before_pair",
        "Sure, here is one:\nInput: dog\nOutput: dogs",
        "stop",
        [I("dog", "dogs")],
        None,
    ),
    (
        "markdown_bold_labels",
        "**Example 1**\n**Input:** 9 * 7\n**Output:** 63\n\n**Example 2**\n**Input**: 6 * 8\n"
        "__Output:__ 48",
        "stop",
        [I("9 * 7", "63"), I("6 * 8", "48")],
        None,
    ),
    (
        "example_marker_variants",
        "Example 1:\nInput: a\nOutput: b\nExample2\nInput: c\nOutput: d\n"
        "### Example 3\nInput: e\nOutput: f\nExample:\nInput: g\nOutput: h",
        "stop",
        [I("a", "b"), I("c", "d"), I("e", "f"), I("g", "h")],
        None,
    ),
    (
        "example_inside_output_is_not_a_marker",
        "Output: Put a comma before the conjunction, as in Example 2 of the style guide.",
        "stop",
        [I("", "Put a comma before the conjunction, as in Example 2 of the style guide.")],
        None,
    ),
    (
        "examples_without_labels",
        "Example 1\nThe early bird catches the worm.\n\n"
        "Example 2\nActions speak louder than words.",
        "stop",
        [I("", "The early bird catches the worm."), I("", "Actions speak louder than words.")],
        None,
    ),
    ("no_labels_no_markers", "Paris is the capital of France.", "stop", [], "no_instances"),
    (
        "empty_output_dropped",
        examples([("What is 2 + 2?", ""), ("What is 3 + 3?", "6")]),
        "stop",
        [I("What is 3 + 3?", "6")],
        None,
    ),
    ("output_equal_to_input", "Input: hello\nOutput: hello", "stop", [], "no_instances"),
    (
        "input_ending_with_colon",
        examples([("Translate this sentence:", "Bonjour"), ("Good night", "Bonne nuit")]),
        "stop",
        [I("Good night", "Bonne nuit")],
        None,
    ),
    (
        "output_ending_with_colon",
        examples([("List two colours", "Here they are:"), ("List two shapes", "circle, square")]),
        "stop",
        [I("List two shapes", "circle, square")],
        None,
    ),
    (
        "conflicting_outputs",
        examples([("4", "even"), ("7", "odd"), ("4", "odd")]),
        "stop",
        [],
        "conflicting_outputs",
    ),
    (
        "empty_inputs_may_differ",
        "Example 1\nOutput: A haiku.\n\nExample 2\nOutput: A limerick.",
        "stop",
        [I("", "A haiku."), I("", "A limerick.")],
        None,
    ),
    (
        "exact_duplicates_once",
        examples([("a", "b"), ("c", "d"), ("a", "b")]),
        "stop",
        [I("a", "b"), I("c", "d")],
        None,
    ),
    ("spam_capped_at_5", SPAM, "stop", [I(f"{n} + {n}", str(2 * n)) for n in range(5)], None),
    (
        "dedupe_before_cap",
        SPAM_WITH_REPEATS,
        "stop",
        [I("1 + 1", "2")] + [I(f"{n} + 1", str(n + 1)) for n in range(2, 6)],
        None,
    ),
    (
        "truncated_drops_last",
        examples([("a", "b"), ("c", "d"), ("e", "f")]),
        "length",
        [I("a", "b"), I("c", "d")],
        None,
    ),
    (
        "truncated_drops_last_before_filters",
        examples([("a", "b"), ("c", "d"), ("e", "Answer:")]),
        "length",
        [I("a", "b"), I("c", "d")],
        None,
    ),
    ("truncated_single_output", "Output: 85°F = 29.44°C", "length", [], "no_instances"),
    (
        "crlf_line_endings",
        "Example 1\r\nInput: x\r\ny\r\nOutput: z\r\n",
        "stop",
        [I("x\ny", "z")],
        None,
    ),
    ("empty_text", "", "stop", [], "no_instances"),
    ("whitespace_only", " \n\t\r\n ", "stop", [], "no_instances"),
]

OUTPUT_FIRST_CASES = [
    (
        "table8",
        "Class label: Positive\nSentence: The staff were friendly and the room was spotless.\n"
        "Class label: Negative\nSentence: We waited an hour and the soup arrived cold.\n",
        "stop",
        [
            I("Sentence: The staff were friendly and the room was spotless.", "Positive"),
            I("Sentence: We waited an hour and the soup arrived cold.", "Negative"),
        ],
        None,
    ),
    (
        "input_prefix_stripped",
        "Class label: Spam\nInput: You have won a free cruise! Reply now.\n"
        "Class label: Not spam\nInput: The meeting moved to 3 pm tomorrow.",
        "stop",
        [
            I("You have won a free cruise! Reply now.", "Spam"),
            I("The meeting moved to 3 pm tomorrow.", "Not spam"),
        ],
        None,
    ),
    (
        "labels_without_input",
        "Class label: True\nClass label: False\n",
        "stop",
        [I("", "True"), I("", "False")],
        None,
    ),
    (
        "multi_line_input",
        "Class label: Formal\nInput: Dear Ms. Patel,\n\nI am writing to confirm our meeting.\n\n"
        "Class label: Informal\nInput: hey! see u at 8?",
        "stop",
        [
            I("Dear Ms. Patel,\n\nI am writing to confirm our meeting.", "Formal"),
            I("hey! see u at 8?", "Informal"),
        ],
        None,
    ),
    (
        "chat_preamble",
        "Sure! Here is one input per label:\n\nClass label: Yes\nInput: 17\n"
        "Class label: No\nInput: 18",
        "stop",
        [I("17", "Yes"), I("18", "No")],
        None,
    ),
    (
        "label_and_input_on_one_line",
        "Class label: Positive Input: Loved every minute of it.",
        "stop",
        [I("Loved every minute of it.", "Positive")],
        None,
    ),
    (
        "capitalised_label_field",
        "Class Label: Fruit\nInput: mango",
        "stop",
        [I("mango", "Fruit")],
        None,
    ),
    (
        "markdown_bold_labels",
        "**Class label:** Sports\n**Input:** The match ended 2-1.",
        "stop",
        [I("The match ended 2-1.", "Sports")],
        None,
    ),
    (
        "conflicting_outputs",
        "Class label: Even\nInput: 4\nClass label: Odd\nInput: 4",
        "stop",
        [],
        "conflicting_outputs",
    ),
    (
        "input_ending_with_colon",
        "Class label: Question\nSentence:\nClass label: Statement\nSentence: It is raining.",
        "stop",
        [I("Sentence: It is raining.", "Statement")],
        None,
    ),
    ("input_equal_to_label", "Class label: Positive\nInput: Positive", "stop", [], "no_instances"),
    (
        "truncated_drops_last",
        "Class label: Positive\nInput: Great film.\nClass label: Negative\nInput: Dull and",
        "length",
        [I("Great film.", "Positive")],
        None,
    ),
    (
        "input_first_format_is_not_parsed",
        "Input: Great film.\nOutput: Positive",
        "stop",
        [],
        "no_instances",
    ),
    ("no_labels", "Positive: great film\nNegative: dull film", "stop", [], "no_instances"),
    (
        "crlf_line_endings",
        "Class label: A\r\nInput: x\r\nClass label: B\r\nInput: y\r\n",
        "stop",
        [I("x", "A"), I("y", "B")],
        None,
    ),
    (
        "spam_capped_at_5",
        "\n".join(f"Class label: L{n}\nInput: text {n}" for n in range(100)),
        "stop",
        [I(f"text {n}", f"L{n}") for n in range(5)],
        None,
    ),
    ("empty_text", "", "stop", [], "no_instances"),
]


@pytest.mark.parametrize(
    ("text", "finish_reason", "instances", "reason"),
    [case[1:] for case in INPUT_FIRST_CASES],
    ids=[case[0] for case in INPUT_FIRST_CASES],
)
def test_parse_instances_input_first(
    text: str, finish_reason: str, instances: list[Instance], reason: str | None
) -> None:
    assert parse_instances(text, classification=False, finish_reason=finish_reason) == (
        instances,
        reason,
    )


@pytest.mark.parametrize(
    ("text", "finish_reason", "instances", "reason"),
    [case[1:] for case in OUTPUT_FIRST_CASES],
    ids=[case[0] for case in OUTPUT_FIRST_CASES],
)
def test_parse_instances_output_first(
    text: str, finish_reason: str, instances: list[Instance], reason: str | None
) -> None:
    assert parse_instances(text, classification=True, finish_reason=finish_reason) == (
        instances,
        reason,
    )


def test_max_instances_is_configurable() -> None:
    assert parse_instances(SPAM, classification=False, finish_reason="stop", max_instances=2) == (
        [I("0 + 0", "0"), I("1 + 1", "2")],
        None,
    )
    with pytest.raises(ValueError, match="max_instances"):
        parse_instances(SPAM, classification=False, finish_reason="stop", max_instances=0)


def _seed_demos() -> list[Demo]:
    if not SEED_FILE.exists():
        pytest.skip(f"{SEED_FILE} not present")
    demos = []
    for line in SEED_FILE.read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        pairs = tuple((i["input"], i["output"]) for i in task["instances"])
        demos.append(Demo(task["instruction"], task["is_classification"], pairs))
    return demos


def _demo_body(demo: Demo) -> str:
    """What a model would answer for this task: the demo as prompts.py renders it."""
    render = output_first_prompt if demo.is_classification else input_first_prompt
    prompt = render([demo], "CANDIDATE")
    start = prompt.index("\n", prompt.index("\n\nTask: ") + 2) + 1
    return prompt[start : prompt.rindex("\n\nTask: CANDIDATE")]


def test_seed_demos_round_trip_through_the_parser() -> None:
    """Every seed task of the paper, rendered as a few-shot demo, parses back to its instances,
    except where the released colon rule drops them (two seeds have an input ending in ':')."""
    demos = _seed_demos()
    assert len(demos) == 175
    dropped_by_colon_rule = []
    for demo in demos:
        if not demo.is_classification and all(not i.strip() for i, _ in demo.instances):
            rendered = [I("", demo.instances[0][1].strip())]  # shown as one "Output:" line
        else:
            rendered = [I(i.strip(), o.strip()) for i, o in demo.instances]
        expected = [i for i in rendered if not (i.input.endswith(":") or i.output.endswith(":"))]
        if expected != rendered:
            dropped_by_colon_rule.append(demo.instruction)
        got = parse_instances(
            _demo_body(demo),
            classification=demo.is_classification,
            finish_reason="stop",
            max_instances=len(rendered),
        )
        assert got == (expected, None if expected else "no_instances"), demo.instruction
    assert len(dropped_by_colon_rule) == 2


# --- No-crash properties on arbitrary text ---------------------------------------------------

FRAGMENTS = [
    "\n", "\r\n", "\r", " ", "\t", "\n\n", "9.", "10. ", "11 .", "12)", "**13.**", "3.5",
    "Example 1", "Example", "### Example 2:", "Input:", "Input 2:", "Output:", "**Output:**",
    "Class label:", "Class Label:", "**Class label:**", "Sentence:", "Yes", "no", ":", "**",
    "Sure! Here are more tasks:", "Here are some:", "image", "go to", "Write a program",
    "¿", "“", "é", "\u00a0", "word ", "another word ", "#", "__",
]  # fmt: skip
TEXTS = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=40).map("".join),
)
FINISH_REASONS = st.sampled_from([None, "stop", "length", "content_filter"])
PROPERTY = settings(max_examples=300, deadline=None, database=None)


@PROPERTY
@given(text=TEXTS, finish_reason=FINISH_REASONS)
def test_parse_instructions_never_crashes_and_keeps_only_valid(
    text: str, finish_reason: str | None
) -> None:
    kept, rejected = parse_instructions(text, finish_reason=finish_reason)
    assert kept or rejected
    assert len(set(kept)) == len(kept)
    for instruction in kept:
        assert instruction == " ".join(instruction.split())
        assert 3 < len(instruction.split()) <= 150
        assert instruction[0].isascii() and instruction[0] not in string.punctuation
        assert not instruction.lower().startswith("write a program")
    assert {r.reason for r in rejected} <= set(REJECT_REASONS)
    truncated = [r for r in rejected if r.reason == "truncated"]
    assert len(truncated) <= (1 if finish_reason == "length" else 0)


@PROPERTY
@given(text=TEXTS)
def test_parse_classification_never_crashes(text: str) -> None:
    assert parse_classification(text) in (True, False, None)


@PROPERTY
@given(
    text=TEXTS,
    classification=st.booleans(),
    finish_reason=FINISH_REASONS,
    max_instances=st.integers(1, 6),
)
def test_parse_instances_never_crashes_and_keeps_only_valid(
    text: str, classification: bool, finish_reason: str | None, max_instances: int
) -> None:
    instances, reason = parse_instances(
        text, classification=classification, finish_reason=finish_reason,
        max_instances=max_instances,
    )  # fmt: skip
    assert (reason is None) == bool(instances)
    assert reason in (None, "no_instances", "conflicting_outputs")
    assert len(instances) <= max_instances
    assert len(set(instances)) == len(instances)
    outputs: dict[str, str] = {}
    for instance in instances:
        assert instance.output and instance.output != instance.input
        assert not instance.input.endswith(":") and not instance.output.endswith(":")
        assert instance.input == instance.input.strip() and "\r" not in instance.input
        if instance.input:
            assert outputs.setdefault(instance.input, instance.output) == instance.output


@pytest.mark.parametrize(
    "text",
    [
        " " * 200_000,
        "Output" + " " * 200_000,
        ("Example" + " \t" * 100 + "x\n") * 2_000,
        ("Input" + " " * 50 + "\n") * 4_000,
        "**" * 100_000,
        "word " * 100_000,
    ],
    ids=["spaces", "label_then_spaces", "example_spaces", "input_spaces", "bold", "words"],
)
def test_large_adversarial_text_parses_in_linear_time(text: str) -> None:
    """A regex with catastrophic backtracking would hit the per-test timeout here."""
    parse_instructions(text, finish_reason="length")
    parse_classification(text)
    parse_instances(text, classification=False, finish_reason="stop")
    parse_instances(text, classification=True, finish_reason="stop")


# --- False drops found by differential tests against the released parser -------------------

LEGIT_FIRST = [
    "Okay, now rewrite the paragraph in passive voice.",
    "Here is a list of numbers. Sort them in ascending order:",
    "Sure enough, the train was late again. Write a complaint to the railway company.",
]
PREAMBLES = [
    "Sure! Here are more tasks:", "Certainly!", "Sure, here are 7 more:",
    "Okay, here you go:", "Here are some new ones:", "Certainly! Below are additional tasks:",
]


@pytest.mark.parametrize("lead", LEGIT_FIRST)
def test_a_first_instruction_that_opens_like_a_preamble_is_kept(lead: str) -> None:
    text = f"{lead}\n10. Name three fruits that are red.\n11. Give two uses of vinegar at home."
    kept, _ = parse_instructions(text, finish_reason="stop", min_words=3)
    assert kept[0] == lead


@pytest.mark.parametrize("lead", PREAMBLES)
def test_a_chat_preamble_is_dropped(lead: str) -> None:
    kept, _ = parse_instructions(f"{lead}\n10. Name three fruits that are red.",
                                 finish_reason="stop")
    assert kept == ["Name three fruits that are red."]


def test_a_later_nine_does_not_drop_the_first_instruction() -> None:
    text = ("Explain the rules of chess to a child.\n10. List the planets by size.\n"
            "9. Describe a sunset over the sea in three sentences.")
    kept, _ = parse_instructions(text, finish_reason="stop")
    assert kept[0] == "Explain the rules of chess to a child."
    assert len(kept) == 3
    restated, _ = parse_instructions("Sure! Here you go:\n9. Explain the rules of chess.",
                                     finish_reason="stop")
    assert restated == ["Explain the rules of chess."]


def test_one_line_examples_are_split() -> None:
    text = "Example 1 Input: 2 + 2 Output: 4 Example 2 Input: 3 + 5 Output: 8"
    assert parse_instances(text, classification=False, finish_reason="stop") == (
        [I("2 + 2", "4"), I("3 + 5", "8")], None)
    named = ("Example 1 Sentence: I am here. Output: Je suis ici. "
             "Example 2: Sentence: Go. Output: Va.")
    assert parse_instances(named, classification=False, finish_reason="stop") == (
        [I("Sentence: I am here.", "Je suis ici."), I("Sentence: Go.", "Va.")], None)


def test_an_input_keeps_its_named_fields() -> None:
    text = ("Example 1\nParagraph: The bridge opened in 1931.\nQuestion: When?\nOutput: 1931\n"
            "Example 2\nList: [3, 1]\nOutput: [1, 3]")
    assert parse_instances(text, classification=False, finish_reason="stop") == (
        [I("Paragraph: The bridge opened in 1931.\nQuestion: When?", "1931"),
         I("List: [3, 1]", "[1, 3]")], None)


def test_output_first_accepts_a_named_field_after_the_label() -> None:
    text = ("Class label: Positive Review: Loved every minute.\n"
            "Class label: Not spam Email: See you at 5.\nClass label: Negative\nReview: Dull.")
    assert parse_instances(text, classification=True, finish_reason="stop") == (
        [I("Review: Loved every minute.", "Positive"), I("Email: See you at 5.", "Not spam"),
         I("Review: Dull.", "Negative")], None)
