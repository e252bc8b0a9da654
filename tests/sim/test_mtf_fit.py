"""Fitting the detector MTF from vacuum images made by the training-time noise and MTF code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hrtem_core.errors import ImageError
from hrtem_sim.mtf_fit import fit_mtf, plot_fit, write_yaml
from hrtem_sim.optics import apply_mtf, load_detector, poisson_noise
from scipy import ndimage


def vacuum(
    coefficients: tuple[float, ...], count: int = 16, size: int = 512, per_pixel: float = 4.0
) -> list[np.ndarray]:
    """Vacuum images in counts: Poisson(per_pixel) through `apply_mtf`, as at training time."""
    flat = torch.ones(count, 1, size, size)
    dose = torch.full((count,), per_pixel / 0.01, dtype=torch.float64)
    noisy = poisson_noise(flat, dose, torch.full((count,), 0.01), torch.arange(count))
    images = apply_mtf(noisy, torch.tensor([coefficients] * count)) * per_pixel
    return [image[0].numpy() for image in images]


@pytest.mark.parametrize("truth", [(1.0, 0.05, 0.3, 2.2), (1.0, 0.01, 0.4, 3.0)])
def test_known_mtf_is_recovered(truth: tuple[float, ...]) -> None:
    """The shape parameters c2 (knee) and c3 (steepness) come back within 5 %; the high-k level
    c1 is degenerate with the white floor B, so it is checked against its own uncertainty."""
    fit = fit_mtf(vacuum(truth), sampling=0.1)
    c, sigma = fit.coefficients, fit.uncertainties
    assert c["c0"] == 1.0
    assert c["c2"] == pytest.approx(truth[2], rel=0.05)
    assert c["c3"] == pytest.approx(truth[3], rel=0.05)
    assert abs(c["c1"] - truth[1]) <= 3 * sigma["c1"] + 1e-3 and sigma["c1"] < 0.05
    assert sigma["c2"] < 0.02 * truth[2] and sigma["c3"] < 0.03 * truth[3]
    assert fit.gain == pytest.approx(1.0, rel=0.05)  # Poisson: NPS / mean = 1 before the MTF
    assert 0.3 < fit.chi2 < 2.0


def test_yaml_round_trip_and_plot(tmp_path) -> None:
    fit = fit_mtf(vacuum((1.0, 0.05, 0.3, 2.2), count=4, size=256), sampling=0.1)
    out = tmp_path / "configs" / "detector" / "cam.yaml"
    write_yaml(fit, out)
    loaded = load_detector(out, jitter=0.05)
    assert (loaded.c0, loaded.c1, loaded.c2, loaded.c3) == tuple(fit.coefficients.values())
    text = out.read_text()
    assert "k_units: nyquist" in text and "uncertainty:" in text
    plot_fit(fit, tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["cam.yaml", "fit.png"]


def test_a_lattice_in_the_vacuum_is_an_error_naming_the_file() -> None:
    images = vacuum((1.0, 0.05, 0.3, 2.2), count=4, size=256)
    i = np.arange(256)
    lattice = 0.1 * np.cos(2 * np.pi * i / 7.3)[:, None] * np.cos(2 * np.pi * i / 5.1)[None, :]
    images[2] = images[2] * (1 + lattice)
    with pytest.raises(ImageError, match=r"structure.*: c\.tif \(a peak") as error:
        fit_mtf(images, names=["a.tif", "b.tif", "c.tif", "d.tif"])
    assert "a.tif" not in str(error.value) and "\n" not in str(error.value)


def test_amorphous_structure_in_the_vacuum_is_an_error_naming_the_file() -> None:
    images = vacuum((1.0, 0.05, 0.3, 2.2), count=4, size=256)
    film = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(256, 256)), 2.0)
    images[1] = images[1] * (1 + 1.0 * film / film.std() * 0.3)
    with pytest.raises(ImageError, match=r"structure.*: b\.npy \(chi2/dof"):
        fit_mtf(images, names=["a.npy", "b.npy", "c.npy", "d.npy"])


def test_images_that_are_not_counts_are_rejected() -> None:
    with pytest.raises(ImageError, match=r"dark\.npy: mean"):
        fit_mtf([np.zeros((64, 64))], names=["dark.npy"])
    with pytest.raises(ImageError, match="no vacuum images"):
        fit_mtf([])
