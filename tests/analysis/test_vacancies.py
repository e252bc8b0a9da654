"""Sulphur-vacancy counting on species maps of MoS2 layers and flakes with known vacancies: only S
sites with their whole Mo neighbourhood in the lattice and in the frame count, so frame edges,
flake edges and holes add none, and the counted area makes the density right."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import mx2
from hrtem_analysis.vacancies import count_vacancies, counted_region, species_columns
from hrtem_core.errors import ImageError
from hrtem_sim import build_structure, group_columns
from hrtem_sim.structures import MoS2FlakeParams, MoS2Params
from scipy.spatial import cKDTree

SAMPLING = 0.1  # [Å/px]
FRAME = (250, 250)  # [px], 25 x 25 Å
FLAKE = (2.0, 23.0)  # columns kept with x and y (Å) in this range: a flake with edges
A = 3.18  # ase's MoS2 lattice constant [Å]
BORDER = 1.0  # [Å], count_vacancies' default


def cell_area(a: float) -> float:
    """[nm^2] of one unit cell (one Mo, one S site)."""
    return np.sqrt(3) / 2 * a**2 / 100


def species_probabilities(
    xy: np.ndarray, classes: np.ndarray, shape: tuple[int, int] = FRAME, sigma: float = 0.3
) -> np.ndarray:
    """Softmax probabilities [4, H, W] with a Gaussian logit bump per column of its class (columns
    whose centre lies outside the frame show the part of their bump inside it)."""
    logits = np.zeros((4, *shape))
    logits[0] = 0.5
    reach = int(np.ceil(3 * sigma / SAMPLING))
    for (x, y), c in zip(xy / SAMPLING, classes, strict=True):
        i0, j0 = max(0, int(x) - reach), max(0, int(y) - reach)
        i1, j1 = min(shape[0], int(x) + reach + 2), min(shape[1], int(y) + reach + 2)
        if i0 >= i1 or j0 >= j1:
            continue
        ix, iy = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
        bump = 8 * np.exp(-((ix - x) ** 2 + (iy - y) ** 2) / (2 * (sigma / SAMPLING) ** 2))
        logits[c, i0:i1, j0:j1] = np.maximum(logits[c, i0:i1, j0:j1], bump)
    e = np.exp(logits - logits.max(axis=0))
    return e / e.sum(axis=0)


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


def interior_sulphur(xy: np.ndarray, classes: np.ndarray, margin: float = 4.0) -> np.ndarray:
    inside = np.all((xy > FLAKE[0] + margin) & (xy < FLAKE[1] - margin), axis=1)
    return np.flatnonzero(inside & (classes == 2))


def countable(
    sites: np.ndarray, mo: np.ndarray, a: float, extent: np.ndarray, border: float = BORDER
) -> np.ndarray:
    """The definition, from the true positions [Å]: three Mo at b, three at 2 b, and at least
    2 b + border inside the frame ``[0, extent]``."""
    b = a / np.sqrt(3)
    tree = cKDTree(mo)
    near = np.array([len(n) for n in tree.query_ball_point(sites, 1.1 * b)])
    shell = np.array([len(n) for n in tree.query_ball_point(sites, 2.1 * b)]) - near
    margin = 2 * b + border
    inside = np.all((sites >= margin) & (sites <= extent - margin), axis=1)
    return (near == 3) & (shell == 3) & inside


@pytest.mark.parametrize("rotation", [0.0, 17.0])
def test_perfect_flake_has_no_vacancies(rotation: float) -> None:
    xy, classes, _ = mos2_columns(rotation)
    count = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    assert (count.mo, count.s2, count.s1) == ((classes == 1).sum(), (classes == 2).sum(), 0)
    assert count.empty_sites == 0 and count.vacancies == 0 and count.density == 0
    extent = (np.array(FRAME) - 1) * SAMPLING
    expected = countable(xy[classes == 2], xy[classes == 1], A, extent)
    assert count.sites == expected.sum() > 10
    assert count.area == pytest.approx(count.sites * cell_area(A), rel=0.01)
    assert count.bond == pytest.approx(A / np.sqrt(3), abs=0.01)


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
    assert (count.s1_sites, count.empty_sites, count.vacancies) == (4, 3, 4 + 2 * 3)
    assert count.density == pytest.approx(10 / count.area)
    # The empty sites are where the columns were removed; positions in px, axis 0 = x.
    distance, _ = cKDTree(count.positions["empty"] * SAMPLING).query(xy[empty])
    assert distance.max() < 0.1
    distance, _ = cKDTree(count.positions["s1_sites"] * SAMPLING).query(xy[single])
    assert distance.max() < 0.05


def test_mo_taken_for_sulphur_next_to_a_vacancy_keeps_the_site_counted() -> None:
    """A real model most often calls the Mo around a vacancy S2: those are still columns of the
    lattice, so the vacancy stays in the counted region (demanding Mo there would drop exactly the
    sites with vacancies, and the density with them)."""
    xy, classes, _ = mos2_columns(0.0)
    chosen = interior_sulphur(xy, classes)[[0, 5]]
    classes = classes.copy()
    classes[chosen[0]] = 3  # an S1 column
    keep = np.ones(len(xy), dtype=bool)
    keep[chosen[1]] = False  # an empty site
    mo = np.flatnonzero(classes == 1)
    b = A / np.sqrt(3)
    around = mo[cKDTree(xy[chosen]).query(xy[mo])[0] < 1.1 * b]
    assert len(around) == 6
    classes[around[::2]] = 2  # half of them taken for S2 ...
    classes[around[1::2]] = 3  # ... the others for S1: none of a site's three nearest is Mo
    count = count_vacancies(species_probabilities(xy[keep], classes[keep]), SAMPLING)
    assert (count.s1_sites, count.empty_sites, count.vacancies) == (1, 1, 3)


def test_sulphur_taken_for_mo_adds_no_vacancy_at_the_hollows_it_predicts() -> None:
    """An S2 column the model calls Mo predicts "sites" at hollow centres, whose six Mo positions
    are S columns: the columns at their hollows (Mo) tell them apart, so no false empty site."""
    xy, classes, _ = mos2_columns(17.0)
    perfect = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    classes = classes.copy()
    classes[interior_sulphur(xy, classes)[:6]] = 1
    count = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    assert (count.vacancies, count.sites) == (0, perfect.sites)


def layer_columns(
    kind: str, params: MoS2Params, cell: tuple[float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Columns (xy [Å], classes 1 Mo / 2 S2 / 3 S1) of a generated layer or flake, and its meta."""
    structure = build_structure(kind, params, cell, np.random.default_rng(seed))
    atoms = structure.atoms
    found = group_columns(atoms.positions[:, :2], atoms.numbers, "mos2", tuple(cell))
    return found.positions, found.classes, structure.meta


