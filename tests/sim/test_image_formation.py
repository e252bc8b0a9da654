"""`ImageFormation`: drawn parameters, the CTF -> resample -> noise -> MTF chain, and bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hrtem_core.errors import ImageError, SpecError
from hrtem_sim.optics import (
    ImageFormation,
    ImageFormationConfig,
    MTFConfig,
    Range,
    apply_ctf,
    apply_mtf,
    detector_grid,
    load_detector,
    mtf_curve,
    resample,
)

IDENTITY_MTF = MTFConfig(c0=1.0, c1=1.0, c2=0.3, c3=2.0)  # MTF(k) = 1 everywhere


def random_waves(batch: int, shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Smooth-ish complex waves near 1 (a weak object), [B, H, W] complex64."""
    g = torch.Generator().manual_seed(seed)
    phase = 0.3 * torch.randn(batch, *shape, generator=g)
    return torch.polar(1 - 0.1 * torch.rand(batch, *shape, generator=g), phase)


def config(**changes: object) -> ImageFormationConfig:
    base = {
        "energy": 200e3,
        "defocus": Range(-100.0, 100.0),
        "defocus_offsets": [Range(-40.0, -40.0), Range(0.0, 0.0), Range(30.0, 50.0)],
        "Cs": Range(-2e4, 2e4),
        "focal_spread": Range(10.0, 30.0),
        "detector_sampling": Range(0.1, 0.1),
        "output_size": [48, 40],
        "dose": Range(1e2, 1e4, log=True),
    }
    return ImageFormationConfig(**{**base, **changes})


def test_noise_free_image_is_the_ctf_image_on_the_detector_grid() -> None:
    """With dose = inf and a flat MTF, each channel is `apply_ctf` of its own parameters, sampled
    on the grid that labels use (here the wave's own sampling and origin 0: a plain crop)."""
    formation = ImageFormation(
        config(dose=Range(math.inf, math.inf), mtf=IDENTITY_MTF, random_origin=False,
               detector_sampling=Range(0.1, 0.1))
    )  # fmt: skip
    waves = random_waves(2, (64, 60))
    params = formation.draw(2, torch.Generator().manual_seed(1))
    images = formation(waves, 0.1, params)
    assert images.shape == (2, 3, 48, 40) and images.dtype == torch.float32
    lens = params.lens
    for b in range(2):
        expected = apply_ctf(
            waves[b], 0.1, 200e3, lens.defocus[b].tolist(), Cs=float(lens.Cs[b]),
            astigmatism=float(lens.astigmatism[b]), astigmatism_angle=float(lens.astigmatism_angle[b]),
            focal_spread=float(lens.focal_spread[b]),
        )  # fmt: skip
        torch.testing.assert_close(images[b], expected[:, :48, :40], rtol=1e-4, atol=1e-5)


def test_parameters_are_drawn_per_sample_within_their_ranges() -> None:
    formation = ImageFormation(config())
    params = formation.draw(4000, torch.Generator().manual_seed(0))
    defocus = params.lens.defocus
    assert defocus.shape == (4000, 3)
    torch.testing.assert_close(defocus[:, 1] - defocus[:, 0], torch.full((4000,), 40.0))
    offset = defocus[:, 2] - defocus[:, 1]
    assert 30 <= float(offset.min()) and float(offset.max()) <= 50
    assert -100 <= float(defocus[:, 1].min()) and float(defocus[:, 1].max()) <= 100
    dose = params.dose.double()
    assert 1e2 <= float(dose.min()) and float(dose.max()) <= 1e4
    # Log-uniform: log10(dose) is uniform on [2, 4].
    assert float(dose.log10().mean()) == pytest.approx(3.0, abs=0.05)
    assert float((dose < 1e3).double().mean()) == pytest.approx(0.5, abs=0.03)
    assert len(set(params.noise_seed.tolist())) == 4000


def test_validation_draws_are_fixed_per_sample_index() -> None:
    """The same index gives the same parameters AND the same noisy image, whatever the batch."""
    formation = ImageFormation(config())
    waves = random_waves(3, (64, 64))
    together = formation.draw_fixed([7, 3, 11], seed=5)
    alone = formation.draw_fixed([3], seed=5)
    for key, value in alone.as_dict().items():
        assert value[0] == together.as_dict()[key][1], key
    images = formation(waves, 0.1, together)
    torch.testing.assert_close(images[1:2], formation(waves[1:2], 0.1, alone))
    other_seed = formation.draw_fixed([3], seed=6)
    assert other_seed.as_dict()["defocus"] != alone.as_dict()["defocus"]


