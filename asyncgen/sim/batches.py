"""The simulator's OpenAI Batch API: files, batches, output and error files.

Routes (under /v1 and /api/v1): POST files (multipart, purpose=batch), GET files/{id},
GET files/{id}/content, POST batches, GET batches (newest first, `limit`, `after`),
GET batches/{id}, POST batches/{id}/cancel.

A batch goes validating → in_progress → finalizing → completed, taking `batch_delay_s` in
all (a tenth validating, eight tenths answering its lines one by one, a tenth finalizing);
`request_counts.completed` rises as lines are answered. Each line is answered by the same
prompt-aware generator as a live request (`answer`), and billed when answered at the live
price times (1 - `batch_discount`). Injected, per batch from a seeded draw:
`batch_fail` (validation fails: status failed, `errors`, nothing billed), `batch_expire`
(the second half of the lines is never answered: status expired, those lines in the error
file with code batch_expired), `batch_line_error` per line (a 500 in the error file, not
billed). A cancelled batch keeps the lines answered so far; the rest go to the error file
with code batch_cancelled. Input lines are validated as OpenAI does: JSON, unique
`custom_id`, method POST, `url` equal to the batch's endpoint, at most 50,000 lines.

OpenRouter's dialect is served by the same routes (a POST whose body holds inline `requests`),
plus GET batches/{id}/results, paged: `asyncgen.sim.openrouter_batches`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from asyncgen.sim import openrouter_batches as openrouter
from asyncgen.sim.protocol import JSON, Endpoint

ENDPOINTS: dict[str, Endpoint] = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
COMPLETION_WINDOW = "24h"
WINDOW_S = 24 * 3600
MAX_LINES = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_STEPS = 20  # status updates while in progress


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """One line's answer: status and body as a live request would get, and its bill."""

    status: int
    body: JSON
    cost_usd: float  # at the batch price; 0 when not billed
    billed: bool


Answer = Callable[[Endpoint, bytes, dict[str, str]], LineAnswer]
"""Answers and bills one request body at the batch price (supplied by the server); the dict
holds the line's batch_id, custom_id and body_digest, for the books."""


@dataclass(slots=True)
class _File:
    id: str
    purpose: str
    filename: str
    data: bytes
    created_at: int

    def public(self) -> JSON:
        return {"id": self.id, "object": "file", "bytes": len(self.data),
                "created_at": self.created_at, "filename": self.filename,
                "purpose": self.purpose, "status": "processed"}


@dataclass(slots=True)
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: JSON | None
    created_at: int
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[JSON] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancel: bool = False
    dialect: str = "openai"
    model: str | None = None
    results: list[JSON] = field(default_factory=list)  # OpenRouter's, once terminal
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def public(self, page_size: int = 100) -> JSON:
        if self.dialect == openrouter.DIALECT:
            return openrouter.public(self, self.status in TERMINAL, page_size)
        out: JSON = {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": None if self.errors is None else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id, "completion_window": COMPLETION_WINDOW,
            "status": self.status, "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "created_at": self.created_at,
            "expires_at": self.created_at + WINDOW_S,
            "request_counts": {"total": self.total, "completed": self.completed,
                               "failed": self.failed},
            "metadata": self.metadata,
        }
        for name in ("in_progress", "finalizing", "completed", "failed", "expired",
                     "cancelling", "cancelled"):
            out[f"{name}_at"] = self.times.get(name)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchFaults:
    """Per-batch fault probabilities and the processing time."""

    delay_s: float = 1.0
    fail: float = 0.0
    expire: float = 0.0
    line_error: float = 0.0
    seed: int = 0
    page_size: int = 100  # OpenRouter's results: lines per page, and inline in the object


