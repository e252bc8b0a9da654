"""hrtem_sim.structures: seeded Au particles on substrates and MoS2 layers, checked on the atoms."""

import json
import math

import numpy as np
import pytest
from hrtem_sim import build_structure, group_columns, list_structures, params_type
from hrtem_sim.errors import StructureError
from hrtem_sim.structures import AuParticleParams, MoS2Params
from hrtem_sim.structures.carbon import amorphous_carbon, carbon_number_density
from hrtem_sim.structures.substrates import ceo2_slab
from hrtem_sim.types import Structure
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

CELL = (40.0, 40.0)


def _au(seed: int, cell=CELL, **params) -> Structure:
    return build_structure(
        "au_particle", AuParticleParams(**params), cell, np.random.default_rng(seed)
    )


def _nearest(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """[N] periodic nearest-neighbour distance of each position (box: one entry per axis)."""
    distances, _ = cKDTree(positions, boxsize=box).query(positions, k=2)
    return distances[:, 1]


# --- registry and typed params ------------------------------------------------------------------


def test_registry_names_and_params_types():
    assert list_structures() == ["au_particle", "au_scene", "mos2", "mos2_flake"]
    assert params_type("au_particle") is AuParticleParams
    assert params_type("mos2") is MoS2Params


def test_unknown_kind_is_one_clear_error():
    message = "unknown structure kind 'graphene'; known: au_particle, au_scene, mos2, mos2_flake"
    with pytest.raises(StructureError) as error:
        params_type("graphene")
    assert str(error.value) == message
    with pytest.raises(StructureError) as error:
        build_structure("graphene", None, CELL, np.random.default_rng(0))
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("kind", "override"),
    [
        ("au_particle", {"diameter": [20, 25], "shapes": ["decahedron"], "substrates": ["none"]}),
        ("mos2", {"s_vacancy_fraction": [0.2, 0.2], "vacuum": 3}),
    ],
)
def test_params_merge_with_omegaconf_and_build(kind, override):
    schema = OmegaConf.structured(params_type(kind))
    merged = OmegaConf.merge(schema, override)
    params = OmegaConf.to_object(merged)
    assert isinstance(params, params_type(kind))
    for key, value in override.items():
        assert getattr(params, key) == value
    structure = build_structure(kind, merged, CELL, np.random.default_rng(0))  # DictConfig accepted
    assert len(structure.atoms) > 0
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"diametre": [20, 25]})
    with pytest.raises(ValidationError):
        OmegaConf.merge(schema, {"vacuum": "thick"})


def test_wrong_params_type_is_an_error():
    with pytest.raises(
        StructureError, match="structure 'mos2' takes MoS2Params params, got AuParticleParams"
    ):
        build_structure("mos2", AuParticleParams(), CELL, np.random.default_rng(0))


# --- Au particles --------------------------------------------------------------------------------


def test_same_seed_same_structure_and_different_seed_different():
    params = {
        "diameter": [15.0, 25.0],
        "substrates": ["carbon", "ceo2"],
        "substrate_thickness": [8.0, 12.0],
    }
    first, again, other = _au(7, **params), _au(7, **params), _au(8, **params)
    assert np.array_equal(first.atoms.positions, again.atoms.positions)
    assert np.array_equal(first.atoms.numbers, again.atoms.numbers)
    assert np.array_equal(first.atoms.cell.array, again.atoms.cell.array)
    assert first.meta == again.meta
    assert first.meta != other.meta
    assert len(first.atoms) != len(other.atoms) or not np.allclose(
        first.atoms.positions, other.atoms.positions
    )
    json.dumps(first.meta)  # JSON-serialisable


