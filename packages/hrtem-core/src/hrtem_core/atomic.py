"""Atomic writes: a file appears whole under its final name or not at all.

:func:`atomic_write` writes to a temporary name in the target's folder
(``.NAME.tmp-<pid>-<random>``), flushes it to disk, gives it the permissions a plain ``open()``
would (``0o666`` less the umask: colleagues on a shared cluster can read it) and renames it onto
``NAME``. On any failure the temporary file is removed and the old ``NAME``, if any, is untouched.
:func:`remove_stale_temporaries` deletes what writers killed by a signal left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

_TMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[^.]+$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then move the finished file onto ``path``; returns ``path``.

    ``write`` creates or truncates the file at the path it is given (h5py, ``np.save`` to an open
    stream, ``Figure.savefig``, ``DataFrame.to_csv``, ...). The folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-{os.getpid()}-")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` in ``folder`` whose writer (a process
    on this host) is no longer alive; returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp-*"):
        match = _TMP.match(tmp.name)
        if match and not _alive(int(match["pid"])):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
