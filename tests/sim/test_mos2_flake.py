"""MoS2 flakes with holes (kind mos2_flake): the plain layer cut to a hexagon minus discs, with the
vacancies of the sites left in the flake known, and the plain kind's specs keeping their hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hrtem_sim import build_structure, group_columns, load_spec, spec_hash
from hrtem_sim.errors import StructureError
from hrtem_sim.structures import MoS2FlakeParams, MoS2Params
from scipy.spatial import cKDTree

SPECS = Path(__file__).resolve().parents[2] / "data_specs"
CELL = (60.0, 60.0)
LAYER = {"s_vacancy_fraction": [0.06, 0.06], "double_vacancy_fraction": [0.4, 0.4]}


def flake(seed: int = 3, **params: object):
    flake_params = MoS2FlakeParams(**{**LAYER, "holes": [2, 2], **params})
    return build_structure("mos2_flake", flake_params, CELL, np.random.default_rng(seed))


def test_the_flake_is_the_layer_of_the_same_seed_cut_to_a_hexagon_with_holes() -> None:
    layer = build_structure("mos2", MoS2Params(**LAYER), CELL, np.random.default_rng(3))
    cut = flake()
    size = cut.atoms.cell.lengths()[:2]
    kept = cut.atoms.positions
    distance, _ = cKDTree(layer.atoms.positions).query(kept)
    assert distance.max() < 1e-9 and 0.3 * len(layer.atoms) < len(kept) < 0.9 * len(layer.atoms)
    offset = kept[:, :2] - size / 2
    angles = np.deg2rad(30.0 + 60.0 * np.arange(6))
    reach = offset @ np.stack([np.cos(angles), np.sin(angles)])
    assert np.all(reach <= np.array(cut.meta["flake_edges"]) + 1e-9)
    assert len(cut.meta["holes"]) == 2
    for x, y, radius in cut.meta["holes"]:
        assert np.hypot(kept[:, 0] - x, kept[:, 1] - y).min() > radius
        assert 3.0 <= radius <= 6.0
    assert all(15.0 <= edge <= 25.0 for edge in cut.meta["flake_edges"])


def test_the_vacancies_of_the_flake_are_those_of_its_sites() -> None:
    structure = flake()
    meta, atoms = structure.meta, structure.atoms
    columns = group_columns(
        atoms.positions[:, :2], atoms.numbers, "mos2", tuple(atoms.cell.lengths()[:2])
    )
    counts = np.bincount(columns.classes, minlength=4)
    assert counts.tolist() == [0, meta["n_mo"], meta["n_s2_columns"], meta["n_s1_columns"]]
    assert meta["n_s1_columns"] > 0 and meta["n_s_empty_columns"] > 0
    assert meta["n_s_vacancies"] == meta["n_s1_columns"] + 2 * meta["n_s_empty_columns"]
    empty = np.array(meta["empty_sites"])
    assert len(empty) == meta["n_s_empty_columns"]
    # An empty site is an S site of the flake: three Mo at a / sqrt(3), no S column on it.
    b = meta["lattice_constant"] / np.sqrt(3)
    mo = columns.positions[columns.classes == 1]
    sulphur = columns.positions[columns.classes > 1]
    assert all(len(n) == 3 for n in cKDTree(mo).query_ball_point(empty, r=1.05 * b))
    assert cKDTree(sulphur).query(empty)[0].min() > 0.9 * b


def test_a_plain_layer_has_no_flake_and_plain_specs_keep_their_hash() -> None:
    structure = build_structure("mos2", MoS2Params(**LAYER), CELL, np.random.default_rng(3))
    assert "flake_edges" not in structure.meta and structure.meta["kind"] == "mos2"
    assert structure.meta["n_s_empty_columns"] == len(structure.meta["empty_sites"])
    # The hashes of data_specs/mos2.yaml from before flakes existed: no re-simulation.
    hashes = {p: spec_hash(load_spec(SPECS / "mos2.yaml", profile=p)) for p in ("tiny", "small")}
    assert hashes == {"tiny": "7b131413d4a0", "small": "4eca086e7917"}


def test_bad_flake_params_are_one_clear_error() -> None:
    with pytest.raises(
        StructureError, match=r"^mos2_flake\.hole_radius: range \[1\.0, 4\.0\] must"
    ):
        flake(hole_radius=[1.0, 4.0])
