"""Points in probability maps: detection, grouping, one-to-one matching and lattice spacing.

Shared by the columns task's detection metric (:mod:`hrtem_msd.training.column_metrics`) and the analysis
(:mod:`hrtem_analysis.columns`), so that training scores columns exactly as the analysis finds
them. Positions are in pixels in the array's own order (abTEM's: axis 0 = x, axis 1 = y), or in
Å after multiplying by the sampling [Å/px]; the functions only need the two to be consistent.
A column is a connected region of ``probability > threshold``; its position is the centroid of
the region weighted by the probability above the threshold (sub-pixel). A networks' column map
also has weaker blobs beside a column (on a particle's outline and between close columns); with
``suppress`` a detection closer than that fraction of the column spacing to a stronger one is
dropped (non-maximum suppression, :func:`suppress_weaker`).
"""

from __future__ import annotations

import numpy as np
from hrtem_core.errors import ImageError
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

SUPPRESS = 0.7
"""A detection closer than this fraction of the column spacing to a stronger one is dropped: on
the series check's <110> particles the extra blobs of a network's map lie 1.2-1.8 Å (0.5-0.7 of
the 2.50 Å spacing) from a column, and a lattice's nearest columns are one spacing apart."""


def detect_columns(
    probability: np.ndarray,
    threshold: float = 0.5,
    min_distance: float = 0.0,
    suppress: float = 0.0,
    sampling: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Column positions ``[M, 2]`` float64 in a probability map ``[H, W]``: [px] times
    ``sampling`` per axis (give the map's [Å/px] for positions in Å).

    Each connected region of ``probability > threshold`` is one column, placed at its centroid
    weighted by ``probability - threshold`` (zero at the region's edge, so the pixelated outline
    does not bias the position). Columns closer than ``min_distance`` [px] (fragments of one
    column cut by noise) are merged into their mass-weighted centroid. Then a column closer than
    ``suppress`` (the positions' units) to one of larger summed probability is dropped
    (:func:`suppress_weaker`; 0: none); give it as :data:`SUPPRESS` times the lattice's column
    spacing.
    """
    probability = np.asarray(probability, dtype=np.float64)
    found, mass = columns_with_scores(probability, probability[None], threshold, min_distance)
    positions = found * np.asarray(sampling, dtype=np.float64)
    if suppress <= 0:
        return positions
    return positions[suppress_weaker(positions, mass[:, 0], suppress)]


def suppress_weaker(points: np.ndarray, strength: np.ndarray, radius: float) -> np.ndarray:
    """Sorted indices of the points ``[M, 2]`` kept by non-maximum suppression: strongest first
    (``strength`` ``[M]``), each kept point drops the weaker ones closer than ``radius`` (in the
    points' units)."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    tree = cKDTree(points)
    keep = np.ones(len(points), dtype=bool)
    for i in np.argsort(-np.asarray(strength), kind="stable"):
        if keep[i]:
            near = np.asarray(tree.query_ball_point(points[i], radius), dtype=int)
            keep[near[near != i]] = False
    return np.flatnonzero(keep)


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


def match_points(
    first: np.ndarray, second: np.ndarray, max_distance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of two point sets, nearest pairs first.

    first ``[M, 2]``, second ``[N, 2]`` positions. Returns (matched ``[P, 2]`` int index pairs
    (first, second) closer than ``max_distance``, the indices into ``second`` without a partner,
    the indices into ``first`` without one).
    """
    first = np.asarray(first, dtype=float).reshape(-1, 2)
    second = np.asarray(second, dtype=float).reshape(-1, 2)
    distances = (
        cKDTree(first).sparse_distance_matrix(cKDTree(second), max_distance, output_type="ndarray")
        if len(first) and len(second)
        else np.zeros(0, dtype=[("i", int), ("j", int), ("v", float)])
    )
    taken_first = np.zeros(len(first), dtype=bool)
    taken_second = np.zeros(len(second), dtype=bool)
    matched = []
    for i, j, _ in np.sort(distances, order="v"):
        if not taken_first[i] and not taken_second[j]:
            taken_first[i] = taken_second[j] = True
            matched.append((i, j))
    return (
        np.asarray(matched, dtype=np.int64).reshape(-1, 2),
        np.flatnonzero(~taken_second),
        np.flatnonzero(~taken_first),
    )


def spacing(points: np.ndarray) -> float:
    """The lattice's column spacing: the median nearest-neighbour distance of ``points``
    ``[M, 2]`` (in their units); nan with fewer than two points."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) < 2:
        return float("nan")
    distances, _ = cKDTree(points).query(points, k=2)
    return float(np.median(distances[:, 1]))
