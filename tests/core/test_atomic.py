"""Atomic writes: whole files under their names, permissions from the umask, nothing left on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hrtem_core.atomic import atomic_write, atomic_write_text, remove_stale_temporaries


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_permissions_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "detector.yaml", "c0: 1.0\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode  # as a plain open() would make it
    assert path.read_text() == "c0: 1.0\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "frames.csv", "frame,status\n0,ok\n")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("frame,sta")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "frame,status\n0,ok\n"
    assert [p.name for p in tmp_path.iterdir()] == ["frames.csv"]


def test_interrupted_writers_leave_temporaries_that_are_cleaned(tmp_path: Path) -> None:
    dead = tmp_path / ".shard-00001.h5.tmp-999999999-x1y2"  # no such process
    alive = tmp_path / f".shard-00002.h5.tmp-{os.getpid()}-x1y2"  # this process: still writing
    other = tmp_path / "notes.tmp-1"
    for path in (dead, alive, other):
        path.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_the_folder_is_made(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "a" / "b" / "plot.txt", "x")
    assert path.read_text() == "x"
