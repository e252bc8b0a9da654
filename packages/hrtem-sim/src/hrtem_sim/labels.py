"""Labels rendered on the fly from projected positions, on the image's own `DetectorGrid`.

Points (x, y) [Å] in the exit wave's frame land at pixel ``(p - origin) / sampling`` per axis and
wrap with the wave's period, exactly as the image is formed (`hrtem_sim.optics.resample`), so the
labels are pixel-exact by construction. Then `augment` crops, flips and rotates image and label
together. Batched in torch: ragged point lists are padded by `pad_points`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from hrtem_core.errors import ImageError

from hrtem_sim.optics.resample import DetectorGrid

# Points processed per chunk when splatting (bounds memory to ~chunk * window pixels).
_CHUNK = 2048


def pad_points(
    points: Sequence[np.ndarray | torch.Tensor],
    classes: Sequence[np.ndarray | torch.Tensor] | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ragged [M_b, 2] point lists (Å) -> points [B, M, 2] float64, classes [B, M] int64, valid [B, M].

    classes default to 1 (one foreground class); padded entries have class 0 and valid False.
    """
    size = max((len(p) for p in points), default=0)
    out = torch.zeros(len(points), size, 2, dtype=torch.float64, device=device)
    labels = torch.zeros(len(points), size, dtype=torch.int64, device=device)
    valid = torch.zeros(len(points), size, dtype=torch.bool, device=device)
    for b, p in enumerate(points):
        p = torch.as_tensor(p, dtype=torch.float64, device=device).reshape(-1, 2)
        out[b, : len(p)] = p
        valid[b, : len(p)] = True
        labels[b, : len(p)] = 1 if classes is None else torch.as_tensor(classes[b], device=device)
    return out, labels, valid


def _centres(
    points: torch.Tensor, valid: torch.Tensor, grid: DetectorGrid, reach: float
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Every periodic image of every valid point within ``reach`` [Å] of the field, in chunks:
    (batch b [Q], point m [Q], centre [Q, 2] in pixels, sampling [Q, 2] Å/px).
    """
    h, w = grid.shape
    device = points.device
    origin, sampling, period = (
        t.to(device, torch.float64) for t in (grid.origin, grid.sampling, grid.period)
    )
    reach_px = reach / float(sampling.min()) + 1
    copies = math.ceil((max(h, w) + reach_px) / float((period / sampling).min())) + 2
    shifts = torch.arange(-1, copies, device=device, dtype=torch.float64)
    b_all, m_all = valid.nonzero(as_tuple=True)
    chunks = []
    for start in range(0, len(b_all), _CHUNK):
        b, m = b_all[start : start + _CHUNK], m_all[start : start + _CHUNK]
        s, cells = sampling[b], period[b] / sampling[b]
        u = torch.remainder((points[b, m] - origin[b]) / s, cells)
        centre = [u[:, a, None] + shifts[None] * cells[:, a, None] for a in (0, 1)]
        keep = [
            (c > -reach_px) & (c < n - 1 + reach_px) for c, n in zip(centre, (h, w), strict=True)
        ]
        n, kx, ky = (keep[0][:, :, None] & keep[1][:, None, :]).nonzero(as_tuple=True)
        xy = torch.stack([centre[0][n, kx], centre[1][n, ky]], dim=1)
        chunks.append((b[n], m[n], xy, s[n]))
    return chunks


def _neighbourhoods(
    points: torch.Tensor, valid: torch.Tensor, grid: DetectorGrid, reach: float
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Pixels within ``reach`` [Å] of every periodic image of every valid point, in chunks:
    (batch b, point m, flat pixel index, squared distance [Å^2]), one entry per pixel and image.
    """
    h, w = grid.shape
    reach_px = math.ceil(reach / float(grid.sampling.min())) + 1
    window = torch.arange(-reach_px, reach_px + 1, device=points.device)
    chunks = []
    for b, m, centre, s in _centres(points, valid, grid, reach):
        ix = torch.round(centre[:, 0]).long()[:, None] + window
        iy = torch.round(centre[:, 1]).long()[:, None] + window
        dx2 = (((ix - centre[:, 0, None]) * s[:, 0, None]) ** 2).float()
        dy2 = (((iy - centre[:, 1, None]) * s[:, 1, None]) ** 2).float()
        dist2 = dx2[:, :, None] + dy2[:, None, :]
        inside = ((ix >= 0) & (ix < h))[:, :, None] & ((iy >= 0) & (iy < w))[:, None, :]
        q, i, j = (inside & (dist2 <= reach**2)).nonzero(as_tuple=True)
        chunks.append((b[q], m[q], ix[q, i] * w + iy[q, j], dist2[q, i, j]))
    return chunks


def grid_positions(
    points: torch.Tensor, valid: torch.Tensor, grid: DetectorGrid, reach: float = 0.0
) -> list[torch.Tensor]:
    """Where the spots of :func:`render_columns` are centred: per sample b, the positions
    ``[Q_b, 2]`` float64 [px, array order] of every periodic image of its valid points (from
    `pad_points`) that lies within about ``reach`` [Å] of the field."""
    found: list[list[torch.Tensor]] = [[] for _ in range(points.shape[0])]
    for b, _, centre, _ in _centres(points, valid, grid, reach):
        for sample, parts in enumerate(found):
            parts.append(centre[b == sample])
    empty = torch.zeros(0, 2, dtype=torch.float64, device=points.device)
    return [torch.cat(parts) if parts else empty for parts in found]


def _point_map(points: torch.Tensor, valid: torch.Tensor, grid: DetectorGrid) -> torch.Tensor:
    """[B, h, w] float32, 1 on the nearest pixel of every periodic image of every valid point."""
    h, w = grid.shape
    out = torch.zeros(points.shape[0] * h * w, dtype=torch.float32, device=points.device)
    for b, _, centre, _ in _centres(points, valid, grid, 0.0):
        ij = torch.round(centre).long()
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < h) & (ij[:, 1] >= 0) & (ij[:, 1] < w)
        out[(b * h * w + ij[:, 0] * w + ij[:, 1])[inside]] = 1.0
    return out.reshape(points.shape[0], h, w)


