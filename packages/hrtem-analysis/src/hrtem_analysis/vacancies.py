"""Sulphur vacancies in monolayer MoS2 from a species map (focal-series model output).

Species classes (the MoS2 task's labels): 0 background, 1 Mo, 2 S2 (a full sulphur column: two S
atoms along the beam), 3 S1 (a sulphur column with one S atom left).

Definition of the count (2H-MoS2 seen along c, a honeycomb of Mo and S columns):

- every S1 column is one vacancy;
- every *empty S site* is two vacancies. S sites are predicted from the Mo sublattice: each Mo
  has three S neighbours at ``Mo + b_k``, the bond vectors ``b_k`` 120 degrees apart, measured
  from the data (median Mo -> nearest S column). Only sites inside the Mo lattice (predicted by
  three Mo columns) count, so the edges of the flake or the frame add no false vacancies. A site
  is empty when no S2 or S1 column lies within half a bond length.

Lattice area = number of Mo columns x unit-cell area ``(3 sqrt(3) / 2) b^2`` (one Mo per cell,
``a = sqrt(3) b``), with ``b`` the measured Mo-S projected distance [Å].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from hrtem_core.errors import ImageError
from scipy.spatial import cKDTree

from hrtem_analysis.columns import columns_with_scores, group_close
from hrtem_analysis.tiled import sampling_pair

SPECIES = ("background", "Mo", "S2", "S1")


@dataclass(frozen=True)
class VacancyCount:
    """Sulphur vacancies of one frame.

    mo, s2, s1:  number of columns of each species.
    empty_sites: S sites inside the Mo lattice with no S column.
    vacancies:   s1 + 2 * empty_sites.
    area:        lattice area [nm^2]; density: vacancies per nm^2 (nan when area is 0).
    positions:   [M, 2] positions [px] (axis 0 = x) for "Mo", "S2", "S1" and "empty".
    """

    mo: int
    s2: int
    s1: int
    empty_sites: int
    vacancies: int
    area: float
    density: float
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
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3 or probabilities.shape[0] != len(SPECIES):
        raise ImageError(
            f"species probabilities have shape {probabilities.shape}; expected [4, H, W] "
            f"({', '.join(SPECIES)})"
        )
    column = np.where(probabilities.argmax(axis=0) > 0, 1.0 - probabilities[0], 0.0)
    positions, votes = columns_with_scores(column, probabilities[1:], 0.0, min_distance)
    species = 1 + votes.argmax(axis=1)
    return {name: positions[species == c] for c, name in enumerate(SPECIES) if c > 0}


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


def count_vacancies(
    probabilities: np.ndarray | torch.Tensor,
    sampling: float | tuple[float, float],
    min_distance: float = 0.0,
) -> VacancyCount:
    """Sulphur vacancies of a MoS2 frame from species probabilities ``[4, H, W]``.

    sampling [Å/px], scalar or (sx, sy); min_distance [px] merges column fragments (see
    :func:`hrtem_analysis.columns.detect_columns`). See the module docstring for the definition.
    """
    columns = species_columns(probabilities, min_distance)
    scale = np.asarray(sampling_pair(sampling))
    mo = columns["Mo"] * scale
    sulphur = np.concatenate([columns["S2"], columns["S1"]]) * scale
    empty = np.zeros((0, 2))
    area = 0.0
    if len(mo) >= 1 and len(sulphur) >= 1:
        bonds = _bond_vectors(mo, sulphur)
        bond = float(np.linalg.norm(bonds[0]))
        candidates = (mo[:, None, :] + bonds[None]).reshape(-1, 2)
        n, group = group_close(candidates, 0.5 * bond)
        predicted_by = np.bincount(group, minlength=n)
        sites = np.stack([np.bincount(group, weights=candidates[:, a]) for a in (0, 1)], axis=1)
        sites = sites[predicted_by == 3] / 3.0
        distance, _ = cKDTree(sulphur).query(sites, distance_upper_bound=0.5 * bond)
        empty = sites[np.isinf(distance)]
        area = len(mo) * 1.5 * np.sqrt(3) * bond**2 / 100.0  # [nm^2]
    vacancies = len(columns["S1"]) + 2 * len(empty)
    return VacancyCount(
        mo=len(columns["Mo"]),
        s2=len(columns["S2"]),
        s1=len(columns["S1"]),
        empty_sites=len(empty),
        vacancies=vacancies,
        area=area,
        density=vacancies / area if area > 0 else float("nan"),
        positions={**columns, "empty": empty / scale},
    )
