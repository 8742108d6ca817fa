"""The simulator's OpenRouter Batch API shapes (https://openrouter.ai/docs/batch-quickstart).

A POST to `batches` whose body holds an inline `requests` array (no `input_file_id`) is
OpenRouter's: `{"endpoint", "model", "completion_window"?, "requests": [{"custom_id",
"body"}]}`, `endpoint` and `model` before `requests` (OpenRouter stream-parses the body and
answers 400 otherwise), each body's `model` absent (inherited) or the batch's. It is answered
202 with status `validating` and processed as an OpenAI batch is (`asyncgen.sim.batches`);
its object is OpenRouter's (`model`, `request_counts`, `usage`, `error`, and `results` once
terminal), and `GET batches/{id}/results` pages its results with `next_cursor`. A batch
holding more lines than a page carries `results: null` in its object: its results are read
from the pages.
"""

from __future__ import annotations

from typing import Any

import orjson

from asyncgen.sim.protocol import JSON

DIALECT = "openrouter"


class Refused(Exception):
    """A submission OpenRouter answers 400 (the message and the parameter)."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def is_inline(body: dict[str, Any]) -> bool:
    """Whether a POST batches body is OpenRouter's (inline requests, no input file)."""
    return "requests" in body and "input_file_id" not in body


def input_lines(body: dict[str, Any], endpoints: tuple[str, ...], max_lines: int
                ) -> tuple[str, str, bytes, int]:
    """(endpoint, model, the lines as an OpenAI input file, their number) of a submission,
    or Refused."""
    keys = list(body)
    if "endpoint" not in keys or "model" not in keys:
        raise Refused("endpoint, model and requests are required", None)
    if keys.index("requests") < max(keys.index("endpoint"), keys.index("model")):
        raise Refused("endpoint and model must come before requests in the body", "requests")
    endpoint, model, requests = body["endpoint"], body["model"], body["requests"]
    if endpoint not in endpoints:
        raise Refused(f"endpoint must be one of {', '.join(endpoints)}", "endpoint")
    if not isinstance(model, str) or not model:
        raise Refused("model must be a non-empty string", "model")
    if body.get("completion_window", "24h") != "24h":
        raise Refused("the only supported completion_window is 24h", "completion_window")
    if not isinstance(requests, list) or not requests:
        raise Refused("requests must be a non-empty array", "requests")
    if len(requests) > max_lines:
        raise Refused(f"a batch holds at most {max_lines} requests", "requests")
    out: list[bytes] = []
    seen: set[str] = set()
    for index, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        line_body = item.get("body") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not custom_id or custom_id in seen:
            raise Refused(f"requests[{index}]: custom_id must be a unique non-empty string",
                          "custom_id")
        if not isinstance(line_body, dict):
            raise Refused(f"requests[{index}]: body must be a JSON object", "body")
        if line_body.setdefault("model", model) != model:
            raise Refused(f"requests[{index}]: body model must be the batch's model {model}",
                          "model")
        seen.add(custom_id)
        out.append(orjson.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint,
                                 "body": line_body}) + b"\n")
    return endpoint, model, b"".join(out), len(out)


def result_line(line: bytes) -> JSON:
    """An OpenAI output or error file line as an OpenRouter result (`error` as
    {message, type, param})."""
    item: JSON = orjson.loads(line)
    error = item.get("error")
    if isinstance(error, dict):
        item["error"] = {"message": error.get("message"), "type": error.get("code"),
                         "param": error.get("param")}
    return item


def public(batch: Any, terminal: bool, page_size: int) -> JSON:
    """An OpenRouter batch object (`batch`: the simulator's `_Batch`)."""
    results = batch.results if terminal and len(batch.results) <= page_size else None
    finished = [batch.times[s] for s in ("completed", "failed", "expired", "cancelled")
                if s in batch.times]
    error = None
    if batch.errors:
        error = {"message": "; ".join(str(e.get("message")) for e in batch.errors)}
    return {
        "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "model": batch.model,
        "provider": "sim", "status": batch.status, "completion_window": "24h",
        "created_at": batch.created_at, "finalized_at": finished[0] if finished else None,
        "expires_at": batch.created_at + 24 * 3600, "error": error,
        "request_counts": {"total": batch.total, "completed": batch.completed,
                           "failed": batch.failed},
        "usage": {"prompt_tokens": batch.prompt_tokens,
                  "completion_tokens": batch.completion_tokens,
                  "total_tokens": batch.prompt_tokens + batch.completion_tokens},
        "results": results,
    }


def results_page(items: list[JSON], cursor: str | None, limit: int) -> JSON:
    """One page of results from `cursor` (the index of its first line, as text)."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page = items[start:start + limit]
    more = start + limit < len(items)
    return {"object": "list", "data": page, "has_more": more,
            "next_cursor": str(start + limit) if more else None}
