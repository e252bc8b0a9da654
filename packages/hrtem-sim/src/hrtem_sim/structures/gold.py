"""Au nanoparticles on a zone axis, turned, tilted and laid on a substrate.

Draws, in this order, all from the one generator: shape, zone axis, target diameter, the shape's
own parameters (:mod:`hrtem_sim.structures.au_shapes`), in-plane rotation [deg], tilt [deg], tilt
axis [deg], substrate, substrate thickness [Å] and its atoms, then the lateral position.

Geometry along the beam (+z, which abTEM slices from z = 0): ``vacuum`` [Å], the substrate slab,
a ``gap`` [Å], the particle, ``vacuum`` again. Laterally the particle lies at least ``margin`` [Å]
from the cell edges; the cell is exactly the requested (Lx, Ly). Only the particle is labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from hrtem_sim.errors import StructureError
from hrtem_sim.structures.au_shapes import SHAPES, ZONE_DIRECTIONS, au_cluster, zone_direction
from hrtem_sim.structures.carbon import CARBON_FAMILIES
from hrtem_sim.structures.orientation import orient
from hrtem_sim.structures.ranges import (
    DRAWS,
    check_choices,
    check_range,
    check_value,
    choose,
    draw,
)
from hrtem_sim.structures.substrates import substrate_slab
from hrtem_sim.types import ADDED_PARAM, Structure

KIND = "au_particle"
ZONE_AXES = ("110", "100", "111")
SUBSTRATES = ("carbon", "ceo2", "none")  # the default choice
KNOWN_SUBSTRATES = (*CARBON_FAMILIES, "ceo2", "none")


@dataclass
class AuParticleParams:
    """Random ranges ([min, max]) and choices of an Au particle sample.

    diameter:            longest atom-to-atom distance of the particle [Å].
    diameter_draw:       ``uniform`` or ``log_uniform`` over ``diameter`` (as many 1-1.5 nm
                         clusters as 4-6 nm particles).
    shapes:              subset of ``truncated_octahedron``, ``decahedron``, ``icosahedron``,
                         ``fcc_random`` (decahedra and icosahedra only on zone axis ``110``: the
                         decahedron's five-fold axis, the icosahedron's two-fold axis).
    zone_axes:           subset of ``110``, ``100``, ``111``: the crystal direction along the beam.
    tilt:                off-axis tilt [deg] about a random in-plane axis.
    substrates:          subset of the amorphous-carbon families (``carbon``: 2.0 g/cm^3, and the
                         others of :mod:`hrtem_sim.structures.carbon`), ``ceo2`` ((111) slab), ``none``.
    substrate_thickness: [Å].
    margin:              least distance [Å] from the particle to the lateral cell edges.
    vacuum:              empty space [Å] below and above the atoms along z.
    gap:                 distance [Å] from the substrate's top atom to the particle's lowest.
    lattice_constant:    fcc Au [Å].
    """

    diameter: list[float] = field(default_factory=lambda: [15.0, 60.0])
    diameter_draw: str = field(default="uniform", metadata=ADDED_PARAM)
    shapes: list[str] = field(default_factory=lambda: list(SHAPES))
    zone_axes: list[str] = field(default_factory=lambda: list(ZONE_AXES))
    tilt: list[float] = field(default_factory=lambda: [0.0, 3.0])
    substrates: list[str] = field(default_factory=lambda: list(SUBSTRATES))
    substrate_thickness: list[float] = field(default_factory=lambda: [10.0, 50.0])
    margin: float = 5.0
    vacuum: float = 4.0
    gap: float = 2.5
    lattice_constant: float = 4.08


@dataclass(frozen=True)
class CheckedParticle:
    """The particle ranges of AuParticleParams or AuSceneParams, validated."""

    diameter: tuple[float, float]
    diameter_draw: str
    shape_axes: dict[str, list[str]]
    tilt: tuple[float, float]


def check_particle(kind: str, params: Any) -> CheckedParticle:
    """Check ``params``' diameter, shapes, zone_axes, vacuum, gap, lattice_constant and tilt."""
    diameter = check_range(kind, "diameter", params.diameter)
    if diameter[0] <= 0:
        raise StructureError(f"{kind}.diameter: range {list(diameter)} must be above 0 Å")
    if params.diameter_draw not in DRAWS:
        raise StructureError(
            f"{kind}.diameter_draw: {params.diameter_draw!r} is not one of {list(DRAWS)}"
        )
    shapes = check_choices(kind, "shapes", params.shapes, SHAPES)
    zone_axes = check_choices(kind, "zone_axes", params.zone_axes, ZONE_AXES)
    shape_axes = {s: [z for z in zone_axes if z in ZONE_DIRECTIONS[s]] for s in shapes}
    shape_axes = {s: axes for s, axes in shape_axes.items() if axes}
    if not shape_axes:
        raise StructureError(
            f"{kind}: none of the shapes {shapes} can be shown on the zone axes {zone_axes} "
            "(decahedron and icosahedron take only 110)"
        )
    check_value(kind, "vacuum", params.vacuum)
    check_value(kind, "gap", params.gap)
    check_value(kind, "lattice_constant", params.lattice_constant, low=1e-3)
    tilt = check_range(kind, "tilt", params.tilt, high=90.0)
    return CheckedParticle(diameter, params.diameter_draw, shape_axes, tilt)