class BatchService:
    """Files and batches, kept in memory; one asyncio task processes each batch."""

    __slots__ = ("faults", "_answer", "_wall", "_files", "_batches", "_tasks", "_ids",
                 "counts", "billed_usd", "_bodies")

    def __init__(self, faults: BatchFaults, answer: Answer, wall: Callable[[], float]) -> None:
        self.faults = faults
        self._answer = answer
        self._wall = wall
        self._files: dict[str, _File] = {}
        self._batches: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.counts: Counter[str] = Counter()  # lines_billed, lines_failed, batches_<status>
        self.billed_usd = 0.0
        self._bodies: Counter[str] = Counter()  # digest of each billed line's body

    def __repr__(self) -> str:
        return f"<BatchService files={len(self._files)} batches={len(self._batches)}>"

    def add_routes(self, app: web.Application, prefix: str) -> None:
        app.router.add_post(f"{prefix}/files", self._upload)
        app.router.add_get(f"{prefix}/files/{{file_id}}", self._file)
        app.router.add_get(f"{prefix}/files/{{file_id}}/content", self._content)
        app.router.add_post(f"{prefix}/batches", self._create)
        app.router.add_get(f"{prefix}/batches", self._list)
        app.router.add_get(f"{prefix}/batches/{{batch_id}}", self._get)
        app.router.add_get(f"{prefix}/batches/{{batch_id}}/results", self._results)
        app.router.add_post(f"{prefix}/batches/{{batch_id}}/cancel", self._cancel)

    def stats(self) -> JSON:
        """Billing of batch lines, for GET /sim/stats: `duplicate_bodies` counts request
        bodies billed more than once (a client that pays twice for the same request)."""
        return {
            **dict(self.counts),
            "billed_usd": round(self.billed_usd, 9),
            "duplicate_bodies": sum(n - 1 for n in self._bodies.values() if n > 1),
            "by_status": dict(Counter(b.status for b in self._batches.values())),
        }

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _now(self) -> int:
        return int(self._wall())

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except (ValueError, web.HTTPException) as exc:
            return _error(400, f"expected a multipart/form-data upload: {exc}", "file")
        purpose, upload = form.get("purpose"), form.get("file")
        if purpose != "batch":
            return _error(400, f"purpose must be 'batch', got {purpose!r}", "purpose")
        if not isinstance(upload, web.FileField):
            return _error(400, "a 'file' field with the JSONL input is required", "file")
        data = upload.file.read()
        if len(data) > MAX_FILE_BYTES:
            return _error(400, f"file exceeds {MAX_FILE_BYTES} bytes", "file")
        item = _File(self._new_id("file-sim"), "batch", upload.filename or "input.jsonl",
                     data, self._now())
        self._files[item.id] = item
        return _json(200, item.public())

    async def _file(self, request: web.Request) -> web.Response:
        item = self._files.get(request.match_info["file_id"])
        if item is None:
            return _error(404, "No such file", "file_id")
        return _json(200, item.public())

    async def _content(self, request: web.Request) -> web.Response:
        item = self._files.get(request.match_info["file_id"])
        if item is None:
            return _error(404, "No such file", "file_id")
        return web.Response(body=item.data, content_type="application/octet-stream")

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON", None)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", None)
        if openrouter.is_inline(body):
            return self._create_inline(body)
        endpoint, window = body.get("endpoint"), body.get("completion_window")
        source = self._files.get(str(body.get("input_file_id")))
        if source is None or source.purpose != "batch":
            return _error(400, "input_file_id must name an uploaded file with purpose batch",
                          "input_file_id")
        if endpoint not in ENDPOINTS:
            return _error(400, f"endpoint must be one of {', '.join(ENDPOINTS)}", "endpoint")
        if window != COMPLETION_WINDOW:
            return _error(400, "completion_window must be '24h'", "completion_window")
        metadata = body.get("metadata")
        batch = _Batch(self._new_id("batch_sim"), source.id, str(endpoint),
                       metadata if isinstance(metadata, dict) else None, self._now())
        return _json(200, self._start(batch, source.data))

    def _create_inline(self, body: dict[str, Any]) -> web.Response:
        """OpenRouter's submission: 202, the batch validating."""
        try:
            endpoint, model, data, total = openrouter.input_lines(body, tuple(ENDPOINTS),
                                                                  MAX_LINES)
        except openrouter.Refused as exc:
            return _error(400, exc.message, exc.param)
        batch = _Batch(self._new_id("batch_sim"), "", endpoint, None, self._now(),
                       total=total, dialect=openrouter.DIALECT, model=model)
        return _json(202, self._start(batch, data))

    def _start(self, batch: _Batch, data: bytes) -> JSON:
        self._batches[batch.id] = batch
        self.counts["batches_created"] += 1
        task = asyncio.get_running_loop().create_task(self._process(batch, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch.public(self.faults.page_size)

    async def _list(self, request: web.Request) -> web.Response:
        try:
            limit = min(max(int(request.query.get("limit", "20")), 1), 100)
        except ValueError:
            return _error(400, "limit must be an integer", "limit")
        newest = list(reversed(self._batches.values()))
        after = request.query.get("after")
        if after is not None:
            ids = [b.id for b in newest]
            newest = newest[ids.index(after) + 1:] if after in ids else []
        page = newest[:limit]
        return _json(200, {
            "object": "list", "data": [{**b.public(), "results": None} if b.dialect != "openai"
                                       else b.public() for b in page],
            "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
            "has_more": len(newest) > limit,
        })

    async def _get(self, request: web.Request) -> web.Response:
        batch = self._batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, "No such batch", "batch_id")
        return _json(200, batch.public(self.faults.page_size))

    async def _results(self, request: web.Request) -> web.Response:
        """OpenRouter's paged results of a finished batch (`cursor`, `limit`)."""
        batch = self._batches.get(request.match_info["batch_id"])
        if batch is None or batch.dialect != openrouter.DIALECT:
            return _error(404, "No such batch", "batch_id")
        if batch.status not in TERMINAL:
            return _error(409, f"batch is {batch.status}: results come once it is finished",
                          None)
        try:
            limit = min(max(int(request.query.get("limit", "100")), 1), self.faults.page_size)
        except ValueError:
            return _error(400, "limit must be an integer", "limit")
        self.counts["result_pages"] += 1
        return _json(200, openrouter.results_page(batch.results, request.query.get("cursor"),
                                                  limit))

    async def _cancel(self, request: web.Request) -> web.Response:
        batch = self._batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, "No such batch", "batch_id")
        if batch.status in TERMINAL:
            return _error(409, f"Cannot cancel a batch with status {batch.status}", None)
        batch.cancel = True
        batch.status = "cancelling"
        batch.times["cancelling"] = self._now()
        return _json(200, batch.public(self.faults.page_size))

    async def _process(self, batch: _Batch, data: bytes) -> None:
        """validating → in_progress → finalizing → a terminal status."""
        faults = self.faults
        rng = random.Random(f"batch:{faults.seed}:{batch.id}")
        delay = faults.delay_s
        await asyncio.sleep(delay * 0.1)
        lines, errors = _validate(data, batch.endpoint)
        fail = rng.random() < faults.fail
        if fail and not errors:
            errors = [{"code": "sim_failure", "message": "batch failed (injected)", "line": None,
                       "param": None}]
        if errors or batch.cancel:
            self._end(batch, "cancelled" if batch.cancel and not errors else "failed", errors)
            return
        batch.total = len(lines)
        batch.status = "in_progress"
        batch.times["in_progress"] = self._now()
        expire_at = len(lines) // 2 if rng.random() < faults.expire else len(lines)
        answered: list[bytes] = []
        failed: list[bytes] = []
        step = max(1, len(lines) // _STEPS)
        pause = delay * 0.8 / max(1, -(-len(lines) // step))
        for index, (custom_id, body) in enumerate(lines):
            if index % step == 0:
                await asyncio.sleep(pause)
            if batch.cancel or index >= expire_at:
                code = "batch_cancelled" if batch.cancel else "batch_expired"
                failed.append(_line_out(self._new_id("batch_req_sim"), custom_id, None,
                                        {"code": code, "message": f"request not run: {code}"}))
                batch.failed += 1
                continue
            if rng.random() < faults.line_error:
                reply = {"status_code": 500, "request_id": self._new_id("req_sim"),
                         "body": {"error": {"message": "The server had an error (injected)",
                                            "type": "server_error", "param": None,
                                            "code": None}}}
                failed.append(_line_out(self._new_id("batch_req_sim"), custom_id, reply, None))
                batch.failed += 1
                self.counts["lines_failed"] += 1
                continue
            digest = hashlib.blake2b(body, digest_size=16).hexdigest()
            answer = self._answer(ENDPOINTS[batch.endpoint], body, {
                "batch_id": batch.id, "custom_id": custom_id, "body_digest": digest})
            if answer.billed:
                self._bill(answer.cost_usd, digest)
            reply = {"status_code": answer.status, "request_id": self._new_id("req_sim"),
                     "body": answer.body}
            out = _line_out(self._new_id("batch_req_sim"), custom_id, reply, None)
            if 200 <= answer.status < 300:
                answered.append(out)
                batch.completed += 1
                used = answer.body.get("usage") if isinstance(answer.body, dict) else None
                if isinstance(used, dict):
                    batch.prompt_tokens += int(used.get("prompt_tokens") or 0)
                    batch.completion_tokens += int(used.get("completion_tokens") or 0)
            else:
                failed.append(out)
                batch.failed += 1
        status = "cancelled" if batch.cancel else "expired" if expire_at < len(lines) \
            else "completed"
        if status == "completed":
            batch.status = "finalizing"
            batch.times["finalizing"] = self._now()
            await asyncio.sleep(delay * 0.1)
        if batch.dialect == openrouter.DIALECT:
            batch.results = [openrouter.result_line(line) for line in answered + failed]
        else:
            batch.output_file_id = self._store(answered, "batch_output")
            batch.error_file_id = self._store(failed, "batch_output")
        self._end(batch, status, None)

    def _bill(self, cost_usd: float, digest: str) -> None:
        self.counts["lines_billed"] += 1
        self.billed_usd += cost_usd
        self._bodies[digest] += 1

    def _store(self, lines: list[bytes], purpose: str) -> str | None:
        if not lines:
            return None
        item = _File(self._new_id("file-sim"), purpose, f"{purpose}.jsonl", b"".join(lines),
                     self._now())
        self._files[item.id] = item
        return item.id

    def _end(self, batch: _Batch, status: str, errors: list[JSON] | None) -> None:
        batch.status = status
        batch.errors = errors
        batch.times[status] = self._now()
        self.counts[f"batches_{status}"] += 1


def _validate(data: bytes, endpoint: str) -> tuple[list[tuple[str, bytes]], list[JSON]]:
    """The (custom_id, body) of each input line, or the errors that fail the batch."""
    lines: list[tuple[str, bytes]] = []
    errors: list[JSON] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        problem, custom_id, body = _check_line(raw, endpoint)
        if problem is None and custom_id in seen:
            problem = f"duplicate custom_id {custom_id!r}"
        if problem is not None:
            errors.append({"code": "invalid_request", "message": problem, "line": number,
                           "param": None})
            continue
        seen.add(custom_id)
        lines.append((custom_id, body))
    if len(lines) > MAX_LINES:
        errors.append({"code": "too_many_requests",
                       "message": f"a batch holds at most {MAX_LINES} requests", "line": None,
                       "param": None})
    if not lines and not errors:
        errors.append({"code": "empty_file", "message": "the input file has no requests",
                       "line": None, "param": None})
    return lines, errors


def _check_line(raw: bytes, endpoint: str) -> tuple[str | None, str, bytes]:
    """(problem or None, custom_id, body bytes) of one input line."""
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "line is not valid JSON", "", b""
    if not isinstance(item, dict):
        return "line is not a JSON object", "", b""
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "custom_id must be a non-empty string", "", b""
    if item.get("method") != "POST":
        return "method must be POST", custom_id, b""
    if item.get("url") != endpoint:
        return f"url must be the batch's endpoint {endpoint}", custom_id, b""
    body = item.get("body")
    if not isinstance(body, dict):
        return "body must be a JSON object", custom_id, b""
    return None, custom_id, orjson.dumps(body)


def _line_out(ident: str, custom_id: str, response: JSON | None, error: JSON | None) -> bytes:
    return orjson.dumps({"id": ident, "custom_id": custom_id, "response": response,
                         "error": error}) + b"\n"


def _error(status: int, message: str, param: str | None) -> web.Response:
    return _json(status, {"error": {"message": message, "type": "invalid_request_error",
                                    "param": param, "code": None}})


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
