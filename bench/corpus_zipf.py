"""A second synthetic instruction corpus, unlike bench/corpus.py: skeletons and a Zipf lexicon.

bench/corpus.py fills a task grammar from short hand-written word lists (about 2,000 distinct
tokens at a million instructions). This one keeps only the shape of real instructions: about
forty instruction skeletons ("Write a {A} {N} about the {N} of {N}.") whose function words are
fixed, with every content slot drawn from a large generated lexicon (pronounceable
pseudo-words, 40,000 nouns, 6,000 verbs, 8,000 adjectives, 6,000 names) under a Zipf law
(P(rank r) ~ 1/r^1.05, as English word frequencies), and a different length distribution: a
skeleton plus a geometric number of extra clauses (0 to 6), so lengths run from 3 to about 70
tokens, with a long tail.

Near-duplicates: `NEAR_DUPLICATE_SHARE` of the pool stream paraphrase an earlier instruction
(content words swapped for others of the lexicon, clauses added, dropped or reordered, function
words dropped); `generate_queries` makes half of the candidates near-duplicates of pool
instructions (a tenth of those verbatim), the other half fresh.

    pool = generate(1_000_000, seed=1)
    queries = generate_queries(pool, 2_000, seed=2)
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence

__all__ = ["NEAR_DUPLICATE_SHARE", "QUERY_DUPLICATE_SHARE", "generate", "generate_queries"]

NEAR_DUPLICATE_SHARE = 0.20
QUERY_DUPLICATE_SHARE = 0.50  # the "half-near-duplicate mix"
ZIPF_EXPONENT = 1.05

SKELETONS = [
    "Write a {A} {N} about the {N} of {N}.",
    "Explain how {N} {V} the {N} to a {N}.",
    "Give {K} reasons why {P} should {V} the {A} {N}.",
    "Summarize the {N} in {K} sentences.",
    "Classify the following {N} as {A} or {A}.",
    "What is the difference between a {N} and a {A} {N}?",
    "Describe the {A} {N} of {P} in detail.",
    "List {K} {N} that can {V} a {N}.",
    "Translate the {N} into {P}.",
    "Rewrite this {N} so that it sounds more {A}.",
    "Generate a {N} for a {A} {N} that wants to {V} {N}.",
    "How do I {V} a {N} without a {N}?",
    "Create a plan to {V} the {N} of {P} within {K} weeks.",
    "Is it {A} to {V} a {N} before the {N}?",
    "Write a function that {V} every {N} in a list of {N}.",
    "Suggest {K} names for a {A} {N}.",
    "Compare the {N} of {P} with the {N} of {P}.",
    "Find the {N} in the following {N} and {V} it.",
    "Tell me a {A} story about a {N} who {V} a {N}.",
    "What would happen if every {N} could {V}?",
    "Draft an email to {P} asking to {V} the {N}.",
    "Identify the {A} {N} in this {N}.",
    "Provide {K} examples of {A} {N}.",
    "Convert the {N} from {N} to {N}.",
    "Why does the {N} {V} when the {N} is {A}?",
    "Design a {A} {N} for {P}.",
    "Answer the question about the {N}: who {V} the {N}?",
    "Propose a {A} way to {V} {N} at {N}.",
    "Outline the {N} of a {N} for {N}.",
    "Detect whether the {N} is {A}.",
    "Pick the {N} that does not {V}.",
    "Explain the {N}.",
    "{V} the {N}.",
    "Name a {A} {N}.",
    "Write {K} questions a {N} might ask about {N}.",
    "Estimate how many {N} a {N} can {V} in a {N}.",
    "Describe a {N} to someone who has never seen a {N}.",
    "Argue for or against the claim that {N} {V} {N}.",
    "Plan a {A} trip from {P} to {P} with {K} stops.",
    "Correct the {N} in the following {N}.",
]

CLAUSES = [
    "Use {A} language.",
    "Keep it under {K} words.",
    "Mention the {N} at least once.",
    "and explain why the {N} {V}",
    "for a {A} {N}",
    "in the style of {P}",
    "using only {A} {N}",
    "Then {V} the {N} and the {N}.",
    "Include a {A} example about {N}.",
    "so that a {N} can {V} it",
    "without using the word {N}",
    "Format the answer as a {N}.",
    "Assume the reader is a {A} {N} from {P}.",
    "Do not {V} the {N}.",
]

FUNCTION_WORDS = ["the", "a", "please", "also", "very", "then", "now", "just", "really"]

_ONSETS = ["b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m",
           "n", "p", "pl", "pr", "qu", "r", "s", "sh", "sk", "sl", "st", "t", "th", "tr", "v",
           "w", "y", "z"]
_NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "ie", "y"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "x", "rd"]


class _Lexicon:
    """Distinct pseudo-words with Zipf-distributed draws (rank 1 most frequent)."""

    def __init__(self, rng: random.Random, size: int, taken: set[str]) -> None:
        words: list[str] = []
        while len(words) < size:
            syllables = rng.choice((1, 2, 2, 3, 3, 4))
            word = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
                           for _ in range(syllables))
            if word not in taken:
                taken.add(word)
                words.append(word)
        self.words = words
        self.cumulative = list(itertools.accumulate(1.0 / rank ** ZIPF_EXPONENT
                                                    for rank in range(1, size + 1)))

    def draw(self, rng: random.Random) -> str:
        at = bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])
        return self.words[min(at, len(self.words) - 1)]


class _Lexicons:
    def __init__(self) -> None:
        rng = random.Random(20261202)  # the lexicon is the same for every seed
        taken = set(FUNCTION_WORDS)
        self.by_slot = {"N": _Lexicon(rng, 40_000, taken), "V": _Lexicon(rng, 6_000, taken),
                        "A": _Lexicon(rng, 8_000, taken), "P": _Lexicon(rng, 6_000, taken)}

    def fill(self, rng: random.Random, pattern: str) -> str:
        out, rest = [], pattern
        while "{" in rest:
            before, _, after = rest.partition("{")
            slot, _, rest = after.partition("}")
            out.append(before)
            if slot == "K":
                out.append(str(rng.randint(2, 12)))
            else:
                word = self.by_slot[slot].draw(rng)
                out.append(word.capitalize() if slot == "P" else word)
        out.append(rest)
        return "".join(out)


_LEXICONS: _Lexicons | None = None


def _lexicons() -> _Lexicons:
    global _LEXICONS
    if _LEXICONS is None:
        _LEXICONS = _Lexicons()
    return _LEXICONS


def _fresh(rng: random.Random) -> str:
    """A skeleton and 0-6 extra clauses (geometric: each further one with p = 0.45)."""
    lexicons = _lexicons()
    parts = [lexicons.fill(rng, rng.choice(SKELETONS))]
    while len(parts) < 7 and rng.random() < 0.45:
        parts.append(lexicons.fill(rng, rng.choice(CLAUSES)))
    return " ".join(parts)


def paraphrase(rng: random.Random, text: str, edits: int) -> str:
    """`edits` edits: swap a content word, drop or add a word, add or drop a clause."""
    lexicons = _lexicons()
    words = text.split()
    for _ in range(edits):
        kind = rng.randrange(6)
        i = rng.randrange(len(words)) if words else 0
        if kind == 0 and words:
            words[i] = lexicons.by_slot[rng.choice("NNNVA")].draw(rng)
        elif kind == 1 and len(words) > 3:
            del words[i]
        elif kind == 2:
            words.insert(i, rng.choice(FUNCTION_WORDS))
        elif kind == 3:
            words += lexicons.fill(rng, rng.choice(CLAUSES)).split()
        elif kind == 4 and len(words) > 8:
            cut = rng.randrange(4, len(words))
            words = words[cut:] + words[:cut]  # clauses in another order
        else:
            words = [w.lower() for w in words]
    return " ".join(words)


def generate(n: int, *, seed: int = 0,
             near_duplicate_share: float = NEAR_DUPLICATE_SHARE) -> list[str]:
    """A stream of `n` instructions; `near_duplicate_share` of them paraphrase an earlier one."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < near_duplicate_share:
            out.append(paraphrase(rng, rng.choice(out), rng.randint(1, 3)))
        else:
            out.append(_fresh(rng))
    return out


def generate_queries(pool: Sequence[str], n: int, *, seed: int = 1,
                     duplicate_share: float = QUERY_DUPLICATE_SHARE) -> list[str]:
    """`n` candidates: `duplicate_share` near-duplicates of pool instructions (a tenth of
    them verbatim repeats), the others fresh."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if pool and roll < duplicate_share / 10:
            out.append(rng.choice(pool))
        elif pool and roll < duplicate_share:
            out.append(paraphrase(rng, rng.choice(pool), rng.randint(1, 2)))
        else:
            out.append(_fresh(rng))
    return out
