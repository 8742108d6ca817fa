"""The provider layer: client, typed errors, retry policy, shared limits, prices."""

from asyncgen.llm.client import LLMClient
from asyncgen.llm.clock import SYSTEM_CLOCK, Clock
from asyncgen.llm.errors import (
    BudgetExhausted,
    FatalError,
    ItemError,
    ProviderError,
    RetryableError,
)
from asyncgen.llm.limits import ProviderLimits
from asyncgen.llm.params import DEFAULT_PARAMS, STAGES, RequestParams, Stage
from asyncgen.llm.pricing import DEFAULT_PRICES, Price, Usage, price_for
from asyncgen.llm.providers import ProviderConfig
from asyncgen.llm.wire import Completion

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_PRICES",
    "STAGES",
    "SYSTEM_CLOCK",
    "BudgetExhausted",
    "Clock",
    "Completion",
    "FatalError",
    "ItemError",
    "LLMClient",
    "Price",
    "ProviderConfig",
    "ProviderError",
    "ProviderLimits",
    "RequestParams",
    "RetryableError",
    "Stage",
    "Usage",
    "price_for",
]
