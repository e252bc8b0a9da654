"""Files arriving in a folder, handed out once each, when they look complete.

A camera writes a frame file over some time (in chunks, sometimes with pauses). A file is
*settled* when its size and modification time have not changed for ``settle`` seconds; only then
is it handed out (:meth:`Arrivals.settled`). If it cannot be read yet, the caller puts it back
(:meth:`Arrivals.retry`): it is handed out again after it changes or after another ``settle``
seconds, and given up (:meth:`Arrivals.stale`) once unchanged for ``patience`` seconds, so a
corrupt file becomes an error row rather than an endless wait.

Discovery: filesystem events (watchdog's inotify/FSEvents/... observer) wake the watcher as soon
as a file is written; the folder is also listed every ``rescan`` seconds, which is all a network
share without events gets (``polling=True``, or when no observer can start). Only the folder's
own files count (not subfolders), with a frame suffix of :data:`hrtem_core.readers.FOLDER_SUFFIXES`
and not hidden: a camera's ``.tmp``/``.part`` files or ``.name`` renamed when done are ignored
until they get their final name.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hrtem_core.readers import FOLDER_SUFFIXES

from hrtem_analysis.frames import natural_key

log = logging.getLogger(__name__)


def is_frame_file(name: str) -> bool:
    """Whether a file of this name in the folder is a frame (suffix known, not hidden)."""
    return not name.startswith(".") and Path(name).suffix.lower() in FOLDER_SUFFIXES


@dataclass
class _State:
    """What was last seen of a file: size [bytes], mtime [ns], when (monotonic [s]) that pair
    was first seen, its arrival order, whether it is handed out, and the earliest time it may be
    handed out again after a failed read."""

    size: int
    mtime: int
    since: float
    order: int
    out: bool = False
    next_try: float = 0.0


class Arrivals:
    """Complete files of ``folder``, each handed out once, in the order they appeared.

    ``ignore``: names already done (by an earlier run), never handed out.
    ``clock``: monotonic seconds (a test may pass its own).
    """

    def __init__(
        self,
        folder: Path,
        settle: float = 0.5,
        patience: float = 10.0,
        polling: bool = False,
        rescan: float = 2.0,
        ignore: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.settle = settle
        self.patience = max(patience, settle)
        self.rescan = rescan
        self.clock = clock
        self.done: set[str] = set(ignore)
        self.files: dict[str, _State] = {}
        self._seen = 0
        self._wake = threading.Event()
        self._changed: set[str] = set()
        self._lock = threading.Lock()
        self._last_scan = -float("inf")
        self._observer = None if polling else self._observe()
        self.polling = self._observer is None

    def _observe(self) -> object | None:
        """A started watchdog observer of the folder, or None (then the folder is polled)."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.warning("watchdog is not installed: polling %s", self.folder)
            return None
        arrivals = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                for attribute in ("src_path", "dest_path"):
                    path = getattr(event, attribute, "")
                    if path:
                        arrivals._notify(os.path.basename(os.fsdecode(path)))

        observer = Observer()
        try:
            observer.schedule(Handler(), str(self.folder), recursive=False)
            observer.start()
        except OSError as error:  # e.g. inotify watches exhausted, or a share without events
            log.warning("no filesystem events for %s (%s): polling it", self.folder, error)
            return None
        return observer

    def _notify(self, name: str) -> None:
        if is_frame_file(name):
            with self._lock:
                self._changed.add(name)
            self._wake.set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, less when a file event arrives or :meth:`wake` is called."""
        self._wake.wait(seconds)
        self._wake.clear()

    def wake(self) -> None:
        """End the current :meth:`wait` now (from any thread)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the observer."""
        if self._observer is not None:
            self._observer.stop()  # type: ignore[attr-defined]
            self._observer.join()  # type: ignore[attr-defined]

    def _names(self, now: float) -> set[str]:
        """Names to look at now: those events named, known files still pending, and every file
        of the folder when a rescan is due."""
        with self._lock:
            names, self._changed = self._changed, set()
        names |= {name for name, state in self.files.items() if not state.out}
        if now - self._last_scan >= (0.0 if self.polling else self.rescan):
            self._last_scan = now
            with os.scandir(self.folder) as entries:
                names |= {e.name for e in entries if is_frame_file(e.name) and e.is_file()}
        return names - self.done

    def _update(self, name: str, now: float) -> _State | None:
        """The file's state after looking at it again (None: it is gone)."""
        try:
            stat = os.stat(self.folder / name)
        except FileNotFoundError:
            self.files.pop(name, None)
            return None
        state = self.files.get(name)
        if state is None:
            self._seen += 1
            state = self.files[name] = _State(stat.st_size, stat.st_mtime_ns, now, self._seen)
        elif (state.size, state.mtime) != (stat.st_size, stat.st_mtime_ns):
            state.size, state.mtime, state.since = stat.st_size, stat.st_mtime_ns, now
            state.out, state.next_try = False, 0.0
        return state

    def settled(self) -> list[Path]:
        """Files unchanged for ``settle`` s and not handed out since they last changed, oldest
        arrival first (ties in natural name order); each is handed out until :meth:`finish`."""
        now = self.clock()
        ready = []
        for name in sorted(self._names(now), key=lambda n: natural_key(Path(n))):
            state = self._update(name, now)
            if state is None or state.out or now < state.next_try:
                continue
            if now - state.since >= self.settle:
                ready.append((state.order, natural_key(Path(name)), name))
        for _, _, name in sorted(ready):
            self.files[name].out = True
        return [self.folder / name for _, _, name in sorted(ready)]

    def retry(self, path: Path) -> None:
        """``path`` could not be read: hand it out again once it changes or ``settle`` s pass."""
        state = self.files.get(path.name)
        if state is not None:  # else it is gone, and a rescan finds it if it comes back
            state.out = False
            state.next_try = self.clock() + self.settle

    def stale(self, path: Path) -> bool:
        """Whether ``path`` has been unchanged for ``patience`` s: a read failure now is the
        file's fault, not the writer's."""
        state = self.files.get(path.name)
        return state is None or self.clock() - state.since >= self.patience

    def finish(self, path: Path) -> None:
        """``path`` is done (a row, an error row or skipped): never hand it out again."""
        self.done.add(path.name)
        self.files.pop(path.name, None)

    def pending(self) -> int:
        """Files seen but not yet finished."""
        return len(self.files)
