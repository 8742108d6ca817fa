"""The provider simulator: text generator, limits, headers, faults, and the server on the wire."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer

from asyncgen.errors import UsageError
from asyncgen.selfinstruct import prompts
from asyncgen.sim import FAULT_HEADER, PRICE_IN_PER_M, PRICE_OUT_PER_M, SimConfig, serve
from asyncgen.sim.answers import classify_answer, input_first, labels_for, output_first
from asyncgen.sim.command import add_arguments, config_from_args
from asyncgen.sim.faults import FaultCounter, FaultKind, FaultPlan, parse_fault_header
from asyncgen.sim.generator import Generated, Generator, PromptKind, finish, prompt_kind
from asyncgen.sim.headers import format_duration, rate_limit_headers
from asyncgen.sim.instructions import near_duplicate, novel_instruction
from asyncgen.sim.limits import RateLimiter, TokenBucket

ROOT = Path(__file__).resolve().parents[2]
PAPER_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seed_tasks.jsonl"
BLACKLIST = re.compile(
    r"\b(images?|graphs?|pictures?|files?|maps?|draw|plot|go to|video|audio|music|flowchart|"
    r"diagram)\b",
    re.IGNORECASE,
)
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
EXAMPLES = [
    "Generate a one-sentence description for each of the following people.",
    "Suggest some games that can be played by a group of people.",
    "Make a grocery list for a healthy meal.",
    "Explain the following idiom to me, and try to give me some examples.",
    "Brainstorm a list of possible New Year's resolutions.",
    "Recommend a movie for me to watch during the weekend and explain the reason.",
    "Find the misspelling in the sentence, and give me the correct spelling.",
    "Give me a cooking recipe for the following food.",
]
INSTANCE_DEMOS = [
    prompts.Demo("Sort the numbers.", False, (("3, 1, 2", "1, 2, 3"),)),
    prompts.Demo("Write a haiku about rain.", False, (("", "Rain taps the window"),)),
]
CLASS_DEMOS = [prompts.Demo("Is the review positive?", True, (("Great!", "Yes"), ("Bad.", "No")))]
CLASSIFY_DEMOS = [
    prompts.Demo("Tell me if the sentence is grammatical.", True, ()),
    prompts.Demo("Write a poem about the sea.", False, ()),
]
INSTRUCTION_STOP = ("\n\n", "\n16", "16.", "16 .")


def rouge_l(a: str, b: str) -> float:
    return float(SCORER.score(a, b)["rougeL"].fmeasure)


def paper_instructions() -> list[str]:
    if not PAPER_SEEDS.exists():
        return EXAMPLES
    return [json.loads(line)["instruction"] for line in PAPER_SEEDS.read_text().splitlines()]


def continuation(seed: int, examples: list[str]) -> Generated:
    prompt = prompts.instruction_prompt(examples)
    return finish(Generator(seed).generate(prompt), stop=INSTRUCTION_STOP, max_tokens=1024)


def items_of(generated: Generated) -> list[str]:
    """The complete items of a continuation of "9.", split as the released code does."""
    items = [item.strip() for item in re.split(r"\n\d+\s?\. ", generated.text)]
    return items[:-1] if generated.finish_reason == "length" else items


# --- generator ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        (prompts.instruction_prompt(EXAMPLES), PromptKind.INSTRUCTIONS),
        (prompts.classify_prompt(CLASSIFY_DEMOS, "Classify the tweet."), PromptKind.CLASSIFY),
        (prompts.input_first_prompt(INSTANCE_DEMOS, "Sort the list."), PromptKind.INPUT_FIRST),
        (prompts.output_first_prompt(CLASS_DEMOS, "Is it spam?"), PromptKind.OUTPUT_FIRST),
        ("What is the capital of France?", PromptKind.OTHER),
    ],
)
def test_prompt_kind_is_read_from_the_header(prompt: str, kind: PromptKind) -> None:
    assert prompt_kind(prompt) is kind


def test_instruction_continuation_is_a_numbered_list_up_to_15() -> None:
    for seed in range(30):
        generated = continuation(seed, EXAMPLES)
        assert generated.text.startswith(" ") and not generated.text.startswith("  ")
        numbers = [int(n) for n in re.findall(r"\n(\d+)\. ", generated.text)]
        assert numbers == list(range(10, 10 + len(numbers)))
        assert not numbers or numbers[-1] <= 15
        assert "\n\n" not in generated.text


def test_same_seed_and_prompt_give_the_same_answer_other_seeds_differ() -> None:
    prompt = prompts.instruction_prompt(EXAMPLES)
    assert Generator(7).generate(prompt) == Generator(7).generate(prompt)
    answers = {Generator(seed).generate(prompt).text for seed in range(5)}
    assert len(answers) == 5
    other = prompts.instruction_prompt(list(reversed(EXAMPLES)))
    assert Generator(7).generate(other) != Generator(7).generate(prompt)


def test_instruction_mix_over_many_prompts() -> None:
    """Near-duplicates (ROUGE-L > 0.7 to an example), rejects of each kind, novel ones."""
    pool = paper_instructions()
    rng = random.Random(0)
    kinds: Counter[str] = Counter()
    finish_reasons: Counter[str] = Counter()
    for seed in range(200):
        examples = rng.sample(pool, 8)
        generated = continuation(seed, examples)
        finish_reasons[generated.finish_reason] += 1
        for item in items_of(generated):
            if max(rouge_l(item, example) for example in examples) > 0.7:
                kinds["near_duplicate"] += 1
            elif BLACKLIST.search(item):
                kinds["blacklisted"] += 1
            elif item.startswith("Write a program"):
                kinds["program"] += 1
            elif len(item.split()) <= 3:
                kinds["short"] += 1
            else:
                kinds["novel"] += 1
    total = sum(kinds.values())
    share = {kind: count / total for kind, count in kinds.items()}
    assert 0.22 <= share["near_duplicate"] <= 0.38, share
    assert 0.02 <= share["blacklisted"] <= 0.09, share
    assert 0.01 <= share["program"] <= 0.06, share
    assert 0.01 <= share["short"] <= 0.06, share
    assert share["novel"] >= 0.5, share
    assert 3 <= finish_reasons["length"] <= 25, finish_reasons


def test_near_duplicates_stay_above_rouge_07_of_their_source() -> None:
    rng = random.Random(1)
    for instruction in paper_instructions():
        text = prompts.one_line(instruction)
        if len(text.split()) >= 4:
            duplicate = near_duplicate(rng, text)
            assert rouge_l(duplicate, text) > 0.7, (text, duplicate)


def _encode(text: str, vocab: dict[str, int]) -> str:
    tokens = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return "".join(chr(0x100 + vocab.setdefault(t, len(vocab))) for t in tokens)


def test_novel_instructions_are_diverse_under_a_greedy_rouge_filter() -> None:
    """1,500 candidates, each kept if ROUGE-L <= 0.7 against everything kept so far."""
    rng = random.Random(2)
    candidates = [novel_instruction(rng, ("breakfast", "healthy meal")) for _ in range(1500)]
    vocab: dict[str, int] = {}
    kept: list[str] = []
    encoded: list[str] = []
    for text in candidates:
        code = _encode(text, vocab)
        if encoded:
            lcs = process.cdist([code], encoded, scorer=LCSseq.similarity)[0]
            pairs = zip(lcs, encoded, strict=True)
            if max(2 * int(n) / (len(code) + len(e)) for n, e in pairs) > 0.7:
                continue
        kept.append(text)
        encoded.append(code)
    assert len(kept) >= 0.8 * len(candidates), len(kept)
    for a, b in zip(kept[:40], kept[40:80], strict=True):  # the LCS shortcut is ROUGE-L
        code_a, code_b = _encode(a, vocab), _encode(b, vocab)
        fast = 2 * LCSseq.similarity(code_a, code_b) / (len(code_a) + len(code_b))
        assert fast == pytest.approx(rouge_l(a, b))


def test_no_vocabulary_entry_but_the_deliberate_ones_has_a_blacklisted_word() -> None:
    from asyncgen.sim import vocab

    for name in dir(vocab):
        value = getattr(vocab, name)
        if name.isupper() and name != "BLACKLISTED" and isinstance(value, tuple | dict):
            for entry in value:
                assert not BLACKLIST.search(
                    " ".join(entry) if isinstance(entry, tuple) else entry
                ), (name, entry)


def test_novel_instructions_pass_the_keyword_and_length_filters() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        text = novel_instruction(rng)
        assert not BLACKLIST.search(text), text
        assert 3 < len(text.split()) <= 150, text
        assert text[0].isupper() and not text.startswith("Write a program"), text
        assert "{" not in text and "  " not in text, text


@pytest.mark.parametrize(
    ("instruction", "answer"),
    [
        ("Classify the sentiment of the following tweet.", " Yes"),
        ("Tell me if the sentence is grammatical.", " Yes"),
        ("Is the following statement true or false?", " Yes"),
        ("Which category does this article belong to: sports or politics?", " Yes"),
        ("Determine whether the number is prime.", " Yes"),
        ("Write a poem about the sea.", " No"),
        ("Suggest five names for a bakery.", " No"),
        ("Is there anything I can eat for breakfast without eggs?", " No"),
    ],
)
def test_classification_answer_follows_the_wording(instruction: str, answer: str) -> None:
    prompt = prompts.classify_prompt(CLASSIFY_DEMOS, instruction)
    for seed in range(3):
        text = Generator(seed).generate(prompt).text
        assert text == answer or text.strip() not in ("Yes", "No")


def test_classification_answer_is_rarely_unparseable() -> None:
    rng = random.Random(4)
    answers = Counter(classify_answer(rng, "Tell me if it rains.") for _ in range(3000))
    assert answers[" Yes"] > 2800
    assert 20 <= sum(n for a, n in answers.items() if a != " Yes") <= 120, answers


_EXAMPLE = re.compile(
    r"Example (\d+)\n([A-Z]\w*: .*)\nOutput: (.*?)(?=\n\nExample|\n?$)", re.S
)


def test_input_first_answers_in_the_example_format() -> None:
    instruction = "Given a paragraph about coffee roasting, summarize it in two sentences."
    formats: Counter[str] = Counter()
    for seed in range(60):
        generated = input_first(random.Random(seed), instruction)
        text, reason = generated
        if reason == "length":
            formats["truncated"] += 1
            continue
        examples = _EXAMPLE.findall(text)
        assert 1 <= len(examples) <= 4, text
        assert [int(n) for n, _, _ in examples] == list(range(1, len(examples) + 1))
        for _, given, answer in examples:
            formats["examples"] += 1
            formats["related"] += "coffee" in f"{given} {answer}".lower()
    assert formats["truncated"] <= 5
    assert formats["related"] >= 0.9 * formats["examples"], formats
    no_input, reason = input_first(random.Random(1), "Suggest five names for a bakery.")
    assert no_input.startswith("Output: ") and "Input:" not in no_input
    assert "bakery" in no_input.lower()


def test_instance_answers_name_their_input_fields_after_the_task() -> None:
    """As the demonstrations teach (§2.2), the model names the fields it generates."""
    text, _ = input_first(random.Random(0), "Given a paragraph about tea, summarize it.")
    assert "\nParagraph: " in text and "Input:" not in text
    text, _ = output_first(random.Random(0), "Classify the sentiment of the tweet.")
    assert "\nTweet: " in text and "Input:" not in text
    text, _ = input_first(random.Random(0), "Given the following, rewrite it politely.")
    assert "\nInput: " in text


def test_input_first_sometimes_produces_the_bad_cases_a_filter_must_catch() -> None:
    bad: Counter[str] = Counter()
    for seed in range(400):
        text, _ = input_first(random.Random(seed), "Given a sentence, rewrite it politely.")
        for _, given, answer in _EXAMPLE.findall(text):
            if not answer.strip():
                bad["empty"] += 1
            elif answer.strip() == given.strip():
                bad["same"] += 1  # the input copied, its field name included
            if given.endswith(":"):
                bad["colon"] += 1
    assert bad["empty"] > 0 and bad["same"] > 0 and bad["colon"] > 0, bad


@pytest.mark.parametrize(
    ("instruction", "labels"),
    [
        ("Identify the sentiment of the following tweet.", ["Positive", "Negative", "Neutral"]),
        ("Classify whether the review is formal or informal.", ["Formal", "Informal"]),
        ("Is the following statement true or false?", ["True", "False"]),
        (
            "Which category does the article belong to: sports, politics, or technology?",
            ["Sports", "Politics", "Technology"],
        ),
        ("Tell me if the sentence contains a metaphor.", ["Yes", "No"]),
        ("Label the following email as spam or not spam.", ["Spam", "Not spam"]),
    ],
)
def test_output_first_labels_come_from_the_task(instruction: str, labels: list[str]) -> None:
    assert labels_for(instruction) == labels
    text, reason = output_first(random.Random(0), instruction)
    if reason == "stop":
        found = re.findall(r"Class label: (.*)\n[A-Z]\w*: (.+)\n", text)
        assert 2 <= len(found) <= 3
        assert [label for label, _ in found] == labels[: len(found)]


@pytest.mark.parametrize(
    ("text", "stop", "max_tokens", "expected"),
    [
        ("abc\n\ndef", (), None, ("abc\n\ndef", "stop")),
        ("abc\n\ndef", ("\n\n",), None, ("abc", "stop")),
        ("abc Task: x", ("\n", "Task:"), None, ("abc ", "stop")),
        ("a16.b\n16c", ("\n16", "16."), None, ("a", "stop")),
        ("0123456789abcdef", (), 2, ("01234567", "length")),
        ("0123456789abcdef", (), 4, ("0123456789abcdef", "stop")),
        ("0123\n456789abcdef", ("\n",), 2, ("0123", "stop")),
        ("0123456789\nabcdef", ("\n",), 1, ("0123", "length")),
        ("", ("x",), 3, ("", "stop")),
    ],
)
def test_finish_applies_stop_sequences_and_max_tokens(
    text: str, stop: tuple[str, ...], max_tokens: int | None, expected: tuple[str, str]
) -> None:
    result = finish(Generated(text, "stop"), stop=stop, max_tokens=max_tokens)
    assert (result.text, result.finish_reason) == expected


# --- limits and headers (injected clock) ------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_holds_one_seconds_worth_and_refills_continuously() -> None:
    bucket = TokenBucket("requests", 600, now=0.0)  # 10/s, capacity 10
    for _ in range(10):
        assert bucket.wait_s(1, now=0.0) == 0
        bucket.take(1)
    assert bucket.wait_s(1, now=0.0) == pytest.approx(0.1)
    assert bucket.wait_s(1, now=0.05) == pytest.approx(0.05)
    assert bucket.wait_s(1, now=0.1) == 0
    assert bucket.wait_s(1, now=100.0) == 0
    assert bucket.state().remaining == 10  # capped at capacity


def test_small_limits_still_allow_one_request_and_big_requests_go_into_debt() -> None:
    bucket = TokenBucket("requests", 6, now=0.0)  # 0.1/s, capacity 1
    assert bucket.capacity == 1 and bucket.wait_s(1, now=0.0) == 0
    bucket.take(1)
    assert bucket.wait_s(1, now=0.0) == pytest.approx(10.0)
    tokens = TokenBucket("tokens", 600, now=0.0)  # 10 tokens/s, capacity 10
    assert tokens.wait_s(50, now=0.0) == 0  # bigger than capacity: admitted when full
    tokens.take(50)
    assert tokens.wait_s(5, now=0.0) == pytest.approx(4.5)  # repay 40 of debt + 5


def test_rate_limiter_admits_against_both_buckets_and_a_rejection_takes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=120, tpm=600, clock=clock)  # 2 req/s, 10 tokens/s
    first = limiter.admit(8)
    assert first.admitted and first.limited_by is None
    second = limiter.admit(8)  # requests left (1), tokens not (2 left)
    assert not second.admitted and second.limited_by == "tokens"
    assert second.retry_after_s == pytest.approx(0.6)
    states = {s.resource: s for s in second.states}
    assert states["requests"].remaining == 1  # untouched by the rejection
    clock.now += 0.6
    assert limiter.admit(8).admitted
    third = limiter.admit(1)
    assert not third.admitted and third.limited_by in ("requests", "tokens")
    assert not RateLimiter(rpm=0, tpm=0, clock=clock).enabled


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "1ms"),
        (0.547, "547ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (59.9999, "1m0s"),
        (360, "6m0s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_reset_durations_are_formatted_like_openai(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_rate_limit_headers_by_style() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=6000, clock=clock)
    ok = limiter.admit(10)
    refused = limiter.admit(10)
    openai = rate_limit_headers(
        "openai", ok.states, limited_by=None, retry_after_s=0, now_epoch_s=1_000.0
    )
    assert openai == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "90",
        "x-ratelimit-reset-tokens": "100ms",
    }
    limited = rate_limit_headers(
        "openai",
        refused.states,
        limited_by="requests",
        retry_after_s=refused.retry_after_s,
        now_epoch_s=1_000.0,
    )
    assert limited["Retry-After"] == "1" and limited["retry-after-ms"] == "1000"
    router = rate_limit_headers(
        "openrouter", refused.states, limited_by="requests", retry_after_s=0.25, now_epoch_s=1_000.0
    )
    assert router == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1000250",
        "Retry-After": "1",
    }
    assert rate_limit_headers("openai", (), limited_by=None, retry_after_s=0, now_epoch_s=0) == {}


# --- config, flags, faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_429": 1.5}, "fail_429 must be a probability"),
        ({"fail_5xx": 0.6, "fail_reset": 0.6}, "sum must be <= 1"),
        ({"rpm_limit": -1}, "rpm_limit must be >= 0"),
        ({"latency_ms": -5.0}, "latency_ms must be"),
        ({"tokens_per_s": float("nan")}, "tokens_per_s must be"),
        ({"style": "anthropic"}, "style must be one of"),
        ({"port": 70000}, "port must be"),
    ],
)
def test_config_rejects_bad_values(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimConfig(**options)


def test_flags_become_a_config_and_bad_values_a_usage_error() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(
        parser.parse_args(
            ["--seed", "4", "--rpm-limit", "3000", "--style", "openrouter", "--fail-hang", "0.1"]
        )
    )
    assert (config.seed, config.rpm_limit, config.style, config.fail_hang) == (
        4,
        3000,
        "openrouter",
        0.1,
    )
    with pytest.raises(UsageError, match=r"--fail-\* probabilities add up to 1.4"):
        config_from_args(parser.parse_args(["--fail-malformed", "0.7", "--fail-hang", "0.7"]))


@pytest.mark.parametrize(
    ("value", "kind", "times", "retry_ms"),
    [
        ("401", FaultKind.UNAUTHORIZED, None, 1000),
        (" 503*2 ", FaultKind.UNAVAILABLE, 2, 1000),
        ("429;retry-after-ms=20", FaultKind.RATE_LIMIT, None, 20),
        ("429*1;retry-after-ms=5", FaultKind.RATE_LIMIT, 1, 5),
        ("context_length", FaultKind.CONTEXT_LENGTH, None, 1000),
    ],
)
def test_fault_header_is_parsed(
    value: str, kind: FaultKind, times: int | None, retry_ms: int
) -> None:
    fault, parsed_times = parse_fault_header(value)
    assert (fault.kind, parsed_times, fault.retry_after_ms) == (kind, times, retry_ms)


@pytest.mark.parametrize("value", ["418", "429*x", "429;wait=3", ""])
def test_bad_fault_headers_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="X-Sim-Fault"):
        parse_fault_header(value)


def test_counted_faults_fail_only_the_first_n_identical_requests() -> None:
    counter = FaultCounter()
    assert [counter.should_fail("503*2", b"body", 2) for _ in range(4)] == [
        True,
        True,
        False,
        False,
    ]
    assert counter.should_fail("503*2", b"other body", 2)
    assert counter.should_fail("401", b"body", None)


def test_random_faults_follow_the_probabilities_and_the_seed() -> None:
    config = SimConfig(seed=9, fail_429=0.2, fail_5xx=0.1, fail_200_error=0.1)

    def draws() -> list[FaultKind | None]:
        plan = FaultPlan(config)
        return [f.kind if (f := plan.draw()) else None for _ in range(4000)]

    first = draws()
    assert first == draws()
    counts = Counter(first)
    assert 700 <= counts[FaultKind.RATE_LIMIT] <= 900
    server = sum(
        counts[k]
        for k in (
            FaultKind.SERVER_ERROR,
            FaultKind.BAD_GATEWAY,
            FaultKind.UNAVAILABLE,
            FaultKind.ORIGIN_TIMEOUT,
            FaultKind.OVERLOADED,
        )
    )
    assert 320 <= server <= 480
    assert 320 <= counts[FaultKind.ERROR_200] + counts[FaultKind.FINISH_ERROR] <= 480
    assert 2200 <= counts[None] <= 2600
    assert FaultPlan(SimConfig()).draw() is None


# --- the server on the wire ------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        yield client


CLASSIFY_PROMPT = prompts.classify_prompt(CLASSIFY_DEMOS, "Tell me if the email is spam.")


def chat(prompt: str = CLASSIFY_PROMPT, **params: Any) -> dict[str, Any]:
    return {"model": "any/model-name", "messages": [{"role": "user", "content": prompt}], **params}


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    path: str = "/chat/completions",
) -> tuple[int, Any, Any]:
    async with session.post(url + path, json=body, headers=headers) as response:
        raw = await response.read()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = raw
        return response.status, data, response.headers


@pytest.mark.anyio
async def test_chat_and_completions_answer_with_usage_and_cost(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimConfig(seed=1)) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        status, data, _ = await post(session, url, chat(max_tokens=3, stop=["\n"]))
        assert status == 200 and data["object"] == "chat.completion"
        assert data["model"] == "any/model-name"
        choice = data["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": " Yes"}
        assert choice["finish_reason"] == "stop"
        usage = data["usage"]
        assert usage["prompt_tokens"] == -(-len(CLASSIFY_PROMPT) // 4)
        assert usage["completion_tokens"] == 1
        assert usage["total_tokens"] == usage["prompt_tokens"] + 1
        expected = (usage["prompt_tokens"] * PRICE_IN_PER_M + PRICE_OUT_PER_M) / 1e6
        assert usage["cost"] == pytest.approx(expected)
        api = url.replace("/v1", "/api/v1")
        body = {"model": "m", "prompt": [CLASSIFY_PROMPT], "max_tokens": 3}
        status, data, _ = await post(session, api, body, path="/completions")
        assert status == 200 and data["object"] == "text_completion"
        assert data["choices"][0]["text"] == " Yes"


@pytest.mark.anyio
async def test_models_list_has_openrouter_pricing(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig()) as url:
        for base in (url, url.replace("/v1", "/api/v1")):
            async with session.get(base + "/models") as response:
                data = await response.json()
            model = data["data"][0]
            assert model["id"] == "sim-1"
            assert model["pricing"] == {"prompt": "0.0000005", "completion": "0.0000015",
                                    "input_cache_read": "0.00000005"}


@pytest.mark.anyio
async def test_same_body_same_answer_and_chat_equals_completions(
    session: aiohttp.ClientSession,
) -> None:
    prompt = prompts.instruction_prompt(EXAMPLES)
    async with serve(SimConfig(seed=5)) as url:
        _, a, _ = await post(session, url, chat(prompt))
        _, b, _ = await post(session, url, chat(prompt))
        _, c, _ = await post(session, url, {"model": "x", "prompt": prompt}, path="/completions")
    async with serve(SimConfig(seed=6)) as url:
        _, d, _ = await post(session, url, chat(prompt))
    text = a["choices"][0]["message"]["content"]
    assert text == b["choices"][0]["message"]["content"] == c["choices"][0]["text"]
    assert text != d["choices"][0]["message"]["content"]


@pytest.mark.anyio
async def test_stop_and_max_tokens_over_http(session: aiohttp.ClientSession) -> None:
    prompt = prompts.instruction_prompt(EXAMPLES)
    async with serve(SimConfig(seed=2)) as url:
        _, full, _ = await post(session, url, chat(prompt))
        _, cut, _ = await post(session, url, chat(prompt, stop="\n11."))
        _, short, _ = await post(session, url, chat(prompt, max_tokens=5))
    text = full["choices"][0]["message"]["content"]
    assert cut["choices"][0]["message"]["content"] == text.split("\n11.")[0]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert short["choices"][0]["message"]["content"] == text[:20]
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 5


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": [{"content": "x"}], "stream": true}', "stream"),
        (b'{"model": "m", "messages": [{"content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"model": "m", "messages": [{"content": "x"}], "stop": [1]}', "stop"),
    ],
)
async def test_invalid_requests_get_400(
    session: aiohttp.ClientSession, body: bytes, message: str
) -> None:
    async with serve(SimConfig()) as url:
        async with session.post(url + "/chat/completions", data=body) as response:
            assert response.status == 400
            assert message in (await response.json())["error"]["message"]


@pytest.mark.anyio
async def test_context_length_is_enforced(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig(context_length=100)) as url:
        status, data, _ = await post(session, url, chat("x" * 300, max_tokens=30))
    assert status == 400 and data["error"]["code"] == "context_length_exceeded"


FORCED_STATUS = [
    ("400", 400, None),
    ("401", 401, "invalid_api_key"),
    ("402", 402, None),
    ("403", 403, "content_policy_violation"),
    ("404", 404, "model_not_found"),
    ("408", 408, None),
    ("409", 409, None),
    ("413", 413, None),
    ("422", 422, None),
    ("429", 429, "rate_limit_exceeded"),
    ("429-quota", 429, "insufficient_quota"),
    ("429-daily", 429, None),
    ("500", 500, None),
    ("502", 502, None),
    ("503", 503, None),
    ("524", 524, None),
    ("529", 529, None),
    ("context_length", 400, "context_length_exceeded"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["openai", "openrouter"])
async def test_forced_status_faults(session: aiohttp.ClientSession, style: str) -> None:
    async with serve(SimConfig(style=style)) as url:  # type: ignore[arg-type]
        for value, status, code in FORCED_STATUS:
            got, data, headers = await post(session, url, chat(), {FAULT_HEADER: value})
            assert got == status, value
            error = data["error"]
            assert error["message"]
            if code is not None and (style == "openai" or value == "429-quota"):
                assert error["code"] == code, value
            if style == "openrouter" and value not in ("429-quota",):
                assert error["code"] == status, value
            if value == "429":
                assert headers["Retry-After"] == "1"
            if value == "429-daily":
                reset_ms = int(headers["X-RateLimit-Reset"])
                assert reset_ms > (time.time() + 3600) * 1000
            if value == "429-quota":
                assert "Retry-After" not in headers


@pytest.mark.anyio
async def test_forced_fault_with_count_then_success(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig()) as url:
        header = {FAULT_HEADER: "503*2;retry-after-ms=20"}
        statuses = [(await post(session, url, chat(), header))[0] for _ in range(3)]
        _, _, headers = await post(session, url, chat("another prompt"), header)
        status, data, _ = await post(session, url, chat(), {FAULT_HEADER: "bogus"})
    assert statuses == [503, 503, 200]
    assert headers["retry-after-ms"] == "20" and headers["Retry-After"] == "1"
    assert status == 400 and "allowed:" in data["error"]["message"]


@pytest.mark.anyio
async def test_faults_in_a_200(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig()) as url:
        _, error, _ = await post(session, url, chat(), {FAULT_HEADER: "200-error"})
        _, finish_error, _ = await post(session, url, chat(), {FAULT_HEADER: "finish-error"})
        _, empty, _ = await post(session, url, chat(), {FAULT_HEADER: "empty-choices"})
        status, raw, _ = await post(session, url, chat(), {FAULT_HEADER: "malformed"})
    assert error["error"]["code"] == 502 and "choices" not in error
    assert finish_error["choices"][0]["finish_reason"] == "error"
    assert finish_error["usage"]["cost"] > 0
    assert empty["choices"] == [] and empty["usage"]["total_tokens"] > 0
    assert status == 200 and isinstance(raw, bytes) and raw.startswith(b'{"id":')


@pytest.mark.anyio
async def test_reset_drops_the_connection(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig()) as url:
        with pytest.raises(aiohttp.ClientError):
            await post(session, url, chat(), {FAULT_HEADER: "reset"})
        status, _, _ = await post(session, url, chat())  # the server is fine
    assert status == 200


@pytest.mark.anyio
async def test_hang_outlasts_the_client_timeout_and_ends_at_shutdown(
    session: aiohttp.ClientSession,
) -> None:
    outcome: list[str] = []

    async def hanging(url: str) -> None:
        try:
            await post(session, url, chat(), {FAULT_HEADER: "hang"})
            outcome.append("answered")
        except aiohttp.ClientError:
            outcome.append("dropped")

    async with anyio.create_task_group() as tg:
        async with serve(SimConfig()) as url:
            short = aiohttp.ClientTimeout(total=0.2)
            with pytest.raises(TimeoutError):
                async with session.post(
                    url + "/chat/completions",
                    json=chat(),
                    headers={FAULT_HEADER: "hang"},
                    timeout=short,
                ):
                    pass
            tg.start_soon(hanging, url)
            await wait_for_count(session, url, "hang", 2)
            started = time.monotonic()
        stopped = time.monotonic() - started
    assert outcome == ["dropped"]
    assert stopped < 1.0


async def stats(session: aiohttp.ClientSession, url: str, key: str) -> int:
    async with session.get(url.replace("/v1", "/sim/stats")) as response:
        return int((await response.json())["counts"].get(key, 0))


async def wait_for_count(session: aiohttp.ClientSession, url: str, key: str, count: int) -> None:
    """Poll the server's counters until `key` reaches `count` (at most 5 s)."""
    for _ in range(500):
        if await stats(session, url, key) >= count:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"the server never counted {count} {key!r}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flag", "expect"),
    [
        ("fail_429", "429"), ("fail_5xx", "5xx"), ("fail_reset", "dropped"),
        ("fail_malformed", "malformed"), ("fail_200_error", "error_in_200"),
        ("fail_hang", "timeout"),
    ],
)
async def test_each_random_fault_is_visible_on_the_wire(
    session: aiohttp.ClientSession, flag: str, expect: str
) -> None:
    seen: Counter[str] = Counter()
    options: dict[str, Any] = {flag: 1.0}
    async with serve(SimConfig(seed=4, **options)) as url:
        for n in range(6):
            try:
                status, data, headers = await post(
                    session, url, chat(f"prompt {n}"), None,
                ) if flag != "fail_hang" else await _post_with_timeout(session, url)
            except aiohttp.ClientError:
                seen["dropped"] += 1
                continue
            except TimeoutError:
                seen["timeout"] += 1
                continue
            if status == 429:
                assert 1 <= int(headers["Retry-After"]) <= 1
                assert 100 <= int(headers["retry-after-ms"]) <= 1000
                seen["429"] += 1
            elif status in (500, 502, 503, 524, 529):
                seen["5xx"] += 1
            elif isinstance(data, bytes):
                seen["malformed"] += 1
            elif "error" in data or data["choices"][0]["finish_reason"] == "error":
                seen["error_in_200"] += 1
    assert seen == {expect: 6}


