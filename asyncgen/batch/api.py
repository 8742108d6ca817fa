"""The Batch API over HTTP: upload a file, create, retrieve, find, cancel a batch, download.

One boundary: transport exceptions and error statuses become the typed errors of
`asyncgen.llm.errors` here. These calls are few (a handful per batch), so each is retried on a
retryable error with the client's backoff, up to ATTEMPTS times, then raised.

A BatchClient speaks to a provider through three calls whose wire form is the dialect's:
`submit` (the lines to a batch at the provider), `find` (a batch submitted whose answer was
lost) and `results` (a terminal batch's lines). This class is OpenAI's dialect (an uploaded
JSONL file, output and error files); `asyncgen.batch.openrouter` is OpenRouter's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Any

import httpx
import orjson

from asyncgen.batch.lines import LineResult, input_file, read_file
from asyncgen.llm import retry
from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.errors import (
    FatalError,
    MalformedResponse,
    ProviderError,
    error_for_status,
    map_transport_errors,
)
from asyncgen.llm.pricing import Price
from asyncgen.llm.providers import ProviderConfig

ATTEMPTS = 6
LIST_PAGES = 20  # pages of 100 batches searched for a batch made from one input file
COMPLETION_WINDOW = "24h"


class BatchAPI:
    """One provider's files and batches endpoints (OpenAI's shape)."""

    __slots__ = ("config", "_clock", "_transport", "_http", "_secret")

    def __init__(
        self,
        config: ProviderConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._secret = config.api_key

    def __repr__(self) -> str:
        return f"<BatchAPI {self.config.base_url}>"

    async def __aenter__(self) -> BatchAPI:
        headers = {k: v for k, v in self.config.headers().items() if k != "Content-Type"}
        self._http = httpx.AsyncClient(
            base_url=str(self.config.base_url), headers=headers, transport=self._transport,
            timeout=httpx.Timeout(self.config.timeout_s, connect=10.0),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    # the dialect: what a BatchClient calls ---------------------------------------------------

    async def submit(self, seq: str, endpoint: str, model: str,
                     lines: Iterable[tuple[str, bytes]],
                     uploaded: Callable[[str], None]) -> dict[str, Any]:
        """Upload the input file (`uploaded(file_id)` is called, to journal it, before the
        batch is created from it), create the batch; the batch object. A create that failed
        may have been done: the batch made from that file is searched for first."""
        file_id = await self.upload(input_file(endpoint, lines), f"{seq}.jsonl")
        uploaded(file_id)
        try:
            return await self.create(file_id, endpoint, {"asyncgen_batch": seq})
        except ProviderError as err:
            if isinstance(err, FatalError):
                raise
            found = await self.find(file_id)
            if found is None:
                raise
            return found

    async def results(self, batch: dict[str, Any], price: Price | None, *,
                      now: float) -> dict[str, LineResult]:
        """custom_id -> outcome of a terminal batch: its output and error files."""
        out: dict[str, LineResult] = {}
        for name in ("output_file_id", "error_file_id"):
            file_id = batch.get(name)
            if file_id:
                out.update(read_file(await self.content(str(file_id)), price, now=now))
        return out

    # OpenAI's endpoints -----------------------------------------------------------------------

    async def upload(self, data: bytes, filename: str) -> str:
        """POST /files (purpose=batch); the file id."""
        reply = await self._json("POST", "/files", data={"purpose": "batch"},
                                 files={"file": (filename, data, "application/jsonl")})
        return str(reply["id"])

    async def create(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        """POST /batches; the batch object."""
        return await self._json("POST", "/batches", json={
            "input_file_id": file_id, "endpoint": endpoint,
            "completion_window": COMPLETION_WINDOW, "metadata": metadata,
        })

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/batches/{batch_id}/cancel")

    async def find(self, file_id: str, *, taken: Collection[str] = frozenset()
                   ) -> dict[str, Any] | None:
        """The batch created from `file_id`, newest first, if any (a create whose answer was
        lost to a crash is found here, not created again). A file makes one batch: `taken`
        (batches the journal already names) matters only to dialects that match by shape."""
        after: str | None = None
        for _ in range(LIST_PAGES):
            params = {"limit": "100", **({"after": after} if after else {})}
            page = await self._json("GET", "/batches", params=params)
            for batch in page.get("data") or []:
                if isinstance(batch, dict) and batch.get("input_file_id") == file_id:
                    return batch
            if not page.get("has_more") or not page.get("last_id"):
                return None
            after = str(page["last_id"])
        return None

    async def content(self, file_id: str) -> bytes:
        """GET /files/{id}/content."""
        return (await self._call("GET", f"/files/{file_id}/content")).content

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._call(method, path, **kwargs)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise MalformedResponse(f"{method} {path}: not a JSON object",
                                    status=response.status_code)
        return body

    async def _call(self, method: str, path: str, *, attempts: int = ATTEMPTS,
                    **kwargs: Any) -> httpx.Response:
        """One call, retried on retryable errors; the typed error after the last attempt."""
        http = self._http
        if http is None:
            raise RuntimeError("use BatchAPI inside `async with`")
        attempt = 0
        while True:
            attempt += 1
            try:
                with map_transport_errors(attempt=attempt, secret=self._secret):
                    response = await http.request(method, path, **kwargs)
                if response.status_code >= 400:
                    raise error_for_status(
                        response.status_code, response.headers, response.content,
                        attempt=attempt, now=self._clock.wall(), secret=self._secret,
                    )
                return response
            except ProviderError as err:
                if not err.retryable or attempt >= attempts:
                    raise
                await self._clock.sleep(
                    retry.retry_wait(err.retry_after_s, attempt, 0.5)
                )
