"""Substrate slabs under the particle, periodic in x and y like abTEM's potential.

Each returns ASE ``Atoms`` with positions in [0, Lx) x [0, Ly) and z from 0 up (Å), cell
(Lx, Ly, slab height).

- amorphous carbon of one of several structure families (:mod:`hrtem_sim.structures.carbon`:
  ``carbon``, ``graded_carbon``, ``graphitic_carbon``, ``contaminated_carbon``, ``clumped_carbon``);
- ``holey_carbon``: amorphous carbon (family ``carbon``) with round holes (vacuum) cut through it, centres anywhere in
  the cell (holes wrap across the periodic edges like the carbon).
- ``ceo2_slab``: fluorite CeO2 (a = 5.411 Å) with [111] along the beam: stoichiometric O–Ce–O
  trilayers (the (111) surface, ceria's lowest-energy facet, on which Au particles sit),
  spaced a/sqrt(3) = 3.124 Å, as many as best match the thickness (at least one). The lattice is
  turned about z by a random angle and shifted at random, then cut to the cell: it is not
  commensurate with the cell, so the seam at the cell boundary loses whole CeO2 units that would
  come closer than 2.0 Å to another (bulk minimum: Ce–O 2.34 Å), keeping the 1:2 stoichiometry.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from hrtem_sim.columns import wrap
from hrtem_sim.structures.carbon import FAMILIES, amorphous_carbon
from hrtem_sim.structures.orientation import about_z, direction_to_z

CEO2_LATTICE = 5.411  # Å
_SEAM_DISTANCE = 2.0  # Å


def holey_carbon(
    cell: tuple[float, float],
    thickness: float,
    holes: list[tuple[float, float, float]],
    rng: np.random.Generator,
) -> Atoms:
    """Amorphous carbon (see :func:`amorphous_carbon`) without the atoms inside ``holes``:
    (x, y, diameter) [Å] each, measured periodically in x and y."""
    carbon = amorphous_carbon(cell, thickness, rng)
    keep = np.ones(len(carbon), dtype=bool)
    box = np.array(cell)
    for x, y, diameter in holes:
        offset = carbon.positions[:, :2] - [x, y]
        offset -= box * np.round(offset / box)
        keep &= np.hypot(offset[:, 0], offset[:, 1]) >= diameter / 2
    return carbon[keep]


def substrate_slab(
    kind: str,
    cell: tuple[float, float],
    thickness: float,
    rng: np.random.Generator,
    holes: list[tuple[float, float, float]] = (),
) -> tuple[Atoms, int]:
    """The substrate ``kind`` (a carbon family of :data:`hrtem_sim.structures.carbon.FAMILIES`,
    "holey_carbon", "ceo2" or "none"; z from 0) and, for CeO2, its trilayer count (else 0).
    holes: (x, y, diameter) [Å] of holey carbon."""
    if kind in FAMILIES:
        return FAMILIES[kind](cell, thickness, rng), 0
    if kind == "holey_carbon":
        return holey_carbon(cell, thickness, list(holes), rng), 0
    if kind == "ceo2":
        return ceo2_slab(cell, thickness, rng)
    return Atoms(cell=[*cell, 0.0]), 0


def ceo2_slab(
    cell: tuple[float, float],
    thickness: float,
    rng: np.random.Generator,
    lattice_constant: float = CEO2_LATTICE,
) -> tuple[Atoms, int]:
    """CeO2 (111) slab filling (Lx, Ly) [Å], about ``thickness`` [Å] thick; also its trilayer count."""
    a = lattice_constant
    spacing = a / np.sqrt(3.0)
    n_layers = max(1, round(thickness / spacing))
    lx, ly = cell
    rotation = about_z(rng.uniform(0.0, 360.0)) * direction_to_z(np.ones(3))
    shift = np.array([*(rng.random(2) * a), 0.0])

    # Ce sites a/2 (i, j, k), i + j + k even, in trilayer m = (i + j + k) / 2 at height m a/sqrt(3).
    corners = np.array(
        [[x, y, z] for x in (0, lx) for y in (0, ly) for z in (0, n_layers * spacing)]
    )
    crystal = rotation.inv().apply(corners - shift) * (2.0 / a)
    low, high = np.floor(crystal.min(axis=0)) - 1, np.ceil(crystal.max(axis=0)) + 1
    grids = [np.arange(low[k], high[k] + 1) for k in range(3)]
    ijk = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, 3)
    ijk = ijk[ijk.sum(axis=1) % 2 == 0]
    ce = rotation.apply(ijk * (a / 2.0)) + shift
    layer = ijk.sum(axis=1) // 2
    ce[:, 2] = layer * spacing  # exact plane heights
    inside = (ce[:, 0] >= 0) & (ce[:, 0] < lx) & (ce[:, 1] >= 0) & (ce[:, 1] < ly)
    ce = ce[inside & (layer >= 0) & (layer < n_layers)]

    # Each Ce with the two O of its own trilayer, a/4 (1, 1, -1) and a/4 (-1, -1, 1) away.
    o_offsets = rotation.apply(np.array([[1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]) * (a / 4.0))
    units = np.concatenate([ce[:, None], ce[:, None] + o_offsets[None]], axis=1)  # [U, 3, 3]
    units[..., :2] = wrap(units[..., :2], np.array([lx, ly]))
    units = units[~_seam_conflicts(units, (lx, ly))]
    positions = units.reshape(-1, 3)
    positions[:, 2] -= positions[:, 2].min()
    numbers = np.tile([58, 8, 8], len(units))
    height = float(positions[:, 2].max())
    return Atoms(
        numbers=numbers, positions=positions, cell=[lx, ly, height], pbc=[1, 1, 0]
    ), n_layers


def _seam_conflicts(units: np.ndarray, cell: tuple[float, float]) -> np.ndarray:
    """[U] bool: units [U, K, 3] to drop so that no two units' atoms are within the seam distance.

    Greedy in unit order: a unit is kept unless it clashes with a unit already kept.
    """
    per_unit = units.shape[1]
    positions = units.reshape(-1, 3) - [0.0, 0.0, units[..., 2].min()]
    box = np.array([*cell, np.ptp(positions[:, 2]) + 2.0 * _SEAM_DISTANCE])
    pairs = cKDTree(positions, boxsize=box).query_pairs(_SEAM_DISTANCE, output_type="ndarray")
    unit_pairs = np.unique(np.sort(pairs // per_unit, axis=1), axis=0)
    unit_pairs = unit_pairs[unit_pairs[:, 0] != unit_pairs[:, 1]]
    drop = np.zeros(len(units), dtype=bool)
    for first, second in unit_pairs:  # sorted by first: earlier units are settled first
        if not drop[first]:
            drop[second] = True
    return drop
