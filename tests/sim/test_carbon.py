"""The amorphous-carbon families: each its own structure (density, minimum distance, its own
features), periodic in x and y; particles labelled on every family; the families on the card."""

from __future__ import annotations

import numpy as np
import pytest
from hrtem_sim.structures import build_structure
from hrtem_sim.structures.carbon import (
    CARBON_FAMILIES,
    CH_BOND,
    DENSITY,
    FAMILIES,
    GRAPHENE_BOND,
    carbon_number_density,
    graphene_patch,
)
from hrtem_sim.structures.gold import AuParticleParams
from scipy.spatial import cKDTree

CELL = (48.0, 48.0)
THICKNESS = 24.0
MASS = {6: 12.011, 1: 1.008}  # [u]


def film(family: str, seed: int = 0):
    return FAMILIES[family](CELL, THICKNESS, np.random.default_rng(seed))


def nearest(points: np.ndarray, height: float) -> np.ndarray:
    """Each point's distance [Å] to its nearest other point, periodic in x and y."""
    box = np.array([*CELL, height + 10.0])
    distance, _ = cKDTree(points, boxsize=box).query(points, k=2)
    return distance[:, 1]


def density(atoms, top: float) -> float:
    """Mass density [g/cm^3] of ``atoms`` over the cell up to ``top`` [Å]."""
    mass = sum(MASS[int(z)] for z in atoms.numbers)
    return mass / (CELL[0] * CELL[1] * top) / 0.60221


@pytest.mark.parametrize("family", CARBON_FAMILIES)
def test_every_family_is_a_periodic_film_of_carbon_apart_by_its_minimum(family: str) -> None:
    atoms = film(family)
    carbon = atoms.positions[atoms.numbers == 6]
    assert len(carbon) > 1000 and set(np.unique(atoms.numbers)) <= {1, 6}
    assert np.all((carbon[:, :2] >= 0) & (carbon[:, :2] < CELL))
    assert carbon[:, 2].min() >= 0 and atoms.cell[2, 2] >= carbon[:, 2].max()
    assert nearest(carbon, atoms.cell[2, 2]).min() >= 1.3 - 1e-9
    np.testing.assert_array_equal(atoms.pbc, [True, True, False])
    assert not np.array_equal(film(family, 1).positions[:50], atoms.positions[:50])


def test_the_first_family_is_the_flat_slab_at_2_g_per_cm3() -> None:
    atoms = film("carbon")
    assert atoms.cell[2, 2] == THICKNESS
    assert len(atoms) == round(carbon_number_density(2.0) * CELL[0] * CELL[1] * THICKNESS)


def test_graded_carbon_varies_its_thickness_across_the_cell_at_a_drawn_density() -> None:
    def roughness(atoms) -> float:
        """Std [Å] of the top atom's height over 6 Å x 6 Å columns."""
        column = (atoms.positions[:, 0] // 6) * 8 + atoms.positions[:, 1] // 6
        tops = [atoms.positions[column == c, 2].max() for c in np.unique(column)]
        return float(np.std(tops))

    for seed in range(4):
        assert roughness(film("graded_carbon", seed)) > 3 * roughness(film("carbon", seed))
    mean = np.mean([density(film("graded_carbon", s), THICKNESS) for s in range(4)])
    assert 0.8 * DENSITY[0] < mean < 1.1 * DENSITY[1]


def test_graphitic_carbon_holds_graphene_sheets() -> None:
    patch = graphene_patch(6.0, 2, np.random.default_rng(0))
    layers = np.unique(np.round(patch[:, 2], 6))
    assert np.allclose(np.diff(layers), 3.35)
    sheet = patch[np.isclose(patch[:, 2], layers[0])]
    distance, _ = cKDTree(sheet).query(sheet, k=2)
    assert distance[:, 1] == pytest.approx(GRAPHENE_BOND)  # every atom bonded as in graphene
    atoms, plain = film("graphitic_carbon"), film("graded_carbon")
    bonded = np.abs(nearest(atoms.positions, atoms.cell[2, 2]) - GRAPHENE_BOND) < 1e-6
    plain_bonded = np.abs(nearest(plain.positions, plain.cell[2, 2]) - GRAPHENE_BOND) < 1e-6
    assert bonded.mean() > 0.05 and plain_bonded.mean() < 0.001


def test_contaminated_carbon_has_a_hydrocarbon_layer_on_top() -> None:
    atoms = film("contaminated_carbon")
    hydrogen = atoms.positions[atoms.numbers == 1]
    carbon = atoms.positions[atoms.numbers == 6]
    assert len(hydrogen) > 100
    distance, _ = cKDTree(carbon, boxsize=[*CELL, 1e3]).query(hydrogen)
    assert distance.max() == pytest.approx(CH_BOND, abs=1e-6)
    assert np.median(hydrogen[:, 2]) > np.median(carbon[:, 2]) + 5.0  # above the film


def test_clumped_carbon_is_denser_in_its_clumps_than_anywhere_in_graded_carbon() -> None:
    def spread(atoms) -> float:
        """Std / mean of the atom counts in 6 Å columns (density fluctuation across the film)."""
        counts, _, _ = np.histogram2d(*atoms.positions[:, :2].T, bins=8, range=[[0, 48]] * 2)
        return float(counts.std() / counts.mean())

    assert spread(film("clumped_carbon")) > 1.5 * spread(film("carbon"))


@pytest.mark.parametrize("family", ["graphitic_carbon", "contaminated_carbon", "clumped_carbon"])
def test_a_particle_on_any_family_is_what_is_labelled(family: str) -> None:
    params = AuParticleParams(
        diameter=[15.0, 18.0], substrates=[family], substrate_thickness=[20.0, 20.0]
    )
    structure = build_structure("au_particle", params, (40.0, 40.0), np.random.default_rng(2))
    atoms = structure.atoms
    assert structure.meta["substrate"] == family
    assert set(atoms.numbers[structure.labelled]) == {79}
    assert not np.any(atoms.numbers[~structure.labelled] == 79)
    au = atoms.positions[structure.labelled]
    film_top = atoms.positions[~structure.labelled & (atoms.numbers == 6), 2].max()
    assert au[:, 2].min() > film_top  # resting on the film
