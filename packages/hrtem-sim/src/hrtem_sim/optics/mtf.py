"""The detector's modulation transfer function (MTF), applied to the noisy image.

``MTF(k) = (c0 - c1) / (1 + (k / (2 c2))^|c3|) + c1`` (abTEM's parametrisation and names), with
``k`` the spatial frequency IN UNITS OF THE DETECTOR'S NYQUIST FREQUENCY: ``k = 2 * |q| * d`` for
``q`` [1/Å] at detector sampling ``d`` [Å/px], so ``k = 1`` at Nyquist on the axes and ``sqrt(2)`` in
the corners. (abTEM evaluates its ``k`` in 1/Å, which ties ``c2`` to one magnification; a camera's
MTF is a property of its pixels, so ``hrtem mtf fit`` and training both use Nyquist units and
the fitted ``c0..c3`` hold at any detector sampling.) Unlike abTEM's ``mtf.py``, ``k`` is a 2-D
grid (isotropic noise) and the result is the real part of the inverse transform.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from hrtem_sim.optics.fft import ifft2

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def mtf_curve(k: ArrayT, c0: float, c1: float, c2: float, c3: float) -> ArrayT:
    """MTF at ``k`` [units of Nyquist] (numpy or torch; parameters broadcast)."""
    return (c0 - c1) / (1 + (k / (2 * c2)) ** abs(c3)) + c1


def nyquist_frequencies(shape: tuple[int, int], device: torch.device | None = None) -> torch.Tensor:
    """|k| [units of Nyquist] on the FFT grid of an image of ``shape`` pixels: [h, w]."""
    kx = torch.fft.fftfreq(shape[0], device=device) * 2
    ky = torch.fft.fftfreq(shape[1], device=device) * 2
    return torch.sqrt(kx[:, None] ** 2 + ky[None, :] ** 2)


def apply_mtf(images: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """Images [B, C, h, w] (real) times the MTF in Fourier space; coefficients [B, 4] = c0..c3."""
    k = nyquist_frequencies(tuple(images.shape[-2:]), images.device)
    c = coefficients.to(device=images.device, dtype=k.dtype)[:, :, None, None, None]
    transfer = mtf_curve(k, c[:, 0], c[:, 1], c[:, 2], c[:, 3])
    filtered = ifft2(torch.fft.fft2(images) * transfer).real
    return filtered.to(images.dtype)
