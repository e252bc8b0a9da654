"""Tiled (sliding-window) inference of a segmentation model over frames of any size.

The design follows MONAI's sliding-window inferer, cut to what HR-TEM frames need:

- a *splitter* (:func:`window_origins`) lists window origins covering the frame; the last window
  on each axis sits flush with the frame's edge, so edges are seen as often as the interior;
- one *core* function (:func:`_predict_windows`) runs a batch of windows through the model on the
  compute device and returns softmax probabilities;
- a *merger* (:class:`_HammingMerger`) accumulates ``probabilities * w`` and ``w`` on the stitching
  device, ``w`` a 2-D Hamming window, and divides at the end.

A symmetric Hamming window is 0.08 at its ends (0.0064 in the corners of the 2-D window), never 0,
so every pixel of the frame, corners included, has a summed weight > 0 and the normalised sum is a
weighted mean of probabilities: a probability again, exact at the frame edges as in the interior.
Only ``batch_size`` windows are in the model at a time; the frame-sized buffers are the stitched
output ``[K, H, W]`` and the summed weight ``[H, W]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Literal

import numpy as np
import torch
from hrtem_core.errors import ImageError
from hrtem_core.readers.units import sampling_pair
from hrtem_sim.optics.resample import resize_bilinear
from torch import nn

from hrtem_analysis.settings import BATCH_SIZE, MAX_RESAMPLE, OVERLAP, WINDOW

Precision = Literal["bf16", "fp16"]
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def window_origins(size: int, window: int, overlap: float) -> list[int]:
    """Origins [px] of windows of length ``window`` covering ``[0, size)`` on one axis.

    Consecutive windows are ``round(window * (1 - overlap))`` apart (at least 1); a last window
    flush with the far edge is added when the stride does not land there. ``window <= size``.
    """
    stride = max(1, round(window * (1.0 - overlap)))
    origins = list(range(0, size - window + 1, stride))
    if origins[-1] != size - window:
        origins.append(size - window)
    return origins


def hamming_weights(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """2-D symmetric Hamming window ``[height, width]`` float32, in [0.0064, 1], > 0 everywhere."""
    wx = torch.hamming_window(height, periodic=False, dtype=torch.float32, device=device)
    wy = torch.hamming_window(width, periodic=False, dtype=torch.float32, device=device)
    return torch.outer(wx, wy)


class _HammingMerger:
    """Accumulates Hamming-weighted window probabilities on the stitching device."""

    def __init__(
        self, shape: tuple[int, int], window: tuple[int, int], device: torch.device
    ) -> None:
        self.shape = shape
        self.weights = hamming_weights(*window, device=device)
        self.device = device
        self.total: torch.Tensor | None = None
        self.weight_sum = torch.zeros(shape, dtype=torch.float32, device=device)

    def add(self, probabilities: torch.Tensor, origins: list[tuple[int, int]]) -> None:
        """Add window probabilities ``[B, K, h, w]`` whose top-left corners are ``origins``."""
        probabilities = probabilities.to(self.device, torch.float32)
        if self.total is None:
            self.total = torch.zeros(
                (probabilities.shape[1], *self.shape), dtype=torch.float32, device=self.device
            )
        h, w = self.weights.shape
        for p, (i, j) in zip(probabilities, origins, strict=True):
            self.total[:, i : i + h, j : j + w].addcmul_(p, self.weights)
            self.weight_sum[i : i + h, j : j + w] += self.weights

    def result(self) -> torch.Tensor:
        """The weighted mean ``[K, H, W]`` float32 on CPU."""
        assert self.total is not None, "no window was added"
        return self.total.div_(self.weight_sum).cpu()


def _predict_windows(
    model: nn.Module, windows: torch.Tensor, device: torch.device, precision: Precision | None
) -> torch.Tensor:
    """Softmax probabilities ``[B, K, h, w]`` float32 of windows ``[B, C, h, w]`` run on ``device``."""
    autocast = (
        torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])
        if precision is not None
        else nullcontext()
    )
    with autocast:
        logits = model(windows.to(device))
    return torch.softmax(logits.float(), dim=1)


def _batches(origins: list[tuple[int, int]], batch_size: int) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(origins), batch_size):
        yield origins[start : start + batch_size]


def _tile(
    model: nn.Module,
    image: torch.Tensor,
    window: int,
    overlap: float,
    batch_size: int,
    device: torch.device,
    stitch_device: torch.device,
    precision: Precision | None,
) -> torch.Tensor:
    """Tiled probabilities ``[K, H, W]`` of ``image`` ``[C, H, W]`` on the image's own grid."""
    height, width = image.shape[1:]
    win = (min(window, height), min(window, width))
    origins = [
        (i, j)
        for i in window_origins(height, win[0], overlap)
        for j in window_origins(width, win[1], overlap)
    ]
    merger = _HammingMerger((height, width), win, stitch_device)
    for batch in _batches(origins, batch_size):
        windows = torch.stack([image[:, i : i + win[0], j : j + win[1]] for i, j in batch])
        merger.add(_predict_windows(model, windows, device, precision), batch)
    return merger.result()


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[C, H, W]`` resized to ``size`` as :func:`hrtem_sim.optics.resample.resize_bilinear`."""
    return resize_bilinear(x[None], size)[0]


def _model_sampling(model: nn.Module) -> tuple[float, float] | None:
    """The sampling [Å/px] the model was trained at (``model.config.sampling``), if it says."""
    sampling = getattr(getattr(model, "config", None), "sampling", None)
    return None if sampling is None else sampling_pair(sampling)


def _check_image(model: nn.Module, image: torch.Tensor) -> None:
    if image.ndim != 3:
        raise ImageError(f"image has shape {tuple(image.shape)}; expected [C, H, W]")
    config = getattr(model, "config", None)
    channels = getattr(config, "in_channels", getattr(model, "in_channels", None))
    if channels is not None and image.shape[0] != channels:
        raise ImageError(
            f"image has {image.shape[0]} channels; the model expects {channels} "
            f"(shape {tuple(image.shape)})"
        )
    if not torch.isfinite(image).all():
        raise ImageError("image contains NaN or infinite values")


def _check_resample(
    scale: list[float],
    frame: tuple[float, float],
    trained: tuple[float, float],
    max_resample: float,
) -> None:
    factor = max(max(f, 1 / f) for f in scale)
    if factor > max_resample:
        raise ImageError(
            f"frame sampling ({frame[0]:.4g}, {frame[1]:.4g}) Å/px vs the model's "
            f"({trained[0]:.4g}, {trained[1]:.4g}) Å/px: a resampling by {factor:.3g} x, beyond "
            f"max_resample {max_resample:g} (check the sampling, or pass a larger --max-resample)"
        )


@torch.no_grad()
def tiled_predict(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    window: int = WINDOW,
    overlap: float = OVERLAP,
    batch_size: int = BATCH_SIZE,
    sampling: float | tuple[float, float] | None = None,
    device: torch.device | str | None = None,
    precision: Precision | None = None,
    stitch_device: torch.device | str = "cpu",
    max_resample: float = MAX_RESAMPLE,
) -> torch.Tensor:
    """Class probabilities ``[K, H, W]`` (float32, CPU) of a frame ``[C, H, W]`` of any size.

    The model maps ``[B, C, h, w]`` to logits ``[B, K, h, w]`` and is fully convolutional; it is
    put in eval mode and moved to ``device`` (default: where its parameters are). Windows of
    ``window`` px (clipped to the frame when it is smaller) overlap by the fraction ``overlap``;
    ``batch_size`` windows run per forward pass; probabilities are stitched on ``stitch_device``.
    C must equal ``model.config.in_channels`` (or ``model.in_channels``) when the model states it.

    sampling:  the frame's sampling [Å/px], scalar or (sx, sy). When given and the model states
               ``model.config.sampling`` [Å/px], the frame is resampled to the model's sampling
               (bilinear, antialiased when shrinking), predicted, and the probabilities brought
               back to the frame's grid. Otherwise no resampling. A frame whose sampling is
               beyond a factor ``max_resample`` of the model's, either way, is an ImageError.
    precision: None (float32), "bf16" or "fp16": autocast on the compute device.
    """
    if window < 1 or batch_size < 1 or not 0.0 <= overlap < 1.0:
        raise ImageError(
            f"window={window}, batch_size={batch_size} must be >= 1 and overlap={overlap} in [0, 1)"
        )
    if precision is not None and precision not in _AUTOCAST_DTYPES:
        raise ImageError(f"precision={precision!r}; expected None, 'bf16' or 'fp16'")
    frame_sampling = None if sampling is None else sampling_pair(sampling)
    frame = torch.as_tensor(image).detach().to("cpu", torch.float32)
    _check_image(model, frame)
    parameter = next(model.parameters(), None)
    compute = (
        torch.device(device)
        if device is not None
        else (parameter.device if parameter is not None else torch.device("cpu"))
    )
    model.to(compute).eval()

    shape = (frame.shape[1], frame.shape[2])
    trained = _model_sampling(model)
    if frame_sampling is not None and trained is not None:
        scale = [s / t for s, t in zip(frame_sampling, trained, strict=True)]
        _check_resample(scale, frame_sampling, trained, max_resample)
        resampled = tuple(max(1, round(n * f)) for n, f in zip(shape, scale, strict=True))
        if resampled != shape:
            frame = _resize(frame, resampled)
    probabilities = _tile(
        model, frame, window, overlap, batch_size, compute, torch.device(stitch_device), precision
    )
    if probabilities.shape[1:] != shape:
        probabilities = _resize(probabilities, shape)
    return probabilities