@pytest.mark.parametrize("camera", [None, Range(0.12, 0.2)])
def test_images_at_several_doses_are_the_images_at_each(camera: Range | None) -> None:
    """`at_doses` applies the lens once: the same images as one call per dose, noisier at less."""
    formation = ImageFormation(config(camera_sampling=camera))
    waves = random_waves(2, (64, 64))
    params = formation.draw_fixed([4, 9], seed=2)
    images = formation.at_doses(waves, 0.1, params, [50.0, None, 5000.0])
    for dose, image in zip([50.0, 5000.0], images[::2], strict=True):
        one = dataclasses.replace(params, dose=torch.full((2,), dose))
        torch.testing.assert_close(image, formation(waves, 0.1, one))
    torch.testing.assert_close(images[1], formation(waves, 0.1, params))
    assert float(images[0].std()) > float(images[2].std())


def test_resample_is_band_limited_and_pixel_exact() -> None:
    """A cosine on the wave's grid, resampled to a coarser grid with a sub-pixel origin, equals
    the same cosine evaluated at the detector pixels' positions (tiled past one period)."""
    shape, sampling = (120, 96), torch.tensor([[0.05, 0.0625]], dtype=torch.float64)
    extent = (6.0, 6.0)
    x = torch.arange(shape[0], dtype=torch.float64)[:, None] * 0.05
    y = torch.arange(shape[1], dtype=torch.float64)[None, :] * 0.0625
    q = (3 / extent[0], 2 / extent[1])  # periodic in the cell, below the detector's Nyquist
    field = 1 + 0.5 * torch.cos(2 * math.pi * (q[0] * x + q[1] * y))
    grid = detector_grid(
        shape, sampling, torch.tensor([0.15]), (50, 45), torch.tensor([[0.37, 0.81]])
    )
    assert torch.allclose(grid.sampling, torch.tensor([[0.15, 0.15]], dtype=torch.float64))
    out = resample(field[None, None].float(), grid)
    gx = grid.origin[0, 0] + torch.arange(50, dtype=torch.float64)[:, None] * 0.15
    gy = grid.origin[0, 1] + torch.arange(45, dtype=torch.float64)[None, :] * 0.15
    expected = 1 + 0.5 * torch.cos(2 * math.pi * (q[0] * gx + q[1] * gy))
    torch.testing.assert_close(out[0, 0].double(), expected, rtol=0, atol=1e-5)


def test_mtf_is_isotropic_and_real() -> None:
    """The MTF multiplies each frequency by MTF(|k|) on a 2-D grid (a cosine along x and one
    along y at the same |k| are damped alike) and returns a real image."""
    n = 64
    i = torch.arange(n, dtype=torch.float32)
    along_x = torch.cos(2 * math.pi * 12 * i / n)[:, None].expand(n, n)
    along_y = torch.cos(2 * math.pi * 12 * i / n)[None, :].expand(n, n)
    diagonal = torch.cos(2 * math.pi * 12 * (i[:, None] + i[None, :]) / n)
    c = (1.0, 0.05, 0.3, 2.5)
    out = apply_mtf(torch.stack([along_x, along_y, diagonal])[:, None], torch.tensor([c] * 3))
    assert out.dtype == torch.float32
    k = 2 * 12 / n  # units of Nyquist
    for image, source, frequency in zip(
        out[:, 0], (along_x, along_y, diagonal), (k, k, k * 2**0.5), strict=True
    ):
        torch.testing.assert_close(image, source * mtf_curve(frequency, *c), rtol=0, atol=1e-5)


def test_detector_files_feed_the_mtf(tmp_path) -> None:
    path = tmp_path / "cam.yaml"
    path.write_text("c0: 1.0\nc1: 0.02\nc2: 0.4\nc3: 3.0\n")
    formation = ImageFormation(config(detector=str(path), mtf=MTFConfig(jitter=0.1)))
    params = formation.draw(500, torch.Generator().manual_seed(0))
    assert formation.mtf == load_detector(path, 0.1)
    c2 = params.mtf[:, 2]
    assert 0.36 <= float(c2.min()) and float(c2.max()) <= 0.44 and float(c2.std()) > 0.01
    (tmp_path / "bad.yaml").write_text("c0: 1.0\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: not a detector MTF file"):
        load_detector(tmp_path / "bad.yaml")