async def _post_with_timeout(session: aiohttp.ClientSession, url: str) -> tuple[int, Any, Any]:
    short = aiohttp.ClientTimeout(total=0.1)
    async with session.post(url + "/chat/completions", json=chat(), timeout=short) as response:
        return response.status, await response.read(), response.headers


@pytest.mark.anyio
async def test_rpm_limit_answers_429_with_openai_headers(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig(rpm_limit=60)) as url:  # capacity 1 request
        ok_status, _, ok_headers = await post(session, url, chat())
        status, data, headers = await post(session, url, chat())
    assert ok_status == 200
    assert ok_headers["x-ratelimit-limit-requests"] == "60"
    assert ok_headers["x-ratelimit-remaining-requests"] == "0"
    assert re.fullmatch(r"\d+ms|1s", ok_headers["x-ratelimit-reset-requests"])
    assert "x-ratelimit-limit-tokens" not in ok_headers
    assert status == 429 and data["error"]["code"] == "rate_limit_exceeded"
    assert data["error"]["type"] == "requests"
    assert headers["Retry-After"] == "1"
    assert 500 <= int(headers["retry-after-ms"]) <= 1000  # 1 s minus the time between the two


@pytest.mark.anyio
async def test_tpm_limit_answers_429_with_openrouter_headers(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimConfig(tpm_limit=60_000, style="openrouter")) as url:  # 1,000/s
        body = chat(max_tokens=900)  # ~ prompt + 900 tokens: the bucket holds one
        ok_status, _, ok_headers = await post(session, url, body)
        before_ms = time.time() * 1000
        status, data, headers = await post(session, url, body)
    assert ok_status == 200 and ok_headers["X-RateLimit-Limit"] == "60000"
    assert status == 429 and data["error"]["code"] == 429
    assert "tokens per min" in data["error"]["message"]
    assert headers["X-RateLimit-Limit"] == "60000"
    assert int(headers["X-RateLimit-Remaining"]) < 1000
    assert before_ms < int(headers["X-RateLimit-Reset"]) < before_ms + 2000
    assert headers["Retry-After"] == "1"
    assert "retry-after-ms" not in headers


