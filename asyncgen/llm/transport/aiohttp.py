"""The default transport: httpx_aiohttp's AiohttpTransport, with a short path for small bodies.

A completion is a small JSON document read whole. The stock transport hands httpx a streaming
response that is read through four nested async iterators (httpx `aread` -> `aiter_bytes` ->
`aiter_raw` -> the transport's stream -> aiohttp `iter_chunked`) and builds an aiohttp
`ClientTimeout` per request. This subclass reads each body with one `await response.read()`
and reuses timeouts; session, connector limits, TLS and proxy are the stock transport's.

`post` is the client's hot path: the same aiohttp call without building an `httpx.Request` and
`httpx.Response` per request (together about a third of the client's CPU per request, see
bench/bench_client.py). It raises aiohttp's own exceptions; the client maps them at its one
boundary (`asyncgen.llm.errors.map_transport_errors`). `handle_async_request` is the httpx
transport API on top of the same call, for everything else.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from aiohttp import BasicAuth, ClientSession, ClientTimeout
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

_HTTP11 = b"HTTP/1.1"
TimeoutKey = tuple[float | None, float | None, float | None]
Receipt = tuple[str, int | None, float, str]
"""What a POST is for: its stage, its spend reservation's number and amount, its endpoint's name
in a pool ("" otherwise) (a courier keeps them with an answer its run never reads; this
transport has no use for them)."""


class WholeBodyAiohttpTransport(AiohttpTransport):
    """AiohttpTransport that reads each response body in one call, with a direct `post`."""

    def _session(self) -> ClientSession:
        """The aiohttp session, created on first use (as the stock transport does)."""
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        session: ClientSession = self.client
        return session

    def timeout_for(self, spec: Mapping[str, float | None]) -> ClientTimeout:
        """The aiohttp timeout for an httpx timeout dict, built once per distinct value."""
        key: TimeoutKey = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        cache: dict[TimeoutKey, ClientTimeout] = self.__dict__.setdefault("_timeouts", {})
        timeout = cache.get(key)
        if timeout is None:
            timeout = cache[key] = ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return timeout

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        content: bytes,
        timeouts: ClientTimeout,
        *,
        decompress: bool = True,
        receipt: Receipt | None = None,
    ) -> tuple[int, Mapping[str, str], bytes, str | None]:
        """POST and read the whole body: status, headers (case-insensitive), body, reason.
        Raises aiohttp's exceptions."""
        proxy = self.proxy
        async with self._session().request(
            "POST",
            url,
            headers=headers,
            data=content,
            allow_redirects=False,
            auto_decompress=decompress,
            compress=False,
            timeout=timeouts,
            proxy=str(proxy.url) if proxy else None,
            proxy_auth=BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
            proxy_headers=proxy.headers if proxy else None,
        ) as response:
            body = await response.read()
            return response.status, response.headers, body, response.reason

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """The httpx transport API: send, read the whole body, return a complete response."""
        if request.method != "POST":
            return await super().handle_async_request(request)
        with map_aiohttp_exceptions():
            status, headers, content, reason = await self.post(
                str(request.url),
                request.headers,
                request.content,
                self.timeout_for(request.extensions.get("timeout", {})),
                decompress=False,  # httpx decodes Content-Encoding itself
            )
        extensions: dict[str, bytes] = {"http_version": _HTTP11}
        if reason:
            extensions["reason_phrase"] = reason.encode()
        return httpx.Response(
            status,
            headers=list(headers.items()),
            content=content,
            request=request,
            extensions=extensions,
        )
