"""The one atomic replace (`jsonl.atomic_write`): old file or whole new one, with the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncgen.jsonl import atomic_write


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, chunks())
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    assert atomic_write(target, b"whole") == 5 and target.read_bytes() == b"whole"


def test_the_target_appears_only_through_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.jsonl"
    seen: list[tuple[str, bytes]] = []
    real_replace = os.replace

    def spy(src: str, dst: Path) -> None:
        seen.append((str(src), Path(src).read_bytes()))
        assert not Path(dst).exists()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    assert atomic_write(target, iter([b"a\n", b"b\n"])) == 4
    ((temp, content),) = seen
    assert Path(temp).parent == tmp_path and content == b"a\nb\n"
    assert target.read_bytes() == b"a\nb\n"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_replaced_file_takes_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "shared.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == mode
