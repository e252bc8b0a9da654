"""The MSD-net forward and backward as one autograd Function over a single buffer of all feature maps.

Layout: ``maps`` [B, C, H*W] holds the input (channels ``[0, c)``) then the ``w`` outputs of every layer,
written in place; layer ``l`` reads channels ``[0, C_l)``, ``C_l = c + l w``, and writes ``[C_l, C_l + w)``.
A layer is a GEMM of the nine-tap weights [9 w, C_l] with the maps [C_l, H*W] (one partial map per tap),
then the shifted adds of :mod:`.shifts`, bias and ReLU. Layers are processed in blocks of ``K``: one
GEMM computes every block layer's contribution from the maps that exist before the block, so each map
is streamed once per block rather than once per layer, and the GEMMs are K times less skinny; the few
maps made inside the block are added per layer. Backward walks the blocks in reverse with one float32
gradient buffer [B, C, H*W], accumulated in place by the same two kinds of GEMM.

Precision: maps are stored in the autocast dtype when autocast is on (bf16, fp16), else in the input's
dtype; arithmetic runs in float32 on CPU (whose bf16 GEMMs are slow), converting pixel chunks of the
maps on the fly, and in the storage dtype on GPU. Gradients accumulate in float32 and weight gradients
come back in the parameters' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hrtem_msd.nets.shifts import stencil_, stencil_adjoint

CHUNK_PIXELS = 1 << 14  # pixels per chunk when maps must be converted to the compute dtype


@dataclass(frozen=True)
class Plan:
    """Static shape of an MSD-net: ``in_channels`` c, ``width`` w, per-layer dilations, block size."""

    in_channels: int
    width: int
    dilations: tuple[int, ...]
    padding: str
    block: int

    @property
    def depth(self) -> int:
        return len(self.dilations)

    @property
    def channels(self) -> int:
        """All maps, the input included: c + d w."""
        return self.in_channels + self.depth * self.width

    def first_channel(self, layer: int) -> int:
        """C_l: channels read by ``layer``, which writes ``[C_l, C_l + w)``."""
        return self.in_channels + layer * self.width

    def blocks(self) -> list[range]:
        return [range(s, min(s + self.block, self.depth)) for s in range(0, self.depth, self.block)]


def storage_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of the maps: the autocast dtype when autocast is on for x's device, else x's."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def compute_dtype(storage: torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype of the arithmetic: the storage dtype on GPU, at least float32 on CPU."""
    return storage if device.type == "cuda" else torch.promote_types(storage, torch.float32)


def _chunks(n: int) -> list[slice]:
    return [slice(p, min(p + CHUNK_PIXELS, n)) for p in range(0, n, CHUNK_PIXELS)]


