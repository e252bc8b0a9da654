"""Shifted adds with reflect or zero boundaries: the 3x3 dilated stencil of an MSD layer, and its adjoint.

A 3x3 convolution with dilation ``d`` and padding ``d`` is, per output channel, the sum of nine shifted
maps: ``out[y, x] = sum_{a, b in {-1, 0, 1}} P_ab[r(y + a d), r(x + b d)]``, where ``P_ab`` is the tap's
weighted sum over input channels (one GEMM) and ``r`` maps an index that falls outside the image back
in (reflect: ``-1 -> 1``, ``n -> n - 2``; zeros: the term is dropped). Here the shift runs along one
axis at a time, so the nine-tap stencil costs four shifted adds forward and four shifted copies backward, each a
slice add (or copy) plus a flipped border strip, in place: no padded copy of the maps is made.
"""

from __future__ import annotations

import torch

PADDINGS = ("reflect", "zeros")


def add_shifted(out: torch.Tensor, x: torch.Tensor, s: int, dim: int, padding: str) -> None:
    """``out += S_s x`` along ``dim``, where ``(S_s x)[i] = x[r(i + s)]``; requires ``|s| < n``."""
    n = x.shape[dim]
    if s == 0:
        out.add_(x)
        return
    t = abs(s)
    if s > 0:
        out.narrow(dim, 0, n - t).add_(x.narrow(dim, t, n - t))
        if padding == "reflect":
            out.narrow(dim, n - t, t).add_(x.narrow(dim, n - 1 - t, t).flip(dim))
    else:
        out.narrow(dim, t, n - t).add_(x.narrow(dim, 0, n - t))
        if padding == "reflect":
            out.narrow(dim, 0, t).add_(x.narrow(dim, 1, t).flip(dim))


def set_shifted_adjoint(out: torch.Tensor, y: torch.Tensor, s: int, dim: int, padding: str) -> None:
    """``out = S_s^T y`` along ``dim``: the adjoint of :func:`add_shifted` (scatters what it gathered)."""
    n = y.shape[dim]
    t = abs(s)
    if s == 0:
        out.copy_(y)
    elif s > 0:
        out.narrow(dim, t, n - t).copy_(y.narrow(dim, 0, n - t))
        out.narrow(dim, 0, t).zero_()
        if padding == "reflect":
            out.narrow(dim, n - 1 - t, t).add_(y.narrow(dim, n - t, t).flip(dim))
    else:
        out.narrow(dim, 0, n - t).copy_(y.narrow(dim, t, n - t))
        out.narrow(dim, n - t, t).zero_()
        if padding == "reflect":
            out.narrow(dim, 1, t).add_(y.narrow(dim, 0, t).flip(dim))


def stencil_(taps: torch.Tensor, dilation: int, padding: str) -> torch.Tensor:
    """Sum the nine shifted tap maps of a dilated 3x3 stencil, in place; returns a view of ``taps``.

    taps: [B, w, 3, 3, H, W], tap (ky, kx) shifted by ((ky - 1) d, (kx - 1) d) as in ``conv2d``;
    overwritten. Returns [B, w, H, W] (the centre tap's storage).
    """
    rows = taps[:, :, :, 1]  # [B, w, 3, H, W]: the x-shifts summed, per row tap
    add_shifted(rows, taps[:, :, :, 0], -dilation, -1, padding)
    add_shifted(rows, taps[:, :, :, 2], dilation, -1, padding)
    out = rows[:, :, 1]
    add_shifted(out, rows[:, :, 0], -dilation, -2, padding)
    add_shifted(out, rows[:, :, 2], dilation, -2, padding)
    return out


def stencil_adjoint(grad: torch.Tensor, dilation: int, padding: str, out: torch.Tensor) -> None:
    """Write the adjoint of :func:`stencil_` applied to ``grad`` [B, w, H, W] into ``out`` [B, w, 3, 3, H, W]."""
    rows = out[:, :, :, 1]  # [B, w, 3, H, W]
    set_shifted_adjoint(rows[:, :, 0], grad, -dilation, -2, padding)
    rows[:, :, 1] = grad
    set_shifted_adjoint(rows[:, :, 2], grad, dilation, -2, padding)
    set_shifted_adjoint(out[:, :, :, 0], rows, -dilation, -1, padding)
    set_shifted_adjoint(out[:, :, :, 2], rows, dilation, -1, padding)
