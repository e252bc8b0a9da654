"""`ImageFormation`: batched exit waves -> detector images, one random microscope per sample.

Order of operations: CTF (aberrations, coherence envelopes, aperture) on the exit wave ->
intensity -> band-limited resampling onto the detector grid (+ margin) -> Poisson noise at the
dose -> detector MTF on the noisy image -> crop the margin. Images are normalised so that vacuum
is 1 (noise variance 1 / (dose * pixel area)). Torch only; runs on the device of the waves.
"""

from __future__ import annotations

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
from hrtem_sim.optics.resample import DetectorGrid, detector_grid, resample

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
        batch = params.dose.shape[0]
        return detector_grid(
            (int(wave_shape[0]), int(wave_shape[1])),
            as_sampling(sampling, batch),
            params.detector_sampling.cpu(),
            (self.config.output_size[0], self.config.output_size[1]),
            params.origin.cpu(),
        )

    def __call__(
        self,
        waves: torch.Tensor,
        sampling: float | Sequence[float] | torch.Tensor,
        params: OpticsParams,
    ) -> torch.Tensor:
        """Images [B, C, h, w] float32 on the waves' device for the drawn ``params``.

        waves: [B, H, W] complex exit waves (abTEM order); sampling [Å/px]: float, (sx, sy) or [B, 2].
        """
        check_waves(waves)
        if params.dose.shape[0] != waves.shape[0]:
            raise ImageError(
                f"{params.dose.shape[0]} parameter sets for a batch of {waves.shape[0]} waves"
            )
        grid = self.grid(waves.shape[-2:], sampling, params)
        params = params.to(waves.device)
        wave_sampling = as_sampling(sampling, waves.shape[0])
        intensity = form_intensity(
            waves,
            wave_sampling,
            self.config.energy,
            params.lens,
            self.config.aperture,
            True,
            self.config.temporal,
            self.config.quadrature_points,
        )
        field = resample(intensity.float(), grid.pad(MARGIN))
        area = grid.sampling.prod(dim=1).to(device=waves.device, dtype=torch.float64)
        noisy = poisson_noise(field, params.dose.double(), area, params.noise_seed)
        blurred = apply_mtf(noisy, params.mtf)
        return blurred[..., MARGIN:-MARGIN, MARGIN:-MARGIN].contiguous()
