"""Amorphous-carbon films of several independently written structure families.

Real a-C support films differ from lab to lab and from grid to grid (density, thickness,
medium-range order, graphitic fragments, contamination), so a model trained on one generator
learns that generator. Each family below is its own structure model; a spec names the families it
draws from (``substrates``), and the dataset card records them, so a run says what it trained on
and a check can hold one family out.

All return ASE ``Atoms`` with positions in [0, Lx) x [0, Ly) x [0, height) [Å], periodic in x and
y, cell (Lx, Ly, height). Densities are mass densities [g/cm^3]; distances [Å].

- ``carbon``: random close packing (random sequential addition) of C at 2.0 g/cm^3 with a minimum
  C–C distance of 1.3 Å, a flat slab (the project's first generator, kept as it was).
- ``graded_carbon``: random close packing at a density drawn from ``DENSITY`` (1.6-2.3) with a
  minimum distance drawn from 1.3-1.45 Å, whose thickness (±10-40 %) and density (±3-15 %)
  vary smoothly across the cell (wavelengths of the cell's size down to 40 Å).
- ``graphitic_carbon``: graded carbon around small graphitic and turbostratic fragments: graphene
  patches of 4-10 Å radius (C–C 1.42 Å), stacks of 1-3 layers 3.35 Å apart, each layer turned
  at random about its normal, at random orientations, filling 10-35 % of the film.
- ``contaminated_carbon``: graded carbon under a hydrocarbon layer 3-15 Å thick (C at the density
  of a CH2 polymer, 0.8-1.0 g/cm^3, each with two H 1.09 Å away), as beam-deposited
  contamination leaves it.
- ``clumped_carbon``: a sparse matrix (1.0-1.5 g/cm^3) holding dense clumps (2.6-3.2 g/cm^3,
  radius 3-8 Å, 15-30 % of the volume): density fluctuations on the scale of the smallest
  particles, the medium-range order of sputtered or evaporated films.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from hrtem_sim.columns import wrap
from hrtem_sim.errors import StructureError

_AVOGADRO = 6.02214076e23
DENSITY = (1.6, 2.3)  # [g/cm^3] of graded and graphitic carbon
GRAPHENE_BOND = 1.42  # [Å]
GRAPHITE_SPACING = 3.35  # [Å] between stacked layers
CH_BOND = 1.09  # [Å]
CARBON_FAMILIES = (
    "carbon",
    "graded_carbon",
    "graphitic_carbon",
    "contaminated_carbon",
    "clumped_carbon",
)

Region = Callable[[np.ndarray], np.ndarray]
"""points [N, 3] -> [N] bool: where a packing may place atoms."""


def carbon_number_density(density: float) -> float:
    """Atoms per Å^3 of carbon at a mass ``density`` [g/cm^3]."""
    return density / atomic_masses[atomic_numbers["C"]] * _AVOGADRO * 1e-24


def random_packing(
    cell: tuple[float, float],
    thickness: float,
    count: int,
    rng: np.random.Generator,
    min_distance: float = 1.3,
    fixed: np.ndarray | None = None,
    region: Region | None = None,
    z0: float = 0.0,
) -> np.ndarray:
    """``count`` new positions [count, 3] in (Lx, Ly) x [z0, z0 + thickness) [Å], none within
    ``min_distance`` [Å] (periodic in x, y) of another or of the ``fixed`` atoms [M, 3], and only
    where ``region`` allows.

    Vectorised random sequential addition: batches of uniform candidates, each dropped when it lies
    too close to an accepted atom or to an earlier candidate of its batch.
    """
    lx, ly = cell
    fixed = np.zeros((0, 3)) if fixed is None else np.asarray(fixed, dtype=float)
    top = max(z0 + thickness, float(fixed[:, 2].max(initial=z0 + thickness)))
    box = np.array([lx, ly, top + 2.0 * min_distance])  # z is not periodic: never wraps
    accepted = np.zeros((0, 3))
    share = 1.0  # of the candidates inside the region, from the last batch
    for _ in range(60):
        missing = count - len(accepted)
        if missing <= 0:
            break
        batch = int(missing * 1.3 / share) + 16
        candidates = rng.random((batch, 3)) * [lx, ly, thickness] + [0, 0, z0]
        if region is not None:
            candidates = candidates[region(candidates)]
            share = max(len(candidates) / batch, 0.01)
        candidates = wrap(candidates, box)
        others = np.concatenate([fixed, accepted])
        if len(others):
            distance, _ = cKDTree(others, boxsize=box).query(
                candidates, distance_upper_bound=min_distance
            )
            candidates = candidates[np.isinf(distance)]
        pairs = cKDTree(candidates, boxsize=box).query_pairs(min_distance, output_type="ndarray")
        candidates = np.delete(candidates, np.unique(pairs.max(axis=1, initial=0)), axis=0)
        accepted = np.concatenate([accepted, candidates[:missing]])
    if len(accepted) < count:
        raise StructureError(
            f"amorphous carbon: cannot pack {count} atoms in {lx:g} x {ly:g} x {thickness:g} Å "
            f"with a minimum distance of {min_distance} Å (placed {len(accepted)})"
        )
    return accepted


def periodic_field(
    cell: tuple[float, float], shortest: float, rng: np.random.Generator, terms: int = 4
) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth random field on the periodic cell: xy [N, 2] [Å] -> [N] in [-1, 1], a sum of
    ``terms`` plane waves of the cell's harmonics with wavelengths of at least ``shortest`` [Å]."""
    box = np.asarray(cell, dtype=float)
    harmonics = np.maximum(1, np.floor(box / shortest)).astype(int)
    orders = rng.integers(-harmonics, harmonics + 1, size=(terms, 2))
    orders[np.all(orders == 0, axis=1)] = [1, 0]
    k = 2 * np.pi * orders / box
    phase = rng.uniform(0, 2 * np.pi, terms)
    weight = rng.uniform(0.5, 1.0, terms)
    weight /= weight.sum()

    def field(xy: np.ndarray) -> np.ndarray:
        return np.cos(np.asarray(xy)[:, :2] @ k.T + phase) @ weight

    return field


