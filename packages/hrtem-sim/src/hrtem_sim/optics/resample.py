"""Resampling of a periodic field from the exit wave's grid onto the detector's pixel grid.

The exit wave is periodic (abTEM), so a detector field of view may start anywhere and may even
be larger than the wave (it then repeats). Resampling is exact band-limited (Fourier) resampling:
the wave's spectrum is cropped to the detector's grid over one period, so the detector sampling
is ``extent / n`` with ``n = round(extent / requested sampling)`` (within 1 / (2 n) of the request;
`DetectorGrid` records the exact value), and the sub-pixel origin is a Fourier phase ramp.
Labels are rendered on the same `DetectorGrid`, which makes them pixel-exact by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hrtem_core.errors import ImageError

from hrtem_sim.optics.fft import ifft2


@dataclass(frozen=True)
class DetectorGrid:
    """Where the detector's pixels sit in the exit wave's frame (abTEM order, axis 0 = x).

    origin:   [B, 2] Å, position of pixel (0, 0).
    sampling: [B, 2] Å/px; pixel (i, j) sits at ``origin + (i * sampling[0], j * sampling[1])``.
    period:   [B, 2] Å, the exit wave's extent; the field repeats with this period.
    shape:    (h, w) pixels.
    """

    origin: torch.Tensor
    sampling: torch.Tensor
    period: torch.Tensor
    shape: tuple[int, int]

    def pad(self, margin: int) -> DetectorGrid:
        """The same grid grown by ``margin`` pixels on every side."""
        return DetectorGrid(
            origin=self.origin - margin * self.sampling,
            sampling=self.sampling,
            period=self.period,
            shape=(self.shape[0] + 2 * margin, self.shape[1] + 2 * margin),
        )


def detector_grid(
    wave_shape: tuple[int, int],
    wave_sampling: torch.Tensor,
    detector_sampling: torch.Tensor,
    shape: tuple[int, int],
    origin_fraction: torch.Tensor | None = None,
    name: str = "detector",
) -> DetectorGrid:
    """The detector grid for waves of ``wave_shape`` at ``wave_sampling`` [B, 2] Å/px.

    detector_sampling: [B] Å/px requested; must not be finer than the wave's sampling.
    origin_fraction: [B, 2] in [0, 1), the origin as a fraction of the wave's extent (default 0).
    name: what the pixels are ("detector", "camera"), for the error.
    """
    wave_sampling = wave_sampling.to(torch.float64)
    requested = detector_sampling.to(device=wave_sampling.device, dtype=torch.float64)
    coarsest = wave_sampling.max(dim=1).values
    too_coarse = coarsest > requested * (1 + 1e-6)
    if bool(too_coarse.any()):
        i = int(too_coarse.nonzero()[0, 0])
        raise ImageError(
            f"exit-wave sampling {tuple(round(v, 5) for v in wave_sampling[i].tolist())} Å/px is "
            f"coarser than the {name} sampling {requested[i].item():.5g} Å/px; simulate the "
            f"exit wave at a finer sampling or choose a coarser {name} sampling"
        )
    extent = wave_sampling * torch.tensor(wave_shape, dtype=torch.float64, device=requested.device)
    pixels = torch.clamp(torch.round(extent / requested[:, None]), min=1)
    fraction = torch.zeros_like(extent) if origin_fraction is None else origin_fraction
    return DetectorGrid(
        origin=fraction.to(extent) * extent,
        sampling=extent / pixels,
        period=extent,
        shape=(int(shape[0]), int(shape[1])),
    )


def _low_frequencies(n_out: int, n_in: int, device: torch.device) -> torch.Tensor:
    """Indices (in FFT order of length n_in) of the n_out lowest frequencies, in FFT order."""
    frequencies = torch.round(torch.fft.fftfreq(n_out, device=device) * n_out).long()
    return frequencies % n_in


def resample(field: torch.Tensor, grid: DetectorGrid) -> torch.Tensor:
    """Sample a periodic real field [B, C, H, W] (spanning ``grid.period``) on ``grid``: [B, C, h, w].

    Band-limited: the field's spectrum is cropped to the detector's Nyquist frequency, shifted to
    the grid's origin by a phase ramp, and tiled if the grid is larger than one period.
    """
    if field.is_complex():
        raise ImageError(f"resample expects a real field, got {field.dtype}")
    size_in = field.shape[-2:]
    spectrum = torch.fft.fft2(field)
    out = []
    h, w = grid.shape
    for b in range(field.shape[0]):
        lx, ly = grid.period[b].tolist()
        ox, oy = grid.origin[b].tolist()
        nx, ny = (round(v) for v in (grid.period[b] / grid.sampling[b]).tolist())
        ix = _low_frequencies(nx, size_in[0], field.device)
        iy = _low_frequencies(ny, size_in[1], field.device)
        cropped = spectrum[b].index_select(-2, ix).index_select(-1, iy)
        fx = torch.fft.fftfreq(nx, device=field.device, dtype=torch.float64) * nx / lx
        fy = torch.fft.fftfreq(ny, device=field.device, dtype=torch.float64) * ny / ly
        phase = 2 * math.pi * (fx[:, None] * ox + fy[None, :] * oy)
        ramp = torch.polar(torch.ones_like(phase), phase).to(cropped.dtype)
        scale = nx * ny / (size_in[0] * size_in[1])
        image = ifft2(cropped * ramp).real * scale
        rows = torch.arange(h, device=field.device) % nx
        cols = torch.arange(w, device=field.device) % ny
        out.append(image.index_select(-2, rows).index_select(-1, cols))
    return torch.stack(out).to(field.dtype)


def resize_bilinear(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images ``[B, C, H, W]`` resized to ``size`` (h, w): bilinear, pixel centres aligned
    (``align_corners=False``), antialiased when shrinking an axis. The analysis brings a user's
    frame to the model's sampling with it, and the camera of
    :class:`hrtem_sim.optics.ImageFormation` its training images."""
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(
        images, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink
    )


def resized_grid(camera: DetectorGrid, shape: tuple[int, int]) -> DetectorGrid:
    """The grid of a ``camera`` image (batch 1) after :func:`resize_bilinear` to ``shape``:
    the same field of view over ``shape`` pixels, its first pixel centre half a new pixel in from
    the field's edge (pixel centres aligned)."""
    sampling = (
        camera.sampling
        * torch.tensor(camera.shape, dtype=torch.float64)
        / torch.tensor(shape, dtype=torch.float64)
    )
    origin = camera.origin + (sampling - camera.sampling) / 2
    return DetectorGrid(origin, sampling, camera.period, (int(shape[0]), int(shape[1])))