def check_substrates(
    kind: str, params: Any, known: tuple[str, ...]
) -> tuple[list[str], tuple[float, float]]:
    """``params``' substrates (a subset of ``known``) and substrate_thickness [Å], checked."""
    substrates = check_choices(kind, "substrates", params.substrates, known)
    thickness = check_range(kind, "substrate_thickness", params.substrate_thickness)
    if thickness[0] <= 0 and set(substrates) - {"none"}:
        raise StructureError(
            f"{kind}.substrate_thickness: range {list(thickness)} must be above 0 Å for {substrates}"
        )
    return substrates, thickness


def build_au_particle(
    params: AuParticleParams, cell: tuple[float, float], rng: np.random.Generator
) -> Structure:
    """An Au particle (labelled) on its substrate in an (Lx, Ly) [Å] cell; see the module doc."""
    checked = check_particle(KIND, params)
    margin = check_value(KIND, "margin", params.margin)
    if checked.diameter[1] + 2.0 * margin > min(cell):
        raise StructureError(
            f"{KIND}: a particle of diameter up to {checked.diameter[1]} Å with margin {margin} Å "
            f"on each side needs {checked.diameter[1] + 2.0 * margin} Å; the cell is "
            f"{cell[0]} x {cell[1]} Å"
        )
    substrates, thicknesses = check_substrates(KIND, params, KNOWN_SUBSTRATES)
    particle, particle_meta = draw_particle(rng, checked, params.lattice_constant)
    substrate_kind = choose(rng, substrates)
    thickness = 0.0 if substrate_kind == "none" else draw(rng, thicknesses)
    substrate, layers = substrate_slab(substrate_kind, cell, thickness, rng)
    below = substrate.positions
    if len(below):
        below = below + np.array([0.0, 0.0, params.vacuum - below[:, 2].min()])
    top = below[:, 2].max() if len(below) else params.vacuum - params.gap

    # Lateral offset keeps the projected particle `margin` from the edges (it fits: extent <= diameter).
    low, high = particle[:, :2].min(axis=0), particle[:, :2].max(axis=0)
    lateral = [
        draw(rng, (params.margin - low[k], cell[k] - params.margin - high[k])) for k in range(2)
    ]
    particle += [*lateral, top + params.gap - particle[:, 2].min()]
    positions = np.concatenate([particle, below])
    numbers = np.concatenate([np.full(len(particle), 79), substrate.numbers])
    height = positions[:, 2].max() + params.vacuum
    atoms = Atoms(numbers=numbers, positions=positions, cell=[*cell, height], pbc=[1, 1, 0])
    labelled = np.arange(len(atoms)) < len(particle)

    meta: dict[str, Any] = {
        "kind": KIND,
        **particle_meta,
        "centre": [float(v) for v in particle.mean(axis=0)],
        "substrate": substrate_kind,
        "substrate_thickness": thickness,
        "n_substrate_atoms": len(substrate),
    }
    if substrate_kind == "ceo2":
        meta["substrate_layers"] = layers
    return Structure(atoms=atoms, labelled=labelled, meta=meta)


def draw_particle(
    rng: np.random.Generator,
    checked: CheckedParticle,
    lattice_constant: float,
    on_axis: bool = False,
    kind: str = KIND,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One oriented Au cluster: positions [N, 3] (Å, centred on its centroid) and its meta.

    Draws, in this order: shape, zone axis, target diameter [Å] (``checked.diameter_draw``), the shape's own parameters,
    in-plane rotation, tilt [deg] (within ``checked.tilt``; exactly 0 when ``on_axis``, the draw
    still made) and tilt axis [deg]. kind: the structure named in errors.
    """
    shape = choose(rng, list(checked.shape_axes))
    zone_axis = choose(rng, checked.shape_axes[shape])
    target = draw(rng, checked.diameter, checked.diameter_draw)
    cluster = au_cluster(shape, target, *checked.diameter, lattice_constant, rng, kind)
    inplane = draw(rng, (0.0, 360.0))
    tilt_angle = draw(rng, checked.tilt)
    if on_axis:
        tilt_angle = 0.0
    tilt_axis = draw(rng, (0.0, 360.0))
    rotation = orient(zone_direction(shape, zone_axis), inplane, tilt_angle, tilt_axis)
    meta = {
        "shape": shape,
        "shape_params": cluster.params,
        "diameter": cluster.diameter,
        "diameter_target": target,
        "n_atoms": len(cluster.positions),
        "zone_axis": zone_axis,
        "inplane_rotation": inplane,
        "tilt": tilt_angle,
        "tilt_axis": tilt_axis,
    }
    return rotation.apply(cluster.positions), meta
