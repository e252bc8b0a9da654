"""hrtem_sim.columns: periodic single-linkage grouping of projected atoms, and column classes."""

import numpy as np
import pytest
from hrtem_sim.columns import COLUMN_CLASSES, group_columns
from hrtem_sim.errors import StructureError

CELL = (20.0, 30.0)


def test_a_column_split_by_the_boundary_is_one_column_at_its_periodic_mean():
    positions = np.array([[0.1, 5.0], [19.9, 5.2], [19.8, 29.9], [0.2, 0.1], [10.0, 15.0]])
    columns = group_columns(positions, np.full(5, 79), "particle", CELL)
    assert len(columns) == 3
    assert sorted(columns.counts.tolist()) == [1, 2, 2]
    # x: 0.1 and 19.9 average to 0.0 (not 10.0); the corner pair averages to (0.0, 0.0).
    pairs = columns.positions[columns.counts == 2]
    assert np.allclose(
        np.minimum(pairs, np.array(CELL) - pairs), [[0.0, 0.0], [0.0, 5.1]], atol=1e-9
    )
    assert np.allclose(columns.positions[columns.counts == 1], [[10.0, 15.0]])
    assert np.all((columns.positions >= 0) & (columns.positions < CELL))


def test_positions_outside_the_cell_are_wrapped_and_single_linkage_chains():
    # A chain with 0.4 Å steps spans 1.2 Å > tolerance, yet is one column (single linkage).
    chain = np.array([[5.0, 5.0], [5.4, 5.0], [5.8, 5.0], [6.2, 5.0]]) + np.array([40.0, -60.0])
    apart = np.array([[12.0, 5.0], [12.6, 5.0]])  # 0.6 Å > 0.5 Å: two columns
    columns = group_columns(np.concatenate([chain, apart]), np.full(6, 79), "particle", CELL)
    assert columns.counts.tolist() == [4, 1, 1]
    assert np.allclose(columns.positions, [[5.6, 5.0], [12.0, 5.0], [12.6, 5.0]])
    assert columns.classes.tolist() == [1, 1, 1]
    assert columns.positions.dtype == np.float64 and columns.counts.dtype == np.int64
    assert columns.classes.dtype == np.int64


def test_tolerance_sets_the_linking_distance():
    positions = np.array([[1.0, 1.0], [1.7, 1.0]])
    assert len(group_columns(positions, [79, 79], "particle", CELL, tolerance=0.5)) == 2
    assert len(group_columns(positions, [79, 79], "particle", CELL, tolerance=0.8)) == 1


def test_mos2_scheme_classes_mo_s2_s1():
    positions = np.array([[1.0, 1.0], [5.0, 5.0], [5.0, 5.0], [9.0, 9.0]])
    numbers = np.array([42, 16, 16, 16])
    columns = group_columns(positions, numbers, "mos2", CELL)
    names = [COLUMN_CLASSES["mos2"][c] for c in columns.classes]
    assert names == ["Mo", "S2", "S1"]
    assert columns.counts.tolist() == [1, 2, 1]


def test_empty_input_gives_no_columns():
    columns = group_columns(np.zeros((0, 2)), np.zeros(0, int), "mos2", CELL)
    assert len(columns) == 0 and columns.positions.shape == (0, 2)


def test_unknown_scheme_is_one_clear_error():
    with pytest.raises(StructureError) as error:
        group_columns(np.zeros((1, 2)), [79], "atoms", CELL)
    assert str(error.value) == "unknown column scheme 'atoms'; known: mos2, particle"


def test_mos2_scheme_rejects_other_elements():
    with pytest.raises(StructureError) as error:
        group_columns(np.zeros((2, 2)), [42, 79], "mos2", CELL)
    assert str(error.value) == (
        "column scheme 'mos2' takes only Mo (42) and S (16) atoms; got atomic numbers [79]"
    )


def test_bad_shapes_and_cell_are_errors():
    with pytest.raises(StructureError, match=r"positions \[N, 2\] and numbers \[N\]; got \(3, 3\)"):
        group_columns(np.zeros((3, 3)), [79] * 3, "particle", CELL)
    with pytest.raises(
        StructureError, match=r"positive cell .* got cell=\(0.0, 5.0\), tolerance=0.5"
    ):
        group_columns(np.zeros((1, 2)), [79], "particle", (0.0, 5.0))
