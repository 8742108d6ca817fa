"""Every export format loads in Hugging Face `datasets` with its columns and rows.

`datasets` is in the `test` extra; the test is skipped where it is not installed. It runs
offline (HF_DATASETS_OFFLINE, HF_HUB_OFFLINE) with its cache in a temp directory: the json
loader is built in, so nothing needs the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from asyncgen.cli import main
from asyncgen.commands.export import FORMATS, export
from asyncgen.rundir.tasks import load_tasks

COLUMNS = {
    "alpaca": ["instruction", "input", "output"],
    "openai-chat": ["messages"],
    "prompt-completion": ["prompt", "completion"],
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hf") / "run"
    assert main(["run", "--out", str(out), "--provider", "sim", "--target-instructions", "30",
                 "--log-format", "none"]) == 0
    return out


@pytest.fixture
def datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):  # read when datasets is imported
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    yield pytest.importorskip("datasets")


def test_the_formats_are_the_ones_tested() -> None:
    assert set(COLUMNS) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_export_loads_with_its_columns_and_rows(run_dir: Path, tmp_path: Path,
                                                     datasets: ModuleType, fmt: str) -> None:
    output = tmp_path / f"{fmt}.json"
    assert main(["export", str(run_dir), "--format", fmt, "--output", str(output)]) == 0
    tasks, _ = load_tasks(run_dir)
    expected = list(export(tasks, fmt))  # one record per distinct instance
    assert len(expected) >= 30
    loaded = datasets.load_dataset("json", data_files=str(output), split="train",
                                   cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded.column_names) == sorted(COLUMNS[fmt])
    assert loaded.num_rows == len(expected)
    assert loaded[0] == expected[0]  # the records themselves, not only their shape
