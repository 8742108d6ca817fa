"""Batch API lines: the input file we upload, the output and error files we read back.

Input: one `{"custom_id", "method": "POST", "url", "body"}` per request. Output and error
files: `{"id", "custom_id", "response": {"status_code", "body"} | null, "error": {...} | null}`.
A line's response goes through the same `check_response` as a live response, so a batch line
and a live request fail in the same typed ways; a line that never ran (expired, cancelled,
its batch failed) is a `LineNotRun`, retryable and never billed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from asyncgen.llm.errors import LineNotRun, ProviderError, check_response
from asyncgen.llm.pricing import Price, Usage, usage_from

ENDPOINT_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's outcome: the text, or the typed error; `usage` when it was billed."""

    text: str
    finish_reason: str
    usage: Usage | None
    error: ProviderError | None = None


def input_file(url: str, lines: Iterable[tuple[str, bytes]]) -> bytes:
    """The JSONL input file: each request body (already encoded) under its custom_id."""
    head = b'{"custom_id":'
    middle = b',"method":"POST","url":' + orjson.dumps(url) + b',"body":'
    return b"".join(head + orjson.dumps(cid) + middle + body + b"}\n" for cid, body in lines)


def _text(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else choice.get("text")
    return content if isinstance(content, str) else ""


def read_line(raw: dict[str, Any], price: Price | None, *, now: float) -> LineResult:
    """The outcome of one output/error-file line (its cost from `usage.cost` or `price`)."""
    response = raw.get("response")
    if isinstance(response, dict):
        status = response.get("status_code")
        status = status if isinstance(status, int) else 500
        body = orjson.dumps(response.get("body"))
        try:
            parsed = check_response(status, {}, body, attempt=1, now=now, secret=None)
        except ProviderError as err:
            billed = None if err.usage is None else usage_from(err.usage, price)
            err.billed = billed
            return LineResult("", "error", billed, err)
        choice = parsed["choices"][0]
        raw_usage = parsed.get("usage")
        usage = usage_from(raw_usage, price) if isinstance(raw_usage, dict) else None
        finish = choice.get("finish_reason")
        return LineResult(_text(choice), finish if isinstance(finish, str) else "unknown", usage)
    error = raw.get("error")
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    return LineResult("", "error", None,
                      LineNotRun(f"batch line not run: {code or 'no response'} {message}".strip(),
                                 kind=code or None))


def read_file(content: bytes, price: Price | None, *, now: float) -> dict[str, LineResult]:
    """custom_id -> outcome for every whole line of an output or error file."""
    out: dict[str, LineResult] = {}
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a provider's garbled line: the line is retried as never answered
        if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
            out[item["custom_id"]] = read_line(item, price, now=now)
    return out
