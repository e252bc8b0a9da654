"""Shot noise at the detector: Poisson counts at a dose in e-/Å^2, reproducible per sample."""

from __future__ import annotations

import torch
from hrtem_core.errors import ImageError


def check_dose(dose: torch.Tensor) -> None:
    """Raise ImageError unless every dose [e/Å^2] is > 0 (``inf`` means noise-free)."""
    bad = ~(dose > 0)
    if bool(bad.any()):
        raise ImageError(f"dose must be > 0 e/Å^2 (inf for noise-free), got {dose[bad][0].item()}")


def poisson_noise(
    image: torch.Tensor, dose: torch.Tensor, pixel_area: torch.Tensor, seeds: torch.Tensor
) -> torch.Tensor:
    """Noisy image [B, C, h, w] from a noise-free one normalised to vacuum = 1.

    Each pixel counts ``Poisson(image * dose * pixel_area)`` electrons (dose [e/Å^2] [B],
    pixel_area [Å^2] [B]); the result is divided by ``dose * pixel_area`` again, so it keeps the
    vacuum at 1 and its variance is ``image / (dose * pixel_area)``. A sample with ``dose = inf``
    is returned unchanged. seeds: [B] int64, one generator per sample, so a sample's noise does not
    depend on the batch it is in.
    """
    check_dose(dose)
    out = image.clone()
    counts_per_unit = (dose * pixel_area).tolist()
    for b, (scale, seed) in enumerate(zip(counts_per_unit, seeds.tolist(), strict=True)):
        if scale == float("inf"):
            continue
        generator = torch.Generator(device=image.device)
        generator.manual_seed(int(seed))
        expected = torch.clamp(image[b] * scale, min=0.0)
        out[b] = (torch.poisson(expected, generator=generator) / scale).to(image.dtype)
    return out
