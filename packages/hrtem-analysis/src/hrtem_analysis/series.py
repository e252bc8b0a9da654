"""Run an analysis over a series of frames, streaming, resumable, in this process or on dask.

Frames are read and analysed a few at a time, never all at once: in this process a reader thread
reads ``prefetch`` frames ahead while the model runs; with ``workers`` (a local dask
``LocalCluster``) or ``scheduler`` (``tcp://HOST:PORT``), batches of ``batch`` frame indices go to
the workers, each of which reads its own frames and holds one copy of each model, sent once by
the client (the input and the output folder must be on a file system the workers share). At most two batches per worker are in
flight.

The client writes every frame's row to ``OUT/frames.csv`` (appended, flushed) in frame order, so
that diffusion events (columns appearing and vanishing between consecutive interpretable frames)
are counted on the client from the column positions the workers return; positions [Å] are kept in
``OUT/columns/frame_NNNNNN.npy`` so a resumed run continues the count. A rerun skips the frames
already in the table. At the end ``OUT/frames.parquet`` and the time-series plot
``OUT/series.png`` are written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_core.atomic import atomic_write
from hrtem_core.cluster import dask_client
from hrtem_core.errors import ImageError

from hrtem_analysis import figures
from hrtem_analysis.columns import match_columns
from hrtem_analysis.frame_analysis import (
    COLUMNS,
    Analysis,
    FrameRecord,
    Models,
    analyse_batch,
    analyse_frame,
    empty_row,
)
from hrtem_analysis.frames import Frame, FrameSource
from hrtem_analysis.table import ResultTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesSummary:
    """What a run did. analysed/failed/no_particle: frames of this run; skipped: already in the
    table; interpretable_fraction: over every analysed frame of the table (nan for MoS2)."""

    frames: int
    analysed: int
    skipped: int
    failed: int
    no_particle: int
    interpretable_fraction: float
    csv: Path
    parquet: Path
    plot: Path | None
    seconds: float
    first_error: str | None


def run_series(
    source: FrameSource,
    analysis: Analysis,
    out: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    batch: int = 4,
    prefetch: int = 2,
    plot: bool = True,
    progress: Callable[[int, dict | None], None] | None = None,
) -> SeriesSummary:
    """Analyse every frame of ``source`` not yet in ``out/frames.csv``; see the module docstring.

    workers: None or 0 runs in this process; N > 0 starts a LocalCluster of N processes.
    progress: called with the number of frames in the table: first (row None), then with each
    row as it is written.
    """
    start = time.perf_counter()
    models = analysis.load_models()
    if analysis.channels() != source.channels:
        raise ImageError(
            f"frames of {source.channels} channel(s); the model takes {analysis.channels()}"
        )
    table = ResultTable(out, COLUMNS)
    done = table.done()
    todo = [t for t in range(len(source)) if t not in done]
    if done:
        log.info(
            "%s: %d of %d frames already done, skipping them", table.csv, len(done), len(source)
        )
    writer = _OrderedWriter(table, todo, out / "columns", analysis.settings.match_distance)
    written: list[dict] = []
    if progress is not None:
        progress(len(done), None)
    try:
        if workers or scheduler:
            records = _distributed(source, todo, analysis, models, workers, scheduler, batch)
        else:
            frames = _prefetched(source, todo, prefetch)
            records = (analyse_frame(frame, analysis, models) for frame in frames)
        for record in records:
            for row in writer.add(record):
                written.append(row)
                if progress is not None:
                    progress(len(done) + len(written), row)
    finally:
        rows = table.close()
    plot_path = None
    if plot and len(rows):
        plot_path = figures.save(
            figures.series_plot(rows, analysis.settings.threshold), out / "series.png"
        )
    return _summary(source, written, len(done), rows, table, plot_path, time.perf_counter() - start)


def _summary(
    source: FrameSource,
    written: list[dict],
    skipped: int,
    rows: pd.DataFrame,
    table: ResultTable,
    plot: Path | None,
    seconds: float,
) -> SeriesSummary:
    failed = [row for row in written if row["status"] == "failed"]
    analysed = rows[rows["status"] != "failed"]
    known = analysed["interpretable"].dropna()
    return SeriesSummary(
        frames=len(source),
        analysed=len(written) - len(failed),
        skipped=skipped,
        failed=len(failed),
        no_particle=sum(row["status"] == "no particle" for row in written),
        interpretable_fraction=float(known.mean()) if len(known) else math.nan,
        csv=table.csv,
        parquet=table.parquet,
        plot=plot,
        seconds=seconds,
        first_error=failed[0]["error"] if failed else None,
    )


class _OrderedWriter:
    """Writes records in the order of ``todo``, counting column events against the previous
    interpretable frame (from this run, or from ``positions`` files of an earlier run)."""

    def __init__(
        self, table: ResultTable, todo: list[int], positions: Path, distance: float
    ) -> None:
        self.table = table
        self.order = iter(todo)
        self.expected = next(self.order, None)
        self.pending: dict[int, FrameRecord] = {}
        self.folder = positions
        self.distance = distance
        self.previous = self._previous_positions(todo[0] if todo else 0)

    def _path(self, frame: int) -> Path:
        return self.folder / f"frame_{frame:06d}.npy"

    def _previous_positions(self, frame: int) -> np.ndarray | None:
        rows = self.table.rows
        earlier = rows[(rows["frame"] < frame) & rows["columns"].notna()]
        if not len(earlier):
            return None
        path = self._path(int(earlier["frame"].max()))
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def add(self, record: FrameRecord) -> list[dict]:
        """Buffer ``record``; write every record now in order; return the rows written."""
        self.pending[record.row["frame"]] = record
        written = []
        while self.expected is not None and self.expected in self.pending:
            written.append(self._write(self.pending.pop(self.expected)))
            self.expected = next(self.order, None)
        return written

    def _write(self, record: FrameRecord) -> dict:
        row = dict(record.row)
        if record.positions is not None:
            appeared = vanished = 0
            if self.previous is not None:
                _, new, gone = match_columns(self.previous, record.positions, self.distance)
                appeared, vanished = len(new), len(gone)
            row.update(appeared=appeared, vanished=vanished, events=appeared + vanished)
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(row["frame"])
            atomic_write(path, lambda tmp: _save_array(tmp, record.positions))
            self.previous = record.positions
        self.table.append(row)
        return row


def _save_array(path: str, array: np.ndarray) -> None:
    """``np.save`` to exactly ``path`` (np.save on a name would append ".npy")."""
    with open(path, "wb") as stream:
        np.save(stream, array, allow_pickle=False)


def _prefetched(source: FrameSource, todo: list[int], depth: int) -> Iterator[Frame]:
    """Frames ``todo`` of ``source``, read by a thread up to ``depth`` frames ahead."""
    frames: queue.Queue[Frame | None] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Frame | None) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                frames.put(item, timeout=0.1)
                return

    def read() -> None:
        for t in todo:
            if stop.is_set():
                return
            put(source.read(t))
        put(None)

    reader = threading.Thread(target=read, name="frame-reader", daemon=True)
    reader.start()
    try:
        while (frame := frames.get()) is not None:
            yield frame
    finally:
        stop.set()
        reader.join()


def _distributed(
    source: FrameSource,
    todo: list[int],
    analysis: Analysis,
    models: Models,
    workers: int | None,
    scheduler: str | None,
    batch: int,
) -> Iterator[FrameRecord]:
    """Records of frames ``todo`` from dask workers, batch by batch, in completion order.

    The networks are sent once to every worker (``scatter(broadcast=True)``): workers need
    neither the model registry nor a download."""
    from distributed import as_completed

    batches = iter([todo[i : i + batch] for i in range(0, len(todo), max(1, batch))])
    with dask_client(workers, scheduler) as client:
        slots = 2 * max(1, len(client.scheduler_info()["workers"]))
        shipped = client.scatter(models, broadcast=True)
        futures = {
            client.submit(analyse_batch, b, source, analysis, shipped, pure=False): b
            for b in islice(batches, slots)
        }
        running = as_completed(list(futures))
        try:
            for future in running:
                yield from _batch_records(future, futures.pop(future), source)
                following = next(batches, None)
                if following is not None:
                    new = client.submit(
                        analyse_batch, following, source, analysis, shipped, pure=False
                    )
                    futures[new] = following
                    running.add(new)
        finally:
            client.cancel(list(futures))


def _batch_records(future: object, frames: list[int], source: FrameSource) -> list[FrameRecord]:
    """The batch's records; a lost worker makes failed rows for its frames, not a failed run."""
    try:
        return future.result()  # type: ignore[attr-defined]
    except Exception as error:
        reason = f"worker failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        rows = [empty_row(Frame(t, source.time(t), source.name(t), None, None)) for t in frames]
        return [FrameRecord({**row, "status": "failed", "error": reason}) for row in rows]