@pytest.mark.parametrize(
    "shape", ["truncated_octahedron", "decahedron", "icosahedron", "fcc_random"]
)
def test_particle_diameter_in_range_only_au_labelled_inside_margins(shape):
    low, high, margin, vacuum = 18.0, 30.0, 4.0, 3.0
    for seed in range(3):
        structure = _au(
            seed, shapes=[shape], diameter=[low, high], margin=margin, vacuum=vacuum,
            substrates=["carbon"], substrate_thickness=[5.0, 5.0],
        )  # fmt: skip
        atoms, labelled = structure.atoms, structure.labelled
        particle = atoms.positions[labelled]
        measured = pdist(particle).max()
        assert low <= measured <= high
        assert measured == pytest.approx(structure.meta["diameter"])
        assert structure.meta["n_atoms"] == labelled.sum()
        assert np.all(atoms.numbers[labelled] == 79) and np.all(atoms.numbers[~labelled] == 6)
        assert np.all(particle[:, :2] >= margin - 1e-9)
        assert np.all(particle[:, :2] <= np.array(CELL) - margin + 1e-9)
        assert np.allclose(atoms.cell.array[:2, :2], np.diag(CELL))
        z = atoms.positions[:, 2]
        assert z.min() == pytest.approx(vacuum) and z.max() == pytest.approx(
            atoms.cell[2, 2] - vacuum
        )
        # The particle rests on the substrate: its lowest atom `gap` above the top C.
        assert particle[:, 2].min() - z[~labelled].max() == pytest.approx(2.5)


def _singles(structure) -> tuple[float, float]:
    """Fraction of single-atom columns and mean atoms per column of the particle."""
    particle = structure.atoms.positions[structure.labelled]
    columns = group_columns(particle[:, :2], np.full(len(particle), 79), "particle", CELL)
    return float(np.mean(columns.counts == 1)), float(columns.counts.mean())


@pytest.mark.parametrize(
    ("shape", "zone_axis"),
    [
        ("truncated_octahedron", "110"),
        ("truncated_octahedron", "100"),
        ("fcc_random", "111"),
        ("decahedron", "110"),
        ("icosahedron", "110"),
    ],
)
def test_zone_axis_along_the_beam_gives_columns_and_tilt_breaks_them(shape, zone_axis):
    common = {
        "shapes": [shape],
        "zone_axes": [zone_axis],
        "diameter": [26.0, 30.0],
        "substrates": ["none"],
    }
    on_axis = _au(3, tilt=[0.0, 0.0], **common)
    tilted = _au(3, tilt=[12.0, 12.0], **common)
    assert on_axis.meta["zone_axis"] == zone_axis and on_axis.meta["tilt"] == 0.0
    assert tilted.meta["tilt"] == 12.0
    singles_on, mean_on = _singles(on_axis)
    singles_off, mean_off = _singles(tilted)
    assert singles_on < 0.3 and mean_on > 2.0
    assert singles_off > singles_on + 0.3 and mean_off < mean_on


def test_draws_stay_within_the_ranges():
    params = {"diameter": [15.0, 25.0], "tilt": [1.0, 2.0], "substrates": ["ceo2", "none"],
              "substrate_thickness": [6.0, 9.0], "zone_axes": ["100", "111"]}  # fmt: skip
    for seed in range(6):
        meta = _au(seed, **params).meta
        assert 1.0 <= meta["tilt"] <= 2.0
        assert 0.0 <= meta["inplane_rotation"] < 360.0 and 0.0 <= meta["tilt_axis"] < 360.0
        assert meta["zone_axis"] in ("100", "111")
        assert meta["shape"] in ("truncated_octahedron", "fcc_random")  # the only ones on 100/111
        assert meta["substrate"] in ("ceo2", "none")
        if meta["substrate"] == "none":
            assert meta["substrate_thickness"] == 0.0 and meta["n_substrate_atoms"] == 0
        else:
            assert 6.0 <= meta["substrate_thickness"] <= 9.0


