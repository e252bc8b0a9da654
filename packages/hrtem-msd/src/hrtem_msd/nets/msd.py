"""Mixed-Scale Dense network (Pelt & Sethian, PNAS 115 (2018) 254), memory-lean and fast on CPU and GPU.

Every layer is a 3x3 dilated convolution over ALL earlier feature maps (the input included) plus a
bias and a ReLU; dilations cycle through ``dilations``; a final 1x1 convolution over all maps gives
the logits. The maps live in one preallocated buffer written in place by :class:`MSDFunction`, so
training holds at most 3 (c + d w) maps per pixel (the maps, their float32 gradients and one block's
tap maps), not the O(d^2) maps of per-layer concatenation. Measured by ``benchmarks/msd.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from hrtem_msd.nets.errors import ModelError
from hrtem_msd.nets.msd_function import MSDFunction, Plan
from hrtem_msd.nets.shifts import PADDINGS

MAX_BLOCK = 10  # layers per GEMM block: 10 makes the GEMMs 90 rows tall, fewer gain little speed


def block_size(channels: int, width: int) -> int:
    """Layers per block K: up to MAX_BLOCK, with the block's 9 w K tap maps no more than the c + d w maps.

    Training then holds at most 3 (c + d w) maps per pixel: the maps, their float32 gradients and
    the block's tap maps.
    """
    return max(1, min(MAX_BLOCK, channels // (9 * width)))


class MSDNet(nn.Module):
    """MSD-net: ``[B, in_channels, H, W]`` float -> logits ``[B, out_channels, H, W]``.

    in_channels:  c, input maps (e.g. one per defocus of a focal series).
    out_channels: classes (logits, no activation).
    depth:        d, layers.
    width:        w, maps per layer.
    dilations:    layer l uses ``dilations[l % len(dilations)]`` [px].
    padding:      "reflect" (needs H, W > the largest dilation) or "zeros".

    Parameters: ``weights[l]`` [w, c + l w, 3, 3], ``biases[l]`` [w], ``final_weight``
    [out_channels, c + d w, 1, 1], ``final_bias`` [out_channels] (the layouts of ``nn.Conv2d``).
    Initialised as the reference implementation (dmpelt/msdnet): filters ~ N(0, sqrt(2 / n_c)) with
    n_c = 9 (c + w (d - 1)) + out_channels, biases 0, the final layer 0.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int = 100,
        width: int = 1,
        dilations: Iterable[int] = range(1, 11),
        padding: str = "reflect",
    ) -> None:
        super().__init__()
        cycle = tuple(int(d) for d in dilations)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value < 1:
                raise ModelError(f"MSDNet: {name} must be >= 1, got {value}")
        if depth < 1 or width < 1:
            raise ModelError(
                f"MSDNet: depth and width must be >= 1, got depth={depth}, width={width}"
            )
        if not cycle or min(cycle) < 1:
            raise ModelError(
                f"MSDNet: dilations must be a non-empty list of ints >= 1, got {cycle}"
            )
        if padding not in PADDINGS:
            raise ModelError(f"MSDNet: padding must be one of {PADDINGS}, got {padding!r}")
        channels = in_channels + depth * width
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.width, self.padding = depth, width, padding
        self.dilations = cycle
        self.plan = Plan(
            in_channels=in_channels,
            width=width,
            dilations=tuple(cycle[i % len(cycle)] for i in range(depth)),
            padding=padding,
            block=block_size(channels, width),
        )
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(width, in_channels + i * width, 3, 3)) for i in range(depth)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(width)) for _ in range(depth))
        self.final_weight = nn.Parameter(torch.zeros(out_channels, channels, 1, 1))
        self.final_bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reference initialisation (see the class docstring)."""
        n_c = 9 * (self.in_channels + self.width * (self.depth - 1)) + self.out_channels
        std = math.sqrt(2.0 / n_c)
        with torch.no_grad():
            for weight in self.weights:
                weight.normal_(0.0, std)
            for bias in self.biases:
                bias.zero_()
            self.final_weight.zero_()
            self.final_bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, in_channels, H, W] -> logits [B, out_channels, H, W]."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ModelError(
                f"MSDNet: expected input [B, {self.in_channels}, H, W], got {list(x.shape)}"
            )
        largest = max(self.plan.dilations)
        if self.padding == "reflect" and min(x.shape[2:]) <= largest:
            raise ModelError(
                f"MSDNet: reflect padding needs H and W > the largest dilation {largest}, "
                f"got H={x.shape[2]}, W={x.shape[3]}"
            )
        return MSDFunction.apply(
            x, self.plan, self.final_weight, self.final_bias, *self.weights, *self.biases
        )

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, depth={self.depth}, "
            f"width={self.width}, dilations={list(self.dilations)}, padding={self.padding!r}"
        )
