"""The simulated model's answers to the classification and instance prompts, and to anything else.

Each answer is built from the candidate instruction's own words, so it is visibly about that
task, and includes the defects a real model produces at a low rate (an unparseable label, an
empty output, an output equal to its input, an input ending with ':', a cut-off answer).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from asyncgen.sim import vocab as v

UNPARSEABLE_P = 0.02  # classification answer that is neither Yes nor No
EMPTY_OUTPUT_P = 0.03
OUTPUT_IS_INPUT_P = 0.03
COLON_INPUT_P = 0.02
TRUNCATE_P = 0.02  # instance answer cut off, finish_reason "length"

_CLASSIFY_WORDS = re.compile(
    r"\b(classify|classification|categori[sz]e|whether|tell me if|true or false|sentiment|"
    r"which category|which class|is it|is this|yes or no|spam|label the|label each|"
    r"detect if|determine if|decide if|find out if|check if)\b"
)
_NEEDS_INPUT = re.compile(
    r"\b(given|following|below|this|these|here is|you will receive|input|the (sentence|text|"
    r"paragraph|passage|list|code|table|email|review|tweet|article|word|poem|story|statement|"
    r"argument|equation|function|query|question))\b"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_A_WORD = re.compile(r"\b(a|the) word\b")
_SENTENCE_END = re.compile(r"[.?!](?:\s|$)")
_CLAUSE_END = re.compile(r"[,.;:?!]| and | in | to | for | into | from | with | that ")
_OR_LABELS = re.compile(
    r"\b(?:is|as|sounds|labeled|considered)\s+(\w+(?:[ -]\w+)?)\s+(?:or|rather than)\s+"
    r"(\w+(?:[ -]\w+)?)",
    re.IGNORECASE,
)
_LIST_LABELS = re.compile(r"(?::|into|as)\s+((?:[\w ]+,\s*)+(?:or\s+)?[\w ]+?)[.?]", re.IGNORECASE)
_LIST_LIKE = re.compile(
    r"\b(list|suggest|brainstorm|name|ideas|ways|tips|examples|steps|reasons|recommend)\b"
)
_TASK_WORDS = frozenset(
    """summarize suggest identify belong belongs contains contain category categories classify
    whether sentiment determine decide detect check judge predict indicate label labels labeled
    brainstorm recommend propose compose draft craft produce rewrite translate extract highlight
    pull count underline rate answer solve calculate compute convert sort order explain outline
    discuss clarify illustrate walk pretend imagine following given paragraph text short long
    true false yes which each every into rather considered sounds reads should would""".split()
)
_FIELDS = {
    "sentence": "Sentence", "sentences": "Sentence", "paragraph": "Paragraph",
    "passage": "Passage", "text": "Text", "list": "List", "numbers": "List", "email": "Email",
    "letter": "Letter", "review": "Review", "tweet": "Tweet", "article": "Article",
    "code": "Code", "function": "Code", "dialogue": "Dialogue", "conversation": "Dialogue",
    "question": "Question", "word": "Word", "poem": "Poem", "story": "Story",
    "statement": "Statement", "equation": "Equation", "table": "Table", "headline": "Headline",
}  # fmt: skip
_FIELD_WORDS = re.compile(r"\b(" + "|".join(_FIELDS) + r")\b")
_CREATIVE = re.compile(r"\b(write|compose|draft|poem|story|haiku|slogan|letter|craft)\b")
_NUMERIC = re.compile(r"\b(calculate|compute|solve|how many|how much|how far|average|sum)\b")


def keywords(instruction: str, limit: int = 6) -> list[str]:
    """The task's topic words: its 'about' phrase, then the last content words of its first
    sentence (where the object usually is), without repeats."""
    first = _SENTENCE_END.split(instruction, maxsplit=1)[0]
    content = [w.lower() for w in _WORD.findall(first)]
    content = [w for w in content if len(w) > 2 and w not in v.STOPWORDS and w not in _TASK_WORDS]
    about = [w.lower() for w in _WORD.findall(_about(instruction))]
    seen: list[str] = []
    for word in about + content[::-1]:
        if word not in seen and word not in v.STOPWORDS and word not in _TASK_WORDS:
            seen.append(word)
            if len(seen) == limit:
                break
    return seen


def subjects(instruction: str) -> list[str]:
    """What the task's text is about: its 'about' phrase (weighted up), then its keywords."""
    words = _WORD.findall(_about(instruction))[:4]
    if words and words[0].lower() in ("the", "a", "an"):
        words = words[1:]
    about = " ".join(words)
    keys = keywords(instruction)
    if not keys:
        return [about or "the topic"]
    return [about] * 3 + keys if about else keys


