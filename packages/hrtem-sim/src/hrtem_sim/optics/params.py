"""Microscope and detector parameter RANGES (typed, OmegaConf-ready) and their per-sample draws.

Every parameter of `ImageFormationConfig` is a `Range`; each sample draws its own value
(uniform, or log-uniform with ``log: true``) from a torch generator, so a batch sees many
microscopes. Validation draws are fixed per sample index (`draw_fixed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from hrtem_core.errors import SpecError
from omegaconf import OmegaConf

from hrtem_sim.optics.ctf import Lens


@dataclass
class Range:
    """A closed range [low, high]; ``log`` draws log-uniformly (needs low > 0)."""

    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def check(self, key: str, positive: bool = False) -> None:
        """Raise SpecError naming ``key`` if the range is empty, or not positive when required."""
        if not self.low <= self.high:
            raise SpecError(f"{key}: low ({self.low}) must be <= high ({self.high})")
        if (positive or self.log) and not self.low > 0:
            raise SpecError(f"{key}: low must be > 0, got {self.low}")

    def draw(self, u: torch.Tensor) -> torch.Tensor:
        """Map uniform ``u`` in [0, 1) onto the range (a constant if low == high, e.g. inf)."""
        if self.low == self.high:
            return torch.full_like(u, self.low)
        if self.log:
            return torch.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass
class MTFConfig:
    """Detector MTF coefficients (see `hrtem_sim.optics.mtf`; k in units of Nyquist).

    jitter: each coefficient is drawn uniformly from ``c * (1 +- jitter)`` per sample.
    """

    c0: float = 1.0
    c1: float = 0.005
    c2: float = 0.35
    c3: float = 2.5
    jitter: float = 0.0


@dataclass
class ImageFormationConfig:
    """Ranges of the microscope and detector, one draw per sample. Units in brackets.

    energy [eV]; defocus [Å] (= -C10, positive = underfocus) of the reference channel;
    defocus_offsets [Å]: one Range per channel, added to the drawn defocus (a focal series of C
    images from one exit wave; ``[{low: 0, high: 0}]`` for a single image); shared_step: draw
    the offsets of all channels from one number, each offset's magnitude growing with it (low ->
    high for a range at or above 0, high -> low below), so that ``[-120, -40], 0, [40, 120]``
    gives series -s, 0, +s with one focal step s in 40..120 Å, as microscopes take them (False:
    each channel's offset drawn on its own); Cs [Å] (C30);
    astigmatism [Å] (C12) at astigmatism_angle [rad]; focal_spread [Å] (1/e width, as abTEM);
    source_semiangle [mrad] (abTEM's angular_spread); aperture [mrad] semi-angle (inf = none);
    temporal: "envelope" or "quadrature" (incoherent sum over quadrature_points defocus values);
    detector_sampling [Å/px]; output_size [px] (h, w); dose [e/Å^2], ``.inf`` = noise-free;
    detector: a detector YAML (``hrtem mtf fit`` output) whose c0..c3 replace ``mtf``'s (its
    jitter is kept); random_origin: put the field of view anywhere in the periodic exit wave.
    camera_sampling [Å/px] (None: the detector's): the camera records the field of view at a
    sampling drawn from this range (its noise and MTF at that pixel size), then the image is
    resized (bilinear, antialiased when shrinking) to ``output_size`` at ``detector_sampling``,
    as the analysis resizes a user's frame to the model's sampling.
    """

    energy: float = 300e3
    defocus: Range = field(default_factory=lambda: Range(-150.0, 150.0))
    defocus_offsets: list[Range] = field(default_factory=lambda: [Range(0.0, 0.0)])
    shared_step: bool = False
    Cs: Range = field(default_factory=lambda: Range(-3.2e5, -2.8e5))
    astigmatism: Range = field(default_factory=lambda: Range(0.0, 50.0))
    astigmatism_angle: Range = field(default_factory=lambda: Range(0.0, math.pi))
    focal_spread: Range = field(default_factory=lambda: Range(20.0, 60.0))
    source_semiangle: Range = field(default_factory=lambda: Range(0.0, 0.0))
    aperture: float = math.inf
    temporal: Literal["envelope", "quadrature"] = "envelope"
    quadrature_points: int = 7
    detector_sampling: Range = field(default_factory=lambda: Range(0.084, 0.09))
    output_size: list[int] = field(default_factory=lambda: [256, 256])
    dose: Range = field(default_factory=lambda: Range(1e2, 1e4, log=True))
    mtf: MTFConfig = field(default_factory=MTFConfig)
    detector: str | None = None
    random_origin: bool = True
    camera_sampling: Range | None = None


def check_config(config: ImageFormationConfig) -> None:
    """Raise SpecError naming the first bad key of ``config``."""
    if not config.energy > 0:
        raise SpecError(f"energy: must be > 0 eV, got {config.energy}")
    if not config.defocus_offsets:
        raise SpecError("defocus_offsets: needs at least one channel")
    for key in ("defocus", "Cs", "astigmatism", "astigmatism_angle"):
        getattr(config, key).check(key)
    for i, offset in enumerate(config.defocus_offsets):
        offset.check(f"defocus_offsets[{i}]")
    for key in ("focal_spread", "source_semiangle"):
        getattr(config, key).check(key)
        if getattr(config, key).low < 0:
            raise SpecError(f"{key}: must be >= 0, got low={getattr(config, key).low}")
    config.detector_sampling.check("detector_sampling", positive=True)
    if config.camera_sampling is not None:
        config.camera_sampling.check("camera_sampling", positive=True)
    config.dose.check("dose", positive=True)
    if not config.aperture > 0:
        raise SpecError(f"aperture: must be > 0 mrad (inf for none), got {config.aperture}")
    if config.temporal not in ("envelope", "quadrature"):
        raise SpecError(f"temporal: must be 'envelope' or 'quadrature', got {config.temporal!r}")
    if config.quadrature_points < 1:
        raise SpecError(f"quadrature_points: must be >= 1, got {config.quadrature_points}")
    if len(config.output_size) != 2 or min(config.output_size) < 1:
        raise SpecError(f"output_size: must be two positive ints, got {config.output_size}")
    if not 0 <= config.mtf.jitter < 1:
        raise SpecError(f"mtf.jitter: must be in [0, 1), got {config.mtf.jitter}")


def load_detector(path: str | Path, jitter: float = 0.0) -> MTFConfig:
    """The MTF of a detector YAML (keys c0..c3, as written by ``hrtem mtf fit``)."""
    path = Path(path)
    try:
        raw = OmegaConf.load(path)
        values = {key: float(raw[key]) for key in ("c0", "c1", "c2", "c3")}
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise SpecError(f"{path}: not a detector MTF file with c0..c3 ({error})") from None
    return MTFConfig(**values, jitter=jitter)


@dataclass(frozen=True)
class OpticsParams:
    """The parameters drawn for a batch of B samples (float32 tensors on one device).

    lens: defocus [B, C] Å and the other lens parameters [B]; detector_sampling [B] Å/px;
    dose [B] e/Å^2; mtf [B, 4] c0..c3; origin [B, 2] fraction of the wave's extent in [0, 1);
    noise_seed [B] int64; camera_sampling [B] Å/px (equal to detector_sampling without a
    camera range).
    """

    lens: Lens
    detector_sampling: torch.Tensor
    dose: torch.Tensor
    mtf: torch.Tensor
    origin: torch.Tensor
    noise_seed: torch.Tensor
    camera_sampling: torch.Tensor

    def select(self, index: slice) -> OpticsParams:
        """The parameter sets ``index`` of the batch (a slice keeps the batch axis)."""
        lens = Lens(**{k: v[index] for k, v in vars(self.lens).items()})
        rest = {k: v[index] for k, v in vars(self).items() if k != "lens"}
        return OpticsParams(lens=lens, **rest)

    def to(self, device: torch.device | str) -> OpticsParams:
        """A copy with every tensor on ``device``."""
        lens = Lens(**{k: v.to(device) for k, v in vars(self.lens).items()})
        rest = {k: v.to(device) for k, v in vars(self).items() if k != "lens"}
        return OpticsParams(lens=lens, **rest)

    def as_dict(self) -> dict[str, list]:
        """Plain lists per parameter (for logging and tables)."""
        tensors = {**vars(self.lens), **{k: v for k, v in vars(self).items() if k != "lens"}}
        return {key: value.tolist() for key, value in tensors.items()}


def draw(
    config: ImageFormationConfig, mtf: MTFConfig, batch_size: int, generator: torch.Generator
) -> OpticsParams:
    """Draw B parameter sets from ``config`` (CPU tensors); the draw order is fixed."""
    channels = len(config.defocus_offsets)
    u = torch.rand(batch_size, 14 + channels, generator=generator, dtype=torch.float64)
    seeds = torch.randint(0, 2**62, (batch_size,), generator=generator, dtype=torch.int64)
    offsets = torch.stack(
        [_offset(config, r, u, c) for c, r in enumerate(config.defocus_offsets)], 1
    )
    jitter = 1 + mtf.jitter * (2 * u[:, 7:11] - 1)
    nominal = torch.tensor([mtf.c0, mtf.c1, mtf.c2, mtf.c3], dtype=torch.float64)
    origin = u[:, 11:13] if config.random_origin else torch.zeros_like(u[:, 11:13])
    f32 = torch.float32
    lens = Lens(
        defocus=(config.defocus.draw(u[:, 0])[:, None] + offsets).to(f32),
        Cs=config.Cs.draw(u[:, 1]).to(f32),
        astigmatism=config.astigmatism.draw(u[:, 2]).to(f32),
        astigmatism_angle=config.astigmatism_angle.draw(u[:, 3]).to(f32),
        focal_spread=config.focal_spread.draw(u[:, 4]).to(f32),
        source_semiangle=config.source_semiangle.draw(u[:, 5]).to(f32),
    )
    detector_sampling = config.detector_sampling.draw(u[:, 6]).to(f32)
    camera = config.camera_sampling
    return OpticsParams(
        lens=lens,
        detector_sampling=detector_sampling,
        dose=config.dose.draw(u[:, 13]).to(f32),
        mtf=(nominal * jitter).to(f32),
        origin=origin.to(f32),
        noise_seed=seeds,
        camera_sampling=(
            detector_sampling
            if camera is None
            else camera.draw(torch.rand(batch_size, generator=generator, dtype=torch.float64)).to(
                f32
            )
        ),
    )


def _offset(
    config: ImageFormationConfig, offset: Range, u: torch.Tensor, channel: int
) -> torch.Tensor:
    """Channel ``channel``'s defocus offsets [B] from the uniform draws ``u`` [B, 14 + C]."""
    if not config.shared_step:
        return offset.draw(u[:, 14 + channel])
    step = u[:, 14]  # one number for every channel; |offset| grows with it
    return offset.draw(step if offset.low + offset.high >= 0 else 1 - step)


def draw_fixed(
    config: ImageFormationConfig, mtf: MTFConfig, indices: list[int], seed: int
) -> OpticsParams:
    """One parameter set per sample index, the same whatever the batch (for validation)."""
    parts = []
    for index in indices:
        state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        parts.append(draw(config, mtf, 1, generator))
    lens = Lens(**{k: torch.cat([vars(p.lens)[k] for p in parts]) for k in vars(parts[0].lens)})
    rest = {k: torch.cat([vars(p)[k] for p in parts]) for k in vars(parts[0]) if k != "lens"}
    return OpticsParams(lens=lens, **rest)
