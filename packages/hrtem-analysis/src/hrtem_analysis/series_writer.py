"""The client's side of a series: rows written in frame order, columns tracked between frames.

Records arrive from the workers in any order; :class:`OrderedWriter` writes them in frame order.
Each interpretable frame with columns is compared with the previous one: the drift between the
two particle regions (:func:`hrtem_analysis.drift_tracking.region_drift`), then the columns
matched within ``match_fraction`` of the column spacing (or ``match_distance`` [Å]) after
removing it. Per frame, the drift and the numbers of columns that appeared and vanished go to the
frame's row, and every such column to ``OUT/events.csv`` (frame, time, kind, x, y [Å] in that
frame), written before the row so that a frame is done only with its events. Positions [Å] are
kept in ``OUT/columns/frame_NNNNNN.npy`` and the latest frame's region in ``..._region.npz``, so a
resumed run continues tracking where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from hrtem_core.atomic import atomic_write, atomic_write_text

from hrtem_analysis.columns import ColumnChanges, column_changes, match_distance
from hrtem_analysis.drift_tracking import Region, region_drift
from hrtem_analysis.frame_analysis import FrameRecord
from hrtem_analysis.settings import Settings
from hrtem_analysis.table import ResultTable

log = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "frame": "Int64",
    "time": "float64",
    "kind": "string",
    "x": "float64",
    "y": "float64",
}
"""Columns of ``OUT/events.csv``: kind "appeared" or "vanished"; (x, y) [Å] in the frame's own
coordinates (a vanished column: where it would lie after the drift)."""


def events_table(out: Path, done: set[int]) -> ResultTable:
    """``out/events.csv`` (a header when new), without the events of frames not in ``done``
    (cut off by a crash)."""
    events = ResultTable(out, EVENTS, name="events", required=("frame", "kind"))
    if not events.csv.is_file():
        atomic_write_text(events.csv, ",".join(EVENTS) + "\n")
    events.keep_frames(done)
    return events


def _save_array(path: Path, array: np.ndarray) -> None:
    """``np.save`` to exactly ``path`` (np.save on a name would append ".npy")."""
    with open(path, "wb") as stream:
        np.save(stream, array, allow_pickle=False)


class OrderedWriter:
    """Writes records in the order of ``todo`` (a list, or an endless ``itertools.count`` for a
    watched folder), tracking columns against the previous
    interpretable frame (of this run, or from the files of an earlier one).

    settings must be resolved (:meth:`Settings.resolved`); figures: folder for the per-frame
    column figures (appeared and vanished marked), or None.
    """

    def __init__(
        self,
        table: ResultTable,
        events: ResultTable,
        todo: Iterable[int],
        folder: Path,
        settings: Settings,
        figures: Path | None = None,
    ) -> None:
        self.table = table
        self.events = events
        self.order = iter(todo)
        self.expected = next(self.order, None)
        self.pending: dict[int, FrameRecord] = {}
        self.folder = folder
        self.settings = settings
        self.figures = figures
        self.previous = self._previous(self.expected if self.expected is not None else 0)

    def _path(self, frame: int, suffix: str = ".npy") -> Path:
        return self.folder / f"frame_{frame:06d}{suffix}"

    def _previous(self, frame: int) -> tuple[int, np.ndarray, Region | None] | None:
        """(frame, positions, region) of the last frame before ``frame`` with columns."""
        rows = self.table.rows
        earlier = rows[(rows["frame"] < frame) & rows["columns"].notna()]
        if not len(earlier):
            return None
        last = int(earlier["frame"].max())
        path, region = self._path(last), self._path(last, "_region.npz")
        if not path.is_file():
            return None
        positions = np.load(path, allow_pickle=False)
        if not region.is_file():
            log.warning("%s missing: frame %d is tracked without removing the drift", region, frame)
            return last, positions, None
        return last, positions, Region.load(region)

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
        if record.positions is None:
            self.table.append(row)
            return row
        frame = row["frame"]
        row.update(self._track(row, record))
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(frame), lambda tmp: _save_array(tmp, record.positions))
        if record.region is not None:
            record.region.save(self._path(frame, "_region.npz"))
        self.table.append(row)
        if self.previous is not None:  # only the latest region is needed to continue
            self._path(self.previous[0], "_region.npz").unlink(missing_ok=True)
        self.previous = (frame, record.positions, record.region)
        return row

    def _track(self, row: dict, record: FrameRecord) -> dict:
        """The frame's drift and event counts; its events appended to the events table."""
        positions = record.positions
        shift = np.full(2, np.nan)
        changes = ColumnChanges(np.zeros((0, 2)), np.zeros((0, 2)), 0, 0.0)
        if self.previous is not None:
            _, before, region = self.previous
            if region is not None and record.region is not None:
                shift = region_drift(region, record.region, self.settings.max_drift)
            changes = column_changes(
                before,
                positions,
                self._distance(before, positions),
                np.nan_to_num(shift),
            )
            for kind, points in (("appeared", changes.appeared), ("vanished", changes.vanished)):
                for x, y in points:
                    event = {"frame": row["frame"], "time": row["time"], "kind": kind}
                    self.events.append({**event, "x": float(x), "y": float(y)})
        if self.figures is not None and record.region is not None:
            from hrtem_analysis import figures  # matplotlib only when figures are asked for

            figure = figures.column_panel(record.region, positions, changes, row["source"])
            figures.save(figure, self.figures / f"frame_{row['frame']:06d}_columns.png")
        appeared, vanished = len(changes.appeared), len(changes.vanished)
        return {
            "appeared": appeared,
            "vanished": vanished,
            "events": appeared + vanished,
            "drift_x": float(shift[0]),
            "drift_y": float(shift[1]),
        }

    def _distance(self, previous: np.ndarray, current: np.ndarray) -> float:
        """Match distance [Å]: the explicit ``match_distance``, else tied to the lattice (the
        material's largest d-spacing standing in for the spacing when too few columns)."""
        if self.settings.match_distance is not None:
            return self.settings.match_distance
        fallback = max(self.settings.d_spacings)  # type: ignore[arg-type]
        return match_distance(previous, current, self.settings.match_fraction, fallback)
