"""Sulphur vacancies in monolayer MoS2 from a species map (focal-series model output).

Species classes (the MoS2 task's labels): 0 background, 1 Mo, 2 S2 (a full sulphur column: two S
atoms along the beam), 3 S1 (a sulphur column with one S atom left).

Definition of the count (2H-MoS2 seen along c: a honeycomb of Mo and S columns, Mo -> S bond
``b``, lattice constant ``a = sqrt(3) b``):

- S sites are predicted from the Mo columns: the three bond vectors ``b_k`` (120 degrees apart)
  are measured from the data (median Mo -> nearest S column), and every Mo ``m`` predicts the
  sites ``m + b_k`` and ``m - 2 b_k``. A site is *in the lattice* when its neighbourhood is that
  of an S site inside the layer, by position alone: a column at each of the three Mo positions
  at ``b`` (``site - b_k``) and the three at ``2 b`` (``site + 2 b_k``), six all round it, and
  no column at the three hollow centres ``site + b_k``. The columns may be of any species: a
  real model takes Mo next to vacancies for S most often, so demanding Mo there leaves exactly
  the vacancies out of the counted region. The empty hollows tell an S site from a hollow
  centre (whose six "Mo positions" are S columns, and which a column mistaken for Mo would
  predict: an empty "site", two false vacancies). Sites at a flake edge, at the rim of a hole
  or next to vacuum miss some Mo and are not counted.
- A site is *in the frame* when it lies at least ``margin = 2 b + border`` inside every frame
  edge: its Mo neighbourhood is in the frame, ``border`` [Å] beyond it (how far into the frame
  the model's edge effects reach, and any band the focal-series registration filled by wrapping).
- Every counted site holds an S1 column (one vacancy), another column (S2, or a column the model
  took for Mo: no vacancy) or none within ``b / 2`` (empty: two vacancies).
  ``vacancies = s1_sites + 2 * empty_sites``.

The counted area is one unit cell ``(sqrt(3) / 2) a^2`` per counted site (one S site per Mo), so
``density = vacancies / area`` is the vacancy density of the lattice that was looked at, whatever
the frame's size, edges, holes or vacuum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from hrtem_core.errors import ImageError
from hrtem_core.readers.units import sampling_pair
from scipy import ndimage
from scipy.spatial import cKDTree

from hrtem_analysis.columns import columns_with_scores, group_close
from hrtem_analysis.settings import VACANCY_BORDER

SPECIES = ("background", "Mo", "S2", "S1")


@dataclass(frozen=True)
class VacancyCount:
    """Sulphur vacancies of one frame.

    mo, s2, s1:  columns of each species found anywhere in the frame.
    sites:       S sites counted (in the lattice and in the frame, see the module docstring).
    s1_sites:    counted sites holding an S1 column (one vacancy each).
    empty_sites: counted sites with no S column (two vacancies each).
    vacancies:   s1_sites + 2 * empty_sites.
    area:        counted area [nm^2]; density: vacancies per nm^2 (nan when area is 0).
    bond:        measured Mo -> S projected distance b [Å] (nan without a lattice).
    margin:      counted sites lie at least this far [Å] inside the frame (nan without a lattice).
    positions:   [M, 2] positions [px] (axis 0 = x): "Mo", "S2", "S1" (all columns found),
                 "sites" (every counted site), "s1_sites" and "empty" (the counted vacancies).
    """

    mo: int
    s2: int
    s1: int
    sites: int
    s1_sites: int
    empty_sites: int
    vacancies: int
    area: float
    density: float
    bond: float = float("nan")
    margin: float = float("nan")
    positions: dict[str, np.ndarray] = field(default_factory=dict)


def species_columns(
    probabilities: np.ndarray | torch.Tensor, min_distance: float = 0.0
) -> dict[str, np.ndarray]:
    """Column positions ``[M, 2]`` [px] per species from probabilities ``[4, H, W]``.

    Columns are found first, species second: each connected region of pixels whose most likely
    class is not background is one column, placed at its centroid weighted by
    ``1 - p_background`` (regions closer than ``min_distance`` [px] merged), and given the
    species with the largest summed probability over the region. A column whose pixels are split
    between S2 and S1 therefore counts once, as one species, not as two columns.
    """
    probabilities = _checked(probabilities)
    column = np.where(probabilities.argmax(axis=0) > 0, 1.0 - probabilities[0], 0.0)
    positions, votes = columns_with_scores(column, probabilities[1:], 0.0, min_distance)
    species = 1 + votes.argmax(axis=1)
    return {name: positions[species == c] for c, name in enumerate(SPECIES) if c > 0}


def _checked(probabilities: np.ndarray | torch.Tensor) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3 or probabilities.shape[0] != len(SPECIES):
        raise ImageError(
            f"species probabilities have shape {probabilities.shape}; expected [4, H, W] "
            f"({', '.join(SPECIES)})"
        )
    return probabilities


def _bond_vectors(mo: np.ndarray, sulphur: np.ndarray) -> np.ndarray:
    """The three Mo -> S bond vectors ``[3, 2]`` [Å] (median length, 120 degrees apart)."""
    distance, nearest = cKDTree(sulphur).query(mo)
    bond = np.median(distance)
    near = distance < 1.3 * bond  # Mo whose nearest S is a neighbour, not across a hole
    v = sulphur[nearest[near]] - mo[near]
    # The three bond directions coincide modulo 120 degrees: average 3 * angle on the circle.
    angle = np.angle(np.mean(np.exp(3j * np.arctan2(v[:, 1], v[:, 0])))) / 3
    angles = angle + np.deg2rad([0.0, 120.0, 240.0])
    return bond * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def lattice_sites(mo: np.ndarray, columns: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """S sites ``[S, 2]`` [Å] predicted by the Mo columns ``mo`` ``[M, 2]`` [Å] (``m + b_k`` and
    ``m - 2 b_k``: any of a site's six Mo predicts it; predictions within ``b / 2`` of each other
    are one site, at their mean) with a column of ``columns`` ``[N, 2]`` [Å] (any species) within
    ``b / 2`` of each of their six Mo positions and none within ``b / 2`` of their three hollow
    centres ``site + b_k``."""
    bond = float(np.linalg.norm(bonds[0]))
    predicted = (mo[:, None, :] + np.concatenate([bonds, -2 * bonds])[None]).reshape(-1, 2)
    n, group = group_close(predicted, 0.5 * bond)
    votes = np.bincount(group, minlength=n)[:, None]
    sites = np.stack([np.bincount(group, predicted[:, a], minlength=n) for a in (0, 1)], 1) / votes
    tree = cKDTree(columns)

    def occupied(offsets: np.ndarray) -> np.ndarray:
        """[S, K] whether a column lies within b / 2 of each site + offsets[k]."""
        points = (sites[:, None, :] + offsets[None]).reshape(-1, 2)
        distance, _ = tree.query(points, distance_upper_bound=0.5 * bond)
        return np.isfinite(distance).reshape(len(sites), len(offsets))

    mo_around = occupied(np.concatenate([-bonds, 2 * bonds])).all(axis=1)
    return sites[mo_around & ~occupied(bonds).any(axis=1)]


def count_vacancies(
    probabilities: np.ndarray | torch.Tensor,
    sampling: float | tuple[float, float],
    min_distance: float = 0.0,
    border: float = VACANCY_BORDER,
) -> VacancyCount:
    """Sulphur vacancies of a MoS2 frame from species probabilities ``[4, H, W]``.

    sampling [Å/px], scalar or (sx, sy); min_distance [px] merges column fragments (see
    :func:`hrtem_analysis.columns.detect_columns`); border [Å]: counted sites keep ``2 b +
    border`` from every frame edge. See the module docstring for the definition.
    """
    probabilities = _checked(probabilities)
    columns = species_columns(probabilities, min_distance)
    scale = np.asarray(sampling_pair(sampling))
    mo = columns["Mo"] * scale
    sulphur = np.concatenate([columns["S2"], columns["S1"]]) * scale
    every = np.concatenate([mo, sulphur])
    is_s1 = np.arange(len(every)) >= len(mo) + len(columns["S2"])
    sites, single, empty = np.zeros((0, 2)), np.zeros(0, bool), np.zeros(0, bool)
    bond = margin = float("nan")
    if len(mo) >= 1 and len(sulphur) >= 1:
        bonds = _bond_vectors(mo, sulphur)
        bond = float(np.linalg.norm(bonds[0]))
        margin = 2 * bond + border
        sites = lattice_sites(mo, every, bonds)
        far_edge = (np.array(probabilities.shape[1:]) - 1) * scale
        sites = sites[np.all((sites >= margin) & (sites <= far_edge - margin), axis=1)]
        distance, nearest = cKDTree(every).query(sites, distance_upper_bound=0.5 * bond)
        empty = np.isinf(distance)
        single = ~empty & is_s1[np.minimum(nearest, len(every) - 1)]
    area = len(sites) * 1.5 * np.sqrt(3) * bond**2 / 100.0 if len(sites) else 0.0  # [nm^2]
    vacancies = int(single.sum() + 2 * empty.sum())
    return VacancyCount(
        mo=len(columns["Mo"]),
        s2=len(columns["S2"]),
        s1=len(columns["S1"]),
        sites=len(sites),
        s1_sites=int(single.sum()),
        empty_sites=int(empty.sum()),
        vacancies=vacancies,
        area=float(area),
        density=vacancies / area if area > 0 else float("nan"),
        bond=bond,
        margin=margin,
        positions={
            **columns,
            "sites": sites / scale,
            "s1_sites": sites[single] / scale,
            "empty": sites[empty] / scale,
        },
    )


def counted_region(
    count: VacancyCount, shape: tuple[int, int], sampling: float | tuple[float, float]
) -> np.ndarray:
    """Where vacancies were counted: ``[nx, ny]`` bool, the pixels within ``1.05 b`` of a counted
    site (``b = a / sqrt(3)``, the radius of a site's hexagonal unit cell; for figures)."""
    scale = sampling_pair(sampling)
    seeds = np.ones(shape, dtype=bool)
    index = np.round(count.positions.get("sites", np.zeros((0, 2)))).astype(int)
    index = index[np.all((index >= 0) & (index < np.array(shape)), axis=1)]
    if not len(index):
        return np.zeros(shape, dtype=bool)
    seeds[index[:, 0], index[:, 1]] = False
    return ndimage.distance_transform_edt(seeds, sampling=scale) <= 1.05 * count.bond
