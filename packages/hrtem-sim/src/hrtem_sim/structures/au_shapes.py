"""Au cluster shapes from ``ase.cluster``, sized to a drawn diameter.

Each shape is a family of clusters indexed by an integer size ``n`` (atoms along an edge, shells,
or layers from the centre) plus shape parameters drawn from the generator. The diameter of a
cluster is its longest atom-to-atom distance (centre to centre, Å), so it bounds the projected
extent in every orientation. :func:`au_cluster` picks the size whose diameter is closest to the
target among those within ``[low, high]``.

Shapes and their zone axes (the crystal direction put along the beam):

- ``truncated_octahedron``: ``ase.cluster.Octahedron(length=n + 1, cutoff)``, the Wulff-like
  shape of Au, truncation ``cutoff / n`` drawn in [0.2, 0.4] (1/3: regular truncated octahedron).
  Cubic frame: zone axes ``100``, ``110``, ``111`` are [001], [110], [111].
- ``fcc_random``: an fcc crystal around an atom cut by each of the 6 {100}, 8 {111} and 12 {110}
  planes separately (as ``ase.cluster.FaceCenteredCubic`` with one layer count per plane, but
  vectorised): {100} at ``n`` layers, {111} and {110} at a drawn multiple of that distance, then
  every plane moved by -1, 0 or +1 layer at random (truncated and grown facets, asymmetric
  particles). Cubic frame, zone axes as above.
- ``decahedron``: ``ase.cluster.Decahedron(p=n, q, r)``, ``q / p`` drawn in [0.3, 0.8] and the
  Marks re-entrance ``r / p`` in [0, 0.25]. Zone axis ``110`` only: its five-fold axis, along which
  all five twinned tetrahedra sit on <110>.
- ``icosahedron``: ``ase.cluster.Icosahedron(noshells=n)``. Zone axis ``110`` only: a two-fold
  axis (ase's z), parallel to two outer edges, so the four tetrahedra sharing them sit on <110>.
  Of the 2-, 3- and 5-fold axes it gives the most columnar projection (measured: 7 % single-atom
  columns for 8 shells, against 61 % and 71 %).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.cluster import Decahedron, Icosahedron, Octahedron
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

from hrtem_sim.errors import StructureError

_CUBIC = {"100": (0.0, 0.0, 1.0), "110": (1.0, 1.0, 0.0), "111": (1.0, 1.0, 1.0)}
_SYMMETRY_AXIS_Z = {"110": (0.0, 0.0, 1.0)}  # decahedron: five-fold; icosahedron: two-fold
ZONE_DIRECTIONS: dict[str, dict[str, tuple[float, float, float]]] = {
    "truncated_octahedron": _CUBIC,
    "fcc_random": _CUBIC,
    "decahedron": _SYMMETRY_AXIS_Z,
    "icosahedron": _SYMMETRY_AXIS_Z,
}
SHAPES = tuple(ZONE_DIRECTIONS)

# Individual planes of fcc_random: each is cut on its own, so facets of a family can differ.
_FAMILIES = {
    (1, 0, 0): [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)],
    (1, 1, 1): [(i, j, k) for i in (1, -1) for j in (1, -1) for k in (1, -1)],
    (1, 1, 0): [
        v
        for i, j in ((1, 1), (1, -1), (-1, 1), (-1, -1))
        for v in ((i, j, 0), (i, 0, j), (0, i, j))
    ],
}
_PLANES = np.array([s for members in _FAMILIES.values() for s in members], dtype=np.float64)
_SPACING = {(1, 0, 0): 0.5, (1, 1, 1): 1 / 3**0.5, (1, 1, 0): 0.5 / 2**0.5}  # d_hkl / a
_PLANE_SPACING = np.array([_SPACING[f] for f, members in _FAMILIES.items() for _ in members])
_MAX_SIZE = 200
# Diameter gained per unit of size n, in lattice constants (measured): the walk's starting guess.
_GROWTH = {"truncated_octahedron": 0.75, "fcc_random": 1.1, "decahedron": 1.3, "icosahedron": 1.4}


@dataclass(frozen=True)
class Cluster:
    """positions [N, 3] (Å) centred on the centroid, in the shape's own frame; diameter [Å]."""

    positions: np.ndarray
    diameter: float
    params: dict[str, Any]


def draw_shape_params(shape: str, rng: np.random.Generator) -> dict[str, Any]:
    """The shape's parameters other than its size, drawn from ``rng`` (JSON-serialisable)."""
    if shape == "truncated_octahedron":
        return {"truncation": float(rng.uniform(0.2, 0.4))}
    if shape == "decahedron":
        return {"q_ratio": float(rng.uniform(0.3, 0.8)), "r_ratio": float(rng.uniform(0.0, 0.25))}
    if shape == "fcc_random":
        return {
            "d111_ratio": float(rng.uniform(0.8, 1.15)),
            "d110_ratio": float(rng.uniform(1.1, 1.5)),
            "jitter": rng.integers(-1, 2, size=sum(map(len, _FAMILIES.values()))).tolist(),
        }
    return {}


