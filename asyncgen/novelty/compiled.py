"""Kernels compiled to machine code with numba, cached where the cache can be written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["compiled"]

_Function = TypeVar("_Function", bound=Callable[..., Any])


def compiled(signature: str, **options: Any) -> Callable[[_Function], _Function]:
    """numba.njit(signature, **options) (`nogil=True`, ...), compiled at import: its machine
    code cached beside the module or in the user's cache directory, or, where neither can be
    written (a read-only install and home), compiled in memory on every import (about 2 s)
    rather than not at all."""
    def compile_(function: _Function) -> _Function:
        try:
            return cast(_Function, numba.njit(signature, cache=True, **options)(function))
        except RuntimeError:  # numba: "cannot cache function …: no locator available"
            return cast(_Function, numba.njit(signature, **options)(function))
    return compile_
