"""New instructions for the instruction prompt: novel ones, near-duplicates and deliberate rejects.

The simulated model continues a numbered list ("9." → " <instr>\\n10. <instr>..." up to 15).
The mix is what a real model gives a Self-Instruct filter to chew on: near-duplicates of the
in-prompt examples (ROUGE-L > 0.7 against their source), a few blacklisted keywords, a few
"Write a program ...", a few too short or starting with punctuation, and the rest novel
instructions composed from `vocab` in many sentence shapes, diverse enough that thousands of
them stay pairwise below ROUGE-L 0.7. Topic words of the examples are reused as topics.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from asyncgen.sim import vocab as v

LAST_NUMBER = 15  # the list stops here (the pipeline's stop sequences cut at "16")

# share of each kind among generated items (the rest are novel)
NEAR_DUPLICATE_P = 0.30
BLACKLISTED_P = 0.05
PROGRAM_P = 0.03
SHORT_P = 0.03
BAD_START_P = 0.01
TRUNCATE_P = 0.05  # last item cut mid-sentence, finish_reason "length"
EARLY_STOP_P = 0.08  # the list ends before 15
PREFIX_P = 0.25  # novel instructions with a context clause in front
SUFFIX_P = 0.5  # novel instructions with a requirement after

_NUMBERED = re.compile(r"^(\d+)\.\s*(.*)$")
_HINT_WORD = re.compile(r"[A-Za-z]+")

Hints = Sequence[str]
Shape = Callable[[random.Random, Hints], str]


def parse_instruction_prompt(prompt: str) -> tuple[list[str], int, bool]:
    """The in-prompt examples, the number to continue with, whether the prompt ends with it."""
    examples: list[str] = []
    next_number = 1
    ends_with_number = False
    for line in prompt.split("\n"):
        match = _NUMBERED.match(line.strip())
        if match is None:
            continue
        number, text = int(match.group(1)), match.group(2).strip()
        if text:
            examples.append(text)
            next_number = number + 1
            ends_with_number = False
        else:
            next_number = number
            ends_with_number = True
    return examples, next_number, ends_with_number


def topic_hints(examples: Sequence[str]) -> list[str]:
    """Topic words of the examples: their last one or two content words (usually the object)."""
    hints: list[str] = []
    for example in examples:
        words = _HINT_WORD.findall(example)[-2:]
        content = [w.lower() for w in words if w.lower() not in v.STOPWORDS and len(w) > 3]
        if len(content) == 2 == len(words):
            hints.append(" ".join(content))
        elif content:
            hints.append(content[-1])
    return hints


def continue_list(
    rng: random.Random, examples: Sequence[str], next_number: int, ends_with_number: bool
) -> tuple[str, str]:
    """The model's continuation of the numbered list and its finish reason."""
    items, finish_reason = list_items(rng, examples, next_number)
    parts = [f" {items[0]}" if ends_with_number else f"\n{next_number}. {items[0]}"]
    parts.extend(f"\n{n}. {item}" for n, item in enumerate(items[1:], start=next_number + 1))
    return "".join(parts), finish_reason


def list_items(
    rng: random.Random, examples: Sequence[str], next_number: int
) -> tuple[list[str], str]:
    """The items `next_number`… of the list (the last one cut short when "length")."""
    hints = topic_hints(examples)
    last = max(LAST_NUMBER, next_number)
    if rng.random() < EARLY_STOP_P:
        last = rng.randint(next_number, last)
    items = [instruction_item(rng, examples, hints) for _ in range(next_number, last + 1)]
    finish_reason = "stop"
    if rng.random() < TRUNCATE_P:
        items[-1] = _cut(rng, items[-1])
        finish_reason = "length"
    return items, finish_reason


def instruction_item(rng: random.Random, examples: Sequence[str], hints: Hints) -> str:
    """One generated instruction, of a kind drawn from the mix."""
    r = rng.random()
    if r < NEAR_DUPLICATE_P and examples:
        return near_duplicate(rng, rng.choice(examples))
    r -= NEAR_DUPLICATE_P
    if r < BLACKLISTED_P:
        return rng.choice(v.BLACKLISTED).format(s=_topic(rng, hints)) + "."
    r -= BLACKLISTED_P
    if r < PROGRAM_P:
        return rng.choice(v.PROGRAM_TASKS) + "."
    r -= PROGRAM_P
    if r < SHORT_P:
        return rng.choice(v.SHORT)
    r -= SHORT_P
    if r < BAD_START_P:
        return rng.choice(v.BAD_STARTS).format(s=_topic(rng, hints)) + "."
    return novel_instruction(rng, hints)


