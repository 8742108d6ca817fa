"""OpenRouter's Batch API: the second dialect of `BatchAPI` (https://openrouter.ai/docs/batch-quickstart).

    POST {base}/batches            {"endpoint", "model", "completion_window", "requests":
                                   [{"custom_id", "body"}]} (endpoint and model before
                                   requests: OpenRouter stream-parses the body); 202, the batch
                                   object with status "validating". No file is uploaded.
    GET  {base}/batches/{id}       the batch: status, request_counts, usage; `results` once
                                   terminal (one model and one endpoint per batch)
    GET  {base}/batches/{id}/results?cursor=   the results of a finished batch, a page at a
                                   time: {"data", "has_more", "next_cursor"}
    GET  {base}/batches            the key's batches (`results` always null there)

A result line is `{"id", "custom_id", "response": {"status_code", "body", "request_id"} |
null, "error": {"message", "type", "param"} | null}`: exactly one of response and error. The
statuses are OpenAI's (validating, in_progress, finalizing, completed, failed, expired,
cancelling, cancelled). A submission carries no metadata and takes no idempotency key, so a
POST whose answer was lost (a kill, a timeout) is found again in the list by what we know of
it: model, endpoint, number of requests, created at or after the moment it was sent, and not
a batch this client already follows (`find`). The POST itself is sent once, never retried
blindly: a retry could create a second batch and pay every line twice. When its answer is lost
(a timeout, a reset, a 5xx) the list is searched a few times, with backoff, before the batch
is called never made: it may be persisted after the client gave up on the answer. POSTs of
one shape (endpoint, model, size) are sent one at a time, each answered before the next, so a
lost one is never taken for another whose answer is on its way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import anyio
import httpx
import orjson

from asyncgen.batch.api import COMPLETION_WINDOW, LIST_PAGES, BatchAPI
from asyncgen.batch.lines import LineResult, read_line
from asyncgen.llm import retry
from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.errors import ConnectionFailed, FatalError, MalformedResponse, ProviderError
from asyncgen.llm.pricing import Price
from asyncgen.llm.providers import ProviderConfig

TOKEN = "openrouter-post"
"""The journal's `uploaded` record holds, for OpenRouter, `TOKEN:since:total:endpoint:model`:
what `find` needs to recognise the batch a lost POST created."""
SKEW_S = 2  # created_at is whole seconds at the provider
RESULT_PAGES = 10_000  # pages of results read at most for one batch
FIND_ATTEMPTS = 6  # looks for the batch of a POST whose answer was lost (backoff between)


class OpenRouterBatchAPI(BatchAPI):
    """OpenRouter's batches endpoints; the files endpoints are not used."""

    __slots__ = ("_known", "_posting")

    def __init__(
        self,
        config: ProviderConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, clock=clock, transport=transport)
        self._known: set[str] = set()  # batch ids this client submitted, retrieved or found
        self._posting: dict[tuple[str, str, int], anyio.Lock] = {}  # per shape (see submit)

    def __repr__(self) -> str:
        return f"<OpenRouterBatchAPI {self.config.base_url}>"

    async def submit(self, seq: str, endpoint: str, model: str,
                     lines: Iterable[tuple[str, bytes]],
                     uploaded: Callable[[str], None]) -> dict[str, Any]:
        """POST the inline batch, once. `uploaded(token)` journals what finds it again."""
        requests = [b'{"custom_id":' + orjson.dumps(cid) + b',"body":' + body + b"}"
                    for cid, body in lines]
        head = orjson.dumps({"endpoint": endpoint, "model": model,
                             "completion_window": COMPLETION_WINDOW})
        data = head[:-1] + b',"requests":[' + b",".join(requests) + b"]}"
        # one POST of a shape at a time, each answered (and its batch id journaled: the
        # caller does it before its next await) before the next is sent: a lost answer is
        # then never matched to the batch of another POST whose answer is on its way, and a
        # kill -9 leaves at most one POST of each shape unanswered
        async with self._posting.setdefault((endpoint, model, len(requests)), anyio.Lock()):
            token = ":".join((TOKEN, str(int(self._clock.wall())), str(len(requests)),
                              endpoint, model))
            uploaded(token)
            return await self._post(data, token)

    async def _post(self, data: bytes, token: str) -> dict[str, Any]:
        """The POST, sent once; if its answer is lost, the batch it may have made."""
        try:
            batch = await self._json("POST", "/batches", content=data, attempts=1,
                                     headers={"Content-Type": "application/json"})
        except ProviderError as err:
            if isinstance(err, FatalError) or not _maybe_made(err):
                raise
            # the POST may have been done, and its batch persisted only after the answer was
            # given up on (a large inline body is parsed as it streams): look again, with
            # backoff, before it is called never made and its lines are sent again
            for attempt in range(1, FIND_ATTEMPTS + 1):
                found = await self.find(token)
                if found is not None:
                    return found
                if attempt < FIND_ATTEMPTS:
                    await self._clock.sleep(retry.backoff(attempt, 1.0))
            raise
        self._known.add(str(batch.get("id")))
        return batch

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = await super().retrieve(batch_id)
        self._known.add(batch_id)
        return batch

    async def find(self, file_id: str, *, taken: Collection[str] = frozenset()
                   ) -> dict[str, Any] | None:
        """The batch a lost POST created (`file_id`: the token `submit` journaled), if any:
        the oldest of the key's batches with its model, endpoint and size, created since it
        was sent, that this client does not already follow nor is `taken` (batches the
        journal already names, collected ones too; remembered for this client's later
        searches). When created_at ties, the oldest in the list's own order (newest first):
        POSTs of one shape sent in one second are matched in the order they were sent."""
        parts = file_id.split(":", 4)
        if len(parts) != 5 or parts[0] != TOKEN:
            return None
        since, total, endpoint, model = int(parts[1]), int(parts[2]), parts[3], parts[4]
        self._known.update(taken)  # and for the lost POSTs of this run, later
        best: dict[str, Any] | None = None
        params: dict[str, str] = {"limit": "100"}
        for _ in range(LIST_PAGES):
            page = await self._json("GET", "/batches", params=params)
            for batch in page.get("data") or []:
                if not isinstance(batch, dict) or str(batch.get("id")) in self._known:
                    continue
                counts = batch.get("request_counts") or {}
                created = batch.get("created_at")
                if (batch.get("model") == model and batch.get("endpoint") == endpoint
                        and counts.get("total") == total and isinstance(created, int)
                        and created >= since - SKEW_S
                        and (best is None or created <= int(best["created_at"]))):
                    best = batch
            cursor = page.get("next_cursor") or (page.get("last_id") if page.get("has_more")
                                                 else None)
            if not cursor:
                break
            params = {"limit": "100", ("cursor" if page.get("next_cursor") else "after"):
                      str(cursor)}
        if best is None:
            return None
        self._known.add(str(best["id"]))
        return await super().retrieve(str(best["id"]))  # the whole object, not a list item

    async def results(self, batch: dict[str, Any], price: Price | None, *,
                      now: float) -> dict[str, LineResult]:
        """custom_id -> outcome: from the batch object's `results` when it holds a line for
        every request, else from the paged results endpoint."""
        counts = batch.get("request_counts") or {}
        total = counts.get("total") if isinstance(counts.get("total"), int) else None
        inline = batch.get("results")
        if isinstance(inline, list) and total is not None and len(inline) >= total:
            return read_results(inline, price, now=now)
        out: dict[str, LineResult] = {}
        params: dict[str, str] = {}
        for _ in range(RESULT_PAGES):
            page = await self._json("GET", f"/batches/{batch['id']}/results", params=params)
            data = page.get("data")
            if not isinstance(data, list):
                raise MalformedResponse(f"batch {batch['id']} results: no data list")
            out.update(read_results(data, price, now=now))
            cursor, more = page.get("next_cursor"), page.get("has_more")
            if more is False or (more is None and not cursor):
                return out
            if not cursor:  # more lines, maybe answered and billed: not taken for "not run"
                raise MalformedResponse(f"batch {batch['id']} results: more, but no cursor")
            params = {"cursor": str(cursor)}
        raise MalformedResponse(f"batch {batch['id']} results: more than {RESULT_PAGES} pages")


def _maybe_made(err: ProviderError) -> bool:
    """Whether a failed POST may still have made its batch: not when the provider answered
    with a client error (4xx: refused, nothing made) or nothing listened (refused)."""
    if err.status is not None and 400 <= err.status < 500:
        return False
    return not (isinstance(err, ConnectionFailed) and err.refused)


def read_results(items: list[Any], price: Price | None, *, now: float
                 ) -> dict[str, LineResult]:
    """custom_id -> outcome of OpenRouter result lines (an error's `type` read as its code)."""
    out: dict[str, LineResult] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            continue  # a garbled line: retried as never answered
        error = item.get("error")
        if isinstance(error, dict) and not error.get("code") and error.get("type"):
            item = {**item, "error": {**error, "code": error["type"]}}
        out[item["custom_id"]] = read_line(item, price, now=now)
    return out


def batch_api(config: ProviderConfig, *, clock: Clock = SYSTEM_CLOCK,
              transport: httpx.AsyncBaseTransport | None = None) -> BatchAPI:
    """The provider's dialect of the Batch API."""
    kind = OpenRouterBatchAPI if config.provider == "openrouter" else BatchAPI
    return kind(config, clock=clock, transport=transport)
