"""Zone axes named from the spot geometry: synthetic lattices of each fcc zone, a tilted crystal
(one set of fringes) and twinned patterns, through the same spot finder the ratio uses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hrtem_analysis.fourier import PeakPair, peak_pair_ratio
from hrtem_analysis.settings import AU_D_SPACINGS
from hrtem_analysis.zone_naming import (
    AU_LATTICE,
    column_spacing,
    directions,
    family,
    name_zone,
    on_zone,
)

_spec = importlib.util.spec_from_file_location(
    "fourier_tests", Path(__file__).with_name("test_fourier.py")
)
fourier_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fourier_tests)
D111, D200, D220 = AU_D_SPACINGS

PATTERNS = {
    "<110>": [(0.0, D111), (70.53, D111), (125.26, D200), (35.26, D220)],
    "<100>": [(10.0, D200), (100.0, D200), (55.0, D220), (145.0, D220)],
    "<111>": [(10.0, D220), (70.0, D220), (130.0, D220)],
    "off axis": [(30.0, D111)],  # tilted: one set of fringes survives
    "twinned": [(a, D111) for a in (0.0, 36.0, 72.0, 108.0, 144.0)],  # a decahedron's domains
}


def pairs_of(waves: list[tuple[float, float]], seed: int = 0) -> list[PeakPair]:
    """The spot pairs the peak-pair ratio finds in a particle showing ``waves``."""
    rng = np.random.default_rng(seed)
    mask = fourier_tests.disc((12.8, 12.8), 10.0)
    image = fourier_tests.fringes(waves, rng) * mask + rng.normal(0, 0.5, mask.shape)
    return peak_pair_ratio(image, mask, fourier_tests.SAMPLING, AU_D_SPACINGS).pairs


def test_d_spacings_are_indexed_against_the_fcc_lattice() -> None:
    assert [family(d) for d in AU_D_SPACINGS] == ["111", "200", "220"]
    assert family(3.1) is None and family(2.355, lattice=3.61) is None  # Cu's lattice


@pytest.mark.parametrize("zone", PATTERNS)
@pytest.mark.parametrize("seed", [0, 1])
def test_each_pattern_is_named(zone: str, seed: int) -> None:
    assert name_zone(pairs_of(PATTERNS[zone], seed)) == zone


def test_pairs_of_one_family_at_an_angle_no_zone_has_are_twinned() -> None:
    assert name_zone(pairs_of([(0.0, D111), (40.0, D111)])) == "twinned"
    # two single-crystal zones in one particle: <110> and <100> domains
    assert name_zone(pairs_of([*PATTERNS["<110>"][:2], (20.0, D200), (110.0, D200)])) == "twinned"


def test_a_direction_found_twice_counts_once() -> None:
    pair = PeakPair(k1=(1 / D111, 0.0), k2=(-1 / D111, 0.0), intensity=1.0, d_spacing=D111)
    near = PeakPair(k1=(1 / D111, 0.02), k2=(-1 / D111, -0.02), intensity=0.5, d_spacing=D111)
    assert len(directions([pair, near])["111"]) == 1
    assert name_zone([pair, near]) == "off axis" and name_zone([]) == "off axis"
    assert AU_LATTICE == pytest.approx(D111 * 3**0.5, abs=0.01)


def _pair(angle: float, d: float, intensity: float) -> PeakPair:
    k = (np.cos(np.deg2rad(angle)) / d, np.sin(np.deg2rad(angle)) / d)
    return PeakPair(k1=k, k2=(-k[0], -k[1]), intensity=intensity, d_spacing=d)


def test_a_zone_s_pairs_must_be_about_as_bright_else_the_crystal_is_tilted() -> None:
    """On <110> the two {111} pairs are symmetry-equivalent; tipped off it, one fades."""
    assert name_zone([_pair(0.0, D111, 1.0), _pair(70.53, D111, 0.8)]) == "<110>"
    assert name_zone([_pair(0.0, D111, 1.0), _pair(70.53, D111, 0.3)]) == "off axis"
    assert name_zone([_pair(0.0, D111, 1.0), _pair(70.53, D111, 0.3)], balance=0.25) == "<110>"
    assert (
        name_zone([_pair(0.0, D111, 1.0), _pair(40.0, D111, 0.3)]) == "twinned"
    )  # no zone's angle


def test_frames_are_selected_by_the_zone_s_name_and_twins_by_their_ratio() -> None:
    assert on_zone("<110>", float("inf"), 3.17)  # a single crystal goes by its spots
    assert not on_zone("off axis", 1.0, 3.17)
    assert on_zone("twinned", 1.2, 3.17) and not on_zone("twinned", 5.0, 3.17)
    assert not on_zone("twinned", float("nan"), 3.17) and not on_zone(None, 1.0, 3.17)


SIMULATED = [
    ("truncated_octahedron", "110", 0.0, "<110>"),
    ("truncated_octahedron", "100", 0.0, "<100>"),
    ("truncated_octahedron", "111", 0.0, "<111>"),
    ("truncated_octahedron", "110", 12.0, "off axis"),
    ("decahedron", "110", 0.0, "twinned"),  # along its five-fold axis
    ("icosahedron", "110", 0.0, "twinned"),
]


@pytest.mark.parametrize(("shape", "zone_axis", "tilt", "named"), SIMULATED)
def test_simulated_particles_are_named_by_their_spots(shape, zone_axis, tilt, named) -> None:
    """abTEM simulations of 3 nm Au particles on 10 Å of carbon at 5000 e-/Å^2, true masks."""
    from hrtem_sim.frames import Microscope, simulate_frame
    from hrtem_sim.structures import build_structure
    from hrtem_sim.structures.gold import AuParticleParams

    params = AuParticleParams(
        diameter=[28.0, 36.0], shapes=[shape], zone_axes=[zone_axis], tilt=[tilt, tilt],
        substrates=["carbon"], substrate_thickness=[10.0, 10.0],
    )  # fmt: skip
    structure = build_structure("au_particle", params, (56.0, 56.0), np.random.default_rng(1))
    frame = simulate_frame(structure, Microscope(dose=5000.0), seed=1)
    result = peak_pair_ratio(frame.image, frame.mask, frame.sampling, AU_D_SPACINGS)
    assert name_zone(result.pairs) == named


@pytest.mark.parametrize("zone", ["110", "100", "111"])
def test_column_spacing_is_the_projected_crystal_s(zone: str) -> None:
    from hrtem_msd.nets.points import spacing
    from hrtem_sim.columns import group_columns
    from hrtem_sim.structures.au_shapes import au_cluster, zone_direction
    from hrtem_sim.structures.orientation import direction_to_z

    cluster = au_cluster(
        "truncated_octahedron", 30.0, 20.0, 40.0, AU_LATTICE, np.random.default_rng(0)
    )
    rotation = direction_to_z(zone_direction("truncated_octahedron", zone))
    projected = rotation.apply(cluster.positions)[:, :2] + 100.0
    numbers = np.full(len(projected), 79)
    columns = group_columns(projected, numbers, "particle", (200.0, 200.0), tolerance=0.3)
    assert spacing(columns.positions) == pytest.approx(column_spacing(f"<{zone}>"), rel=0.01)
    assert column_spacing("twinned") == column_spacing("<110>")
    assert np.isnan(column_spacing("off axis"))