def test_bad_input_is_one_clear_error() -> None:
    formation = ImageFormation(config())
    params = formation.draw(2, torch.Generator().manual_seed(0))
    waves = random_waves(2, (64, 64))
    with pytest.raises(ImageError, match="exit waves must be complex"):
        formation(waves.abs(), 0.1, params)
    with pytest.raises(
        ImageError,
        match=r"exit-wave sampling \(0\.2, 0\.2\) Å/px is coarser than the detector sampling 0\.1 Å/px",
    ):
        formation(waves, 0.2, params)
    nan_waves = waves.clone()
    nan_waves[0, 1, 1] = complex("nan")
    with pytest.raises(ImageError, match="NaN"):
        formation(nan_waves, 0.1, params)
    with pytest.raises(ImageError, match="sampling must be > 0 Å/px"):
        formation(waves, 0.0, params)
    with pytest.raises(ImageError, match="2 parameter sets for a batch of 1 waves"):
        formation(waves[:1], 0.1, params)
    with pytest.raises(SpecError, match=r"dose: low must be > 0, got 0\.0"):
        ImageFormation(config(dose=Range(0.0, 10.0)))
    with pytest.raises(SpecError, match="detector_sampling"):
        ImageFormation(config(detector_sampling=Range(-0.1, 0.1)))
    negative = formation.draw(2, torch.Generator().manual_seed(0))
    negative.dose[0] = -5.0
    with pytest.raises(ImageError, match=r"dose must be > 0 e/Å\^2"):
        formation(waves, 0.1, negative)


def test_runs_on_the_device_of_the_waves() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    formation = ImageFormation(config())
    params = formation.draw(2, torch.Generator().manual_seed(0))
    images = formation(random_waves(2, (64, 64)).to(device), (0.1, 0.1), params)
    assert images.device.type == device
    assert np.isfinite(images.cpu().numpy()).all()