def _about(instruction: str) -> str:
    """The words after ' about ', up to the end of the clause."""
    tail = instruction.partition(" about ")[2]
    return _CLAUSE_END.split(tail, maxsplit=1)[0]


def is_classification(instruction: str) -> bool:
    """Whether the wording reads like a classification task (the model's 'judgement')."""
    return _CLASSIFY_WORDS.search(instruction.lower()) is not None


def needs_input(instruction: str) -> bool:
    """Whether the task reads like it works on a given input."""
    return _NEEDS_INPUT.search(instruction.lower()) is not None


def classify_answer(rng: random.Random, instruction: str) -> str:
    """' Yes' or ' No' from the wording; rarely something unparseable."""
    if rng.random() < UNPARSEABLE_P:
        return rng.choice((" Maybe", " It depends", " Unclear", " Possibly"))
    return " Yes" if is_classification(instruction) else " No"


def labels_for(instruction: str) -> list[str]:
    """Class labels a model would read off the task definition."""
    lower = instruction.lower()
    if "sentiment" in lower:
        return ["Positive", "Negative", "Neutral"]
    if "true or false" in lower:
        return ["True", "False"]
    if "spam" in lower:
        return ["Spam", "Not spam"]
    listed = _LIST_LABELS.search(instruction)
    if listed is not None and ("categor" in lower or "group" in lower or "classify the" in lower):
        parts = re.split(r",\s*(?:or\s+)?|\s+or\s+", listed.group(1))
        labels = [p.strip().removeprefix("a ").removeprefix("an ") for p in parts if p.strip()]
        if len(labels) >= 2:
            return [label[:1].upper() + label[1:] for label in labels]
    pair = _OR_LABELS.search(instruction)
    if pair is not None and pair.group(1).lower() not in ("a", "the"):
        return [pair.group(1).capitalize(), pair.group(2).capitalize()]
    return ["Yes", "No"]


def field_name(instruction: str) -> str:
    """The input field a model names after the task's own words ("Sentence", "Email"), as the
    demonstrations teach; "Input" when the task names none."""
    found = _FIELD_WORDS.search(instruction.lower())
    return _FIELDS[found.group(1)] if found is not None else "Input"


def output_first(rng: random.Random, instruction: str) -> tuple[str, str]:
    """'Class label: X\\nSentence: ...\\n' pairs for 2-3 labels; text and finish reason."""
    labels = labels_for(instruction)[:3]
    if len(labels) > 2 and rng.random() < 0.5:
        labels = labels[:2]
    words = subjects(instruction)
    field = field_name(instruction)
    lines: list[str] = []
    for label in labels:
        lines.append(f"Class label: {label}")
        lines.append(f"{field}: {_labelled_input(rng, label, words)}")
    return _maybe_truncate(rng, "\n".join(lines) + "\n")


def input_first(rng: random.Random, instruction: str) -> tuple[str, str]:
    """'Example N\\nSentence: ...\\nOutput: ...' blocks (the field named after the task), or
    'Output: ...' alone."""
    words = subjects(instruction)
    if not needs_input(instruction):
        answer = _output(rng, _answer_form(instruction), words, "")
        return _maybe_truncate(rng, f"Output: {answer}")
    form = _answer_form(instruction)
    field = field_name(instruction)
    count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    blocks: list[str] = []
    for number in range(1, count + 1):
        given = _input(rng, instruction, words)
        r = rng.random()
        if r < EMPTY_OUTPUT_P:
            answer = ""
        elif r < EMPTY_OUTPUT_P + OUTPUT_IS_INPUT_P:
            answer = f"{field}: {given}"  # the whole input copied, field name and all
        else:
            answer = _output(rng, form, words, given)
        if rng.random() < COLON_INPUT_P:
            given = f"Here is the {rng.choice(v.TEXT_KINDS)}:"
        blocks.append(f"Example {number}\n{field}: {given}\nOutput: {answer}")
    return _maybe_truncate(rng, "\n\n".join(blocks) + "\n")


def generic(rng: random.Random, prompt: str) -> tuple[str, str]:
    """A short answer to a prompt of no known kind."""
    words = keywords(prompt[-400:], limit=3) or ["your question"]
    opener = rng.choice(v.GENERIC_OPENERS)
    return f"{opener} It mostly comes down to {' and '.join(words)}.", "stop"