@pytest.mark.anyio
async def test_latency_and_output_speed_delay_the_answer(session: aiohttp.ClientSession) -> None:
    async with serve(SimConfig(latency_ms=40, tokens_per_s=100)) as url:
        started = time.monotonic()
        _, data, _ = await post(session, url, chat(max_tokens=3))
        elapsed = time.monotonic() - started
    assert data["usage"]["completion_tokens"] == 1
    assert 0.05 <= elapsed < 1.0  # 40 ms + 1 token / 100 per s


def _spawn(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncgen.sim", *flags], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.anyio
async def test_python_m_asyncgen_sim_prints_its_url_and_stops_on_sigterm() -> None:
    proc = _spawn("--seed", "3", "--latency-ms", "1")
    try:
        assert proc.stdout is not None
        line = await anyio.to_thread.run_sync(proc.stdout.readline)
        match = re.fullmatch(r"asyncgen sim listening on (http://127\.0\.0\.1:\d+/v1)\n", line)
        assert match, line
        url = match.group(1)
        async with aiohttp.ClientSession() as client:
            status, _, _ = await post(client, url, chat())
            assert status == 200
            hanging = client.post(url + "/chat/completions", json=chat(),
                                  headers={FAULT_HEADER: "hang"})
            async with anyio.create_task_group() as tg:

                async def wait_hang() -> None:
                    with pytest.raises(aiohttp.ClientError):
                        async with hanging:
                            pass

                tg.start_soon(wait_hang)
                await wait_for_count(client, url, "hang", 1)
                proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=5))
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_python_m_asyncgen_sim_refuses_bad_flags_with_exit_2() -> None:
    proc = _spawn("--fail-429", "0.7", "--fail-5xx", "0.7")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip() == (
        "asyncgen: error: --fail-* probabilities add up to 1.4; their sum must be <= 1"
    )