def test_a_frame_cut_mid_lattice_with_no_vacancies_counts_0() -> None:
    """A perfect layer larger than the frame, cut by the frame's edges; the model misses the S
    columns within 1 Å of the edge (as a real model does: before, these became false vacancies
    in proportion to the frame's perimeter). No vacancy is counted, and the counted area is the
    lattice at least 2 b + border inside the frame."""
    xy, classes, meta = layer_columns("mos2", MoS2Params([0.0, 0.0]), (44.0, 44.0), seed=1)
    frame = np.array([300, 280])
    extent = (frame - 1) * SAMPLING
    xy = xy - [6.3, 7.1]  # the frame starts inside the layer
    edge_distance = np.min(np.concatenate([xy, extent - xy], axis=1), axis=1)
    missed = (classes > 1) & (edge_distance < 1.0)
    shown = (edge_distance > -1.0) & ~missed  # columns cut by the edge show their inner half
    assert missed.sum() > 20
    count = count_vacancies(
        species_probabilities(xy[shown], classes[shown], tuple(frame)), SAMPLING
    )
    assert (count.vacancies, count.empty_sites, count.s1_sites) == (0, 0, 0)
    a = meta["lattice_constant"]
    inside = countable(xy[classes == 2], xy[classes == 1], a, extent)
    assert count.sites == inside.sum()
    side = extent - 2 * count.margin  # the counted square, up to one row of cells per edge
    assert count.area == pytest.approx(np.prod(side) / 100, rel=0.12)
    assert count.margin == pytest.approx(2 * a / np.sqrt(3) + BORDER, abs=0.02)