def _maybe_truncate(rng: random.Random, text: str) -> tuple[str, str]:
    """Rarely cut the answer off, as a model hitting max_tokens would."""
    if len(text) > 20 and rng.random() < TRUNCATE_P:
        return text[: rng.randrange(len(text) // 3, len(text) - 5)], "length"
    return text, "stop"


_SENTENCES: tuple[str, ...] = (
    "{name} spent the weekend in {place} learning about {w}.",
    "The report on {w} was published on Monday and started a long debate.",
    "Our team tried a new approach to {w}, and the results were better than expected.",
    "{name} thinks that {w} is overrated, but {name2} strongly disagrees.",
    "Last year the city of {place} spent more money on {w} than ever before.",
    "I never understood {w} until {name} explained it to me over coffee.",
    "Experts in {place} warn that {w} will change how we live within ten years.",
    "The new book about {w} has three chapters, a glossary and many examples.",
    "Can someone explain why {w} keeps showing up in the news?",
    "{name} wrote a short note about {w} and left it on the kitchen table.",
)


def _sentence(rng: random.Random, words: Sequence[str]) -> str:
    """A plausible input sentence that mentions one of the task's words."""
    names = rng.sample(v.NAMES, 2)
    return rng.choice(_SENTENCES).format(
        w=rng.choice(words), name=names[0], name2=names[1], place=rng.choice(v.PLACES)
    )


def _input(rng: random.Random, instruction: str, words: Sequence[str]) -> str:
    """An input for the task: numbers, a word, an email or one or two sentences."""
    lower = instruction.lower()
    if "number" in lower or "equation" in lower:
        return ", ".join(str(rng.randint(1, 99)) for _ in range(rng.randint(3, 6)))
    if _A_WORD.search(lower):
        return rng.choice(words).capitalize()
    if "email" in lower or "letter" in lower:
        name = rng.choice(v.NAMES)
        return f"Hi {name}, {_sentence(rng, words)} Best regards, {rng.choice(v.NAMES)}"
    if rng.random() < 0.4:
        return f"{_sentence(rng, words)} {_sentence(rng, words)}"
    return _sentence(rng, words)


def _answer_form(instruction: str) -> str:
    """The form an answer to the task takes: numeric, list, creative or prose."""
    lower = instruction.lower()
    if _NUMERIC.search(lower):
        return "numeric"
    if _LIST_LIKE.search(lower):
        return "list"
    return "creative" if _CREATIVE.search(lower) else "prose"


def _output(rng: random.Random, form: str, words: Sequence[str], given: str) -> str:
    """An answer in the given form, about the task's words."""
    if form == "numeric":
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        return f"{a} x {b} = {a * b}, so the answer is {a * b}."
    if form == "list":
        count = rng.randint(3, 5)
        items = [f"{i}. {_item(rng, words)}" for i in range(1, count + 1)]
        return "\n".join(items)
    if form == "creative":
        lines = [line.format(w=rng.choice(words), t=rng.choice(v.TONES),
                             name=rng.choice(v.NAMES), place=rng.choice(v.PLACES))
                 for line in rng.sample(_LINES, rng.randint(2, 4))]
        return "\n".join(lines)
    if given:
        first = given.split(".")[0].strip()
        return f"The text is mainly about {words[0]}: {first.lower()}."
    reason = _sentence(rng, words)
    first = reason.split(" ", 1)[0]
    if first != "I" and first not in v.NAMES and first not in v.PLACES:
        reason = reason[:1].lower() + reason[1:]
    return f"In short, {words[0]} matters because {reason}"


def _item(rng: random.Random, words: Sequence[str]) -> str:
    """One list item that mentions a task word."""
    verb = rng.choice(("Try", "Consider", "Start with", "Avoid", "Plan", "Look for", "Share"))
    return f"{verb} {rng.choice(v.LIST_ADJECTIVES)} ideas for {rng.choice(words)}."


_LINES: tuple[str, ...] = (
    "The {w} waits quietly under a {t} sky,",
    "and {name} remembers every {w} of the past,",
    "a {t} song about {w} drifts across {place},",
    "until the {w} finally comes home.",
    "Nobody in {place} had seen a {w} like this before.",
)


def _sentiment_sentence(rng: random.Random, positive: bool, word: str) -> str:
    """A review-like sentence with a clear sentiment."""
    phrase = rng.choice(v.POSITIVE_PHRASES if positive else v.NEGATIVE_PHRASES)
    return f"I tried the {word} last week and {phrase}."


def _labelled_input(rng: random.Random, label: str, words: Sequence[str]) -> str:
    """An input that fits the class label."""
    lower = label.lower()
    if lower in ("positive", "yes", "true", "not spam"):
        return _sentiment_sentence(rng, True, rng.choice(words))
    if lower in ("negative", "no", "false"):
        return _sentiment_sentence(rng, False, rng.choice(words))
    if lower == "spam":
        return f"Congratulations! You won a free {rng.choice(words)}. Click here to claim it now!"
    if lower == "neutral":
        return f"The {rng.choice(words)} arrived on Tuesday in a brown box."
    return f"{_sentence(rng, words)[:-1]}, which is clearly a matter of {label.lower()}."
