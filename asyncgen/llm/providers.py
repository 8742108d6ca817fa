"""Which provider to talk to and how: `ProviderConfig`, with each provider's defaults.

    provider            default base URL       key (environment only)
    openrouter          openrouter.ai/api/v1   OPENROUTER_API_KEY (required)
    openai              api.openai.com/v1      OPENAI_API_KEY (required)
    openai-compatible   (base_url required)    OPENAI_API_KEY or ASYNCGEN_API_KEY (optional)
    sim                 (given by the run)     ASYNCGEN_API_KEY (optional)

`base_url` overrides any default (as `--base-url` does for the openai SDK). OpenRouter also gets
the optional attribution headers HTTP-Referer and X-Title (ASYNCGEN_HTTP_REFERER, ASYNCGEN_X_TITLE).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from asyncgen.llm.params import DEFAULT_PARAMS, RequestParams, Stage

Provider = Literal["sim", "openrouter", "openai", "openai-compatible"]
Endpoint = Literal["chat", "completions"]
TransportName = Literal["courier", "aiohttp", "httpx"]

DEFAULT_BASE_URLS: Mapping[str, str] = {
    "openrouter": "https://openrouter.ai/api/v1",
    "openai": "https://api.openai.com/v1",
}
KEY_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "openrouter": ("OPENROUTER_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "openai-compatible": ("OPENAI_API_KEY", "ASYNCGEN_API_KEY"),
    "sim": ("ASYNCGEN_API_KEY",),
}
REFERER_VARIABLE = "ASYNCGEN_HTTP_REFERER"
TITLE_VARIABLE = "ASYNCGEN_X_TITLE"
SIM_MODEL = "sim-1"


def _positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    """Fail fast unless value is a finite number > 0 (or None where allowed)."""
    if value is None and allow_none:
        return
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


# the defaults of `asyncgen run`'s options of the same names (config.OPTIONS reads them here)
DEFAULT_TRANSPORT: TransportName = "courier"
DEFAULT_MAX_CONCURRENCY = 2048  # the ceiling; the limits size the window below it
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_REQUEST_DEADLINE_S = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """Everything the client needs to know about one provider. `api_key` is never shown."""

    provider: Provider = "sim"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    endpoint: Endpoint = "chat"
    transport: TransportName = DEFAULT_TRANSPORT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    rpm: int | None = None
    tpm: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    request_deadline_s: float = DEFAULT_REQUEST_DEADLINE_S
    price_in: float | None = None
    price_out: float | None = None
    price_cached: float | None = None  # USD per 1M cached prompt tokens
    http_referer: str | None = None
    x_title: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    routing: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """OpenRouter's `provider` routing object, sent as is (order, allow_fallbacks, sort...)."""
    fallback_models: tuple[str, ...] = ()
    """OpenRouter: models tried after `model`, in order (sent as `models`)."""
    params: Mapping[Stage, RequestParams] = field(
        default_factory=lambda: dict(DEFAULT_PARAMS), hash=False
    )

    def __post_init__(self) -> None:
        if self.provider not in get_args(Provider):
            raise ValueError(
                f"provider must be one of {', '.join(get_args(Provider))}, got {self.provider!r}"
            )
        if self.endpoint not in get_args(Endpoint):
            raise ValueError(f"endpoint must be 'chat' or 'completions', got {self.endpoint!r}")
        if self.transport not in get_args(TransportName):
            raise ValueError(
                f"transport must be 'courier', 'aiohttp' or 'httpx', got {self.transport!r}")
        base_url = self.base_url or DEFAULT_BASE_URLS.get(self.provider)
        if base_url is None:
            raise ValueError(f"base_url is required for provider {self.provider!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        object.__setattr__(self, "base_url", base_url.rstrip("/"))
        if self.model is None and self.provider == "sim":
            object.__setattr__(self, "model", SIM_MODEL)
        if not self.model:
            raise ValueError(f"model is required for provider {self.provider!r}")
        if self.provider in DEFAULT_BASE_URLS and not self.api_key:
            variable = KEY_VARIABLES[self.provider][0]
            raise ValueError(f"api_key is required for provider {self.provider!r} (set {variable})")
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be an integer >= 1, got {self.max_concurrency!r}"
            )
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        _positive("rpm", self.rpm, allow_none=True)
        _positive("tpm", self.tpm, allow_none=True)
        _positive("timeout_s", self.timeout_s)
        _positive("request_deadline_s", self.request_deadline_s)
        if (self.price_in is None) != (self.price_out is None):
            raise ValueError("price_in and price_out must be given together")
        for name in ("price_in", "price_out", "price_cached"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0 (USD per 1M tokens), got {value!r}")
        if (self.routing or self.fallback_models) and self.provider != "openrouter":
            raise ValueError("routing and fallback_models are OpenRouter's (provider openrouter)")
        missing = [stage for stage in DEFAULT_PARAMS if stage not in self.params]
        if missing:
            raise ValueError(f"params is missing stage(s): {', '.join(missing)}")

    @classmethod
    def from_env(
        cls, *, provider: Provider, environ: Mapping[str, str] | None = None, **options: Any
    ) -> ProviderConfig:
        """A config whose key and OpenRouter headers come from the environment (the only source
        of the key the command line uses)."""
        env = os.environ if environ is None else environ
        if "api_key" in options:
            raise ValueError("api_key is read from the environment only")
        key = next((env[v] for v in KEY_VARIABLES.get(provider, ()) if env.get(v)), None)
        if provider == "openrouter":
            options.setdefault("http_referer", env.get(REFERER_VARIABLE) or None)
            options.setdefault("x_title", env.get(TITLE_VARIABLE) or None)
        return cls(provider=provider, api_key=key, **options)

    @property
    def marks_cache_prefix(self) -> bool:
        """Whether prompts go as two text parts, the fixed prefix marked with `cache_control`:
        Anthropic models through OpenRouter cache only what such a breakpoint marks."""
        return (
            self.provider == "openrouter"
            and self.endpoint == "chat"
            and (self.model or "").startswith("anthropic/")
        )

    @property
    def models(self) -> tuple[str, ...]:
        """The model, then its fallbacks."""
        return (self.model or "", *self.fallback_models)

    @property
    def answering_models(self) -> tuple[str, ...]:
        """Every model that may answer a request: the model, its fallbacks, then the models
        stages have of their own (`RequestParams.model`); each once."""
        stages = (params.model for params in self.params.values() if params.model)
        return tuple(dict.fromkeys((*self.models, *stages)))

    def routing_body(self) -> dict[str, Any]:
        """What OpenRouter's routing adds to a request body (`provider`, `models`)."""
        body: dict[str, Any] = {}
        if self.routing:
            body["provider"] = dict(self.routing)
        if self.fallback_models:
            body["models"] = list(self.models)
        return body

    @property
    def key_url(self) -> str:
        """OpenRouter's key check: GET {base_url}/key."""
        return f"{self.base_url}/key"

    @property
    def url(self) -> str:
        """The endpoint's full URL."""
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        return f"{self.base_url}{path}"

    def headers(self) -> dict[str, str]:
        """Request headers, the Authorization header included (never log this)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.provider == "openrouter":
            if self.http_referer:
                headers["HTTP-Referer"] = self.http_referer
            if self.x_title:
                headers["X-Title"] = self.x_title
        headers.update(self.extra_headers)
        return headers
