"""Run an analysis over a series of frames, streaming, resumable, in this process or on dask.

Frames are read and analysed a few at a time, never all at once: in this process a reader thread
reads ``prefetch`` frames ahead while the model runs; with ``workers`` (a local dask
``LocalCluster``) or ``scheduler`` (``tcp://HOST:PORT``), batches of ``batch`` frame indices go to
the workers, each of which reads its own frames and holds one copy of each model, sent once by
the client (the input and the output folder must be on a file system the workers share). At most two batches per worker are in
flight.

The client writes every frame's row to ``OUT/frames.csv`` (appended, flushed) in frame order, so
that drift and diffusion events (columns appearing and vanishing between consecutive
interpretable frames, ``OUT/events.csv``) are found on the client from the column positions and
particle regions the workers return (:mod:`hrtem_analysis.series_writer`); a resumed run
continues from the files it keeps. A rerun skips the frames already in the table. At the end
``OUT/frames.parquet``, ``OUT/events.parquet`` and the time-series plot ``OUT/series.png`` are
written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_core.cluster import dask_client
from hrtem_core.errors import ImageError

from hrtem_analysis import figures
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
from hrtem_analysis.series_writer import OrderedWriter, events_table
from hrtem_analysis.table import ResultTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesSummary:
    """What a run did. analysed/failed/no_particle: frames of this run; skipped: already in the
    table; interpretable_fraction: over every analysed frame of the table (nan for MoS2);
    events: the table of columns that appeared and vanished."""

    frames: int
    analysed: int
    skipped: int
    failed: int
    no_particle: int
    interpretable_fraction: float
    csv: Path
    parquet: Path
    events: Path
    plot: Path | None
    seconds: float
    first_error: str | None
    sizes: dict[str, int] = field(default_factory=dict)
    zones: dict[str, int] = field(default_factory=dict)


SIZE_CLASSES = {"< 1.5 nm": (0.0, 1.5), "1.5-3 nm": (1.5, 3.0), "> 3 nm": (3.0, math.inf)}
"""Particle size classes by equivalent diameter [nm], [low, high)."""


def size_counts(areas: pd.Series) -> dict[str, int]:
    """Particles per :data:`SIZE_CLASSES` from the table's ``areas`` (";"-joined [nm^2] per frame)."""
    values = [float(a) for text in areas.dropna() for a in str(text).split(";") if a]
    diameters = 2.0 * np.sqrt(np.asarray(values) / np.pi)
    return {
        name: int(((diameters >= low) & (diameters < high)).sum())
        for name, (low, high) in SIZE_CLASSES.items()
    }


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
    analysis = replace(analysis, settings=analysis.settings.resolved())
    models = analysis.load_models()
    channels = models["model"].config.in_channels  # (Analysis.channels() would load it again)
    if channels != source.channels:
        raise ImageError(f"frames of {source.channels} channel(s); the model takes {channels}")
    table = ResultTable(out, COLUMNS)
    done = table.done()
    todo = [t for t in range(len(source)) if t not in done]
    if done:
        log.info(
            "%s: %d of %d frames already done, skipping them", table.csv, len(done), len(source)
        )
    events = events_table(out, done)
    writer = OrderedWriter(
        table, events, todo, out / "columns", analysis.settings, analysis.figures
    )
    written: list[dict] = []
    if progress is not None:
        progress(len(done), None)
    try:
        if workers or scheduler:
            records = _distributed(source, todo, analysis, models, workers, scheduler, batch)
        else:
            frames = _prefetched(source, todo, prefetch)
            records = (analyse_frame(frame, analysis, models) for frame in frames)
        for row in _written_rows(writer, records):
            written.append(row)
            if progress is not None:
                progress(len(done) + len(written), row)
    finally:
        rows = table.close()
        events.close()
    plot_path = None
    if plot and len(rows):
        plot_path = figures.save(
            figures.series_plot(rows, analysis.settings.threshold), out / "series.png"
        )
    seconds = time.perf_counter() - start
    return _summary(source, written, len(done), rows, table, events.csv, plot_path, seconds)


def _written_rows(writer: OrderedWriter, records: Iterator[FrameRecord]) -> Iterator[dict]:
    """The rows ``writer`` writes as ``records`` come, then those it held to the end."""
    for record in records:
        yield from writer.add(record)
    yield from writer.close()


def _summary(
    source: FrameSource,
    written: list[dict],
    skipped: int,
    rows: pd.DataFrame,
    table: ResultTable,
    events: Path,
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
        events=events,
        plot=plot,
        seconds=seconds,
        first_error=failed[0]["error"] if failed else None,
        sizes=size_counts(analysed["areas"]) if "areas" in analysed else {},
        zones=analysed["zone"].dropna().value_counts().to_dict() if "zone" in analysed else {},
    )


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
