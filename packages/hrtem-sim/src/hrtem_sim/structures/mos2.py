"""Monolayer 2H MoS2 filling the cell, with sulphur (and optional Mo) vacancies.

The layer is built from the orthogonal a x a*sqrt(3) cell (2 Mo, 2 S columns of 2 S each),
repeated (nx, ny) = the nearest whole numbers to the requested (Lx, Ly), so it is seamless under
abTEM's periodic boundaries; the returned cell is (nx a, ny a sqrt(3)). The lattice is shifted
laterally at random. Along z: ``vacuum``, the bottom S plane, Mo at mid-height, the top S plane
(S–S distance ``s_s_distance``), ``vacuum``.

Vacancies, drawn per sample: a fraction ``s_vacancy_fraction`` of the 2 * n_columns S sites is
removed. Of the S columns that lose any S, a fraction ``double_vacancy_fraction`` lose both
(the column is gone); the others lose the top or the bottom S at random (an S1 column). A
fraction ``mo_vacancy_fraction`` of the Mo atoms is removed. Every atom is labelled.

Flakes (kind ``mos2_flake``, :class:`MoS2FlakeParams`; plain ``mos2`` specs keep their hash): the
same layer, drawn first with the same draws, then cut to a flake with holes: a hexagon with
zigzag edges (along the lattice vectors, normals at 30 + k 60 degrees) whose six edges lie
``flake_radius`` from the cell centre, minus ``holes`` discs of ``hole_radius``; every atom outside
is removed (vacuum). The vacancies in ``meta`` are those of the S sites left in the flake; their
positions with no S at all are ``meta["empty_sites"]`` [Å] (S1 columns are labelled columns).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from hrtem_sim.columns import wrap
from hrtem_sim.structures.ranges import check_range, check_value, draw
from hrtem_sim.types import Structure

KIND = "mos2"
FLAKE_KIND = "mos2_flake"


@dataclass
class MoS2Params:
    """Random ranges ([min, max]) of a MoS2 sample; fractions lie in [0, 1].

    s_vacancy_fraction:      fraction of the S sites removed.
    double_vacancy_fraction: fraction of the vacant S columns that lose both S.
    mo_vacancy_fraction:     fraction of the Mo sites removed.
    lattice_constant:        in-plane lattice constant a [Å].
    s_s_distance:            vertical distance between the two S of a column [Å].
    vacuum:                  empty space [Å] below and above the layer along z.
    """

    s_vacancy_fraction: list[float] = field(default_factory=lambda: [0.0, 0.1])
    double_vacancy_fraction: list[float] = field(default_factory=lambda: [0.0, 0.3])
    mo_vacancy_fraction: list[float] = field(default_factory=lambda: [0.0, 0.0])
    lattice_constant: float = 3.19
    s_s_distance: float = 3.13
    vacuum: float = 4.0


@dataclass
class MoS2FlakeParams(MoS2Params):
    """A MoS2 flake with holes (see the module doc): the layer's ranges plus

    flake_radius: distance [Å] of each of the six edges from the cell centre.
    holes:        number of holes [min, max], each centred inside the flake.
    hole_radius:  radius [Å] of each hole (>= 2 Å: smaller ones are point defects).
    """

    flake_radius: list[float] = field(default_factory=lambda: [15.0, 25.0])
    holes: list[int] = field(default_factory=lambda: [0, 2])
    hole_radius: list[float] = field(default_factory=lambda: [3.0, 6.0])


def build_mos2(
    params: MoS2Params, cell: tuple[float, float], rng: np.random.Generator
) -> Structure:
    """A MoS2 monolayer in the commensurate cell nearest (Lx, Ly) [Å]; see the module doc."""
    s_fraction = check_range(KIND, "s_vacancy_fraction", params.s_vacancy_fraction, high=1.0)
    double_fraction = check_range(
        KIND, "double_vacancy_fraction", params.double_vacancy_fraction, high=1.0
    )
    mo_fraction = check_range(KIND, "mo_vacancy_fraction", params.mo_vacancy_fraction, high=1.0)
    a = check_value(KIND, "lattice_constant", params.lattice_constant, low=1e-3)
    s_s = check_value(KIND, "s_s_distance", params.s_s_distance)
    vacuum = check_value(KIND, "vacuum", params.vacuum)

    b = a * math.sqrt(3.0)
    repeats = (max(1, round(cell[0] / a)), max(1, round(cell[1] / b)))
    size = np.array([repeats[0] * a, repeats[1] * b])
    grid = np.stack(np.meshgrid(*map(np.arange, repeats), indexing="ij"), axis=-1).reshape(-1, 1, 2)
    origins = grid * [a, b]
    mo_sites = np.array([[0.0, 0.0], [a / 2, b / 2]])
    s_sites = mo_sites + np.array(
        [0.0, a / math.sqrt(3.0)]
    )  # each Mo has its three S columns at a/sqrt(3)
    shift = rng.random(2) * [a, b]
    mo = wrap((origins + mo_sites).reshape(-1, 2) + shift, size)
    s_columns = wrap((origins + s_sites).reshape(-1, 2) + shift, size)

    s_drawn, double_drawn, mo_drawn = (
        draw(rng, r) for r in (s_fraction, double_fraction, mo_fraction)
    )
    n_columns = len(s_columns)
    n_removed = round(s_drawn * 2 * n_columns)
    n_vacant = max(
        math.ceil(n_removed / 2), min(n_columns, round(n_removed / (1.0 + double_drawn)))
    )
    n_double = n_removed - n_vacant
    order = rng.permutation(n_columns)
    keep_top = np.ones(n_columns, dtype=bool)
    keep_bottom = np.ones(n_columns, dtype=bool)
    keep_top[order[:n_double]] = keep_bottom[order[:n_double]] = False
    single = order[n_double:n_vacant]
    loses_top = rng.random(len(single)) < 0.5
    keep_top[single[loses_top]] = False
    keep_bottom[single[~loses_top]] = False
    n_mo_removed = round(mo_drawn * len(mo))
    keep_mo = np.ones(len(mo), dtype=bool)
    keep_mo[rng.choice(len(mo), n_mo_removed, replace=False)] = False
    in_flake, flake = (
        _flake(params, size, rng)
        if isinstance(params, MoS2FlakeParams)
        else (lambda points: np.ones(len(points), dtype=bool), {})
    )
    mo_in, site_in = in_flake(mo), in_flake(s_columns)
    n_mo_vacant = int((mo_in & ~keep_mo).sum())
    keep_mo &= mo_in
    keep_top &= site_in
    keep_bottom &= site_in
    s_atoms = np.where(site_in, keep_top.astype(int) + keep_bottom, -1)  # -1: outside the flake

    z_mo = vacuum + s_s / 2.0
    positions = np.concatenate(
        [
            np.column_stack([mo[keep_mo], np.full(keep_mo.sum(), z_mo)]),
            np.column_stack([s_columns[keep_bottom], np.full(keep_bottom.sum(), vacuum)]),
            np.column_stack([s_columns[keep_top], np.full(keep_top.sum(), vacuum + s_s)]),
        ]
    )
    numbers = np.array([42] * int(keep_mo.sum()) + [16] * int(keep_bottom.sum() + keep_top.sum()))
    atoms = Atoms(
        numbers=numbers, positions=positions, cell=[*size, s_s + 2.0 * vacuum], pbc=[1, 1, 0]
    )
    n_s1, n_empty = int((s_atoms == 1).sum()), int((s_atoms == 0).sum())
    meta = {
        "kind": FLAKE_KIND if flake else KIND,
        "lattice_constant": a,
        "repeats": list(repeats),
        "shift": [float(v) for v in shift],
        "s_vacancy_fraction": s_drawn,
        "double_vacancy_fraction": double_drawn,
        "mo_vacancy_fraction": mo_drawn,
        **flake,
        "n_atoms": len(atoms),
        "n_mo": int(keep_mo.sum()),
        "n_s": int(keep_bottom.sum() + keep_top.sum()),
        "n_s_vacancies": n_s1 + 2 * n_empty,
        "n_s2_columns": int((s_atoms == 2).sum()),
        "n_s1_columns": n_s1,
        "n_s_empty_columns": n_empty,
        "n_mo_vacancies": n_mo_vacant,
        "n_vacancies": n_s1 + 2 * n_empty + n_mo_vacant,
        "empty_sites": np.round(s_columns[s_atoms == 0], 4).tolist(),
    }
    return Structure(atoms=atoms, labelled=np.ones(len(atoms), dtype=bool), meta=meta)


def _flake(
    params: MoS2FlakeParams, size: np.ndarray, rng: np.random.Generator
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """The flake's test ``inside(points [N, 2] Å) -> [N] bool`` and its record, drawn from ``rng``."""
    radius = check_range(FLAKE_KIND, "flake_radius", params.flake_radius, low=1.0)
    holes = check_range(FLAKE_KIND, "holes", params.holes)
    hole_radius = check_range(FLAKE_KIND, "hole_radius", params.hole_radius, low=2.0)
    centre = size / 2
    normals = np.deg2rad(30.0 + 60.0 * np.arange(6))
    normals = np.stack([np.cos(normals), np.sin(normals)], axis=1)
    edges = np.array([draw(rng, radius) for _ in range(6)])
    count = int(rng.integers(round(holes[0]), round(holes[1]) + 1))
    reach = 0.7 * edges.min()  # hole centres well inside the flake
    angle, distance = rng.uniform(0, 2 * np.pi, count), reach * np.sqrt(rng.random(count))
    hole_centres = distance[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    hole_radii = np.array([draw(rng, hole_radius) for _ in range(count)])

    def inside(points: np.ndarray) -> np.ndarray:
        offset = points - centre
        offset -= size * np.round(offset / size)  # periodic: the minimum image
        keep = np.all(offset @ normals.T <= edges, axis=1)
        for hole, r in zip(hole_centres, hole_radii, strict=True):
            keep &= np.hypot(*(offset - hole).T) > r
        return keep

    record = {
        "flake_edges": np.round(edges, 4).tolist(),
        "holes": [[*np.round(centre + h, 4).tolist(), round(float(r), 4)]
                  for h, r in zip(hole_centres, hole_radii, strict=True)],
    }  # fmt: skip
    return inside, record
