"""Synthetic HR-TEM frames with known content, and small real MSD-nets that read them.

Frames are ``[nx, ny]`` (abTEM order) at SAMPLING Å/px: a background of 1 (uniform noise of
+-0.02), an Au particle (a disc darkened by 0.35) carrying either dark Gaussian atomic columns on
the Au <110> lattice (on a zone axis: {111} and {200} peak pairs of similar power) or one set of
{111} fringes (off axis), or nothing (an empty, flat frame).

The models are MSD-nets (depth 1) whose last layer reads the normalised input directly, so they
threshold intensity: saved with ``save_model_data`` and loaded through ``hrtem_msd.load_model``,
as users load theirs. Thresholds are in units of the normalised image (mean 0, std 1 per window).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from hrtem_core.cards import ModelCard
from hrtem_msd.nets import build
from hrtem_msd.store.mlflow_model import save_model_data

SAMPLING = 0.2  # [Å/px]
SIZE = 128  # [px]
CENTRE = (12.8, 12.8)  # particle centre [Å]
RADIUS = 8.0  # particle radius [Å]
CELL = (4.08, 4.08 / np.sqrt(2))  # Au <110> projected cell [Å] (centred rectangular)


def lattice_sites() -> np.ndarray:
    """Column positions ``[M, 2]`` [Å] of the Au <110> lattice inside the particle (1 Å margin)."""
    a, b = CELL
    sites = [
        (i * a + (a / 2) * (j % 2), j * b / 2)
        for i in range(-1, int(SIZE * SAMPLING / a) + 2)
        for j in range(0, int(2 * SIZE * SAMPLING / b) + 2)
    ]
    sites = np.asarray(sites)
    inside = np.hypot(sites[:, 0] - CENTRE[0], sites[:, 1] - CENTRE[1]) < RADIUS - 1.0
    return sites[inside]


def _grid() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(SIZE)[:, None] * SAMPLING
    y = np.arange(SIZE)[None, :] * SAMPLING
    return x, y


def particle_frame(kind: str, seed: int = 0, missing: tuple[int, ...] = ()) -> np.ndarray:
    """A frame ``[nx, ny]`` float32: kind "on" (columns, minus the sites ``missing``), "off"
    (fringes) or "empty" (flat)."""
    x, y = _grid()
    rng = np.random.default_rng(seed)
    if kind == "empty":
        return np.ones((SIZE, SIZE), dtype=np.float32)
    disc = np.hypot(x - CENTRE[0], y - CENTRE[1]) < RADIUS
    if kind == "on":
        detail = np.zeros((SIZE, SIZE))
        for k, (cx, cy) in enumerate(lattice_sites()):
            if k not in missing:
                detail += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.35**2))
    else:
        angle = np.deg2rad(20.0)
        detail = 0.5 + 0.5 * np.cos(2 * np.pi / 2.355 * (x * np.cos(angle) + y * np.sin(angle)))
    image = 1.0 + rng.uniform(-0.02, 0.02, (SIZE, SIZE)) - disc * (0.35 + 0.45 * detail)
    return image.astype(np.float32)


def threshold_model(
    folder: Path,
    task: str,
    classes: list[str],
    slopes: list[float],
    biases: list[float],
    in_channels: int = 1,
) -> Path:
    """An MSD-net whose logit k is ``slopes[k] * mean_c(x_c) + biases[k]`` on the normalised input."""
    config = ModelCard(
        task=task,
        architecture="msd",
        model_args={"depth": 1, "width": 1, "dilations": [1]},
        classes=classes,
        in_channels=in_channels,
        defocus=[float(d) for d in np.linspace(-90, 90, in_channels)] if in_channels > 1 else [0.0],
        sampling=SAMPLING,
        normalisation="per_image",
        spec_hash="synthetic",
        energy=300e3,
    )
    net = build(config)
    with torch.no_grad():
        net.final_weight.zero_()
        net.final_weight[:, :in_channels, 0, 0] = torch.tensor(slopes)[:, None] / in_channels
        net.final_bias.copy_(torch.tensor(biases))
    return save_model_data(net, config, folder)


def particle_model(folder: Path) -> Path:
    """Particle where the normalised intensity is below -0.3 (the darkened disc)."""
    gain = 20.0
    return threshold_model(
        folder, "nanoparticle", ["background", "particle"], [0.0, -gain], [0.0, -0.3 * gain]
    )


def columns_model(folder: Path) -> Path:
    """Column where the normalised intensity is below -2.8 (the dark column centres)."""
    gain = 20.0
    return threshold_model(
        folder, "columns", ["background", "column"], [0.0, -gain], [0.0, -2.8 * gain]
    )


MOS2_A = 3.19  # MoS2 lattice constant [Å]
MOS2_LEVELS = {"Mo": 3.0, "S2": 2.0, "S1": 1.0}  # column intensity above the background


def mos2_sites() -> tuple[np.ndarray, np.ndarray]:
    """(Mo ``[M, 2]``, S ``[M, 2]``) column positions [Å] of a MoS2 flake covering the frame."""
    a = MOS2_A
    i, j = np.meshgrid(np.arange(-2, 12), np.arange(-2, 12), indexing="ij")
    mo = np.stack([i * a + j * a / 2, j * a * np.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    mo = mo - np.array([a * 3, 0.0])
    sulphur = mo + np.array(
        [a / 2, a * np.sqrt(3) / 6]
    )  # the other honeycomb sublattice, b = a / sqrt(3)
    extent = SIZE * SAMPLING
    inside = lambda p: np.all((p > 1.0) & (p < extent - 1.0), axis=1)  # noqa: E731
    return mo[inside(mo)], sulphur[inside(sulphur)]


def interior_sulphur(count: int) -> np.ndarray:
    """Indices of ``count`` S sites near the frame centre (well inside the Mo lattice)."""
    _, sulphur = mos2_sites()
    distance = np.hypot(*(sulphur - SIZE * SAMPLING / 2).T)
    return np.argsort(distance)[: 3 * count : 3]


def mos2_frame(single: tuple[int, ...] = (), empty: tuple[int, ...] = ()) -> np.ndarray:
    """A MoS2 image ``[nx, ny]``: flat discs (radius 0.5 Å) at Mo, S2 and S1 columns; S sites in
    ``single`` hold one S atom (S1), those in ``empty`` none."""
    x, y = _grid()
    image = np.zeros((SIZE, SIZE))
    mo, sulphur = mos2_sites()
    columns = [(p, MOS2_LEVELS["Mo"]) for p in mo]
    columns += [
        (p, MOS2_LEVELS["S1"] if k in single else MOS2_LEVELS["S2"])
        for k, p in enumerate(sulphur)
        if k not in empty
    ]
    for (cx, cy), level in columns:
        image[np.hypot(x - cx, y - cy) < 0.5] = level
    return image.astype(np.float32)


def mos2_model(folder: Path) -> Path:
    """Species by intensity of the mean of the 3 channels: background < S1 < S2 < Mo.

    Class k's logit is ``gain * (slope_k x - offset_k)``; neighbouring classes in intensity order
    tie at the midpoints between the levels of the pristine frame, after normalisation.
    """
    reference = mos2_frame()
    mean, std = reference.mean(), reference.std(ddof=1)
    cuts = [((level - 0.5) - mean) / std for level in (1.0, 2.0, 3.0)]
    # intensity order: background (0), S1 (3), S2 (2), Mo (1); slope = rank in that order
    rank = {0: 0, 3: 1, 2: 2, 1: 3}
    offsets = np.concatenate([[0.0], np.cumsum(cuts)])  # offset of rank r = sum of the first r cuts
    gain = 20.0
    slopes = [gain * rank[k] for k in range(4)]
    biases = [-gain * offsets[rank[k]] for k in range(4)]
    return threshold_model(folder, "mos2", ["background", "Mo", "S2", "S1"], slopes, biases, 3)