def weight_rows(weight: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Conv weight [w, C_l, 3, 3] -> GEMM rows [9 w, hi - lo] over input channels [lo, hi), row o*9 + tap."""
    w = weight.shape[0]
    return weight[:, lo:hi].reshape(w, hi - lo, 9).transpose(1, 2).reshape(9 * w, hi - lo)


def rows_to_weight(rows: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of :func:`weight_rows`: [9 w, n] -> [w, n, 3, 3]."""
    n = rows.shape[1]
    return rows.reshape(width, 9, n).transpose(1, 2).reshape(width, n, 3, 3)


def mm_maps(a: torch.Tensor, maps: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out[b] = a @ maps[b]``: a [M, n] (compute dtype), maps [B, n, P], out [B, M, P] (compute dtype)."""
    a = a.expand(
        maps.shape[0], -1, -1
    )  # explicit bmm: matmul's 2D @ 3D folding returns a transpose
    if maps.dtype == a.dtype:
        return torch.bmm(a, maps, out=out)
    for p in _chunks(maps.shape[-1]):
        out[..., p] = torch.bmm(a, maps[..., p].to(a.dtype))
    return out


def mm_maps_t(g: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``sum_b g[b] @ maps[b]^T``: g [B, M, P], maps [B, n, P] -> [M, n] float32."""
    if maps.dtype == g.dtype:
        return torch.bmm(g, maps.transpose(1, 2)).sum(0).float()
    total = g.new_zeros(g.shape[1], maps.shape[1], dtype=torch.float32)
    for p in _chunks(maps.shape[-1]):
        total += torch.bmm(g[..., p], maps[..., p].to(g.dtype).transpose(1, 2)).sum(0).float()
    return total


def _rows_of(buffer: torch.Tensor, b: int, rows: int, npx: int) -> torch.Tensor:
    """A contiguous [b, rows, npx] view of the start of a flat buffer (one allocation for all blocks)."""
    return buffer[: b * rows * npx].view(b, rows, npx)


def _layer_taps(taps: torch.Tensor, width: int, shape: tuple[int, int]) -> torch.Tensor:
    """[B, 9 w, H*W] -> [B, w, 3, 3, H, W] (a view)."""
    return taps.view(taps.shape[0], width, 3, 3, *shape)


def msd_forward(
    x: torch.Tensor,
    plan: Plan,
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    final_weight: torch.Tensor,
    final_bias: torch.Tensor,
    storage: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill the map buffer and return (logits [B, c_out, H, W] in the storage dtype, maps [B, C, H*W])."""
    b, c, h, w_px = x.shape
    compute = compute_dtype(storage, x.device)
    width = plan.width
    maps = x.new_empty(b, plan.channels, h * w_px, dtype=storage)
    maps[:, :c] = x.reshape(b, c, h * w_px)
    tap_buffer = maps.new_empty(b * 9 * width * plan.block * h * w_px, dtype=compute)  # reused
    for block in plan.blocks():
        c0 = plan.first_channel(block[0])
        outer = torch.cat([weight_rows(weights[k], 0, c0) for k in block]).to(compute)
        taps = mm_maps(outer, maps[:, :c0], _rows_of(tap_buffer, b, outer.shape[0], h * w_px))
        for i, layer in enumerate(block):
            cl = plan.first_channel(layer)
            own = taps[:, 9 * width * i : 9 * width * (i + 1)]
            if cl > c0:
                inner = weight_rows(weights[layer], c0, cl).to(compute)
                own.baddbmm_(inner.expand(b, -1, -1), maps[:, c0:cl].to(compute))
            z = stencil_(_layer_taps(own, width, (h, w_px)), plan.dilations[layer], plan.padding)
            z += biases[layer].to(compute).view(1, width, 1, 1)
            maps[:, cl : cl + width] = z.clamp_(min=0).view(b, width, h * w_px)
    final = final_weight.view(final_weight.shape[0], -1).to(compute)
    logits = mm_maps(final, maps, maps.new_empty(b, final.shape[0], h * w_px, dtype=compute))
    logits += final_bias.to(compute).view(1, -1, 1)
    return logits.view(b, -1, h, w_px).to(storage), maps


def msd_backward(
    grad_logits: torch.Tensor,
    maps: torch.Tensor,
    shape: tuple[int, int],
    plan: Plan,
    weights: list[torch.Tensor],
    final_weight: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Gradients (input [B, c, H*W] float32, layer weights, layer biases, final weight, final bias)."""
    b, _, npx = maps.shape
    width = plan.width
    compute = compute_dtype(maps.dtype, maps.device)
    g = grad_logits.reshape(b, -1, npx).to(compute)
    final = final_weight.view(final_weight.shape[0], -1)
    grad_final = mm_maps_t(g, maps).view_as(final_weight)
    grad_final_bias = g.float().sum((0, 2))
    grads = g.new_empty(b, plan.channels, npx, dtype=torch.float32)  # the one gradient buffer
    mm_maps(final.t().float(), g.float(), grads)
    grad_w: list[torch.Tensor] = [torch.empty(0)] * plan.depth
    grad_b: list[torch.Tensor] = [torch.empty(0)] * plan.depth
    tap_buffer = grads.new_empty(b * 9 * width * plan.block * npx)  # reused by every block
    for block in reversed(plan.blocks()):
        c0 = plan.first_channel(block[0])
        taps = _rows_of(tap_buffer, b, 9 * width * len(block), npx)
        inner_grads: dict[int, torch.Tensor] = {}
        for i in reversed(range(len(block))):
            layer = block[i]
            cl = plan.first_channel(layer)
            out = grads[:, cl : cl + width]
            out.mul_(maps[:, cl : cl + width] > 0)
            grad_b[layer] = out.sum((0, 2))
            own = taps[:, 9 * width * i : 9 * width * (i + 1)]
            stencil_adjoint(
                out.view(b, width, *shape),
                plan.dilations[layer],
                plan.padding,
                _layer_taps(own, width, shape),
            )
            if cl > c0:
                inner = weight_rows(weights[layer], c0, cl).float()
                grads[:, c0:cl].baddbmm_(inner.t().expand(b, -1, -1), own)
                inner_grads[layer] = mm_maps_t(own.to(compute), maps[:, c0:cl])
        outer = torch.cat([weight_rows(weights[k], 0, c0) for k in block]).float()
        grads[:, :c0].baddbmm_(outer.t().expand(b, -1, -1), taps)
        outer_grads = mm_maps_t(taps.to(compute), maps[:, :c0]).split(9 * width)
        for i, layer in enumerate(block):
            rows = outer_grads[i]
            if layer in inner_grads:
                rows = torch.cat([rows, inner_grads[layer]], dim=1)
            grad_w[layer] = rows_to_weight(rows, width).to(weights[layer].dtype)
    grad_b = [gb.to(weights[0].dtype) for gb in grad_b]
    return grads[:, : plan.in_channels], grad_w, grad_b, grad_final, grad_final_bias


class MSDFunction(torch.autograd.Function):
    """Autograd glue: inputs (x, plan, final weight, final bias, *layer weights, *layer biases)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        plan: Plan,
        final_weight: torch.Tensor,
        final_bias: torch.Tensor,
        *params: torch.Tensor,
    ) -> torch.Tensor:
        weights, biases = list(params[: plan.depth]), list(params[plan.depth :])
        storage = storage_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            logits, maps = msd_forward(x, plan, weights, biases, final_weight, final_bias, storage)
        ctx.plan = plan
        ctx.shape = x.shape
        ctx.x_dtype = x.dtype
        ctx.save_for_backward(maps, final_weight, *weights)
        return logits

    @staticmethod
    def backward(ctx: Any, grad_logits: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        maps, final_weight, *weights = ctx.saved_tensors
        plan: Plan = ctx.plan
        b, c, h, w = ctx.shape
        with torch.autocast(maps.device.type, enabled=False):
            grad_x, grad_w, grad_b, grad_final, grad_final_bias = msd_backward(
                grad_logits, maps, (h, w), plan, weights, final_weight
            )
        dx = grad_x.reshape(b, c, h, w).to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        final_grads = (grad_final.to(final_weight.dtype), grad_final_bias.to(final_weight.dtype))
        return (dx, None, *final_grads, *grad_w, *grad_b)