def _film(numbers: np.ndarray, positions: np.ndarray, cell: tuple[float, float]) -> Atoms:
    positions = positions.reshape(-1, 3)
    height = float(positions[:, 2].max(initial=0.0))
    return Atoms(numbers=numbers, positions=positions, cell=[*cell, height], pbc=[1, 1, 0])


def amorphous_carbon(
    cell: tuple[float, float],
    thickness: float,
    rng: np.random.Generator,
    density: float = 2.0,
    min_distance: float = 1.3,
) -> Atoms:
    """Family ``carbon``: a flat slab (Lx, Ly) x [0, thickness) [Å] at ``density`` [g/cm^3]."""
    lx, ly = cell
    count = round(carbon_number_density(density) * lx * ly * thickness)
    positions = random_packing(cell, thickness, count, rng, min_distance)
    atoms = _film(np.full(len(positions), 6), positions, cell)
    atoms.cell[2, 2] = thickness
    return atoms


def _graded(
    cell: tuple[float, float],
    thickness: float,
    rng: np.random.Generator,
    fixed: np.ndarray | None = None,
    density: float | None = None,
) -> tuple[np.ndarray, float]:
    """Graded carbon's positions [N, 3] (with the ``fixed`` atoms among them) and its mean
    density [g/cm^3]: packed at the highest local density, then thinned to the local thickness
    and density."""
    density = float(rng.uniform(*DENSITY)) if density is None else density
    min_distance = float(rng.uniform(1.3, 1.45))
    thickness_swing, density_swing = rng.uniform(0.1, 0.4), rng.uniform(0.03, 0.15)
    height_field = periodic_field(cell, 40.0, rng)
    density_field = periodic_field(cell, 40.0, rng)
    peak = thickness * (1 + thickness_swing)
    lx, ly = cell
    fixed = np.zeros((0, 3)) if fixed is None else fixed
    count = round(carbon_number_density(density * (1 + density_swing)) * lx * ly * peak)
    packed = random_packing(cell, peak, max(0, count - len(fixed)), rng, min_distance, fixed)
    local_height = thickness * (1 + thickness_swing * height_field(packed))
    local_density = (1 + density_swing * density_field(packed)) / (1 + density_swing)
    keep = (packed[:, 2] < local_height) & (rng.random(len(packed)) < local_density)
    inside = fixed[:, 2] < thickness * (1 + thickness_swing * height_field(fixed))
    return np.concatenate([fixed[inside], packed[keep]]), density


def graded_carbon(cell: tuple[float, float], thickness: float, rng: np.random.Generator) -> Atoms:
    """Family ``graded_carbon`` (see the module doc), mean thickness ``thickness`` [Å]."""
    positions, _ = _graded(cell, thickness, rng)
    return _film(np.full(len(positions), 6), positions, cell)


def graphene_patch(radius: float, layers: int, rng: np.random.Generator) -> np.ndarray:
    """A turbostratic stack [N, 3] [Å] centred at 0: ``layers`` discs of graphene of ``radius``,
    ``GRAPHITE_SPACING`` apart along z, each turned at random about z."""
    a = GRAPHENE_BOND * np.sqrt(3.0)
    n = int(np.ceil(radius / a)) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    base = np.stack([i.ravel(), j.ravel()], axis=1) @ np.array(
        [[a, 0], [a / 2, a * np.sqrt(3) / 2]]
    )
    lattice = np.concatenate([base, base + np.array([0.0, GRAPHENE_BOND])])  # two atoms per cell
    sheets = []
    for layer in range(layers):
        angle = rng.uniform(0, 2 * np.pi)
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        xy = (lattice - lattice.mean(axis=0)) @ turn.T
        xy = xy[np.hypot(*xy.T) <= radius]
        z = (layer - (layers - 1) / 2) * GRAPHITE_SPACING
        sheets.append(np.column_stack([xy, np.full(len(xy), z)]))
    return np.concatenate(sheets)