FLAKE_PARAMS = {"flake_radius": [14.0, 16.0], "holes": [1, 1], "hole_radius": [4.0, 4.0]}


def test_a_flake_with_a_hole_counts_0_at_the_holes_edge() -> None:
    """A perfect flake with a hole, in vacuum; at the rims (flake edge and hole) the model calls
    every S column S1 or misses it. Those S sites lack Mo neighbours: none counts."""
    params = MoS2FlakeParams(s_vacancy_fraction=[0.0, 0.0], **FLAKE_PARAMS)
    xy, classes, meta = layer_columns("mos2_flake", params, (40.0, 40.0), seed=5)
    assert len(meta["holes"]) == 1
    a = meta["lattice_constant"]
    mo = xy[classes == 1]
    neighbours = np.array([len(n) for n in cKDTree(mo).query_ball_point(xy, 2.1 * a / np.sqrt(3))])
    rim = (classes == 2) & (neighbours < 6)
    assert rim.sum() > 30
    classes = np.where(rim, 3, classes)
    shown = ~(rim & (np.arange(len(xy)) % 2 == 0))  # every other rim S column missed
    shape = (400, 400)
    count = count_vacancies(species_probabilities(xy[shown], classes[shown], shape), SAMPLING)
    assert count.s1 == (rim & shown).sum() > 0  # the model's S1 columns are there ...
    assert count.vacancies == 0  # ... but none is in the counted lattice
    inside = countable(xy[classes == 2], mo, a, (np.array(shape) - 1) * SAMPLING)
    assert count.sites == inside.sum() > 30


def test_vacancies_of_a_generated_flake_are_counted_exactly() -> None:
    """A flake with holes from hrtem_sim's generator (S1 columns and empty S sites at random), shown
    as a species map in a frame that cuts it: the count equals the generator's known vacancies at
    the S sites the definition counts, and the density is theirs over the counted area."""
    params = MoS2FlakeParams(
        s_vacancy_fraction=[0.05, 0.05], double_vacancy_fraction=[0.4, 0.4], **FLAKE_PARAMS
    )
    xy, classes, meta = layer_columns("mos2_flake", params, (40.0, 40.0), seed=8)
    shift = np.array([9.0, 4.0])  # the frame cuts the flake on two sides
    xy = xy - shift
    empty = np.array(meta["empty_sites"]) - shift
    sites = np.concatenate([xy[classes > 1], empty])
    lost = np.concatenate([classes[classes > 1] - 2, np.full(len(empty), 2)])  # S atoms lost
    shape = (360, 380)
    a = meta["lattice_constant"]
    counted = countable(sites, xy[classes == 1], a, (np.array(shape) - 1) * SAMPLING)
    expected = lost[counted].sum()
    assert (lost[counted] == 1).sum() > 0 and (lost[counted] == 2).sum() > 0
    assert lost[~counted].sum() > 0  # vacancies outside the counted region exist: not counted

    count = count_vacancies(species_probabilities(xy, classes, shape), SAMPLING)
    assert (count.s1_sites, count.empty_sites) == (
        (lost[counted] == 1).sum(),
        (lost[counted] == 2).sum(),
    )
    assert count.vacancies == expected and count.sites == counted.sum()
    assert count.density == pytest.approx(expected / (counted.sum() * cell_area(a)), rel=0.01)


def test_the_counted_region_covers_the_counted_sites_only() -> None:
    xy, classes, _ = mos2_columns(0.0)
    count = count_vacancies(species_probabilities(xy, classes), SAMPLING)
    region = counted_region(count, FRAME, SAMPLING)
    pixel_area = SAMPLING**2 / 100
    assert region.sum() * pixel_area == pytest.approx(count.area, rel=0.15)
    sites = np.round(count.positions["sites"]).astype(int)
    assert region[sites[:, 0], sites[:, 1]].all()
    assert not region[:20].any() and not region[:, -20:].any()  # the margin stays out


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
    assert (count.mo, count.sites, count.vacancies, count.area) == (0, 0, 0, 0.0)
    assert np.isnan(count.density) and np.isnan(count.margin)
    assert not counted_region(count, (32, 32), SAMPLING).any()
