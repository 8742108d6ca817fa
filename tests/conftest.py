from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_SEEDS = ROOT.parent / "shared" / "reference" / "seed_tasks.jsonl"
OUR_SEEDS = ROOT / "data" / "seed_tasks.jsonl"


@pytest.fixture
def paper_seeds() -> Path:
    if not PAPER_SEEDS.exists():
        pytest.skip("../shared/reference/seed_tasks.jsonl is not beside this checkout")
    return PAPER_SEEDS


@contextmanager
def sim_process(*flags: str) -> Iterator[str]:
    """`asyncgen sim` as a child process on a free port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncgen.sim", "--port", "0", *flags],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
