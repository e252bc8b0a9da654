"""`ImageFormation`: batched exit waves -> detector images, one random microscope per sample.

Order of operations: CTF (aberrations, coherence envelopes, aperture) on the exit wave ->
intensity -> band-limited resampling onto the detector grid (+ margin) -> Poisson noise at the
dose -> detector MTF on the noisy image -> crop the margin. With a camera sampling range, the
three detector steps happen on the camera's pixels over the same field of view, and the image is
then resized to the detector grid as the analysis resizes a frame. Images are normalised so
that vacuum is 1 (noise variance 1 / (dose * pixel area)). Torch only; runs on the device of the
waves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from hrtem_core.errors import ImageError

from hrtem_sim.optics.ctf import check_waves, form_intensity
from hrtem_sim.optics.mtf import apply_mtf
from hrtem_sim.optics.noise import poisson_noise
from hrtem_sim.optics.params import (
    ImageFormationConfig,
    MTFConfig,
    OpticsParams,
    check_config,
    draw,
    draw_fixed,
    load_detector,
)
from hrtem_sim.optics.resample import (
    DetectorGrid,
    detector_grid,
    resample,
    resize_bilinear,
    resized_grid,
)

# Pixels formed beyond each edge so that the MTF's blur near the edges sees real neighbours.
MARGIN = 8


def as_sampling(sampling: float | Sequence[float] | torch.Tensor, batch: int) -> torch.Tensor:
    """Wave sampling as a [B, 2] float64 tensor (Å/px), from a float, (sx, sy) or [B, 2]."""
    value = torch.as_tensor(sampling, dtype=torch.float64).cpu()
    value = value.repeat(2) if value.ndim == 0 else value
    value = value.expand(batch, 2) if value.ndim == 1 else value
    if value.shape != (batch, 2) or not bool((value > 0).all()):
        raise ImageError(f"sampling must be > 0 Å/px, as (sx, sy) or [{batch}, 2]; got {sampling}")
    return value


class ImageFormation:
    """Exit waves [B, H, W] complex -> images [B, C, h, w] float32, C = len(defocus_offsets).

    Usage::

        formation = ImageFormation(config)
        params = formation.draw(batch_size, generator)      # or draw_fixed(indices, seed)
        images = formation(waves, sampling, params)
        grid = formation.grid(waves.shape[-2:], sampling, params)  # for hrtem_sim.labels
    """

    def __init__(self, config: ImageFormationConfig) -> None:
        check_config(config)
        self.config = config
        self.mtf: MTFConfig = (
            load_detector(config.detector, config.mtf.jitter) if config.detector else config.mtf
        )

    @property
    def channels(self) -> int:
        """Number of images per sample (the focal series' length)."""
        return len(self.config.defocus_offsets)

    def draw(self, batch_size: int, generator: torch.Generator) -> OpticsParams:
        """Random parameters for a training batch (CPU tensors)."""
        return draw(self.config, self.mtf, batch_size, generator)

    def draw_fixed(self, indices: Sequence[int], seed: int) -> OpticsParams:
        """Parameters fixed per sample index (validation, tests)."""
        return draw_fixed(self.config, self.mtf, list(indices), seed)

    def grid(
        self,
        wave_shape: Sequence[int],
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> DetectorGrid:
        """The detector grid of the images (origin, exact sampling, period, output size)."""
        if self.config.camera_sampling is None:
            return self._detector(wave_shape, sampling, params)
        shape = (self.config.output_size[0], self.config.output_size[1])
        grids = [resized_grid(c, shape) for c in self.cameras(wave_shape, sampling, params)]
        return DetectorGrid(
            origin=torch.cat([g.origin for g in grids]),
            sampling=torch.cat([g.sampling for g in grids]),
            period=torch.cat([g.period for g in grids]),
            shape=shape,
        )

    def _detector(
        self,
        wave_shape: Sequence[int],
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> DetectorGrid:
        """The grid of ``output_size`` pixels at the drawn detector sampling."""
        return detector_grid(
            (int(wave_shape[0]), int(wave_shape[1])),
            as_sampling(sampling, params.dose.shape[0]),
            params.detector_sampling.cpu(),
            (self.config.output_size[0], self.config.output_size[1]),
            params.origin.cpu(),
        )

    def cameras(
        self,
        wave_shape: Sequence[int],
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> list[DetectorGrid]:
        """Per sample, the camera's grid (batch 1): pixels at the drawn camera sampling, as many
        as cover the detector's field of view, from the same origin."""
        detector = self._detector(wave_shape, sampling, params)
        wave_sampling = as_sampling(sampling, params.dose.shape[0])
        field = detector.sampling * torch.tensor(detector.shape, dtype=torch.float64)
        grids = []
        for b in range(field.shape[0]):
            one = params.select(slice(b, b + 1))
            camera = detector_grid(
                (int(wave_shape[0]), int(wave_shape[1])), wave_sampling[b : b + 1],
                one.camera_sampling.cpu(), (1, 1), one.origin.cpu(), name="camera",
            )  # fmt: skip
            pixels = (field[b] / camera.sampling[0]).round().clamp(min=1)
            grids.append(dataclasses.replace(camera, shape=tuple(int(n) for n in pixels)))
        return grids

    def __call__(
        self,
        waves: torch.Tensor,
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> torch.Tensor:
        """Images [B, C, h, w] float32 on the waves' device for the drawn ``params``.

        waves: [B, H, W] complex exit waves (abTEM order); sampling [Å/px]: float, (sx, sy) or [B, 2].
        """
        return self.at_doses(waves, sampling, params, [None])[0]

    def at_doses(
        self,
        waves: torch.Tensor,
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
        doses: Sequence[float | None],
    ) -> list[torch.Tensor]:
        """Images [B, C, h, w] at each of ``doses`` [e-/Å^2] (None: the drawn ``params.dose``):
        the same microscope, noise seed and noise-free image at every dose, the lens applied once
        (what ``self(waves, sampling, params)`` gives with ``params.dose`` set to each)."""
        check_waves(waves)
        if params.dose.shape[0] != waves.shape[0]:
            raise ImageError(
                f"{params.dose.shape[0]} parameter sets for a batch of {waves.shape[0]} waves"
            )
        wave_shape = waves.shape[-2:]
        wave_sampling = as_sampling(sampling, waves.shape[0])
        intensity = form_intensity(
            waves,
            wave_sampling,
            self.config.energy,
            params.to(waves.device).lens,
            self.config.aperture,
            True,
            self.config.temporal,
            self.config.quadrature_points,
        ).float()
        return [
            self._images(intensity, wave_shape, sampling, _at_dose(params, dose)) for dose in doses
        ]

    def _images(
        self,
        intensity: torch.Tensor,
        wave_shape: Sequence[int],
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> torch.Tensor:
        """The recorded images [B, C, h, w] of a noise-free ``intensity`` [B, C, H, W]."""
        if self.config.camera_sampling is None:
            return _record(intensity, self._detector(wave_shape, sampling, params), params)
        shape = (self.config.output_size[0], self.config.output_size[1])
        images = [
            resize_bilinear(
                _record(intensity[b : b + 1], camera, params.select(slice(b, b + 1))), shape
            )
            for b, camera in enumerate(self.cameras(wave_shape, sampling, params))
        ]
        return torch.cat(images).contiguous()


def _at_dose(params: OpticsParams, dose: float | None) -> OpticsParams:
    """``params`` with every sample's dose set to ``dose`` [e-/Å^2] (None: as drawn)."""
    if dose is None:
        return params
    return dataclasses.replace(params, dose=torch.full_like(params.dose, float(dose)))


def _record(intensity: torch.Tensor, grid: DetectorGrid, params: OpticsParams) -> torch.Tensor:
    """The detector's image [B, C, h, w] of a noise-free ``intensity`` [B, C, H, W] on ``grid``:
    resampled (with a margin), counted at the dose, blurred by the MTF, margin cropped."""
    params = params.to(intensity.device)
    field = resample(intensity, grid.pad(MARGIN))
    area = grid.sampling.prod(dim=1).to(device=intensity.device, dtype=torch.float64)
    noisy = poisson_noise(field, params.dose.double(), area, params.noise_seed)
    blurred = apply_mtf(noisy, params.mtf)
    return blurred[..., MARGIN:-MARGIN, MARGIN:-MARGIN].contiguous()
