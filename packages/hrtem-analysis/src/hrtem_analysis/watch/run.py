"""Live analysis of a folder a camera writes into: each frame analysed once, as it arrives.

Files come from :class:`~hrtem_analysis.watch.arrivals.Arrivals` once settled. Each is opened
with the readers of :func:`hrtem_analysis.frames.open_frames` (a stack file gives several frames);
one that cannot be read yet is retried, and becomes an error row once it has not changed for
``patience`` seconds. Every frame is analysed with the models loaded once
(:func:`hrtem_analysis.frame_analysis.analyse_frame`), in this process or on dask workers
(:mod:`hrtem_analysis.watch.pools`; rows still in arrival order), and written by the series' own
:class:`~hrtem_analysis.series_writer.OrderedWriter`: ``OUT/frames.csv`` (a row per frame, its
``source`` file and ``error``), ``OUT/events.csv`` and the drift/column tracking between
interpretable frames, as ``hrtem analyze series`` writes them but unconfirmed
(``confirm_events`` off: a live row is written as its frame arrives, not one frame later;
``hrtem analyze series`` on the folder afterwards drops one frame's flickers).

Resuming: a restart reads ``OUT/frames.csv`` and never hands out a file that has a row (a
stack's frames are skipped one by one), so nothing is done twice and a row cut off by a kill is
dropped and redone. ``OUT/arrivals.csv`` has, per frame, when its file was last modified and
when its row was written (epoch [s]) and the lag between them [s]. With ``keep_up``, when more
than one file is waiting only the newest is analysed; the others go to ``OUT/skipped.csv`` and a
later run without ``keep_up`` fills them in.

Frame time [s]: ``index * frame_interval`` when given, else the file's modification time less
that of the first frame of the watch (kept in ``OUT/watch.json``). No per-frame figures are drawn
(``analysis.figures`` is ignored): the live page shows the frames.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hrtem_core.atomic import atomic_write_text
from hrtem_core.errors import ImageError

from hrtem_analysis.frame_analysis import COLUMNS, Analysis, FrameRecord
from hrtem_analysis.frames import Frame
from hrtem_analysis.series_writer import OrderedWriter, events_table
from hrtem_analysis.table import ResultTable
from hrtem_analysis.watch.arrivals import Arrivals
from hrtem_analysis.watch.pools import InProcess, OnDask, Pairs, analysed

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

ARRIVALS: dict[str, str] = {
    "frame": "Int64",
    "source": "string",
    "modified": "float64",
    "written": "float64",
    "lag": "float64",
}
"""Columns of ``OUT/arrivals.csv``: modified, written: epoch [s]; lag = written - modified [s]."""
SKIPPED: dict[str, str] = {"frame": "Int64", "source": "string", "reason": "string"}
"""Columns of ``OUT/skipped.csv`` (``frame``: how many frames the table held at the skip)."""


@dataclass(frozen=True)
class WatchOptions:
    """How to watch. settle, patience, poll [s] (see :mod:`hrtem_analysis.watch.arrivals`);
    until: stop once the table holds this many frames; idle: stop after this many seconds
    without a new file; sampling [Å/px] and frame_interval [s] override the files'; workers (a
    LocalCluster of that many processes) or scheduler (``tcp://HOST:PORT``): analyse on dask
    (:class:`~hrtem_analysis.watch.pools.OnDask`)."""

    settle: float = 0.5
    patience: float = 10.0
    poll: float = 0.25
    polling: bool = False
    until: int | None = None
    idle: float | None = None
    keep_up: bool = False
    sampling: float | None = None
    frame_interval: float | None = None
    workers: int | None = None
    scheduler: str | None = None


@dataclass(frozen=True)
class WatchSummary:
    """What a watch did: frames analysed, failed (error rows), skipped (keep_up) in this run,
    ``resumed``: rows already in the table at the start; lags [s] of this run's frames."""

    analysed: int
    failed: int
    skipped: int
    resumed: int
    seconds: float
    csv: Path
    events: Path
    lags: list[float] = field(default_factory=list)


OnFrame = Callable[[dict, Frame, FrameRecord], None]
"""Called after each frame's row is written: the row, the frame, its record."""


class _Clock:
    """Frame times [s]: ``index * interval``, else mtime less the first frame's (persisted)."""

    def __init__(self, out: Path, interval: float | None) -> None:
        self.path = out / "watch.json"
        self.interval = interval
        self.origin = json.loads(self.path.read_text())["t0"] if self.path.is_file() else None

    def time(self, index: int, modified: float) -> float:
        if self.interval is not None:
            return index * self.interval
        if self.origin is None:
            self.origin = modified
            atomic_write_text(self.path, json.dumps({"t0": modified}) + "\n")
        return modified - self.origin


class _Writers:
    """The run's tables: frames (with the series writer), events, arrivals, skipped."""

    def __init__(self, out: Path, analysis: Analysis) -> None:
        self.frames = ResultTable(out, COLUMNS)
        done = self.frames.done()
        self.events = events_table(out, done)
        self.arrivals = ResultTable(out, ARRIVALS, name="arrivals", required=("frame", "lag"))
        self.arrivals.keep_frames(done)
        self.skipped = ResultTable(out, SKIPPED, name="skipped", required=("source", "reason"))
        self.resumed = len(done)
        self.next = max(done) + 1 if done else 0
        self.series = OrderedWriter(
            self.frames,
            self.events,
            itertools.count(self.next),
            out / "columns",
            analysis.settings,
            analysis.figures,
        )

    def sources(self) -> set[str]:
        """Frame sources (``file`` or ``file[t]``) that have a row."""
        return set(self.frames.rows["source"].dropna().astype(str))

    def skipped_files(self) -> set[str]:
        return set(self.skipped.rows["source"].dropna().astype(str))

    def close(self) -> None:
        self.frames.close()
        self.events.close()
        self.arrivals.close()
        self.skipped.close()


def _done_files(sources: set[str]) -> set[str]:
    """Files with every frame done: single-frame files whose name is a source. A stack with
    some frames done (``file[t]``) is opened again and its remaining frames analysed."""
    return {s for s in sources if not s.endswith("]")}


def watch_folder(
    folder: Path,
    analysis: Analysis,
    out: Path,
    options: WatchOptions = WatchOptions(),
    on_frame: OnFrame | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> WatchSummary:
    """Watch ``folder`` until ``options.until`` frames, ``options.idle`` seconds without a
    file, or ``should_stop()``; see the module docstring. Raises ImageError when ``folder`` is
    not a folder, before loading anything; SchedulerError when ``options.scheduler`` cannot be
    reached."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder to watch")
    settings = replace(analysis.settings.resolved(), confirm_events=False)  # rows live, unheld
    analysis = replace(analysis, settings=settings, figures=None)
    if not (options.workers or options.scheduler):
        return _Watch(folder, analysis, out, options, on_frame, should_stop).run()
    from hrtem_core.cluster import dask_client

    with dask_client(options.workers, options.scheduler) as client:
        return _Watch(folder, analysis, out, options, on_frame, should_stop, client).run()


class _Watch:
    """One watch: the arrivals, the pool that analyses them, the writers; see the module."""

    def __init__(
        self,
        folder: Path,
        analysis: Analysis,
        out: Path,
        options: WatchOptions,
        on_frame: OnFrame | None,
        should_stop: Callable[[], bool],
        client: Client | None = None,
    ) -> None:
        self.start = time.perf_counter()
        self.options = options
        self.on_frame = on_frame
        self.should_stop = should_stop
        self.analysis = analysis
        models = analysis.load_models()
        self.writers = _Writers(out, analysis)
        self.sources = self.writers.sources()
        self.clock = _Clock(out, options.frame_interval)
        if client is None:
            self.pool: InProcess | OnDask = InProcess(analysis, models, options.sampling)
        else:
            self.pool = OnDask(
                client, analysis, models, options.sampling, analysis.masks,
                lambda: self.arrivals.wake(),
            )  # fmt: skip
        ignore = _done_files(self.sources)
        if options.keep_up:
            ignore |= self.writers.skipped_files()
        self.arrivals = Arrivals(  # last: it starts the observer's thread
            folder, options.settle, options.patience, options.polling, ignore=ignore
        )
        self.counts = {"analysed": 0, "failed": 0, "skipped": 0}
        self.lags: list[float] = []

    def finished(self) -> bool:
        total = self.writers.resumed + self.counts["analysed"] + self.counts["failed"]
        return self.should_stop() or (
            self.options.until is not None and total >= self.options.until
        )

    def run(self) -> WatchSummary:
        backlog: list[Path] = []
        last_new = time.monotonic()
        try:
            while not self.finished():
                held = set(backlog) | self.pool.held()  # a file that changed is handed again
                backlog += [path for path in self.arrivals.settled() if path not in held]
                if self.options.keep_up:
                    keep = max(1, self.pool.free())
                    self._skip(backlog[:-keep])
                    backlog = backlog[-keep:]
                moved = False
                while backlog and self.pool.free() > 0:
                    self.pool.submit(backlog.pop(0), self.sources)
                    moved = True
                for path, frames in self.pool.results():
                    moved = True
                    if self._take(path, frames):
                        last_new = time.monotonic()
                    if self.finished():
                        break
                idle = self.options.idle
                if idle is not None and not self.pool.held() and not backlog:
                    if time.monotonic() - last_new >= idle:
                        break
                if not moved:
                    self.arrivals.wait(self.options.poll)
        finally:
            self.pool.close()
            self.arrivals.close()
            self.writers.close()
        return WatchSummary(
            self.counts["analysed"],
            self.counts["failed"],
            self.counts["skipped"],
            self.writers.resumed,
            time.perf_counter() - self.start,
            self.writers.frames.csv,
            self.writers.events.csv,
            self.lags,
        )

    def _skip(self, paths: list[Path]) -> None:
        """--keep-up: ``paths`` are listed in skipped.csv and never analysed by this run."""
        for path in paths:
            self.writers.skipped.append(
                {"frame": self.writers.next, "source": path.name, "reason": "behind"}
            )
            self.arrivals.finish(path)
            self.counts["skipped"] += 1

    def _take(self, path: Path, frames: Pairs | str) -> bool:
        """Write a file's rows (an error row once it stays unreadable); whether it is done.
        A file that vanished before its rows is dropped with a warning."""
        try:
            modified = path.stat().st_mtime
        except FileNotFoundError:
            log.warning("%s: gone before its frames were written; not analysed", path)
            self.arrivals.finish(path)
            return False
        if isinstance(frames, str):
            if not self.arrivals.stale(path):
                self.arrivals.retry(path)  # perhaps still being written
                return False
            frame = Frame(0, 0.0, path.name, None, None, frames)
            frames = analysed(iter([frame]), self.analysis, {})  # an error row, no model
        for frame, record in frames:
            self._write(frame, record, modified)
            if self.finished():
                return True  # a stack's remaining frames are done by the next run
        self.arrivals.finish(path)
        return True

    def _write(self, frame: Frame, record: FrameRecord, modified: float) -> None:
        """Number the frame, write its row (and its arrival), tell ``on_frame``."""
        index = self.writers.next
        self.writers.next += 1
        time_s = self.clock.time(index, modified)
        frame = replace(frame, index=index, time=time_s)
        record = replace(record, row={**record.row, "frame": index, "time": time_s})
        for row in self.writers.series.add(record):
            now = time.time()
            lag = now - modified
            self.writers.arrivals.append(
                {"frame": row["frame"], "source": row["source"], "modified": modified,
                 "written": now, "lag": lag}
            )  # fmt: skip
            self.lags.append(lag)
            self.counts["failed" if row["status"] == "failed" else "analysed"] += 1
            if self.on_frame is not None:
                self.on_frame(row, frame, record)
