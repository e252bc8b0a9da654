"""Exit waves: FFT-friendly grids, abTEM's frame kept, labels on the atoms, frozen phonons."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from ase.build import mx2
from hrtem_sim.multislice import exit_wave, fft_friendly, grid_points
from hrtem_sim.simulate import make_sample
from hrtem_sim.spec import SimulationSpec, load_spec
from hrtem_sim.types import Sample, Structure

SPECS = Path(__file__).parents[2] / "data_specs"
SIM = SimulationSpec(energy=80e3, sampling=0.15)


def on_peaks(sample: Sample, shift: tuple[float, float] = (0.0, 0.0)) -> float:
    """Fraction of labelled columns (moved by ``shift`` [Å]) within 1 px of a local maximum of
    |psi - <psi>| (maximum over 5 x 5 px). The phase is no use: it wraps on heavy columns."""
    psi = sample.exit_wave
    contrast = np.abs(psi - psi.mean())
    peaks = ndi.maximum_filter(contrast, size=5, mode="wrap") == contrast
    near_peak = ndi.maximum_filter(peaks, size=3, mode="wrap")
    pixels = np.round((sample.columns.positions + shift) / sample.sampling).astype(int) % psi.shape
    return float(near_peak[pixels[:, 0], pixels[:, 1]].mean())


def test_fft_friendly_grids() -> None:
    assert [fft_friendly(n) for n in (1, 487, 974, 1000, 1021)] == [1, 490, 980, 1000, 1024]
    assert grid_points((48.7, 16.0), 0.05) == (980, 320)


def test_mos2_labels_sit_on_the_columns() -> None:
    spec = load_spec(SPECS / "mos2.yaml", "tiny")
    sample = make_sample(spec, 0)
    assert set(sample.columns.classes) >= {1, 2}
    assert on_peaks(sample) >= 0.95
    assert on_peaks(sample, shift=(0.7, 0.4)) < 0.5  # the check can fail


@pytest.mark.parametrize("zone_axis", ["110", "100", "111"])
def test_au_particle_labels_sit_on_the_columns(zone_axis: str) -> None:
    spec = load_spec(SPECS / "columns.yaml", "tiny")
    params = dataclasses.replace(
        spec.structure.params, zone_axes=[zone_axis], shapes=["fcc_random"]
    )
    spec = dataclasses.replace(spec, structure=dataclasses.replace(spec.structure, params=params))
    sample = make_sample(spec, 0)
    assert sample.meta["zone_axis"] == zone_axis and sample.meta["tilt"] == 0.0
    assert len(sample.columns) >= 10
    assert on_peaks(sample) >= 0.95
    assert on_peaks(sample, shift=(0.7, 0.4)) < 0.5


def test_exit_wave_keeps_abtem_frame_and_wraps_atoms() -> None:
    atoms = mx2("MoS2", vacuum=3.0)  # hexagonal cell: abTEM would orthogonalise it
    atoms = atoms.repeat((3, 3, 1))
    atoms.positions[:, 0] -= 1.0  # some atoms outside the cell
    labelled = atoms.numbers == 42
    wave = exit_wave(Structure(atoms, labelled), SIM)
    cell = np.diag(np.asarray(wave.atoms.cell))[:2]
    assert wave.array.dtype == np.complex64
    assert wave.array.shape == tuple(fft_friendly(int(np.ceil(c / 0.15))) for c in cell)
    np.testing.assert_allclose(wave.sampling, cell / wave.array.shape)
    flags = wave.atoms.arrays["labelled"]
    assert len(wave.atoms) == 2 * len(atoms)  # the orthogonal cell holds two hexagonal ones
    assert flags.sum() == 2 * labelled.sum() and set(wave.atoms.numbers[flags]) == {42}
    assert np.all((wave.atoms.positions >= 0) & (wave.atoms.positions < np.diag(wave.atoms.cell)))


def test_frozen_phonons_are_seeded_and_averaged() -> None:
    atoms = mx2("MoS2", vacuum=3.0).repeat((2, 2, 1))
    structure = Structure(atoms, np.ones(len(atoms), bool))
    plain = exit_wave(structure, SIM)
    sim = dataclasses.replace(
        SIM, frozen_phonons=dataclasses.replace(SIM.frozen_phonons, num_configs=2, sigma=0.1)
    )
    a, b, c = (
        exit_wave(structure, sim, 1),
        exit_wave(structure, sim, 1),
        exit_wave(structure, sim, 2),
    )
    assert a.array.shape == plain.array.shape and a.array.dtype == np.complex64
    np.testing.assert_array_equal(a.array, b.array)
    assert not np.allclose(a.array, c.array, atol=1e-3)
    assert not np.allclose(a.array, plain.array, atol=1e-3)
    np.testing.assert_array_equal(a.atoms.positions, plain.atoms.positions)  # labels: undisplaced
