"""Per-image normalisation shared by training and inference (ModelConfig.normalisation "per_image")."""

import torch

EPS = 1e-6


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Each channel of each image minus its mean, divided by its std: [..., H, W] -> same shape.

    Float32 statistics; a flat channel (std 0) becomes zeros rather than NaN.
    """
    x = images.float()
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True)
    return (x - mean) / std.clamp_min(EPS)