def near_duplicate(rng: random.Random, example: str) -> str:
    """The example with one or two small edits: a dropped, swapped or replaced word."""
    words = example.split()
    if len(words) < 4 or rng.random() < 0.1:
        return example
    edits = 2 if len(words) >= 12 else 1
    for _ in range(edits):
        op = rng.random()
        if op < 0.4:
            del words[rng.randrange(1, len(words))]
        elif op < 0.7:
            i = rng.randrange(1, len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            _replace_synonym(rng, words)
    return " ".join(words)


def _replace_synonym(rng: random.Random, words: list[str]) -> None:
    """Swap one word for a synonym, keeping case and punctuation; else drop a word."""
    found = [i for i, w in enumerate(words) if w.strip(".,?!:;").lower() in v.SYNONYMS]
    if not found:
        del words[rng.randrange(1, len(words))]
        return
    i = rng.choice(found)
    word = words[i]
    core = word.strip(".,?!:;")
    new = v.SYNONYMS[core.lower()]
    if core[:1].isupper():
        new = new[:1].upper() + new[1:]
    words[i] = word.replace(core, new, 1)


def _cut(rng: random.Random, item: str) -> str:
    """The item cut mid-sentence (30-70% of its words, at least one)."""
    words = item.split()
    keep = max(1, min(len(words) - 1, round(len(words) * rng.uniform(0.3, 0.7))))
    return " ".join(words[:keep]).rstrip(".,?!:;")


def novel_instruction(rng: random.Random, hints: Hints = ()) -> str:
    """A new instruction composed from the vocabulary, in one of many sentence shapes."""
    shape = rng.choices(_SHAPES, cum_weights=_CUM_WEIGHTS)[0]
    text = shape(rng, hints)
    if shape is not _classify:
        text = _decorate(rng, hints, text)
    return text[:1].upper() + text[1:]


def _decorate(rng: random.Random, hints: Hints, text: str) -> str:
    """Sometimes a context clause in front and a requirement after: most of the diversity."""
    if rng.random() < PREFIX_P:
        prefix = _fill(rng, hints, rng.choice(v.PREFIXES))
        first = text.split(" ", 1)[0]
        keep_case = first == "I" or first in v.NAMES
        text = f"{prefix}, {text if keep_case else text[:1].lower() + text[1:]}"
    if rng.random() < SUFFIX_P:
        text = f"{text} {_fill(rng, hints, rng.choice(v.SUFFIXES))}"
    return text


def _fill(rng: random.Random, hints: Hints, template: str) -> str:
    """Fill the slots a template names: {s} topic, {p} place, {a} audience, and so on."""
    if "{" not in template:
        return template
    return template.format_map(_Slots(rng, hints))


class _Slots(dict[str, str]):
    """Draws a slot value only when the template asks for it."""

    __slots__ = ("_rng", "_hints")

    def __init__(self, rng: random.Random, hints: Hints) -> None:
        super().__init__()
        self._rng = rng
        self._hints = hints

    def __missing__(self, key: str) -> str:
        rng = self._rng
        match key:
            case "s":
                return _topic(rng, self._hints)
            case "p":
                return rng.choice(v.PLACES)
            case "a":
                return rng.choice(v.AUDIENCES)
            case "n":
                return rng.choice(v.WORD_COUNTS)
            case "tone":
                return rng.choice(v.TONES)
            case "name":
                return rng.choice(v.NAMES)
            case "c":
                return rng.choice(v.CHARACTERS)
            case "st":
                return rng.choice(v.STYLES)
            case "r":
                return rng.choice(v.ROLES)
            case "t":
                return rng.choice(v.TEXT_KINDS)
        raise KeyError(key)


def _a(word: str) -> str:
    """The word with its indefinite article."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _topic(rng: random.Random, hints: Hints) -> str:
    """Something to write about: an example's topic word, a subject, or a facet of one."""
    r = rng.random()
    if hints and r < 0.2:
        return rng.choice(hints)
    subject = rng.choice(v.SUBJECTS)
    return subject if r < 0.6 else rng.choice(v.FACETS).format(s=subject)


def _opt(rng: random.Random, p: float, text: str) -> str:
    """The text with probability p, else nothing."""
    return text if rng.random() < p else ""


def _creative(rng: random.Random, hints: Hints) -> str:
    tone = _opt(rng, 0.7, rng.choice(v.TONES) + " ")
    form = tone + rng.choice(v.CREATIVE_FORMS)
    if rng.random() < 0.3:
        about = f"{rng.choice(v.CHARACTERS)} who {rng.choice(v.CHARACTER_ACTIONS)}"
    else:
        about = _topic(rng, hints)
    extra = _opt(rng, 0.5, " " + _fill(rng, hints, rng.choice(v.WRITING_CONSTRAINTS)))
    return f"{rng.choice(v.WRITE_VERBS)} {_a(form)} about {about}{extra}."


def _explain(rng: random.Random, hints: Hints) -> str:
    thing = rng.choice(v.CONCEPTS) if rng.random() < 0.4 else _topic(rng, hints)
    audience = rng.choice(v.AUDIENCES)
    r = rng.random()
    if r < 0.45:
        how = _opt(rng, 0.5, f" in {rng.choice(v.SENTENCE_COUNTS)}")
        return f"{rng.choice(v.EXPLAIN_VERBS)} {thing} to {audience}{how}."
    if r < 0.7:
        context = rng.choice(v.EXAMPLE_CONTEXTS)
        return f"{rng.choice(v.EXPLAIN_VERBS)} {thing}, using an example {context}."
    return f"How would you explain {thing} to {audience} {rng.choice(v.EXAMPLE_CONTEXTS)}?"


def _list(rng: random.Random, hints: Hints) -> str:
    number = rng.choice(v.NUMBERS)
    adjective = _opt(rng, 0.5, rng.choice(v.LIST_ADJECTIVES) + " ")
    r = rng.random()
    if r < 0.4:
        things = f"{rng.choice(v.LIST_HEADS)} {rng.choice(v.GOALS)}"
    elif r < 0.65:
        things = f"{rng.choice(v.NAMING_THINGS)} for {rng.choice(v.BUSINESSES)}"
    elif r < 0.85:
        things = f"{rng.choice(v.OCCASION_THINGS)} for {rng.choice(v.OCCASIONS)}"
    else:
        things = rng.choice(v.LIST_THINGS)
    return f"{rng.choice(v.LIST_VERBS)} {number} {adjective}{things}."


def _advice(rng: random.Random, hints: Hints) -> str:
    r = rng.random()
    if r < 0.3:
        problem = f"My {rng.choice(v.RELATIONS)} {rng.choice(v.PROBLEMS)}"
        return f"{problem}. {rng.choice(v.HELP_REQUESTS)}"
    if r < 0.4:
        return f"{rng.choice(v.SITUATIONS)}. {rng.choice(v.HELP_REQUESTS)}"
    condition = _opt(rng, 0.5, " " + rng.choice(_CONDITIONS))
    return f"{rng.choice(v.QUESTION_STARTS)} {rng.choice(v.GOALS)}{condition}?"


_CONDITIONS = (
    "on a tight budget", "in less than a month", "without spending any money",
    "as a complete beginner", "while working full time", "with two small children at home",
    "in a small apartment", "if I only have ten minutes a day", "at the age of seventy",
    "while living in a rainy climate", "without a car", "after a long illness",
    "with a very busy travel schedule", "in a shared house", "during the winter months",
)


def _compare(rng: random.Random, hints: Hints) -> str:
    a, b = rng.choice(v.COMPARE_PAIRS)
    aspect = rng.choice(v.ASPECTS)
    r = rng.random()
    if r < 0.35:
        return f"Compare {a} and {b} in terms of {aspect} for {rng.choice(v.AUDIENCES)}."
    if r < 0.65:
        return f"What are the main differences between {a} and {b} when it comes to {aspect}?"
    return f"Which is better for {rng.choice(v.PLAN_FOR)}, {a} or {b}? Explain your reasoning."


def _plan(rng: random.Random, hints: Hints) -> str:
    verb = rng.choice(("Plan", "Design", "Put together", "Prepare", "Draft", "Sketch out"))
    tail = _opt(rng, 0.4, f" that also covers {_topic(rng, hints)}")
    return f"{verb} {_a(rng.choice(v.PLAN_KINDS))} for {rng.choice(v.PLAN_FOR)}{tail}."


def _text_task(rng: random.Random, hints: Hints) -> str:
    """Something to do with a given text: rewrite, extract, rate or question it."""
    r = rng.random()
    if r < 0.35:
        return "rewrite it " + _fill(rng, hints, rng.choice(v.REWRITE_MANNERS))
    if r < 0.6:
        form = rng.choice(v.EXTRACT_FORMATS)
        return f"{rng.choice(v.EXTRACT_VERBS)} {rng.choice(v.ENTITIES)} in it {form}".rstrip()
    if r < 0.75:
        scale = rng.choice(("five", "ten", "three"))
        return f"rate its {rng.choice(v.QUALITIES)} on a scale from one to {scale} and explain"
    if r < 0.9:
        kind, purpose = rng.choice(v.QUESTION_KINDS), rng.choice(v.QUESTION_PURPOSES)
        return f"write {rng.choice(v.NUMBERS)} {kind} {purpose}"
    return rng.choice(v.TRANSFORMS)


def _transform(rng: random.Random, hints: Hints) -> str:
    kind = rng.choice(v.TEXT_KINDS)
    task = _text_task(rng, hints)
    r = rng.random()
    if r < 0.4:
        return f"Given {_a(kind)}, {task}."
    if r < 0.75:
        return f"Read the following {kind} about {_topic(rng, hints)} and {task}."
    return f"Here is {_a(kind)} written by {rng.choice(v.ROLES)}. Please {task}."


def _input_task(rng: random.Random, hints: Hints) -> str:
    thing, task = rng.choice(v.INPUT_THINGS), rng.choice(v.INPUT_TASKS)
    if rng.random() < 0.6:
        return f"Given {thing}, {task}."
    return f"You will receive {thing}. Your job is to {task}."


def _translate(rng: random.Random, hints: Hints) -> str:
    kind = rng.choice(v.TEXT_KINDS)
    keep = _opt(rng, 0.6, rng.choice((" and keep the original tone", " for a formal audience",
                                      " using everyday vocabulary", " and explain any idioms")))
    about = _topic(rng, hints)
    return f"Translate the following {kind} about {about} into {rng.choice(v.LANGUAGES)}{keep}."


def _role(rng: random.Random, hints: Hints) -> str:
    role = rng.choice(v.ROLES)
    if rng.random() < 0.5:
        task = rng.choice(v.ROLE_TASKS)
    else:
        task = f"explain {_topic(rng, hints)} to {rng.choice(v.AUDIENCES)}"
    r = rng.random()
    if r < 0.4:
        return f"Pretend you are {role} and {task}."
    if r < 0.7:
        return f"You are {role}. {task[:1].upper()}{task[1:]}."
    return f"Imagine you are {role}. How would you {task}?"


def _examples_of(rng: random.Random, hints: Hints) -> str:
    concept, context = rng.choice(v.CONCEPTS), rng.choice(v.EXAMPLE_CONTEXTS)
    if rng.random() < 0.5:
        return f"Give {rng.choice(v.NUMBERS)} examples of {concept} {context}."
    return f"What is {concept}? Give an example {context} that {rng.choice(v.AUDIENCES)} would get."


def _math(rng: random.Random, hints: Hints) -> str:
    a, b = rng.randint(2, 19), rng.randint(3, 48)
    c = rng.randint(50, 990)
    if rng.random() < 0.6:
        text = rng.choice(v.MATH_STORIES).format(
            a=a, b=b, c=c, name=rng.choice(v.NAMES), p=rng.choice(v.PLACES),
            item=rng.choice(v.MATH_ITEMS),
        )
        return text + "?"
    text = rng.choice(v.MATH_TASKS).format(a=a, b=b, c=c)
    return text + ("?" if text.startswith(("How", "What", "If", "A recipe")) else ".")


def _opinion(rng: random.Random, hints: Hints) -> str:
    topic = _topic(rng, hints)
    if rng.random() < 0.6:
        side = rng.choice(("for", "against"))
        return f"{rng.choice(v.DEBATE_VERBS)} {side} {topic} for {rng.choice(v.AUDIENCES)}."
    return f"Do you think {topic} will matter more in twenty years? Explain why."


def _classify(rng: random.Random, hints: Hints) -> str:
    r = rng.random()
    if r < 0.55:
        obj = _fill(rng, hints, rng.choice(v.CLASSIFY_OBJECTS))
        about = _opt(rng, 0.4, f" about {_topic(rng, hints)}")
        if rng.random() < 0.5:
            a, b = rng.choice(v.LABEL_PAIRS)
            test = rng.choice(v.LABEL_QUESTIONS).format(a=a, b=b)
        else:
            test = rng.choice(v.PROPERTIES)
        text = f"{rng.choice(v.CLASSIFY_VERBS)} {obj}{about} {test}."
    else:
        a, b = rng.choice(v.LABEL_PAIRS)
        c1, c2, c3 = rng.choice(v.CATEGORY_SETS)
        text = rng.choice(v.CLASSIFY_SHAPES).format(
            t=rng.choice(v.TEXT_KINDS), s=_topic(rng, hints), a=a, b=b,
            prop=rng.choice(v.PROPERTIES), c1=c1, c2=c2, c3=c3,
        )
        question = text.startswith(("Is ", "Which ")) and not text.endswith("yes or no")
        text += "?" if question else "."
    return text + _opt(rng, 0.4, " " + rng.choice(v.CLASSIFY_SUFFIXES))


# (shape, weight); classification shapes are ~18% of novel instructions
_WEIGHTED: tuple[tuple[Shape, float], ...] = (
    (_creative, 14), (_explain, 9), (_list, 11), (_advice, 8), (_compare, 4), (_plan, 6),
    (_transform, 12), (_input_task, 4), (_translate, 2), (_role, 5), (_examples_of, 3),
    (_math, 2), (_opinion, 2), (_classify, 18),
)
_SHAPES: tuple[Shape, ...] = tuple(shape for shape, _ in _WEIGHTED)
_CUM_WEIGHTS: tuple[float, ...] = tuple(
    sum(weight for _, weight in _WEIGHTED[: i + 1]) for i in range(len(_WEIGHTED))
)