def render_columns(
    points: torch.Tensor,
    classes: torch.Tensor,
    valid: torch.Tensor,
    grid: DetectorGrid,
    spot: float = 0.4,
    kind: Literal["disc", "gaussian"] = "disc",
) -> torch.Tensor:
    """Column labels on ``grid``: discs -> [B, h, w] int64 classes, gaussians -> [B, h, w] float32.

    points [B, M, 2] Å, classes [B, M] (>= 1), valid [B, M] from `pad_points`. ``spot`` [Å] is the
    disc radius, or the Gaussians' standard deviation (peak 1, cut at 3 sigma). Where spots
    overlap, the larger class (or value) wins. For MoS2 species maps pass the column classes.
    """
    if spot <= 0:
        raise ImageError(f"spot size must be > 0 Å, got {spot}")
    batch = points.shape[0]
    h, w = grid.shape
    if kind == "disc":
        out = torch.zeros(batch * h * w, dtype=torch.int64, device=points.device)
        for b, m, flat, _ in _neighbourhoods(points, valid, grid, spot):
            out.scatter_reduce_(0, b * h * w + flat, classes[b, m], reduce="amax")
    elif kind == "gaussian":
        out = torch.zeros(batch * h * w, dtype=torch.float32, device=points.device)
        for b, _, flat, dist2 in _neighbourhoods(points, valid, grid, 3 * spot):
            value = torch.exp(-dist2 / (2 * spot**2)).float()
            out.scatter_reduce_(0, b * h * w + flat, value, reduce="amax")
    else:
        raise ImageError(f"label kind must be 'disc' or 'gaussian', got {kind!r}")
    return out.reshape(batch, h, w)


def _disc_overlap(mask: torch.Tensor, sampling: torch.Tensor, radius: float) -> torch.Tensor:
    """Number of ``mask`` pixels within ``radius`` [Å] of each pixel: [B, h, w] (FFT, circular).

    mask: [B, h, w] float; sampling: [B, 2] Å/px.
    """
    h, w = mask.shape[-2:]
    # Whole-pixel offsets, exact (fftfreq(n, 1 / n) is off by 1e-15 for most n, which moves pixels
    # at exactly ``radius`` in or out of the disc with the grid's size).
    di, dj = (
        torch.round(torch.fft.fftfreq(n, device=mask.device, dtype=torch.float64) * n)
        for n in (h, w)
    )
    s = sampling.to(mask.device, torch.float64)
    dist2 = (di[None, :, None] * s[:, 0, None, None]) ** 2 + (
        dj[None, None, :] * s[:, 1, None, None]
    ) ** 2
    disc = (dist2 <= radius**2).to(mask.dtype)
    return torch.fft.irfft2(torch.fft.rfft2(mask) * torch.fft.rfft2(disc), s=(h, w))


