from __future__ import annotations

import io
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.commands import report
from asyncgen.sim.embedded import simulator_process as sim_process  # noqa: F401 (for the tests)

ROOT = Path(__file__).resolve().parents[1]
PAPER_SEEDS = ROOT.parent / "shared" / "reference" / "seed_tasks.jsonl"
OUR_SEEDS = ROOT / "data" / "seed_tasks.jsonl"


@pytest.fixture
def paper_seeds() -> Path:
    if not PAPER_SEEDS.exists():
        pytest.skip("../shared/reference/seed_tasks.jsonl is not beside this checkout")
    return PAPER_SEEDS


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key in the environment: a run without --provider uses the simulator."""
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ASYNCGEN_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def report_json(out: Path) -> dict[str, Any]:
    """`asyncgen report OUT --json`, as printed."""
    captured, sys.stdout = sys.stdout, io.StringIO()
    try:
        assert report.main(Namespace(dir=out, json=True, plots=None)) == 0
        printed = sys.stdout.getvalue()
    finally:
        sys.stdout = captured
    data: dict[str, Any] = orjson.loads(printed)
    return data
