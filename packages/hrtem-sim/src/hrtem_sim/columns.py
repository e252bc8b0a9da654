"""Group atoms into projected columns along the beam (z) and give each column a class.

Atoms whose projected (x, y) positions lie within ``tolerance`` Å of each other are linked, and
the connected groups (single linkage) are the columns. Distances are periodic in the cell, as
abTEM's potential is: a column split by the boundary (atoms at x ≈ 0 and at x ≈ Lx) is one column.

Class schemes (``COLUMN_CLASSES[scheme][k]`` names class ``k``; 0 is background, never a column):

- ``"particle"``: every column is class 1 (``Au``).
- ``"mos2"``: a column holding Mo is class 1 (``Mo``); else two or more S give class 2 (``S2``),
  one S gives class 3 (``S1``, a column with one sulphur vacancy).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from hrtem_sim.errors import StructureError
from hrtem_sim.types import Columns

COLUMN_CLASSES: dict[str, list[str]] = {
    "particle": ["background", "Au"],
    "mos2": ["background", "Mo", "S2", "S1"],
}

_MO, _S = 42, 16


def wrap(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Positions [N, D] wrapped into [0, L) per axis of ``cell`` [D] (Å); never returns L itself."""
    wrapped = np.mod(positions, cell)
    return np.where(wrapped >= cell, 0.0, wrapped)


def group_columns(
    positions: np.ndarray,
    numbers: np.ndarray,
    scheme: str,
    cell: tuple[float, float],
    tolerance: float = 0.5,
) -> Columns:
    """Projected columns of the labelled atoms.

    positions: [N, 2] projected (x, y) [Å] of the labelled atoms, anywhere (wrapped here).
    numbers:   [N] atomic numbers.
    scheme:    a key of ``COLUMN_CLASSES``.
    cell:      periodic lateral cell (Lx, Ly) [Å].
    tolerance: linking distance [Å] between projected atoms of one column.

    Returns columns with the periodic mean position wrapped into [0, L), the atom count and the
    class of each, sorted by x then y.
    """
    if scheme not in COLUMN_CLASSES:
        raise StructureError(
            f"unknown column scheme {scheme!r}; known: {', '.join(sorted(COLUMN_CLASSES))}"
        )
    positions = np.asarray(positions, dtype=np.float64)
    numbers = np.asarray(numbers, dtype=np.int64)
    box = np.asarray(cell, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2 or numbers.shape != (len(positions),):
        raise StructureError(
            f"group_columns needs positions [N, 2] and numbers [N]; got {positions.shape} and {numbers.shape}"
        )
    if box.shape != (2,) or not np.all(box > 0) or not tolerance > 0:
        raise StructureError(
            f"group_columns needs a positive cell (Lx, Ly) and tolerance; got cell={tuple(cell)}, tolerance={tolerance}"
        )
    if len(positions) == 0:
        return Columns(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64))

    positions = wrap(positions, box)
    pairs = cKDTree(positions, boxsize=box).query_pairs(tolerance, output_type="ndarray")
    n = len(positions)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_columns, column_of = connected_components(graph, directed=False)

    # Periodic mean: average the minimum-image offsets from one reference atom per column.
    reference = np.unique(column_of, return_index=True)[1]
    offset = positions - positions[reference[column_of]]
    offset -= box * np.round(offset / box)
    counts = np.bincount(column_of, minlength=n_columns)
    mean_offset = (
        np.stack(
            [np.bincount(column_of, offset[:, k], minlength=n_columns) for k in (0, 1)], axis=1
        )
        / counts[:, None]
    )
    centres = wrap(positions[reference] + mean_offset, box)

    classes = _classify(column_of, numbers, n_columns, scheme)
    order = np.lexsort((centres[:, 1], centres[:, 0]))
    return Columns(centres[order], classes[order], counts[order].astype(np.int64))


def _classify(
    column_of: np.ndarray, numbers: np.ndarray, n_columns: int, scheme: str
) -> np.ndarray:
    """[M] int64 class of each column under ``scheme``."""
    if scheme == "particle":
        return np.ones(n_columns, dtype=np.int64)
    foreign = np.setdiff1d(numbers, [_MO, _S])
    if len(foreign):
        raise StructureError(
            f"column scheme 'mos2' takes only Mo (42) and S (16) atoms; got atomic numbers {foreign.tolist()}"
        )
    n_mo = np.bincount(column_of, numbers == _MO, minlength=n_columns)
    n_s = np.bincount(column_of, numbers == _S, minlength=n_columns)
    return np.where(n_mo > 0, 1, np.where(n_s >= 2, 2, 3)).astype(np.int64)
