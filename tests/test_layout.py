"""The house's rules, checked on the source: layers, sizes, and what is declared once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "asyncgen"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MAX_LINES = 600
WORD_LISTS = {PACKAGE / "sim" / "vocab.py"}  # data, not code
RUN_FILES = {"asyncgen.json", ".asyncgen.lock", "tasks.jsonl", "events.jsonl", "spend.jsonl",
             "fields.jsonl", "journal.jsonl", "batches.jsonl", "rescued.jsonl", ".courier.lock",
             "summary.json"}
EVENT_NAME = re.compile(r"^(run|request|task|batch|candidate|classify|store)\.[a-z_]+$")
# a layer imports only the layers below it; these may not be imported from the provider layer
ABOVE_THE_PROVIDER_LAYER = ("asyncgen.rundir", "asyncgen.selfinstruct", "asyncgen.workers",
                            "asyncgen.commands", "asyncgen.novelty")


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _strings(tree: ast.Module) -> list[str]:
    """String constants that are not docstrings."""
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def _imports(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def test_the_top_of_the_package_holds_few_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_600_lines(path: Path) -> None:
    if path in WORD_LISTS:
        return
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_run_directory_file_names_are_written_in_one_module() -> None:
    writers = {_name(p) for p in MODULES if p.parent.name != "sim"
               and RUN_FILES & set(_strings(_tree(p)))}
    assert writers == {"asyncgen/rundir/layout.py"}


def test_event_names_are_declared_in_one_module() -> None:
    declaring = {_name(p) for p in MODULES if p.parent.name != "sim"
                 and any(EVENT_NAME.match(s) for s in _strings(_tree(p)))}
    assert declaring == {"asyncgen/observe/events.py"}


def test_one_module_replaces_files() -> None:
    replacing = {_name(p) for p in MODULES if "os.replace(" in p.read_text()}
    assert replacing == {"asyncgen/jsonl.py"}


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name in ("llm", "transport")],
                         ids=_name)
def test_the_provider_layer_imports_nothing_above_it(path: Path) -> None:
    above = [m for m in _imports(_tree(path)) if m.startswith(ABOVE_THE_PROVIDER_LAYER)]
    assert above == []