def test_config_is_typed_for_omegaconf(tmp_path) -> None:
    """A task YAML merges onto the dataclass schema; a misspelt key or bad value is an error."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, ValidationError

    schema = OmegaConf.structured(ImageFormationConfig)
    task = OmegaConf.create(
        "defocus_offsets: [{low: -60, high: -60}, {low: 0, high: 0}, {low: 60, high: 60}]\n"
        "dose: {low: 10, high: 1e4, log: true}\naperture: .inf\ntemporal: quadrature\n"
    )
    resolved = OmegaConf.to_object(OmegaConf.merge(schema, task))
    formation = ImageFormation(resolved)
    assert formation.channels == 3 and resolved.dose == Range(10.0, 1e4, log=True)
    with pytest.raises(ConfigKeyError, match="defocuss"):
        OmegaConf.merge(schema, OmegaConf.create("defocuss: {low: 0, high: 1}"))
    with pytest.raises(ValidationError, match="foo"):
        OmegaConf.merge(schema, OmegaConf.create("temporal: foo"))


def test_images_sit_on_the_grid_given_to_labels() -> None:
    """With a coarser detector and random origins, the in-focus noise-free image is |psi|^2
    resampled on exactly `formation.grid(...)`, the grid `hrtem_sim.labels` renders on."""
    flat = {k: Range(0.0, 0.0) for k in ("defocus", "Cs", "astigmatism", "focal_spread")}
    formation = ImageFormation(
        config(**flat, defocus_offsets=[Range(0.0, 0.0)], dose=Range(math.inf, math.inf),
               mtf=IDENTITY_MTF, detector_sampling=Range(0.12, 0.14), output_size=[40, 70])
    )  # fmt: skip
    waves = random_waves(3, (64, 48))
    params = formation.draw(3, torch.Generator().manual_seed(4))
    grid = formation.grid(waves.shape[-2:], (0.05, 0.06), params)
    assert bool((grid.origin > 0).all()) and len(set(grid.sampling[:, 0].tolist())) >= 2
    images = formation(waves, (0.05, 0.06), params)
    expected = resample(waves.abs().square()[:, None], grid)
    torch.testing.assert_close(images, expected, rtol=1e-4, atol=1e-5)


def _blob_wave(
    shape: tuple[int, int], sampling: float, centre: tuple[float, float]
) -> torch.Tensor:
    """A real wave [1, H, W]: 1 plus a Gaussian of 1.5 Å width at ``centre`` [Å]."""
    x = torch.arange(shape[0], dtype=torch.float64)[:, None] * sampling - centre[0]
    y = torch.arange(shape[1], dtype=torch.float64)[None, :] * sampling - centre[1]
    return (1 + torch.exp(-(x**2 + y**2) / (2 * 1.5**2)))[None].to(torch.complex64)


@pytest.mark.parametrize("camera", [0.17, 0.39])
def test_camera_images_sit_on_the_grid_given_to_labels(camera: float) -> None:
    """A camera finer or coarser than the detector: the noise-free image of a blob, resized to
    the detector's pixels, has the blob where `formation.grid(...)` (what labels render on) says,
    to 0.05 px; the grid covers the camera's field of view at about the detector's sampling."""
    flat = {k: Range(0.0, 0.0) for k in ("defocus", "Cs", "astigmatism", "focal_spread")}
    formation = ImageFormation(
        config(**flat, defocus_offsets=[Range(0.0, 0.0)], dose=Range(math.inf, math.inf),
               mtf=IDENTITY_MTF, detector_sampling=Range(0.275, 0.275), output_size=[64, 64],
               camera_sampling=Range(camera, camera), random_origin=False)
    )  # fmt: skip
    centre = (8.3, 9.1)  # [Å]
    waves = _blob_wave((160, 160), 0.1, centre)
    params = formation.draw(1, torch.Generator().manual_seed(0))
    assert params.camera_sampling.tolist() == pytest.approx([camera])
    image = formation(waves, 0.1, params)[0, 0].double() - 1
    grid = formation.grid(waves.shape[-2:], 0.1, params)
    (camera_grid,) = formation.cameras(waves.shape[-2:], 0.1, params)
    assert image.shape == (64, 64) and grid.shape == (64, 64)
    field = camera_grid.sampling[0] * torch.tensor(camera_grid.shape, dtype=torch.float64)
    torch.testing.assert_close(grid.sampling[0] * 64, field)
    assert grid.sampling[0].tolist() == pytest.approx([0.275, 0.275], rel=0.02)
    weights = image.clamp(min=0) ** 4  # the blob's core
    index = torch.arange(64, dtype=torch.float64)
    found = (
        (weights.sum(1) * index).sum() / weights.sum(),
        (weights.sum(0) * index).sum() / weights.sum(),
    )
    expected = (torch.tensor(centre, dtype=torch.float64) - grid.origin[0]) / grid.sampling[0]
    assert [float(v) for v in found] == pytest.approx(expected.tolist(), abs=0.05)


def test_camera_sampling_is_drawn_within_its_range() -> None:
    """Without a camera range the camera is the detector; with one, each sample's camera
    sampling lies in it, and a bad range is one error naming the key."""
    plain = ImageFormation(config(detector_sampling=Range(0.2, 0.3)))
    params = plain.draw(16, torch.Generator().manual_seed(1))
    assert torch.equal(params.camera_sampling, params.detector_sampling)
    camera = ImageFormation(config(camera_sampling=Range(0.15, 0.4)))
    drawn = camera.draw(64, torch.Generator().manual_seed(1)).camera_sampling
    assert bool(((drawn >= 0.15) & (drawn <= 0.4)).all()) and float(drawn.std()) > 0.05
    with pytest.raises(SpecError, match=r"camera_sampling: low \(0\.4\) must be <= high \(0\.2\)"):
        ImageFormation(config(camera_sampling=Range(0.4, 0.2)))
    with pytest.raises(
        ImageError,
        match=r"coarser than the camera sampling 0\.15 Å/px; .* a coarser camera sampling",
    ):
        formation = ImageFormation(
            config(detector_sampling=Range(0.3, 0.3), camera_sampling=Range(0.15, 0.15))
        )
        formation(random_waves(1, (64, 64)), 0.2, formation.draw(1, torch.Generator()))
