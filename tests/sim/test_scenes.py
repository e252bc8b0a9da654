"""au_scene: several particles (or none) in a periodic cell, no overlaps, labels on the particles only."""

import json

import numpy as np
import pytest
from hrtem_sim import build_structure
from hrtem_sim.errors import StructureError
from hrtem_sim.structures import AuSceneParams
from hrtem_sim.structures.ranges import draw
from hrtem_sim.types import Structure
from scipy.spatial.distance import pdist

CELL = (90.0, 90.0)
SEVERAL = {"particles": [2, 4], "empty_fraction": 0.0, "spacing": 4.0, "tilt": [5.0, 15.0],
           "on_axis_fraction": 0.5, "substrates": ["carbon"]}  # fmt: skip


def _scene(seed: int, cell=CELL, **params) -> Structure:
    small = {"diameter": [15.0, 25.0], "substrate_thickness": [4.0, 6.0], **params}
    return build_structure("au_scene", AuSceneParams(**small), cell, np.random.default_rng(seed))


def _particles(structure: Structure) -> list[np.ndarray]:
    """Each particle's atom positions [N_k, 3] (the k-th run of labelled atoms)."""
    ends = np.cumsum([p["n_atoms"] for p in structure.meta["particles"]])
    return np.split(structure.atoms.positions[: ends[-1] if len(ends) else 0], ends[:-1])


def _unwrapped(positions: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Lateral positions [N, 2] moved by whole cells to the periodic image nearest ``centre``."""
    offset = positions[:, :2] - centre
    return centre + offset - np.array(CELL) * np.round(offset / np.array(CELL))


def test_counts_sizes_labels_and_no_overlaps() -> None:
    counts = []
    for seed in range(6):
        scene = _scene(seed, **SEVERAL)
        meta, atoms = scene.meta, scene.atoms
        assert 2 <= meta["n_requested"] <= 4 and meta["n_particles"] == meta["n_requested"]
        counts.append(meta["n_particles"])
        assert scene.labelled.sum() == sum(p["n_atoms"] for p in meta["particles"])
        assert np.all(atoms.numbers[scene.labelled] == 79) and np.all(
            atoms.numbers[~scene.labelled] == 6
        )
        assert np.all((atoms.positions[:, :2] >= 0) & (atoms.positions[:, :2] < CELL))
        discs = []
        for positions, particle in zip(_particles(scene), meta["particles"], strict=True):
            centre = np.array(particle["centre"][:2])
            lateral = _unwrapped(positions, centre)
            assert 15.0 <= pdist(np.c_[lateral, positions[:, 2]]).max() <= 25.0
            assert np.allclose(lateral.mean(axis=0), centre)
            radius = np.hypot(*(lateral - centre).T).max()
            assert radius == pytest.approx(particle["radius"])
            if particle["on_axis"]:
                assert particle["tilt"] == 0.0
            else:
                assert 5.0 <= particle["tilt"] <= 15.0
            discs.append((centre, radius))
        for i, (a, ra) in enumerate(discs):  # projected discs keep the spacing, periodically
            for b, rb in discs[i + 1 :]:
                offset = (b - a) - np.array(CELL) * np.round((b - a) / np.array(CELL))
                assert np.hypot(*offset) >= ra + rb + 4.0 - 1e-9
        json.dumps(meta)
    assert len(set(counts)) > 1
    first, again = _scene(3, **SEVERAL), _scene(3, **SEVERAL)
    assert np.array_equal(first.atoms.positions, again.atoms.positions) and first.meta == again.meta


def test_substrate_only_scenes_label_nothing() -> None:
    kinds = set()
    for seed in range(6):
        scene = _scene(seed, empty_fraction=1.0, substrates=["carbon", "ceo2", "none"])
        assert scene.meta["empty"] and scene.meta["n_particles"] == 0
        assert not scene.labelled.any() and 79 not in scene.atoms.numbers
        assert scene.meta["substrate"] != "none" and len(scene.atoms) > 0
        kinds.add(scene.meta["substrate"])
    assert kinds == {"carbon", "ceo2"}


def test_holey_carbon_has_empty_holes() -> None:
    scene = _scene(1, empty_fraction=1.0, substrates=["holey_carbon"], holes=[2, 2],
                   hole_diameter=[30.0, 40.0])  # fmt: skip
    holes = scene.meta["holes"]
    assert len(holes) == 2 and all(30.0 <= d <= 40.0 for _, _, d in holes)
    carbon = scene.atoms.positions[:, :2]
    for x, y, d in holes:
        distance = np.hypot(*(_unwrapped(carbon, np.array([x, y])) - [x, y]).T)
        assert distance.min() >= d / 2
    plain = _scene(1, empty_fraction=1.0, substrates=["carbon"])
    assert len(scene.atoms) < 0.95 * len(plain.atoms)


def test_log_uniform_diameters_give_as_many_small_clusters_as_large_particles() -> None:
    rng = np.random.default_rng(0)
    log = np.array([draw(rng, (10.0, 80.0), "log_uniform") for _ in range(4000)])
    flat = np.array([draw(rng, (10.0, 80.0)) for _ in range(4000)])
    assert log.min() >= 10.0 and log.max() <= 80.0
    assert np.mean(log < 15.0) == pytest.approx(np.log(1.5) / np.log(8.0), abs=0.02)  # 0.19
    assert np.mean(flat < 15.0) == pytest.approx(5.0 / 70.0, abs=0.02)
    assert np.mean(log < 15.0) == pytest.approx(np.mean((log >= 40.0) & (log < 60.0)), abs=0.03)
    targets = [
        p["diameter_target"]
        for seed in range(4)
        for p in _scene(seed, **SEVERAL, diameter_draw="log_uniform").meta["particles"]
    ]
    assert targets and all(15.0 <= t <= 25.0 for t in targets)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"diameter": [15.0, 88.0]}, "au_scene: a particle of diameter up to 88.0 Å with spacing "
         "5.0 Å needs a cell of 93.0 Å; the cell is 90.0 x 90.0 Å"),
        ({"substrates": ["none"]}, "au_scene.substrates: substrate-only scenes (empty_fraction "
         "0.25) need a substrate other than 'none', got ['none']"),
        ({"particles": [1.5, 3]}, "au_scene.particles: range [1.5, 3.0] must be whole numbers"),
        ({"empty_fraction": 1.5}, "au_scene.empty_fraction: 1.5 must lie within [0.0, 1.0]"),
        ({"diameter_draw": "normal"}, "au_scene.diameter_draw: 'normal' is not one of "
         "['uniform', 'log_uniform']"),
    ],
)  # fmt: skip
def test_impossible_scene_params_are_one_clear_error(params, message) -> None:
    with pytest.raises(StructureError) as error:
        _scene(0, **params)
    assert str(error.value) == message


def test_frames_keep_their_particles_inside_the_edges() -> None:
    for seed in range(4):
        scene = _scene(seed, particles=[3, 3], empty_fraction=0.0, spacing=6.0, wrap=False)
        for particle in scene.meta["particles"]:
            centre, radius = np.array(particle["centre"][:2]), particle["radius"]
            assert np.all(centre - radius >= 3.0 - 1e-9) and np.all(centre + radius <= 87.0 + 1e-9)
        positions = scene.atoms.positions[scene.labelled, :2]
        assert np.all((positions >= 3.0 - 1e-9) & (positions <= 87.0 + 1e-9))
