"""Scenes: larger cells holding zero to several Au particles, or only substrate.

What users' frames look like: mostly amorphous carbon (or CeO2, or carbon with holes), several
particles of different sizes, shapes and orientations, some on a zone axis and many off it.

Draws, in this order, all from the one generator: whether the scene is substrate-only (share
``empty_fraction``), the number of particles, substrate, its thickness [Å], for holey carbon its
holes (count, then x, y, diameter of each) and the substrate's atoms; then per particle: whether it
sits exactly on its zone axis (share ``on_axis_fraction``), the particle itself
(:func:`~hrtem_sim.structures.gold.draw_particle`: shape, zone axis, diameter, in-plane rotation,
tilt, tilt axis) and its lateral centre, redrawn until its projected disc (centroid to farthest
atom) keeps ``spacing`` [Å] from every particle placed before, periodically. A particle that finds
no place in ``PLACEMENT_ATTEMPTS`` draws is left out (``meta["n_requested"]`` keeps the count asked
for).

Geometry along the beam as ``au_particle``: ``vacuum``, the substrate, ``gap``, the particles (each
resting on the substrate's top), ``vacuum``. Laterally the cell is periodic (abTEM's potential is):
with ``wrap`` a particle may straddle an edge, its atoms wrapped into [0, Lx) x [0, Ly). Atoms are
ordered particle by particle, then the substrate; only the particles are labelled, so a
substrate-only scene has no labelled atom (an empty mask). ``meta["particles"]`` lists every
particle with its ``n_atoms``, so particle k's atoms are the k-th run of labelled atoms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from hrtem_sim.errors import StructureError
from hrtem_sim.structures.au_shapes import SHAPES
from hrtem_sim.structures.carbon import CARBON_FAMILIES
from hrtem_sim.structures.gold import (
    ZONE_AXES,
    CheckedParticle,
    check_particle,
    check_substrates,
    draw_particle,
)
from hrtem_sim.structures.ranges import check_range, check_value, choose, draw
from hrtem_sim.structures.substrates import substrate_slab
from hrtem_sim.types import ADDED_PARAM, Structure

KIND = "au_scene"
SUBSTRATES = (*CARBON_FAMILIES, "holey_carbon", "ceo2", "none")
PLACEMENT_ATTEMPTS = 200


@dataclass
class AuSceneParams:
    """Random ranges ([min, max]) and choices of a scene.

    particles:           number of particles of a scene that is not substrate-only.
    empty_fraction:      share of substrate-only scenes (no particle; never on substrate "none").
    diameter:            longest atom-to-atom distance of each particle [Å].
    diameter_draw, shapes, zone_axes: as ``au_particle``.
    tilt:                off-axis tilt [deg] of the particles not on their zone axis.
    on_axis_fraction:    share of particles exactly on their zone axis (tilt 0).
    substrates:          drawn uniformly from this list (repeat a name to weight it) among the
                         amorphous-carbon families (:mod:`hrtem_sim.structures.carbon`: ``carbon``
                         at 2.0 g/cm^3, ``graded_carbon``, ``graphitic_carbon``,
                         ``contaminated_carbon``, ``clumped_carbon``), ``holey_carbon`` (carbon
                         with round holes of vacuum), ``ceo2`` ((111) slab) and ``none``.
    substrate_thickness: [Å].
    holes:               number of holes in holey carbon.
    hole_diameter:       [Å].
    spacing:             least projected distance [Å] between two particles.
    wrap:                particles may straddle the cell's edges (a periodic scene, for training
                         crops taken anywhere); False keeps each particle ``spacing / 2`` [Å]
                         inside them (a frame, as the scene benchmark shows it).
    vacuum, gap, lattice_constant: as ``au_particle`` [Å].
    """

    particles: list[int] = field(default_factory=lambda: [1, 4])
    empty_fraction: float = 0.25
    diameter: list[float] = field(default_factory=lambda: [15.0, 80.0])
    diameter_draw: str = field(default="uniform", metadata=ADDED_PARAM)
    shapes: list[str] = field(default_factory=lambda: list(SHAPES))
    zone_axes: list[str] = field(default_factory=lambda: list(ZONE_AXES))
    tilt: list[float] = field(default_factory=lambda: [0.0, 15.0])
    on_axis_fraction: float = 0.25
    substrates: list[str] = field(default_factory=lambda: ["carbon", "holey_carbon", "ceo2"])
    substrate_thickness: list[float] = field(default_factory=lambda: [10.0, 60.0])
    holes: list[int] = field(default_factory=lambda: [1, 3])
    hole_diameter: list[float] = field(default_factory=lambda: [20.0, 80.0])
    spacing: float = 5.0
    wrap: bool = True
    vacuum: float = 4.0
    gap: float = 2.5
    lattice_constant: float = 4.08


def _count_range(key: str, values: list[int]) -> tuple[int, int]:
    low, high = check_range(KIND, key, values)
    if low != int(low) or high != int(high):
        raise StructureError(f"{KIND}.{key}: range [{low}, {high}] must be whole numbers")
    return int(low), int(high)


@dataclass(frozen=True)
class _Checked:
    """AuSceneParams, validated against the cell."""

    particle: CheckedParticle
    counts: tuple[int, int]
    empty: float
    on_axis: float
    substrates: list[str]
    bare: list[str]  # the substrates a substrate-only scene may draw
    thickness: tuple[float, float]
    holes: tuple[int, int]
    hole_diameter: tuple[float, float]
    spacing: float


def _check(params: AuSceneParams, cell: tuple[float, float]) -> _Checked:
    particle = check_particle(KIND, params)
    counts = _count_range("particles", params.particles)
    empty = check_value(KIND, "empty_fraction", params.empty_fraction, high=1.0)
    on_axis = check_value(KIND, "on_axis_fraction", params.on_axis_fraction, high=1.0)
    substrates, thickness = check_substrates(KIND, params, SUBSTRATES)
    bare = [s for s in substrates if s != "none"]
    if empty > 0 and not bare:
        raise StructureError(
            f"{KIND}.substrates: substrate-only scenes (empty_fraction {empty}) need a substrate "
            f"other than 'none', got {substrates}"
        )
    spacing = check_value(KIND, "spacing", params.spacing)
    if particle.diameter[1] + spacing > min(cell):
        raise StructureError(
            f"{KIND}: a particle of diameter up to {particle.diameter[1]} Å with spacing "
            f"{spacing} Å needs a cell of {particle.diameter[1] + spacing} Å; the cell is "
            f"{cell[0]} x {cell[1]} Å"
        )
    holes = _count_range("holes", params.holes)
    hole_diameter = check_range(KIND, "hole_diameter", params.hole_diameter)
    return _Checked(
        particle, counts, empty, on_axis, substrates, bare, thickness, holes, hole_diameter, spacing
    )


def _periodic_distance(a: np.ndarray, b: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Distances [Å] between point ``a`` [2] and points ``b`` [M, 2] in the periodic cell."""
    offset = b - a
    offset -= cell * np.round(offset / cell)
    return np.hypot(offset[:, 0], offset[:, 1])


