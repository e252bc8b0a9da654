"""Fitting the detector MTF from vacuum images made by the training-time noise and MTF code."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hrtem_core.errors import ImageError
from hrtem_sim.mtf_fit import fit_figure, fit_mtf, plot_fit, write_yaml
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
    assert fit.warning is None


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


def test_images_without_noise_are_refused() -> None:
    """A constant image (once an IndexError deep in the fit) and a noise-free one."""
    with pytest.raises(ImageError) as error:
        fit_mtf([np.full((64, 64), 100.0)], names=["flat.npy"])
    assert str(error.value) == (
        "flat.npy: no noise (constant image); vacuum images must carry the beam's shot noise"
    )
    x = np.linspace(0, 1, 128)
    smooth = 100 + 10 * np.outer(np.sin(3 * x), np.cos(2 * x))
    with pytest.raises(
        ImageError, match=r"^smooth\.npy: no noise \(NPS near Nyquist \S+ x its low-k level\)"
    ):
        fit_mtf([smooth], names=["smooth.npy"])


def specimen(size: int, contrast: float, seed: int = 1) -> np.ndarray:
    """A specimen's image in counts: smooth structure (5 px) of ``contrast``, 200 e-/px."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(size, size)), 5.0)
    return rng.poisson(200 * (1 + contrast * field / field.std())).astype(float)


def test_a_specimen_is_refused_for_its_low_frequency_power() -> None:
    """A binned search image of a specimen (binning leaves the shot noise white): the fit could
    follow its low-frequency power only with an MTF halving below 0.2 Nyquist (c2 ~ 0.05)."""
    with pytest.raises(ImageError) as error:
        fit_mtf([specimen(128, 0.2)], names=["search.ser"])
    message = str(error.value)
    assert re.fullmatch(
        r"vacuum image\(s\) with structure, NPS not A\*MTF\^2\+B: search\.ser \(strong "
        r"low-frequency power; the fit's MTF halves by k = 0\.\d+ Nyquist, c2 = 0\.0\d+ < 0\.1, "
        r"faster than a detector's\)",
        message,
    ), message
    blurred = apply_mtf(
        torch.tensor(specimen(128, 0.05))[None, None].float(), torch.tensor([[1.0, 0.0, 0.35, 2.5]])
    )[0, 0].numpy()  # unbinned: the detector blurs specimen and noise alike
    with pytest.raises(
        ImageError, match=r"camera\.tif \(strong low-frequency power, \S+ x the fit at k = 0\.0"
    ):
        fit_mtf([blurred], names=["camera.tif"])


def test_a_poorly_constrained_fit_warns_with_what_to_do() -> None:
    """One small vacuum image: the fit is kept, with one line naming each parameter whose
    uncertainty exceeds its value (c1, near 0, when it also exceeds 0.05)."""
    fit = fit_mtf(vacuum((1.0, 0.005, 0.35, 2.5), count=1, size=48, per_pixel=1.0))
    assert fit.warning is not None
    match = re.fullmatch(
        r"((?:c\d = \S+ ± \S+(?:, )?)+): uncertainty larger than the value; fit more or larger "
        r"vacuum images \(now 1 image, 2304 px\)",
        fit.warning,
    )
    assert match, fit.warning
    named = re.findall(r"(c\d) = ", match.group(1))
    assert named and all(
        fit.uncertainties[c] > max(fit.coefficients[c], 0.05 if c == "c1" else 0) for c in named
    )
    assert all(fit.uncertainties[c] <= fit.coefficients[c] for c in ("c2", "c3") if c not in named)


def test_plot_axes_stay_on_the_data() -> None:
    """A fitted floor near 0 (a counting detector) does not stretch the NPS axis to 1e-15."""
    fit = fit_mtf(vacuum((1.0, 0.05, 0.3, 2.2), count=2, size=128), sampling=0.1)
    assert fit.floor < 1e-3 * fit.data.nps[fit.data.count > 0].min()
    axis = fit_figure(fit).axes[0]
    ok = (fit.data.count > 0) & (fit.data.nps > 0)
    low, high = axis.get_ylim()
    assert fit.data.nps[ok].min() / 3.01 <= low and high <= 3.01 * fit.data.nps[ok].max()
    assert axis.get_xlim() == pytest.approx((0.0, np.sqrt(2)))
