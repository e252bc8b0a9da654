"""The client's side of a series: rows written in frame order, columns tracked between frames.

Records arrive from the workers in any order; :class:`OrderedWriter` writes them in frame order.
Each interpretable frame with columns is compared with the previous one: the drift between the
two particle regions (:func:`hrtem_analysis.drift_tracking.region_drift`), then the columns
matched within ``match_fraction`` of the column spacing (or ``match_distance`` [Å]) after
removing it. Per frame, the drift and the numbers of columns that appeared and vanished go to the
frame's row, and every such column to ``OUT/events.csv`` (frame, time, kind, x, y [Å] in that
frame), written before the row so that a frame is done only with its events.

With ``settings.confirm_events`` a frame's row and events wait for the next frame with columns:
a change that frame undoes (a column seen in one frame only, or missing from one frame only) is
a flicker of the detection and not counted (:func:`hrtem_analysis.columns.confirmed_changes`);
the rows after it wait too, so the table stays in frame order, and the last frame is confirmed
against the one before only (:meth:`OrderedWriter.close`). Positions [Å] are kept in
``OUT/columns/frame_NNNNNN.npy``, the latest written frame's region and unconfirmed changes in
``..._region.npz`` and ``..._changes.npz``, so a resumed run continues tracking where it
stopped (a frame held for confirmation when a run stops is analysed again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hrtem_core.atomic import atomic_write, atomic_write_text

from hrtem_analysis.columns import (
    ColumnChanges,
    column_changes,
    confirmed_changes,
    match_distance,
)
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


@dataclass(frozen=True)
class _Tracked:
    """A frame with columns: its positions [Å] ``[N, 2]``, particle region, unconfirmed
    ``changes`` from the frame with columns before it, ``shift`` (the drift [Å] from that frame),
    the changes into that frame (``before``), its record and row (None when read from files)."""

    frame: int
    positions: np.ndarray
    region: Region | None
    changes: ColumnChanges | None
    shift: np.ndarray
    before: ColumnChanges | None = None
    record: FrameRecord | None = None
    row: dict | None = None


def _no_changes() -> ColumnChanges:
    return ColumnChanges(np.zeros((0, 2)), np.zeros((0, 2)), 0, 0.0)


class OrderedWriter:
    """Writes records in the order of ``todo`` (a list, or an endless ``itertools.count`` for a
    watched folder), tracking columns against the previous frame with columns (of this run, or
    from the files of an earlier one); see the module docstring.

    settings must be resolved (:meth:`Settings.resolved`); figures: folder for the per-frame
    column figures (appeared and vanished marked), or None. Call :meth:`close` at the end of
    the frames to write the frame held for confirmation.
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
        self.latest = self._written(self.expected if self.expected is not None else 0)
        self.last_written = self.latest.frame if self.latest is not None else None
        self.held: _Tracked | None = None
        self.waiting: list[dict] = []

    def _path(self, frame: int, suffix: str = ".npy") -> Path:
        return self.folder / f"frame_{frame:06d}{suffix}"

    def _written(self, frame: int) -> _Tracked | None:
        """The last frame before ``frame`` with columns in the table, from its files."""
        rows = self.table.rows
        earlier = rows[(rows["frame"] < frame) & rows["columns"].notna()]
        if not len(earlier):
            return None
        last = int(earlier["frame"].max())
        path, region = self._path(last), self._path(last, "_region.npz")
        if not path.is_file():
            return None
        positions = np.load(path, allow_pickle=False)
        changes = _load_changes(self._path(last, "_changes.npz"))
        if not region.is_file():
            log.warning("%s missing: frame %d is tracked without removing the drift", region, frame)
            return _Tracked(last, positions, None, changes, np.zeros(2))
        return _Tracked(last, positions, Region.load(region), changes, np.zeros(2))

    def add(self, record: FrameRecord) -> list[dict]:
        """Buffer ``record``; write every record now in order; return the rows written."""
        self.pending[record.row["frame"]] = record
        written = []
        while self.expected is not None and self.expected in self.pending:
            written += self._take(self.pending.pop(self.expected))
            self.expected = next(self.order, None)
        return written

    def close(self) -> list[dict]:
        """Write the frame held for confirmation (confirmed against the frame before it only)
        and the rows after it; return the rows written."""
        if self.held is None:
            return []
        held, self.held = self.held, None
        return self._finish(held, None)

    def _take(self, record: FrameRecord) -> list[dict]:
        """Write ``record`` (and the held frame it confirms), or hold it; the rows written."""
        row = dict(record.row)
        if record.positions is None:
            if self.held is not None:
                self.waiting.append(row)
                return []
            self.table.append(row)
            return [row]
        tracked = self._track(row, record)
        self.latest = tracked
        if not self.settings.confirm_events:
            return self._finish(tracked, None)
        written = self._finish(self.held, tracked) if self.held is not None else []
        self.held = tracked
        return written

    def _track(self, row: dict, record: FrameRecord) -> _Tracked:
        """The frame's unconfirmed changes from the latest frame with columns, and its drift."""
        positions = record.positions
        shift = np.full(2, np.nan)
        changes = _no_changes()
        before = None
        if self.latest is not None:
            previous, region = self.latest.positions, self.latest.region
            if region is not None and record.region is not None:
                shift = region_drift(region, record.region, self.settings.max_drift)
            changes = column_changes(
                previous, positions, self._distance(previous, positions), np.nan_to_num(shift)
            )
            before = self.latest.changes
        return _Tracked(row["frame"], positions, record.region, changes, shift, before, record, row)

    def _finish(self, tracked: _Tracked, after: _Tracked | None) -> list[dict]:
        """Write ``tracked``'s events, files and row (its changes confirmed by ``after`` and the
        changes before it when confirming), then the rows waiting behind it."""
        row, record = dict(tracked.row), tracked.record
        changes = tracked.changes
        if self.settings.confirm_events:
            changes = confirmed_changes(
                changes,
                tracked.before,
                tracked.shift,
                after.changes if after is not None else None,
                after.shift if after is not None else np.zeros(2),
            )
        for kind, points in (("appeared", changes.appeared), ("vanished", changes.vanished)):
            for x, y in points:
                event = {"frame": row["frame"], "time": row["time"], "kind": kind}
                self.events.append({**event, "x": float(x), "y": float(y)})
        if self.figures is not None and record.region is not None:
            from hrtem_analysis import figures  # matplotlib only when figures are asked for

            figure = figures.column_panel(record.region, record.positions, changes, row["source"])
            figures.save(figure, self.figures / f"frame_{row['frame']:06d}_columns.png")
        appeared, vanished = len(changes.appeared), len(changes.vanished)
        row.update(
            appeared=appeared,
            vanished=vanished,
            events=appeared + vanished,
            drift_x=float(tracked.shift[0]),
            drift_y=float(tracked.shift[1]),
        )
        self._save(tracked)
        self.table.append(row)
        waiting, self.waiting = self.waiting, []
        for later in waiting:
            self.table.append(later)
        return [row, *waiting]

    def _save(self, tracked: _Tracked) -> None:
        """Positions, region and unconfirmed changes of a written frame; only the latest
        frame's region and changes are kept (all a resumed run needs)."""
        frame = tracked.frame
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(frame), lambda tmp: _save_array(tmp, tracked.positions))
        if tracked.region is not None:
            tracked.region.save(self._path(frame, "_region.npz"))
        atomic_write(
            self._path(frame, "_changes.npz"), lambda tmp: _save_changes(tmp, tracked.changes)
        )
        if self.last_written is not None and self.last_written != frame:
            for suffix in ("_region.npz", "_changes.npz"):
                self._path(self.last_written, suffix).unlink(missing_ok=True)
        self.last_written = frame

    def _distance(self, previous: np.ndarray, current: np.ndarray) -> float:
        """Match distance [Å]: the explicit ``match_distance``, else tied to the lattice (the
        material's largest d-spacing standing in for the spacing when too few columns)."""
        if self.settings.match_distance is not None:
            return self.settings.match_distance
        fallback = max(self.settings.d_spacings)  # type: ignore[arg-type]
        return match_distance(previous, current, self.settings.match_fraction, fallback)


def _save_changes(path: Path, changes: ColumnChanges) -> None:
    with open(path, "wb") as stream:
        np.savez(
            stream,
            appeared=changes.appeared,
            vanished=changes.vanished,
            distance=np.float64(changes.distance),
        )


def _load_changes(path: Path) -> ColumnChanges | None:
    """A written frame's unconfirmed changes (None when the file is missing: an older run)."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return ColumnChanges(data["appeared"], data["vanished"], 0, float(data["distance"]))
