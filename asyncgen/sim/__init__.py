"""The provider simulator: a local OpenAI/OpenRouter-compatible server with prompt-aware text.

    async with serve(SimConfig(seed=1, rpm_limit=600)) as url:   # url ends in /v1
        ...

`add_arguments` / `main` are the `asyncgen sim` subcommand. Faults can be forced per request
with the X-Sim-Fault header (see `asyncgen.sim.faults`).
"""

from asyncgen.sim.command import add_arguments, config_from_args, main
from asyncgen.sim.config import (
    DEFAULT_MODEL,
    PRICE_CACHED_PER_M,
    PRICE_IN_PER_M,
    PRICE_OUT_PER_M,
    SimConfig,
)
from asyncgen.sim.faults import FAULT_HEADER, FaultKind
from asyncgen.sim.server import SimServer, serve

__all__ = [
    "DEFAULT_MODEL",
    "FAULT_HEADER",
    "PRICE_CACHED_PER_M",
    "PRICE_IN_PER_M",
    "PRICE_OUT_PER_M",
    "FaultKind",
    "SimConfig",
    "SimServer",
    "add_arguments",
    "config_from_args",
    "main",
    "serve",
]
