"""Atomic columns from a column-probability map, and their changes between frames.

Positions are in pixels, in the array's own order (abTEM's: axis 0 = x, axis 1 = y); multiply by
the sampling [Å/px] for Å. A column is a connected region of ``probability > threshold``; its
position is the centroid of the region weighted by the probability above the threshold (sub-pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from hrtem_core.errors import ImageError
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def detect_columns(
    probability: np.ndarray, threshold: float = 0.5, min_distance: float = 0.0
) -> np.ndarray:
    """Column positions ``[M, 2]`` float64 [px] in a probability map ``[H, W]``.

    Each connected region of ``probability > threshold`` is one column, placed at its centroid
    weighted by ``probability - threshold`` (zero at the region's edge, so the pixelated outline
    does not bias the position). Columns closer than ``min_distance`` [px] (fragments of one
    column cut by noise) are merged into their mass-weighted centroid.
    """
    probability = np.asarray(probability, dtype=np.float64)
    return columns_with_scores(probability, probability[None], threshold, min_distance)[0]


def columns_with_scores(
    probability: np.ndarray, scores: np.ndarray, threshold: float = 0.5, min_distance: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Columns as :func:`detect_columns` finds them, and the sums ``[M, K]`` of the maps ``scores``
    ``[K, H, W]`` over each column's pixels (over all its fragments when merged)."""
    probability = np.asarray(probability, dtype=np.float64)
    if probability.ndim != 2:
        raise ImageError(f"probability map has shape {probability.shape}; expected [H, W]")
    if not np.isfinite(probability).all():
        raise ImageError("probability map contains NaN or infinite values")
    labels, n = ndimage.label(probability > threshold)
    if n == 0:
        return np.zeros((0, 2)), np.zeros((0, len(scores)))
    index = np.arange(1, n + 1)
    weight = probability - threshold
    positions = np.asarray(ndimage.center_of_mass(weight, labels, index), dtype=np.float64)
    sums = np.stack([ndimage.sum_labels(score, labels, index) for score in scores], axis=1)
    if min_distance <= 0 or n == 1:
        return positions, sums
    mass = ndimage.sum_labels(weight, labels, index)
    return _merge_close(positions, mass, sums, min_distance)


def group_close(points: np.ndarray, distance: float) -> tuple[int, np.ndarray]:
    """Group points ``[M, 2]`` linked by chains of neighbours closer than ``distance``.

    Returns (number of groups, group index ``[M]`` of each point).
    """
    pairs = cKDTree(points).query_pairs(distance, output_type="ndarray")
    size = len(points)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(size, size))
    return connected_components(graph, directed=False)


def _merge_close(
    positions: np.ndarray, mass: np.ndarray, sums: np.ndarray, distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Merge points closer than ``distance`` (in chains) into mass-weighted centroids, adding
    their ``sums`` ``[M, K]``."""
    n, group = group_close(positions, distance)
    weight = np.bincount(group, weights=mass, minlength=n)
    merged = np.stack(
        [np.bincount(group, weights=mass * positions[:, a], minlength=n) / weight for a in (0, 1)],
        axis=1,
    )
    added = np.stack(
        [np.bincount(group, weights=sums[:, k], minlength=n) for k in range(sums.shape[1])], axis=1
    )
    return merged, added


def match_columns(
    previous: np.ndarray, current: np.ndarray, max_distance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of columns between two frames, nearest pairs first.

    previous ``[M, 2]``, current ``[N, 2]`` positions [px]. Returns (matched ``[P, 2]`` int
    index pairs (previous, current), appeared: indices into ``current`` without a partner within
    ``max_distance`` [px], vanished: indices into ``previous`` without one).
    """
    previous = np.asarray(previous, dtype=float).reshape(-1, 2)
    current = np.asarray(current, dtype=float).reshape(-1, 2)
    distances = (
        cKDTree(previous).sparse_distance_matrix(
            cKDTree(current), max_distance, output_type="ndarray"
        )
        if len(previous) and len(current)
        else np.zeros(0, dtype=[("i", int), ("j", int), ("v", float)])
    )
    taken_prev = np.zeros(len(previous), dtype=bool)
    taken_curr = np.zeros(len(current), dtype=bool)
    matched = []
    for i, j, _ in np.sort(distances, order="v"):
        if not taken_prev[i] and not taken_curr[j]:
            taken_prev[i] = taken_curr[j] = True
            matched.append((i, j))
    return (
        np.asarray(matched, dtype=np.int64).reshape(-1, 2),
        np.flatnonzero(~taken_curr),
        np.flatnonzero(~taken_prev),
    )


def count_events(
    series: Sequence[np.ndarray], max_distance: float, frames: Sequence[int] | None = None
) -> pd.DataFrame:
    """Column counts and diffusion events over a series of position arrays ``[M_t, 2]`` [px].

    Each frame is compared with the previous one in ``series`` (pass only interpretable frames;
    ``frames`` gives their frame numbers, default 0, 1, ...). Returns one row per frame: frame,
    columns, appeared, vanished, events (= appeared + vanished; 0 for the first frame).
    """
    frames = list(range(len(series))) if frames is None else list(frames)
    if len(frames) != len(series):
        raise ImageError(f"{len(frames)} frame numbers for {len(series)} frames")
    rows = []
    for t, positions in enumerate(series):
        appeared = vanished = 0
        if t > 0:
            _, new, gone = match_columns(series[t - 1], positions, max_distance)
            appeared, vanished = len(new), len(gone)
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
