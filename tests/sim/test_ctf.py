"""`hrtem_sim.optics.apply_ctf` against abTEM's own CTF on a real MoS2 exit wave."""

from __future__ import annotations

import math

import abtem
import numpy as np
import pytest
import torch
from ase.build import mx2
from hrtem_core.errors import ImageError
from hrtem_sim.optics import apply_ctf
from hrtem_sim.optics.ctf import focal_quadrature

ENERGY = 80e3


@pytest.fixture(scope="module")
def exit_wave() -> tuple[np.ndarray, tuple[float, float]]:
    """A 2 x 1 orthogonal MoS2 cell at 80 kV: [H, W] complex64 and its sampling [Å/px]."""
    atoms = abtem.orthogonalize_cell(mx2("MoS2", vacuum=2)) * (2, 1, 1)
    potential = abtem.Potential(atoms, sampling=0.08, slice_thickness=1)
    waves = abtem.PlaneWave(energy=ENERGY).multislice(potential).compute(progress_bar=False)
    return waves.array, tuple(waves.sampling)


def abtem_intensity(wave: np.ndarray, sampling: tuple[float, float], **ctf: object) -> np.ndarray:
    waves = abtem.Waves(wave, energy=ENERGY, sampling=sampling)
    return (
        waves.apply_ctf(abtem.CTF(energy=ENERGY, **ctf))
        .intensity()
        .compute(progress_bar=False)
        .array
    )


def assert_close(ours: torch.Tensor, reference: np.ndarray) -> None:
    """Equal to 1e-4 relative (to the image's largest value, pixel by pixel)."""
    ours = ours.numpy()
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize(
    "params",
    [
        {"defocus": 50.0},
        {"defocus": -120.0, "Cs": -2e4, "focal_spread": 30.0},
        {"defocus": 300.0, "Cs": 1e5, "focal_spread": 60.0, "semiangle_cutoff": 25.0},
        {"defocus": 80.0, "Cs": 1e4, "astigmatism": 20.0, "astigmatism_angle": 0.7},
        {"defocus": 80.0, "Cs": 1e4, "astigmatism": 15.0, "astigmatism_angle": 2.0,
         "angular_spread": 0.5, "focal_spread": 40.0},
        {"defocus": -40.0, "semiangle_cutoff": 20.0, "soft": False},
    ],
)  # fmt: skip
def test_matches_abtem(exit_wave: tuple[np.ndarray, tuple[float, float]], params: dict) -> None:
    wave, sampling = exit_wave
    reference = abtem_intensity(wave, sampling, **params)
    ours = apply_ctf(
        torch.from_numpy(wave),
        sampling,
        ENERGY,
        defocus=params["defocus"],
        Cs=params.get("Cs", 0.0),
        astigmatism=params.get("astigmatism", 0.0),
        astigmatism_angle=params.get("astigmatism_angle", 0.0),
        focal_spread=params.get("focal_spread", 0.0),
        source_semiangle=params.get("angular_spread", 0.0),
        aperture=params.get("semiangle_cutoff", math.inf),
        soft_aperture=params.get("soft", True),
    )
    assert_close(ours, reference)


def test_focal_series_matches_abtem(exit_wave: tuple[np.ndarray, tuple[float, float]]) -> None:
    """A list of defocus values: one channel each, in the order given (abTEM labels them C10)."""
    wave, sampling = exit_wave
    series = [-60.0, 0.0, 60.0]
    reference = abtem_intensity(wave, sampling, defocus=series, Cs=2e4, focal_spread=25.0)
    ours = apply_ctf(torch.from_numpy(wave), sampling, ENERGY, series, Cs=2e4, focal_spread=25.0)
    assert_close(ours, reference)
    # The batch axis is kept in front of the channel axis.
    batch = apply_ctf(torch.from_numpy(np.stack([wave, wave])), sampling, ENERGY, series, Cs=2e4)
    assert batch.shape == (2, 3, *wave.shape)
    single = abtem_intensity(wave, sampling, defocus=60.0, Cs=2e4)
    assert_close(batch[1, 2], single)


def test_quadrature_is_the_defocus_average(
    exit_wave: tuple[np.ndarray, tuple[float, float]],
) -> None:
    """The incoherent option sums abTEM images over Gauss-Hermite defocus values; unlike the
    envelope (applied to the wave, as abTEM does), it conserves the mean intensity."""
    wave, sampling = exit_wave
    defocus, spread, points = 70.0, 40.0, 5
    nodes, weights = focal_quadrature(points)
    assert weights.sum() == pytest.approx(1.0)
    reference = sum(
        w * abtem_intensity(wave, sampling, defocus=defocus + spread * x, Cs=1e4)
        for x, w in zip(nodes, weights, strict=True)
    )
    common = {"Cs": 1e4, "focal_spread": spread}
    quadrature = apply_ctf(
        torch.from_numpy(wave), sampling, ENERGY, defocus, **common, temporal="quadrature",
        quadrature_points=points,
    )  # fmt: skip
    assert_close(quadrature, reference)
    mean_intensity = float(np.mean(np.abs(wave) ** 2))
    assert float(quadrature.mean()) == pytest.approx(mean_intensity, rel=1e-4)
    envelope = apply_ctf(torch.from_numpy(wave), sampling, ENERGY, defocus, **common)
    assert float(envelope.mean()) < mean_intensity


def test_bad_input_is_one_clear_error(exit_wave: tuple[np.ndarray, tuple[float, float]]) -> None:
    wave, sampling = exit_wave
    with pytest.raises(ImageError, match=r"exit waves must be complex, got torch\.float32"):
        apply_ctf(torch.from_numpy(np.abs(wave)), sampling, ENERGY, 50.0)
    broken = wave.copy()
    broken[3, 4] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        apply_ctf(torch.from_numpy(broken), sampling, ENERGY, 50.0)
    with pytest.raises(ImageError, match="sampling must be > 0"):
        apply_ctf(torch.from_numpy(wave), (0.0, 0.1), ENERGY, 50.0)
    with pytest.raises(ImageError, match="energy must be > 0"):
        apply_ctf(torch.from_numpy(wave), sampling, -1.0, 50.0)
