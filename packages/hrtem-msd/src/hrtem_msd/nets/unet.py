"""U-Net (Ronneberger, Fischer & Brox, MICCAI 2015), the baseline the MSD-net paper compares against.

Each level is two 3x3 convolutions with batch norm and ReLU ("same" padding, so the output has the
input's size); levels are joined by 2x2 max pooling going down, and by bilinear upsampling (followed
by a 1x1 convolution that halves the channels) or a 2x2 transposed convolution going up, each
followed by concatenation with the skip connection. Inputs of any H, W are padded (replicate) to a
multiple of 2^depth and the logits cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrtem_msd.nets.errors import ModelError

UPSAMPLINGS = ("bilinear", "transposed")


def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    """Two (3x3 conv, batch norm, ReLU), the U-Net's unit at every level."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def upsampler(c_in: int, mode: str) -> nn.Module:
    """x2 upsampling from c_in to c_in / 2 channels."""
    if mode == "transposed":
        return nn.ConvTranspose2d(c_in, c_in // 2, kernel_size=2, stride=2)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(c_in, c_in // 2, kernel_size=1),
    )


class UNet(nn.Module):
    """U-Net: ``[B, in_channels, H, W]`` float -> logits ``[B, out_channels, H, W]``.

    depth:       number of 2x poolings (levels below the top one).
    base_width:  channels at the top level; level k has base_width * 2^k.
    upsampling:  "bilinear" or "transposed".
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int = 4,
        base_width: int = 64,
        upsampling: str = "bilinear",
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, base_width) < 1 or depth < 0:
            raise ModelError(
                f"UNet: in_channels, out_channels, base_width must be >= 1 and depth >= 0, got "
                f"{in_channels}, {out_channels}, {base_width}, depth={depth}"
            )
        if upsampling not in UPSAMPLINGS:
            raise ModelError(f"UNet: upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        widths = [base_width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList(
            [double_conv(in_channels, widths[0])]
            + [double_conv(widths[k - 1], widths[k]) for k in range(1, depth + 1)]
        )
        self.up = nn.ModuleList(upsampler(widths[k], upsampling) for k in range(depth, 0, -1))
        self.merge = nn.ModuleList(
            double_conv(widths[k], widths[k - 1]) for k in range(depth, 0, -1)
        )
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, in_channels, H, W] -> logits [B, out_channels, H, W], any H, W."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ModelError(
                f"UNet: expected input [B, {self.in_channels}, H, W], got {list(x.shape)}"
            )
        h, w = x.shape[2:]
        step = 2**self.depth
        x = F.pad(x, (0, -w % step, 0, -h % step), mode="replicate")
        skips = []
        for k, level in enumerate(self.down):
            x = level(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)[:, :, :h, :w]
