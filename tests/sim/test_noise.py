"""Shot noise: counts per pixel are Poisson with mean dose * pixel area (vacuum = 1)."""

from __future__ import annotations

import math

import pytest
import torch
from hrtem_core.errors import ImageError
from hrtem_sim.optics import ImageFormation, ImageFormationConfig, MTFConfig, Range, poisson_noise

AREA = 0.1 * 0.1  # Å^2 per pixel


@pytest.mark.parametrize("dose", [5.0, 100.0, 3e3])
def test_flat_image_counts_have_the_dose_per_pixel_as_mean_and_variance(dose: float) -> None:
    flat = torch.ones(4, 1, 128, 128)
    noisy = poisson_noise(
        flat, torch.full((4,), dose, dtype=torch.float64), torch.full((4,), AREA), torch.arange(4)
    )
    counts = noisy.double() * dose * AREA
    per_pixel = dose * AREA
    n = counts.numel()
    assert torch.equal(counts.round(), counts.round().clamp(min=0))
    assert float(counts.mean()) == pytest.approx(per_pixel, abs=5 * math.sqrt(per_pixel / n))
    # Var of a sample variance of Poisson(m): (m + 2 m^2) / n.
    tolerance = 5 * math.sqrt((per_pixel + 2 * per_pixel**2) / n)
    assert float(counts.var()) == pytest.approx(per_pixel, abs=tolerance)


def test_image_formation_of_vacuum_has_mean_one_and_variance_one_over_dose_per_pixel() -> None:
    """Through the whole chain: a vacuum wave, a flat MTF, dose in e/Å^2 times the pixel area."""
    dose = 400.0
    formation = ImageFormation(
        ImageFormationConfig(
            energy=300e3, defocus=Range(50.0, 50.0), Cs=Range(1e4, 1e4),
            focal_spread=Range(0.0, 0.0), astigmatism=Range(0.0, 0.0),
            detector_sampling=Range(0.1, 0.1), output_size=[96, 96], dose=Range(dose, dose),
            mtf=MTFConfig(c0=1.0, c1=1.0),
        )
    )  # fmt: skip
    params = formation.draw(4, torch.Generator().manual_seed(0))
    images = formation(torch.ones(4, 200, 200, dtype=torch.complex64), 0.05, params).double()
    per_pixel = dose * AREA
    n = images.numel()
    assert float(images.mean()) == pytest.approx(1.0, abs=5 / math.sqrt(per_pixel * n))
    assert float(images.var()) == pytest.approx(1 / per_pixel, rel=5 * math.sqrt(2 / n))


def test_noise_is_reproducible_per_seed_and_skipped_at_infinite_dose() -> None:
    flat = torch.full((2, 1, 32, 32), 0.8)
    dose = torch.tensor([50.0, 50.0], dtype=torch.float64)
    area = torch.full((2,), AREA)
    a = poisson_noise(flat, dose, area, torch.tensor([1, 2]))
    b = poisson_noise(flat, dose, area, torch.tensor([1, 3]))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    clean = poisson_noise(flat, torch.tensor([math.inf, 50.0]), area, torch.tensor([1, 2]))
    assert torch.equal(clean[0], flat[0])


@pytest.mark.parametrize("dose", [0.0, -3.0, math.nan])
def test_dose_must_be_positive(dose: float) -> None:
    with pytest.raises(ImageError, match=r"dose must be > 0 e/Å\^2"):
        poisson_noise(
            torch.ones(1, 1, 8, 8), torch.tensor([dose]), torch.tensor([AREA]), torch.tensor([0])
        )
