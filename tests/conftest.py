from __future__ import annotations

from pathlib import Path

import pytest

from asyncgen.embedded import simulator_process as sim_process  # noqa: F401 (for the tests)

ROOT = Path(__file__).resolve().parents[1]
PAPER_SEEDS = ROOT.parent / "shared" / "reference" / "seed_tasks.jsonl"
OUR_SEEDS = ROOT / "data" / "seed_tasks.jsonl"


@pytest.fixture
def paper_seeds() -> Path:
    if not PAPER_SEEDS.exists():
        pytest.skip("../shared/reference/seed_tasks.jsonl is not beside this checkout")
    return PAPER_SEEDS