def test_particle_too_big_for_the_cell_is_one_clear_error():
    with pytest.raises(StructureError) as error:
        _au(0, diameter=[15.0, 40.0], margin=5.0)
    assert str(error.value) == (
        "au_particle: a particle of diameter up to 40.0 Å with margin 5.0 Å on each side "
        "needs 50.0 Å; the cell is 40.0 x 40.0 Å"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"diameter": [30.0, 20.0]}, "au_particle.diameter: range [30.0, 20.0] has min > max"),
        ({"tilt": [-1.0, 2.0]}, "au_particle.tilt: range [-1.0, 2.0] must lie within [0.0, 90.0]"),
        ({"diameter": [20.0]}, "au_particle.diameter: expected a range [min, max] of two numbers, got [20.0]"),
        ({"shapes": ["cube"]}, "au_particle.shapes: ['cube'] must be a non-empty subset of "
         "['truncated_octahedron', 'fcc_random', 'decahedron', 'icosahedron'] (unknown: ['cube'])"),
        ({"shapes": ["decahedron"], "zone_axes": ["100"]}, "au_particle: none of the shapes "
         "['decahedron'] can be shown on the zone axes ['100'] (decahedron and icosahedron take only 110)"),
        ({"margin": -1.0}, "au_particle.margin: -1.0 must lie within [0.0, inf]"),
        ({"shapes": ["icosahedron"], "diameter": [20.0, 21.0]}, "au_particle: no icosahedron with "
         "a diameter in [20.0, 21.0] Å (nearest: [17.3, 23.1] Å)"),
    ],
)  # fmt: skip
def test_impossible_au_params_are_one_clear_error(params, message):
    with pytest.raises(StructureError) as error:
        _au(0, **{"diameter": [15.0, 25.0], **params})
    assert str(error.value) == message


def test_bad_cell_is_one_clear_error():
    with pytest.raises(StructureError) as error:
        build_structure("mos2", None, (20.0, -1.0), np.random.default_rng(0))
    assert (
        str(error.value)
        == "mos2: cell must be two positive lengths (Lx, Ly) in Å, got [20.0, -1.0]"
    )


# --- substrates ----------------------------------------------------------------------------------


def test_amorphous_carbon_density_and_periodic_minimum_distance():
    cell, thickness = (30.0, 25.0), 20.0
    carbon = amorphous_carbon(cell, thickness, np.random.default_rng(0))
    density = len(carbon) / (cell[0] * cell[1] * thickness)
    assert carbon_number_density(2.0) == pytest.approx(0.1003, abs=1e-4)
    assert density == pytest.approx(carbon_number_density(2.0), rel=0.05)
    positions = carbon.positions
    assert np.all((positions >= 0) & (positions < [*cell, thickness]))
    assert _nearest(positions, np.array([*cell, 10 * thickness])).min() >= 1.3
    assert np.all(carbon.numbers == 6)


def test_ceo2_slab_stoichiometry_layers_and_distances():
    cell = (31.0, 27.0)
    slab, layers = ceo2_slab(cell, 10.0, np.random.default_rng(0))
    ce, o = np.sum(slab.numbers == 58), np.sum(slab.numbers == 8)
    assert o == 2 * ce and ce + o == len(slab)
    assert layers == 3  # 10 Å / 3.124 Å per O-Ce-O trilayer
    z_ce = np.unique(slab.positions[slab.numbers == 58, 2].round(6))
    assert np.allclose(np.diff(z_ce), 5.411 / math.sqrt(3)) and len(z_ce) == layers
    positions = slab.positions
    assert np.all((positions[:, :2] >= 0) & (positions[:, :2] < cell))
    assert _nearest(positions, np.array([*cell, 100.0])).min() >= 2.0  # also across the seam
    bulk = 1.0 / ((5.411 / math.sqrt(2)) ** 2 * math.sqrt(3) / 2)  # Ce per Å^2 per (111) plane
    assert 0.75 * bulk < ce / (cell[0] * cell[1] * layers) <= bulk


def test_au_on_ceo2_labels_only_au():
    structure = _au(1, diameter=[15.0, 20.0], substrates=["ceo2"], substrate_thickness=[6.0, 6.0])
    numbers = structure.atoms.numbers
    assert structure.meta["substrate"] == "ceo2" and structure.meta["substrate_layers"] == 2
    assert set(numbers[~structure.labelled]) == {8, 58} and set(numbers[structure.labelled]) == {79}


# --- MoS2 ---------------------------------------------------------------------------------------


def _mos2(seed: int, cell=(20.0, 23.0), **params):
    return build_structure("mos2", MoS2Params(**params), cell, np.random.default_rng(seed))