def render_mask(
    points: torch.Tensor,
    valid: torch.Tensor,
    grid: DetectorGrid,
    radius: float = 1.5,
    close: float = 1.5,
) -> torch.Tensor:
    """Particle mask [B, h, w] int64 (0/1): union of discs of ``radius`` [Å] around the labelled
    atoms' projected positions, then a morphological closing by a disc of ``close`` [Å] (fills
    holes and gaps narrower than about 2 * close). Atoms are placed on their nearest pixels, so
    edges are exact to about one pixel. Discs are applied as FFT convolutions on a padded grid.
    """
    if radius <= 0 or close < 0:
        raise ImageError(f"mask radius must be > 0 and close >= 0 Å, got {radius}, {close}")
    margin = math.ceil((radius + 2 * close) / float(grid.sampling.min())) + 2
    padded = grid.pad(margin)
    atoms = _point_map(points, valid, padded)
    sampling = padded.sampling
    dilated = (_disc_overlap(atoms, sampling, radius + close) > 0.5).to(torch.float32)
    outside = _disc_overlap(1 - dilated, sampling, close) > 0.5 if close > 0 else dilated < 0.5
    return (~outside).long()[:, margin:-margin, margin:-margin].contiguous()


def render_mask_near(
    points: np.ndarray | torch.Tensor,
    grid: DetectorGrid,
    radius: float = 1.5,
    close: float = 1.5,
) -> torch.Tensor:
    """The mask [h, w] int64 of :func:`render_mask` for one point set [M, 2] Å on a one-sample
    ``grid``, rendered only in boxes around the points' periodic images that reach the grid: the
    cost scales with the particle, not with the frame (a 2048^2 frame of 20 particles: one box
    each instead of 20 frame-sized FFTs)."""
    h, w = grid.shape
    out = torch.zeros(grid.shape, dtype=torch.int64)
    points = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
    if not len(points):
        return out
    sampling, origin = grid.sampling[0].double(), grid.origin[0].double()
    cells = grid.period[0].double() / sampling  # [px] the period
    u = torch.remainder((points - origin) / sampling, cells)
    u = u[0] + torch.remainder(u - u[0] + cells / 2, cells) - cells / 2  # one image, unwrapped
    reach = math.ceil((radius + close) / float(sampling.min())) + 2  # [px] beyond the points
    low, high = u.min(dim=0).values - reach, u.max(dim=0).values + reach
    copies = [range(math.floor(-float(high[a]) / float(cells[a])) - 1,
                    math.ceil((n - float(low[a])) / float(cells[a])) + 1)
              for a, n in enumerate((h, w))]  # fmt: skip
    size = (high - low).ceil().long() + 1  # [px] the box around the points
    padded, _, valid = pad_points([points])
    for kx in copies[0]:
        for ky in copies[1]:
            start = (low + torch.tensor([kx, ky], dtype=torch.float64) * cells).floor().long()
            first = start.clamp(min=0)
            last = torch.minimum(start + size, torch.tensor([h, w]))
            if (last <= first).any():
                continue
            box = DetectorGrid((origin + start * sampling)[None], grid.sampling, grid.period,
                               (int(size[0]), int(size[1])))  # fmt: skip
            mask = render_mask(padded, valid, box, radius, close)[0]
            (i0, j0), (i1, j1) = (first - start).tolist(), (last - start).tolist()
            region = out[first[0] : last[0], first[1] : last[1]]
            region |= mask[i0:i1, j0:j1]
    return out


def augment(
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    crop: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop, flips and 90° rotations, identical for images [B, C, H, W] and labels
    [B, H, W] or [B, K, H, W]; per sample, drawn from ``generator`` (CPU). Rotations by 90° and
    270° only when the crop is square. Returns new tensors of spatial size ``crop``.
    """
    batch, (height, width) = images.shape[0], images.shape[-2:]
    if labels.shape[0] != batch or labels.shape[-2:] != images.shape[-2:]:
        raise ImageError(
            f"labels {tuple(labels.shape)} do not match images {tuple(images.shape)} in B, H, W"
        )
    ch, cw = crop if crop is not None else (height, width)
    if not (0 < ch <= height and 0 < cw <= width):
        raise ImageError(f"crop {crop} does not fit images of {height} x {width} px")
    draws = torch.rand(batch, 5, generator=generator, dtype=torch.float64)
    out_images, out_labels = [], []
    for b, (ux, uy, fx, fy, ur) in enumerate(draws.tolist()):
        x0, y0 = int(ux * (height - ch + 1)), int(uy * (width - cw + 1))
        quarter = int(ur * 4) if ch == cw else 2 * int(ur * 2)
        pair = []
        for tensor in (images[b], labels[b]):
            tensor = tensor[..., x0 : x0 + ch, y0 : y0 + cw]
            dims = [d for d, flip in ((-2, fx < 0.5), (-1, fy < 0.5)) if flip]
            tensor = tensor.flip(dims) if dims else tensor
            pair.append(torch.rot90(tensor, quarter, dims=(-2, -1)))
        out_images.append(pair[0])
        out_labels.append(pair[1])
    return torch.stack(out_images), torch.stack(out_labels)
