"""Live analysis of a folder a camera writes into: each frame analysed once, as it arrives.

Files come from :class:`~hrtem_analysis.watch.arrivals.Arrivals` once settled. Each is opened
with the readers of :func:`hrtem_analysis.frames.open_frames` (a stack file gives several frames);
one that cannot be read yet is retried, and becomes an error row once it has not changed for
``patience`` seconds. Every frame is analysed with the models loaded once
(:func:`hrtem_analysis.frame_analysis.analyse_frame`) and written by the series' own
:class:`~hrtem_analysis.series_writer.OrderedWriter`: ``OUT/frames.csv`` (a row per frame, its
``source`` file and ``error``), ``OUT/events.csv`` and the drift/column tracking between
interpretable frames, exactly as ``hrtem analyze series`` writes them.

Resuming: a restart reads ``OUT/frames.csv`` and never hands out a file that has a row (a
stack's frames are skipped one by one), so nothing is done twice and a row cut off by a kill is
dropped and redone. ``OUT/arrivals.csv`` has, per frame, when its file was last modified and
when its row was written (epoch [s]) and the lag between them [s]. With ``keep_up``, when more
than one file is waiting only the newest is analysed; the others go to ``OUT/skipped.csv`` and a
later run without ``keep_up`` fills them in.

Frame time [s]: ``index * frame_interval`` when given, else the file's modification time less
that of the first frame of the watch (kept in ``OUT/watch.json``).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from hrtem_core.atomic import atomic_write_text
from hrtem_core.errors import HRTEMError, ImageError

from hrtem_analysis.frame_analysis import COLUMNS, Analysis, FrameRecord, analyse_frame
from hrtem_analysis.frames import Frame, open_frames
from hrtem_analysis.series_writer import OrderedWriter, events_table
from hrtem_analysis.table import ResultTable
from hrtem_analysis.watch.arrivals import Arrivals

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
    without a new file; sampling [Å/px] and frame_interval [s] override the files'."""

    settle: float = 0.5
    patience: float = 10.0
    poll: float = 0.25
    polling: bool = False
    until: int | None = None
    idle: float | None = None
    keep_up: bool = False
    sampling: float | None = None
    frame_interval: float | None = None


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


def _frames(
    path: Path, channels: int, sampling: float | None, done: set[str]
) -> Iterator[Frame] | str:
    """The frames of one file not yet ``done``, read one at a time; or, when the file or its
    first frame cannot be read (yet), the reader's one line saying why."""
    try:
        source = open_frames([path], channels, sampling)
    except HRTEMError as error:
        return str(error).splitlines()[0]
    first = source.read(0)
    if first.error is not None:
        return first.error
    rest = (source.read(t) for t in range(1, len(source)) if source.name(t) not in done)
    return itertools.chain([first] if first.source not in done else [], rest)


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
    not a folder, before loading anything."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder to watch")
    start = time.perf_counter()
    analysis = replace(analysis, settings=analysis.settings.resolved())
    models = analysis.load_models()
    channels = analysis.channels()
    writers = _Writers(out, analysis)
    sources = writers.sources()
    ignore = _done_files(sources) | (writers.skipped_files() if options.keep_up else set())
    arrivals = Arrivals(folder, options.settle, options.patience, options.polling, ignore=ignore)
    clock = _Clock(out, options.frame_interval)
    counts = {"analysed": 0, "failed": 0, "skipped": 0}
    lags: list[float] = []
    last_new = time.monotonic()

    def write(frame: Frame, modified: float) -> None:
        record = analyse_frame(frame, analysis, models)
        for row in writers.series.add(record):
            now = time.time()
            lag = now - modified
            writers.arrivals.append(
                {"frame": row["frame"], "source": row["source"], "modified": modified,
                 "written": now, "lag": lag}
            )  # fmt: skip
            lags.append(lag)
            counts["failed" if row["status"] == "failed" else "analysed"] += 1
            if on_frame is not None:
                on_frame(row, frame, record)

    def finished() -> bool:
        total = writers.resumed + counts["analysed"] + counts["failed"]
        return should_stop() or (options.until is not None and total >= options.until)

    try:
        while not finished():
            ready = arrivals.settled()
            if options.keep_up and len(ready) > 1:
                for path in ready[:-1]:
                    writers.skipped.append(
                        {"frame": writers.next, "source": path.name, "reason": "behind"}
                    )
                    arrivals.finish(path)
                    counts["skipped"] += 1
                ready = ready[-1:]
            for path in ready:
                if finished():
                    break
                frames = _frames(path, channels, options.sampling, sources)
                if isinstance(frames, str):
                    if not arrivals.stale(path):
                        arrivals.retry(path)  # perhaps still being written
                        continue
                    frames = iter([Frame(0, 0.0, path.name, None, None, frames)])
                modified = path.stat().st_mtime
                for frame in frames:
                    index = writers.next
                    writers.next += 1
                    write(replace(frame, index=index, time=clock.time(index, modified)), modified)
                arrivals.finish(path)
                last_new = time.monotonic()
            if options.idle is not None and time.monotonic() - last_new >= options.idle:
                break
            if not ready:
                arrivals.wait(options.poll)
    finally:
        arrivals.close()
        writers.close()
    return WatchSummary(
        counts["analysed"],
        counts["failed"],
        counts["skipped"],
        writers.resumed,
        time.perf_counter() - start,
        writers.frames.csv,
        writers.events.csv,
        lags,
    )