def _family_args(shape: str, n: int, params: dict[str, Any]) -> tuple[int, ...]:
    """The integer arguments of the ase builder for size ``n``."""
    if shape == "truncated_octahedron":
        length = n + 1
        return length, min(round(params["truncation"] * (length - 1)), (length - 1) // 2)
    if shape == "decahedron":
        return n, max(1, round(params["q_ratio"] * n)), round(params["r_ratio"] * n)
    if shape == "icosahedron":
        return (n,)
    ratio = {(1, 0, 0): 1.0, (1, 1, 1): params["d111_ratio"], (1, 1, 0): params["d110_ratio"]}
    base = [
        round(n * 0.5 * ratio[f] / _SPACING[f]) for f, members in _FAMILIES.items() for _ in members
    ]
    return tuple(max(1, b + j) for b, j in zip(base, params["jitter"], strict=True))


@functools.lru_cache(maxsize=512)
def _build(shape: str, args: tuple[int, ...], a: float) -> np.ndarray:
    """[N, 3] positions (Å) of one cluster, centred on the centroid (cached: builds repeat)."""
    if shape == "truncated_octahedron":
        positions = Octahedron("Au", args[0], args[1], latticeconstant=a).positions
    elif shape == "decahedron":
        positions = Decahedron("Au", *args, latticeconstant=a).positions
    elif shape == "icosahedron":
        positions = Icosahedron("Au", args[0], latticeconstant=a).positions
    else:
        positions = _cut_fcc(np.array(args), a)
    positions = positions - positions.mean(axis=0)
    positions.flags.writeable = False
    return positions


def _cut_fcc(layers: np.ndarray, a: float) -> np.ndarray:
    """[N, 3] fcc sites (Å) around one at the origin, inside plane ``_PLANES[i]`` at ``layers[i]`` layers."""
    reach = int(np.ceil(layers[:6].max() * 0.5)) + 1  # the {100} planes bound a cube [a]
    cells = np.arange(-reach, reach + 1)
    corners = np.stack(np.meshgrid(cells, cells, cells, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    points = (corners + basis).reshape(-1, 3)
    normals = _PLANES / np.linalg.norm(_PLANES, axis=1, keepdims=True)
    inside = np.all(points @ normals.T < (layers + 0.1) * _PLANE_SPACING, axis=1)
    return points[inside] * a


def diameter(positions: np.ndarray) -> float:
    """Longest distance [Å] between two of the positions [N, 3] (0 for fewer than two)."""
    if len(positions) < 2:
        return 0.0
    if len(positions) > 50:
        positions = positions[ConvexHull(positions).vertices]
    return float(pdist(positions).max())


@functools.lru_cache(maxsize=4096)
def _diameter_of(shape: str, args: tuple[int, ...], a: float) -> float:
    return diameter(_build(shape, args, a))


def au_cluster(
    shape: str,
    target: float,
    low: float,
    high: float,
    a: float,
    rng: np.random.Generator,
    kind: str = "au_particle",
) -> Cluster:
    """The cluster of ``shape`` whose diameter is closest to ``target`` within [low, high] (Å).

    a: fcc lattice constant [Å]. Raises StructureError, naming the structure ``kind``, when no
    size of the shape lies in range.
    """
    params = draw_shape_params(shape, rng)

    def size_diameter(n: int) -> float:
        return _diameter_of(shape, _family_args(shape, n, params), a)

    # Diameters grow with n: walk from a guess to the first n at or past the target, then take
    # the closer of n - 1 and n that lies in range.
    n = max(1, round(target / (_GROWTH[shape] * a)))
    while n > 1 and size_diameter(n) > target:
        n -= 1
    while size_diameter(n) < target and n < _MAX_SIZE:
        n += 1
    sizes = range(max(1, n - 1), n + 1)
    candidates = [m for m in sizes if low <= size_diameter(m) <= high]
    if not candidates:
        near = sorted({round(size_diameter(m), 1) for m in sizes})
        raise StructureError(
            f"{kind}: no {shape} with a diameter in [{low}, {high}] Å (nearest: {near} Å)"
        )
    best = min(candidates, key=lambda m: abs(size_diameter(m) - target))
    args = _family_args(shape, best, params)
    positions = _build(shape, args, a).copy()
    return Cluster(positions, size_diameter(best), {**params, "ase_args": list(args)})


def zone_direction(shape: str, zone_axis: str) -> np.ndarray:
    """[3] the direction, in the shape's own frame, that ``zone_axis`` puts along the beam."""
    return np.array(ZONE_DIRECTIONS[shape][zone_axis])