def graphitic_carbon(
    cell: tuple[float, float], thickness: float, rng: np.random.Generator
) -> Atoms:
    """Family ``graphitic_carbon`` (see the module doc)."""
    lx, ly = cell
    box = np.array([lx, ly, thickness + 4.0])
    share = rng.uniform(0.10, 0.35)
    target = share * lx * ly * thickness
    fragments, volume = np.zeros((0, 3)), 0.0
    while volume < target:
        radius, layers = rng.uniform(4.0, 10.0), int(rng.integers(1, 4))
        patch = Rotation.random(random_state=rng).apply(graphene_patch(radius, layers, rng))
        patch += [*(rng.random(2) * cell), rng.uniform(0, thickness)]
        patch = patch[(patch[:, 2] >= 0) & (patch[:, 2] < thickness)]
        patch[:, :2] = wrap(patch[:, :2], box[:2])
        if len(fragments) and len(patch):
            distance, _ = cKDTree(fragments, boxsize=box).query(patch, distance_upper_bound=1.3)
            patch = patch[np.isinf(distance)]
        fragments = np.concatenate([fragments, patch])
        volume += np.pi * radius**2 * max(layers * GRAPHITE_SPACING, 3.0)
    positions, _ = _graded(cell, thickness, rng, fixed=fragments)
    return _film(np.full(len(positions), 6), positions, cell)


def contaminated_carbon(
    cell: tuple[float, float], thickness: float, rng: np.random.Generator
) -> Atoms:
    """Family ``contaminated_carbon`` (see the module doc): C first, then the H."""
    film, _ = _graded(cell, thickness, rng)
    layer = rng.uniform(3.0, 15.0)
    polymer = rng.uniform(0.8, 1.0)  # [g/cm^3] of (CH2)n
    ch2 = 12.011 + 2 * 1.008
    count = round(polymer / ch2 * _AVOGADRO * 1e-24 * cell[0] * cell[1] * layer)
    top = float(film[:, 2].max(initial=0.0))
    carbon = random_packing(cell, layer, count, rng, 1.4, fixed=film, z0=top + 1.0)
    bonds = rng.normal(size=(len(carbon), 2, 3))
    bonds *= CH_BOND / np.linalg.norm(bonds, axis=2, keepdims=True)
    hydrogen = (carbon[:, None, :] + bonds).reshape(-1, 3)
    hydrogen[:, :2] = wrap(hydrogen[:, :2], np.asarray(cell))
    hydrogen[:, 2] = np.maximum(hydrogen[:, 2], 0.0)
    positions = np.concatenate([film, carbon, hydrogen])
    numbers = np.concatenate([np.full(len(film) + len(carbon), 6), np.ones(len(hydrogen), int)])
    return _film(numbers, positions, cell)


def clumped_carbon(cell: tuple[float, float], thickness: float, rng: np.random.Generator) -> Atoms:
    """Family ``clumped_carbon`` (see the module doc)."""
    lx, ly = cell
    share = rng.uniform(0.15, 0.30)
    centres, radii, volume = [], [], 0.0
    while volume < share * lx * ly * thickness:
        radius = rng.uniform(3.0, 8.0)
        centres.append([*(rng.random(2) * cell), rng.uniform(0, thickness)])
        radii.append(radius)
        volume += 4 / 3 * np.pi * radius**3
    centres, radii = np.array(centres), np.array(radii)

    # z is not periodic: a box twice the slab plus the largest clump never wraps it
    box = np.array([lx, ly, 2 * (thickness + radii.max())])

    def in_clump(points: np.ndarray) -> np.ndarray:
        """Whether each point [N, 3] (0 <= z < thickness) lies in a clump, periodic in x, y."""
        tree = cKDTree(wrap(points, box), boxsize=box)
        found = np.zeros(len(points), dtype=bool)
        for indices in tree.query_ball_point(centres, radii, return_sorted=False):
            found[indices] = True
        return found

    # the clumps' volume inside the slab (they overlap and reach out of it), by sampling
    inside = in_clump(rng.random((20_000, 3)) * [lx, ly, thickness]).mean()
    clump_volume = inside * lx * ly * thickness
    clump_density, matrix_density = rng.uniform(2.6, 3.2), rng.uniform(1.0, 1.5)
    dense = round(carbon_number_density(clump_density) * clump_volume)
    clumps = random_packing(cell, thickness, dense, rng, 1.3, region=in_clump)
    sparse = round(carbon_number_density(matrix_density) * (lx * ly * thickness - clump_volume))
    matrix = random_packing(
        cell, thickness, sparse, rng, 1.3, fixed=clumps, region=lambda p: ~in_clump(p)
    )
    positions = np.concatenate([clumps, matrix])
    return _film(np.full(len(positions), 6), positions, cell)


FAMILIES: dict[str, Callable[[tuple[float, float], float, np.random.Generator], Atoms]] = {
    "carbon": amorphous_carbon,
    "graded_carbon": graded_carbon,
    "graphitic_carbon": graphitic_carbon,
    "contaminated_carbon": contaminated_carbon,
    "clumped_carbon": clumped_carbon,
}
