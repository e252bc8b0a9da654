"""Peak-pair ratio on synthetic lattices and on abTEM-simulated Au particles on and off zone axis."""

import numpy as np
import pytest
from hrtem_analysis.fourier import (
    alignment_map,
    clean_mask,
    cleaning_pixels,
    particle_ratios,
    particles,
    peak_pair_ratio,
)

SAMPLING = 0.1  # [Å/px]
N = 256
X = np.arange(N)[:, None] * SAMPLING
Y = np.arange(N)[None, :] * SAMPLING
# <110> zone of Au: two {111} pairs 70.5 degrees apart and a {200} pair between them.
ZONE_AXIS = [(0.0, 2.355), (70.53, 2.355), (125.26, 2.039)]


def fringes(waves: list[tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """Sum of unit cosines, one per (angle [deg], d-spacing [Å]), random phases; [N, N]."""
    image = np.zeros((N, N))
    for angle, d in waves:
        a = np.deg2rad(angle)
        phase = rng.uniform(0, 2 * np.pi)
        image += np.cos(2 * np.pi / d * (X * np.cos(a) + Y * np.sin(a)) + phase)
    return image


def disc(centre: tuple[float, float], radius: float) -> np.ndarray:
    return np.hypot(X - centre[0], Y - centre[1]) < radius


@pytest.mark.parametrize("waves", [ZONE_AXIS, ZONE_AXIS[:2]], ids=["three-pairs", "two-pairs"])
@pytest.mark.parametrize("noise", [0.5, 2.0])
def test_equal_pairs_give_ratio_near_one(waves, noise) -> None:
    rng = np.random.default_rng(0)
    mask = disc((12.8, 12.8), 9.0)
    image = fringes(waves, rng) * mask + rng.normal(0, noise, (N, N))
    result = peak_pair_ratio(image, mask, SAMPLING)
    assert result.status == "ok"
    assert len(result.pairs) == len(waves)
    assert result.ratio < 1.5
    for pair in result.pairs:  # partners are symmetric and lie at 1/d
        np.testing.assert_allclose(pair.k1, np.negative(pair.k2), atol=1e-9)
        assert min(abs(np.hypot(*pair.k1) - 1 / d) for _, d in waves) < 0.03


def test_one_pair_plus_noise_gives_large_ratio() -> None:
    rng = np.random.default_rng(1)
    mask = disc((12.8, 12.8), 9.0)
    image = fringes([(20.0, 2.355)], rng) * mask + rng.normal(0, 1.0, (N, N))
    result = peak_pair_ratio(image, mask, SAMPLING)
    assert result.ratio > 5
    assert result.status == "one pair"
    k = np.hypot(*result.pairs[0].k1)
    assert k == pytest.approx(1 / 2.355, abs=0.03)


def test_pairs_are_compared_within_the_brightest_family() -> None:
    """On <110> the {200} pair is dimmer than the two {111} pairs: still on axis (ratio ~1, not
    the ~9 of brightest over dimmest of any family). One {111} pair beside a weak {200} pair is
    one set of fringes of its family: off axis (inf)."""
    rng = np.random.default_rng(4)
    mask = disc((12.8, 12.8), 9.0)
    weak_200 = fringes(ZONE_AXIS[2:], rng) / 3.0  # a third of the amplitude: a ninth of the power
    on_axis = (fringes(ZONE_AXIS[:2], rng) + weak_200) * mask + rng.normal(0, 0.5, (N, N))
    result = peak_pair_ratio(on_axis, mask, SAMPLING)
    assert [p.d_spacing for p in result.pairs] == [2.355, 2.355, 2.039]
    assert result.pairs[0].intensity / result.pairs[-1].intensity > 5
    assert result.status == "ok" and result.ratio < 1.5
    tilted = (fringes(ZONE_AXIS[:1], rng) + weak_200) * mask + rng.normal(0, 0.5, (N, N))
    result = peak_pair_ratio(tilted, mask, SAMPLING)
    assert [p.d_spacing for p in result.pairs] == [2.355, 2.039]
    assert result.status == "one pair" and np.isinf(result.ratio)


def test_a_weak_extra_pair_of_the_family_does_not_hide_the_zone_axis() -> None:
    """Two equal {111} pairs (on <110>) and a weak third {111} pair, as a small twin domain or
    the substrate adds: brightest over next-brightest stays ~1 where brightest over dimmest was
    ~9 (the paper's rule, which sent on-axis twinned particles to ratios of 10-120)."""
    rng = np.random.default_rng(5)
    mask = disc((12.8, 12.8), 9.0)
    weak = fringes([(140.0, 2.355)], rng) / 3.0
    image = (fringes(ZONE_AXIS[:2], rng) + weak) * mask + rng.normal(0, 0.5, (N, N))
    result = peak_pair_ratio(image, mask, SAMPLING)
    assert [p.d_spacing for p in result.pairs] == [2.355] * 3
    assert result.pairs[0].intensity / result.pairs[-1].intensity > 5
    assert result.status == "ok" and result.ratio < 1.5


def test_a_111_zone_axis_is_seen_in_its_220_fringes() -> None:
    """<111> shows no {111} or {200} fringes, three {220} pairs 60 degrees apart: on axis."""
    rng = np.random.default_rng(6)
    mask = disc((12.8, 12.8), 9.0)
    waves = [(angle, 1.442) for angle in (10.0, 70.0, 130.0)]
    image = fringes(waves, rng) * mask + rng.normal(0, 0.5, (N, N))
    result = peak_pair_ratio(image, mask, SAMPLING)
    assert [p.d_spacing for p in result.pairs] == [1.442] * 3
    assert result.status == "ok" and result.ratio < 1.5
    tilted = fringes(waves[:1], rng) * mask + rng.normal(0, 0.5, (N, N))
    assert peak_pair_ratio(tilted, mask, SAMPLING).status == "one pair"


def test_no_particle_is_a_result_not_a_crash() -> None:
    image = np.random.default_rng(2).normal(size=(N, N))
    result = peak_pair_ratio(image, np.zeros((N, N), dtype=bool), SAMPLING)
    assert result.status == "no particle" and np.isnan(result.ratio) and result.pairs == []
    small = peak_pair_ratio(image, disc((5, 5), 0.3), SAMPLING, min_area=100)
    assert small.status == "no particle"
    amorphous = peak_pair_ratio(image, disc((12.8, 12.8), 9.0), SAMPLING)
    assert amorphous.status == "no peaks" and np.isnan(amorphous.ratio)


def test_particles_label_components_above_min_area() -> None:
    probability = np.zeros((N, N), dtype=np.float32)
    probability[disc((5, 5), 3)] = 0.9
    probability[disc((20, 20), 3)] = 0.7
    probability[disc((20, 5), 0.2)] = 0.9  # a few pixels: dropped
    labels, n = particles(probability, min_area=50)
    assert n == 2
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[50, 50] != labels[200, 200] and labels[200, 50] == 0


def test_cleaning_fills_holes_opens_bridges_and_drops_small_particles() -> None:
    ring = disc((10, 10), 4) & ~disc((10, 10), 1.5)  # a particle with a missed core
    labels, n = particles(ring, min_area=50)
    assert n == 1 and (labels > 0).sum() == disc((10, 10), 4).sum()
    assert (particles(ring, min_area=50, fill_holes=False)[0] > 0).sum() == ring.sum()
    pair = disc((6, 12), 3) | disc((14, 12), 3)
    pair[:, 118:122] |= (X > 6) & (X < 14)  # a 0.4 Å bridge between two discs
    assert particles(pair)[1] == 1
    assert particles(pair, opening=5)[1] == 2  # a disc of 5 px (0.5 Å) cuts it
    assert (clean_mask(pair, opening=5) == (disc((6, 12), 3) | disc((14, 12), 3))).mean() > 0.99
    assert cleaning_pixels(1.0, 0.5, SAMPLING) == (10000, 5.0)  # 1 nm^2 at 0.01 Å^2/px
    assert cleaning_pixels(1.0, 0.0, (0.2, 0.25)) == (2000, 0.0)


def test_alignment_map_scales_each_particle_by_its_alignment() -> None:
    rng = np.random.default_rng(3)
    on_axis, off_axis = disc((6.4, 6.4), 5.5), disc((19.2, 19.2), 5.5)
    image = fringes(ZONE_AXIS, rng) * on_axis + fringes([(30.0, 2.039)], rng) * off_axis
    image += rng.normal(0, 0.5, (N, N))
    probabilities = np.stack([1.0 - 0.95 * (on_axis | off_axis), 0.95 * (on_axis | off_axis)])
    labels, results = particle_ratios(image, probabilities[1], SAMPLING)
    assert [r.status for r in results] == ["ok", "one pair"]
    assert labels[64, 64] == 1 and labels[192, 192] == 2
    figure = alignment_map(probabilities, image, SAMPLING)
    assert figure.shape == (N, N)
    assert figure[64, 64] == pytest.approx(0.95 / results[0].ratio)
    assert figure[64, 64] > 0.6
    assert figure[off_axis].max() == 0 and figure[~(on_axis | off_axis)].max() == 0


def simulated_au_particle(tilt: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """HR-TEM image of a ~2 nm Au truncated octahedron, <110> zone axis tilted by ``tilt`` [deg]
    about [001] (which keeps only the {200} fringes), 300 kV, 50 Å underfocus (defocus = -C10)."""
    import abtem
    from ase.cluster import Octahedron
    from scipy.spatial import cKDTree

    atoms = Octahedron("Au", 8, cutoff=2)
    atoms.positions -= atoms.positions.mean(axis=0)
    atoms.rotate(tilt, "z")  # about the crystal's [001]
    atoms.rotate([1, 1, 0], "z")  # beam along (tilted) [110]
    atoms.cell = [30.0, 30.0, 30.0]
    atoms.center()
    potential = abtem.Potential(atoms, sampling=0.1, slice_thickness=2, projection="infinite")
    wave = abtem.PlaneWave(energy=300e3).multislice(potential)
    image = wave.apply_ctf(abtem.CTF(defocus=50, energy=300e3)).intensity().compute().array
    sampling = wave.sampling
    ix, iy = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
    pixels = np.stack([ix * sampling[0], iy * sampling[1]], axis=-1).reshape(-1, 2)
    distance, _ = cKDTree(atoms.positions[:, :2]).query(pixels)
    return image, (distance < 1.5).reshape(image.shape), sampling


def test_simulated_au_on_axis_ratio_lower_than_off_axis() -> None:
    on = peak_pair_ratio(*simulated_au_particle(0.0))
    off = peak_pair_ratio(*simulated_au_particle(12.0))
    assert on.status == "ok" and len(on.pairs) >= 3
    assert on.ratio < 1.5
    assert off.ratio > 5 * on.ratio