def _place(
    radius: float,
    placed: list[tuple[np.ndarray, float]],
    cell: np.ndarray,
    spacing: float,
    wrap: bool,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """A lateral centre [2] Å whose disc of ``radius`` keeps ``spacing`` from the ``placed``
    (centre, radius) discs (and, unless ``wrap``, ``spacing / 2`` from the cell's edges), or
    None after PLACEMENT_ATTEMPTS draws."""
    centres = np.array([c for c, _ in placed]).reshape(-1, 2)
    radii = np.array([r for _, r in placed])
    low = 0.0 if wrap else radius + spacing / 2
    for _ in range(PLACEMENT_ATTEMPTS):
        centre = low + rng.random(2) * (cell - 2 * low)
        if np.all(_periodic_distance(centre, centres, cell) >= radii + radius + spacing):
            return centre
    return None


def build_au_scene(
    params: AuSceneParams, cell: tuple[float, float], rng: np.random.Generator
) -> Structure:
    """A scene in an (Lx, Ly) [Å] cell; see the module doc."""
    checked = _check(params, cell)
    empty = bool(rng.random() < checked.empty)
    low, high = checked.counts
    requested = 0 if empty else int(rng.integers(low, high + 1))
    substrate_kind = choose(rng, checked.bare if empty else checked.substrates)
    thickness = 0.0 if substrate_kind == "none" else draw(rng, checked.thickness)
    holes: list[tuple[float, float, float]] = []
    if substrate_kind == "holey_carbon":
        n_holes = int(rng.integers(checked.holes[0], checked.holes[1] + 1))
        holes = [
            (*(float(v) for v in rng.random(2) * cell), draw(rng, checked.hole_diameter))
            for _ in range(n_holes)
        ]
    substrate, layers = substrate_slab(substrate_kind, cell, thickness, rng, holes)
    below = substrate.positions
    if len(below):
        below = below + np.array([0.0, 0.0, params.vacuum - below[:, 2].min()])
    top = below[:, 2].max() if len(below) else params.vacuum - params.gap

    box = np.array(cell)
    placed: list[tuple[np.ndarray, float]] = []
    particles, metas = [], []
    for _ in range(requested):
        on_axis = bool(rng.random() < checked.on_axis)
        positions, meta = draw_particle(
            rng, checked.particle, params.lattice_constant, on_axis, KIND
        )
        radius = float(np.hypot(*(positions[:, :2] - positions[:, :2].mean(axis=0)).T).max())
        centre = _place(radius, placed, box, checked.spacing, params.wrap, rng)
        if centre is None:
            continue
        placed.append((centre, radius))
        shift = [
            *(centre - positions[:, :2].mean(axis=0)),
            top + params.gap - positions[:, 2].min(),
        ]
        positions = positions + shift
        metas.append(
            {
                **meta,
                "on_axis": on_axis,
                "centre": [*(float(v) for v in centre), float(positions[:, 2].mean())],
                "radius": radius,
            }
        )
        particles.append(positions)

    positions = np.concatenate([*particles, below]).reshape(-1, 3)
    positions[:, :2] = np.mod(positions[:, :2], box)
    n_labelled = sum(len(p) for p in particles)
    numbers = np.concatenate([np.full(n_labelled, 79), substrate.numbers]).astype(int)
    height = (positions[:, 2].max() if len(positions) else 0.0) + params.vacuum
    atoms = Atoms(numbers=numbers, positions=positions, cell=[*cell, height], pbc=[1, 1, 0])
    meta: dict[str, Any] = {
        "kind": KIND,
        "empty": empty,
        "n_requested": requested,
        "n_particles": len(metas),
        "particles": metas,
        "substrate": substrate_kind,
        "substrate_thickness": thickness,
        "n_substrate_atoms": len(substrate),
    }
    if substrate_kind == "ceo2":
        meta["substrate_layers"] = layers
    if substrate_kind == "holey_carbon":
        meta["holes"] = [list(h) for h in holes]
    return Structure(atoms=atoms, labelled=np.arange(len(atoms)) < n_labelled, meta=meta)
