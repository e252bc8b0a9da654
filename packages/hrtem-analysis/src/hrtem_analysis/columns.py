"""Atomic columns from a column-probability map, and their changes between frames.

Detection (:func:`detect_columns`, :func:`columns_with_scores`, :func:`group_close`) and the
one-to-one matching (:func:`match_columns`) are :mod:`hrtem_msd.nets.points`' (the code that scores
the columns model in training, so the analysis finds columns as they were scored). Positions are
in pixels in the array's own order (abTEM's: axis 0 = x), or in Å after multiplying by the
sampling [Å/px]. Between two frames a column is the same column when it lies within a distance
tied to the lattice (a fraction of the column spacing) of where the previous frame's column lies
once the drift is removed; the others appeared or vanished (diffusion events). A change is
confirmed (:func:`confirmed_changes`) when the frames on either side do not undo it: a column
seen in one frame only, or missing from one frame only, is a flicker of the detection, not an
event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hrtem_core.errors import ImageError
from hrtem_msd.nets.points import columns_with_scores, detect_columns, group_close, spacing
from hrtem_msd.nets.points import match_points as match_columns

__all__ = [
    "ColumnChanges",
    "column_changes",
    "columns_with_scores",
    "confirmed_changes",
    "count_events",
    "detect_columns",
    "group_close",
    "match_columns",
    "match_distance",
]


@dataclass(frozen=True)
class ColumnChanges:
    """What changed between two frames, in the current frame's coordinates.

    appeared: ``[A, 2]`` positions of current columns without a partner; vanished: ``[V, 2]``
    where the previous frame's unmatched columns would lie now (previous position + drift);
    matched: the number of columns found in both; distance: the match distance used.
    """

    appeared: np.ndarray
    vanished: np.ndarray
    matched: int
    distance: float


def match_distance(
    previous: np.ndarray, current: np.ndarray, fraction: float, fallback_spacing: float
) -> float:
    """``fraction`` of the column spacing measured from the data: the mean of the two frames'
    median nearest-neighbour distances (``fallback_spacing`` when neither frame has two columns).
    Same units as the positions."""
    measured = [s for s in (spacing(previous), spacing(current)) if np.isfinite(s)]
    return fraction * (float(np.mean(measured)) if measured else fallback_spacing)


def column_changes(
    previous: np.ndarray,
    current: np.ndarray,
    distance: float,
    drift: Sequence[float] = (0.0, 0.0),
) -> ColumnChanges:
    """Columns that appeared and vanished from ``previous`` ``[M, 2]`` to ``current`` ``[N, 2]``.

    ``drift`` (how far the content moved, same units) is added to the previous positions before
    matching one to one, nearest first, within ``distance``.
    """
    moved = np.asarray(previous, dtype=float).reshape(-1, 2) + np.asarray(drift, dtype=float)
    current = np.asarray(current, dtype=float).reshape(-1, 2)
    matched, new, gone = match_columns(moved, current, distance)
    return ColumnChanges(current[new], moved[gone], len(matched), float(distance))


def _near(points: np.ndarray, others: np.ndarray, distance: float) -> np.ndarray:
    """``[N]`` bool: which ``points`` have a partner among ``others`` (one to one) within
    ``distance``."""
    hit = np.zeros(len(points), dtype=bool)
    if len(points) and len(others):
        pairs, _, _ = match_columns(points, others, distance)
        hit[[i for i, _ in pairs]] = True
    return hit


def confirmed_changes(
    changes: ColumnChanges,
    before: ColumnChanges | None,
    drift: Sequence[float],
    after: ColumnChanges | None,
    drift_after: Sequence[float],
) -> ColumnChanges:
    """``changes`` (previous -> this frame) without those the neighbouring changes undo.

    before: the changes into the previous frame (its coordinates; None: unknown), ``drift``
    the content's move from the previous frame to this one; after: the changes from this frame
    to the next (None: no next frame yet), ``drift_after`` the move to the next frame. Dropped:
    a column that appeared here and vanishes next, or that returns here after vanishing before
    (missing from one frame only); a column that vanished here and returns next, or that had
    appeared only in the previous frame. Positions in this frame's coordinates, as ``changes``.
    """
    drift = np.nan_to_num(np.asarray(drift, dtype=float))
    drift_after = np.nan_to_num(np.asarray(drift_after, dtype=float))
    keep = {"appeared": np.ones(len(changes.appeared), bool),
            "vanished": np.ones(len(changes.vanished), bool)}  # fmt: skip
    undone = {"appeared": "vanished", "vanished": "appeared"}
    for kind, other in undone.items():
        points = getattr(changes, kind)
        if before is not None:
            keep[kind] &= ~_near(points, getattr(before, other) + drift, changes.distance)
        if after is not None:
            keep[kind] &= ~_near(points + drift_after, getattr(after, other), changes.distance)
    return ColumnChanges(
        changes.appeared[keep["appeared"]],
        changes.vanished[keep["vanished"]],
        changes.matched,
        changes.distance,
    )


def count_events(
    series: Sequence[np.ndarray],
    max_distance: float,
    frames: Sequence[int] | None = None,
    drifts: Sequence[Sequence[float]] | None = None,
    confirm: bool = True,
) -> pd.DataFrame:
    """Column counts and diffusion events over a series of position arrays ``[M_t, 2]``.

    Each frame is compared with the previous one in ``series`` (pass only interpretable frames;
    ``frames`` gives their frame numbers, default 0, 1, ...; ``drifts`` the drift of each against
    the previous one, default none). With ``confirm`` (as ``hrtem analyze series``), a change the
    neighbouring frames undo is no event (:func:`confirmed_changes`). Returns one row per frame:
    frame, columns, appeared, vanished, events (= appeared + vanished; 0 for the first frame).
    """
    frames = list(range(len(series))) if frames is None else list(frames)
    drifts = [(0.0, 0.0)] * len(series) if drifts is None else list(drifts)
    for name, values in (("frame numbers", frames), ("drifts", drifts)):
        if len(values) != len(series):
            raise ImageError(f"{len(values)} {name} for {len(series)} frames")
    raw = [None] + [
        column_changes(series[t - 1], series[t], max_distance, drifts[t])
        for t in range(1, len(series))
    ]
    rows = []
    for t, positions in enumerate(series):
        changes = raw[t]
        if changes is not None and confirm:
            after = raw[t + 1] if t + 1 < len(series) else None
            drift_after = drifts[t + 1] if after is not None else (0.0, 0.0)
            changes = confirmed_changes(changes, raw[t - 1], drifts[t], after, drift_after)
        appeared = 0 if changes is None else len(changes.appeared)
        vanished = 0 if changes is None else len(changes.vanished)
        rows.append(
            {
                "frame": frames[t],
                "columns": len(positions),
                "appeared": appeared,
                "vanished": vanished,
                "events": appeared + vanished,
            }
        )
    return pd.DataFrame(rows, columns=["frame", "columns", "appeared", "vanished", "events"])
