"""Sulphur-vacancy counting on species maps of MoS2 flakes (ase.build.mx2) with known vacancies."""

import numpy as np
import pytest
from ase.build import mx2
from hrtem_analysis.vacancies import count_vacancies, species_columns
from hrtem_core.errors import ImageError
from scipy.spatial import cKDTree

SAMPLING = 0.1  # [Å/px]
FRAME = (250, 250)  # [px], 25 x 25 Å
FLAKE = (2.0, 23.0)  # columns kept with x and y (Å) in this range: a flake with edges
CELL_AREA = 1.5 * np.sqrt(3) * (3.18 / np.sqrt(3)) ** 2 / 100  # [nm^2] per Mo


def mos2_columns(rotation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected columns of a MoS2 flake: (xy [M, 2] Å, class [M] (1 Mo, 2 S2), S atoms per column)."""
    atoms = mx2("MoS2", size=(24, 24, 1))
    atoms.positions[:, :2] -= atoms.positions[:, :2].mean(axis=0)
    atoms.rotate(rotation, "z")
    atoms.positions[:, :2] += 12.5
    xy = np.round(atoms.positions[:, :2], 3)
    columns, index = np.unique(xy, axis=0, return_inverse=True)
    is_mo = np.zeros(len(columns), dtype=bool)
    is_mo[index[np.asarray(atoms.symbols) == "Mo"]] = True
    inside = np.all((columns >= FLAKE[0]) & (columns <= FLAKE[1]), axis=1)
    s_count = np.bincount(index, minlength=len(columns)) * ~is_mo
    return columns[inside], np.where(is_mo, 1, 2)[inside], s_count[inside]


def species_probabilities(xy: np.ndarray, classes: np.ndarray, sigma: float = 0.3) -> np.ndarray:
    """Softmax probabilities [4, H, W] with a Gaussian logit bump per column of its class."""
    ix, iy = np.meshgrid(np.arange(FRAME[0]), np.arange(FRAME[1]), indexing="ij")
    logits = np.zeros((4, *FRAME))
    logits[0] = 0.5
    for (x, y), c in zip(xy / SAMPLING, classes, strict=True):
        r2 = (ix - x) ** 2 + (iy - y) ** 2
        logits[c] = np.maximum(logits[c], 8 * np.exp(-r2 / (2 * (sigma / SAMPLING) ** 2)))
    e = np.exp(logits - logits.max(axis=0))
    return e / e.sum(axis=0)


def interior_sulphur(xy: np.ndarray, classes: np.ndarray, margin: float = 4.0) -> np.ndarray:
    inside = np.all((xy > FLAKE[0] + margin) & (xy < FLAKE[1] - margin), axis=1)
    return np.flatnonzero(inside & (classes == 2))


@pytest.mark.parametrize("rotation", [0.0, 17.0])
def test_perfect_flake_has_no_vacancies(rotation: float) -> None:
    xy, classes, _ = mos2_columns(rotation)
    count = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    assert (count.mo, count.s2, count.s1) == ((classes == 1).sum(), (classes == 2).sum(), 0)
    assert count.empty_sites == 0 and count.vacancies == 0 and count.density == 0
    assert count.area == pytest.approx(count.mo * CELL_AREA, rel=0.01)


@pytest.mark.parametrize("rotation", [0.0, 17.0])
def test_known_vacancies_are_counted(rotation: float) -> None:
    xy, classes, s_atoms = mos2_columns(rotation)
    assert set(s_atoms[classes == 2]) == {2}
    rng = np.random.default_rng(4)
    chosen = rng.choice(interior_sulphur(xy, classes), size=7, replace=False)
    single, empty = chosen[:4], chosen[4:]  # 4 columns lose one S, 3 lose both
    classes = classes.copy()
    classes[single] = 3
    keep = np.ones(len(xy), dtype=bool)
    keep[empty] = False
    count = count_vacancies(species_probabilities(xy[keep], classes[keep]), SAMPLING)
    assert (count.s1, count.empty_sites, count.vacancies) == (4, 3, 4 + 2 * 3)
    assert count.density == pytest.approx(10 / count.area)
    # The empty sites are where the columns were removed; positions in px, axis 0 = x.
    distance, _ = cKDTree(count.positions["empty"] * SAMPLING).query(xy[empty])
    assert distance.max() < 0.1
    distance, _ = cKDTree(count.positions["S1"] * SAMPLING).query(xy[single])
    assert distance.max() < 0.05


def test_species_columns_and_bad_shape() -> None:
    xy, classes, _ = mos2_columns(0.0)
    columns = species_columns(species_probabilities(xy, classes))
    assert set(columns) == {"Mo", "S2", "S1"}
    distance, _ = cKDTree(columns["Mo"] * SAMPLING).query(xy[classes == 1])
    assert distance.max() < 0.05
    with pytest.raises(ImageError, match=r"shape \(3, 8, 8\); expected \[4, H, W\]"):
        count_vacancies(np.zeros((3, 8, 8)), SAMPLING)


def test_a_column_split_between_species_counts_once_as_its_majority() -> None:
    """An S column whose pixels the model splits between S2 (most) and S1 (a crescent) is one
    column of species S2, not an S2 and an S1 column."""
    xy, classes, _ = mos2_columns(0.0)
    probabilities = species_probabilities(xy, classes)
    target = interior_sulphur(xy, classes)[0]
    ix, iy = np.meshgrid(np.arange(FRAME[0]), np.arange(FRAME[1]), indexing="ij")
    x, y = xy[target] / SAMPLING
    crescent = ((ix - x) ** 2 + (iy - y) ** 2 < 4**2) & (ix > x + 1)  # 1/3 of the column's disc
    probabilities[3][crescent], probabilities[2][crescent] = probabilities[2][crescent], 0.0
    assert (probabilities.argmax(axis=0)[crescent] == 3).all()
    count = count_vacancies(probabilities, SAMPLING)
    assert (count.s2, count.s1, count.vacancies) == ((classes == 2).sum(), 0, 0)


def test_empty_frame_counts_nothing() -> None:
    probabilities = np.zeros((4, 32, 32))
    probabilities[0] = 1.0
    count = count_vacancies(probabilities, SAMPLING)
    assert (count.mo, count.vacancies, count.area) == (0, 0, 0.0)
    assert np.isnan(count.density)


def test_vacancies_of_a_generated_mos2_layer_are_counted_exactly() -> None:
    """A layer from hrtem_sim's MoS2 generator (S1 columns and empty S sites at random), its
    columns grouped as the dataset labels them, shown as a species map: the count equals the
    vacancies known from the generator, on the flake cut out of it."""
    from hrtem_sim import build_structure, group_columns
    from hrtem_sim.structures import MoS2Params

    def columns(vacancies: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        params = MoS2Params(s_vacancy_fraction=[vacancies] * 2, double_vacancy_fraction=[0.4] * 2)
        structure = build_structure("mos2", params, (25.0, 25.0), np.random.default_rng(7))
        cell = tuple(structure.atoms.cell.lengths()[:2])
        found = group_columns(
            structure.atoms.positions[:, :2], structure.atoms.numbers, "mos2", cell
        )
        inside = np.all((found.positions >= FLAKE[0]) & (found.positions <= FLAKE[1]), axis=1)
        return found.positions[inside], found.classes[inside], found.counts[inside]

    xy, classes, _ = columns(0.08)
    perfect_xy, perfect_classes, _ = columns(0.0)  # same seed: same lattice, no vacancies
    mo = perfect_xy[perfect_classes == 1]
    s_sites = perfect_xy[perfect_classes != 1]
    present, _ = cKDTree(xy[classes != 1]).query(s_sites, distance_upper_bound=0.1)
    empty = np.isinf(present)
    predicted = np.array([len(n) for n in cKDTree(mo).query_ball_point(s_sites, r=2.0)]) == 3
    expected = (classes == 3).sum() + 2 * (empty & predicted).sum()
    assert (classes == 3).sum() > 0 and (empty & predicted).sum() > 0

    count = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    assert (count.s1, count.empty_sites) == ((classes == 3).sum(), (empty & predicted).sum())
    assert count.vacancies == expected, (count, expected)
