"""Files users share take the umask, like any file a user writes: exports, report pages, plots.

The atomic writes go through a temp file beside the target; mkstemp would create it 0600 and
the rename would keep that.
"""

from __future__ import annotations

import os
import stat
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncgen.cli import main
from asyncgen.commands import report
from asyncgen.commands.export import FORMATS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("modes") / "run"
    assert main(["run", "--out", str(out), "--provider", "sim", "--target-instructions", "10",
                 "--log-format", "none"]) == 0
    return out


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    mask: int = request.param
    before = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_take_the_umask(run_dir: Path, tmp_path: Path, umask: int, fmt: str) -> None:
    output = tmp_path / f"{fmt}.json"
    assert main(["export", str(run_dir), "--format", fmt, "--output", str(output)]) == 0
    assert _mode(output) == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp left


def test_an_overwritten_export_takes_the_umask_too(run_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "alpaca.json"
    output.write_text("old")
    output.chmod(0o600)
    before = os.umask(0o022)
    try:
        assert main(["export", str(run_dir), "--format", "alpaca", "--output",
                     str(output)]) == 0
    finally:
        os.umask(before)
    assert _mode(output) == 0o644 and output.read_text() != "old"


def test_the_html_report_takes_the_umask(run_dir: Path, tmp_path: Path, umask: int) -> None:
    page = tmp_path / "report.html"
    assert report.main(Namespace(dir=run_dir, json=True, plots=None, html=page)) == 0
    assert _mode(page) == 0o666 & ~umask


def test_plots_take_the_umask(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    before = os.umask(0o022)
    try:
        assert report.main(Namespace(dir=run_dir, json=True, plots=tmp_path / "p")) == 0
    finally:
        os.umask(before)
    pngs = sorted((tmp_path / "p").glob("*.png"))
    assert pngs and all(_mode(png) == 0o644 for png in pngs)
