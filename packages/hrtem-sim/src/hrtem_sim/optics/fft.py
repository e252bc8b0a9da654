"""The inverse FFT of image formation, normalised by hand.

torch 2.13's CPU ``ifft2`` with its default ("backward") normalisation divides by ``H W`` twice
for one 2048 x 2048 complex64 array when it runs on more than one thread (measured here: a flat
wave came back at 2.4e-7 of its value; 512^2 to 1536^2 are right). ``norm="forward"`` does not
scale and is right at every size, so the 1 / (H W) is applied here.
"""

from __future__ import annotations

import torch


def ifft2(spectrum: torch.Tensor) -> torch.Tensor:
    """``torch.fft.ifft2(spectrum)`` over the last two axes, correct at every size and thread count."""
    height, width = spectrum.shape[-2:]
    return torch.fft.ifft2(spectrum, norm="forward") / (height * width)