def test_mos2_cell_is_commensurate_and_seamless():
    structure = _mos2(0, s_vacancy_fraction=[0.0, 0.0])
    atoms, a = structure.atoms, 3.19
    nx, ny = structure.meta["repeats"]
    assert (nx, ny) == (round(20.0 / a), round(23.0 / (a * math.sqrt(3))))
    assert np.allclose(atoms.cell.lengths()[:2], [nx * a, ny * a * math.sqrt(3)])
    assert structure.labelled.all() and len(atoms) == 6 * nx * ny
    box = np.array([*atoms.cell.lengths()[:2], 100.0])
    assert np.all((atoms.positions[:, :2] >= 0) & (atoms.positions[:, :2] < box[:2]))
    # Periodic neighbours are the bulk ones everywhere, across the boundary too.
    mo_s = math.hypot(a / math.sqrt(3), 3.13 / 2)
    assert np.allclose(_nearest(atoms.positions, box), [mo_s] * len(atoms))
    mo = atoms.positions[atoms.numbers == 42]
    assert np.allclose(_nearest(mo, box), a)
    columns = group_columns(atoms.positions[:, :2], atoms.numbers, "mos2", tuple(box[:2]))
    assert np.allclose(_nearest(columns.positions, box[:2]), a / math.sqrt(3))


def test_mos2_vacancies_match_meta_and_columns():
    structure = _mos2(
        4, cell=(30.0, 30.0), s_vacancy_fraction=[0.2, 0.3], double_vacancy_fraction=[0.3, 0.5],
        mo_vacancy_fraction=[0.05, 0.05],
    )  # fmt: skip
    meta, atoms = structure.meta, structure.atoms
    nx, ny = meta["repeats"]
    n_sites = 2 * nx * ny  # Mo sites = S columns
    assert meta["n_s_vacancies"] == round(meta["s_vacancy_fraction"] * 2 * n_sites) > 0
    assert np.sum(atoms.numbers == 16) == meta["n_s"] == 2 * n_sites - meta["n_s_vacancies"]
    assert np.sum(atoms.numbers == 42) == meta["n_mo"] == n_sites - meta["n_mo_vacancies"]
    assert meta["n_mo_vacancies"] == round(0.05 * n_sites) > 0
    assert meta["n_s1_columns"] > 0 and meta["n_s_empty_columns"] > 0
    assert meta["n_s1_columns"] + 2 * meta["n_s_empty_columns"] == meta["n_s_vacancies"]
    columns = group_columns(
        atoms.positions[:, :2], atoms.numbers, "mos2", tuple(atoms.cell.lengths()[:2])
    )
    counts = np.bincount(columns.classes, minlength=4)
    assert counts.tolist() == [0, meta["n_mo"], meta["n_s2_columns"], meta["n_s1_columns"]]
    assert meta["n_s2_columns"] + meta["n_s1_columns"] + meta["n_s_empty_columns"] == n_sites
    json.dumps(meta)


@pytest.mark.parametrize(("double", "expect_s1"), [(0.0, True), (1.0, False)])
def test_mos2_double_vacancy_fraction_controls_s1_versus_empty_columns(double, expect_s1):
    meta = _mos2(2, s_vacancy_fraction=[0.2, 0.2], double_vacancy_fraction=[double, double]).meta
    removed = meta["n_s_vacancies"]
    if expect_s1:
        assert meta["n_s1_columns"] == removed and meta["n_s_empty_columns"] == 0
    else:
        assert meta["n_s_empty_columns"] == removed // 2 and meta["n_s1_columns"] == removed % 2


def test_mos2_seeds():
    first, again, other = _mos2(5), _mos2(5), _mos2(6)
    assert np.array_equal(first.atoms.positions, again.atoms.positions) and first.meta == again.meta
    assert not np.array_equal(first.atoms.positions, other.atoms.positions)


def test_impossible_mos2_params_are_one_clear_error():
    with pytest.raises(StructureError) as error:
        _mos2(0, s_vacancy_fraction=[0.1, 1.5])
    assert (
        str(error.value) == "mos2.s_vacancy_fraction: range [0.1, 1.5] must lie within [0.0, 1.0]"
    )
