"""Contrast transfer function of the objective lens, batched in torch (abTEM 1.0.11's definitions).

Conventions, as abTEM: ``defocus = -C10`` [Å], positive = underfocus; ``Cs = C30`` [Å];
two-fold astigmatism ``C12`` [Å] at angle ``phi12`` [rad]; the phase aberration is
``chi = 2 pi / lambda * (alpha^2 / 2 * (C10 + C12 cos(2 (phi - phi12))) + alpha^4 / 4 * C30)``
and the wave in reciprocal space is multiplied by ``exp(-i chi)``. Partial coherence enters in the
quasi-coherent approximation: the temporal envelope uses the 1/e width of the focal spread
(``focal_spread = sqrt(2) sigma``), the spatial envelope abTEM's ``angular_spread`` [mrad]. The
objective aperture has abTEM's soft edge (one reciprocal pixel wide) unless ``soft=False``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from hrtem_core.errors import ImageError

from hrtem_sim.optics.fft import ifft2

# CODATA 2018 (exact SI values except the electron mass).
_H = 6.62607015e-34
_C = 299792458.0
_ME = 9.1093837015e-31
_E = 1.602176634e-19

TemporalMode = Literal["envelope", "quadrature"]


def wavelength(energy: float) -> float:
    """Relativistic electron wavelength [Å] at ``energy`` [eV]."""
    if not energy > 0:
        raise ImageError(f"energy must be > 0 eV, got {energy}")
    return _H * _C / math.sqrt(energy * (2 * _ME * _C**2 / _E + energy)) / _E * 1e10


@dataclass(frozen=True)
class Lens:
    """One set of lens parameters per sample (tensors on one device).

    defocus:           [B, C] Å, one per channel (focal series); defocus = -C10, positive = underfocus.
    Cs:                [B] Å, spherical aberration C30.
    astigmatism:       [B] Å, two-fold astigmatism C12.
    astigmatism_angle: [B] rad, its angle phi12.
    focal_spread:      [B] Å, 1/e width of the defocus distribution (= sqrt(2) sigma).
    source_semiangle:  [B] mrad, angular spread of the illumination (abTEM's ``angular_spread``).
    """

    defocus: torch.Tensor
    Cs: torch.Tensor
    astigmatism: torch.Tensor
    astigmatism_angle: torch.Tensor
    focal_spread: torch.Tensor
    source_semiangle: torch.Tensor


def check_waves(waves: torch.Tensor) -> None:
    """Raise ImageError unless ``waves`` is a finite complex [B, H, W] tensor."""
    if not torch.is_complex(waves):
        raise ImageError(
            f"exit waves must be complex, got {waves.dtype}: pass the exit wave, not its intensity"
        )
    if waves.ndim != 3:
        raise ImageError(f"exit waves must be [B, H, W], got shape {tuple(waves.shape)}")
    if not bool(torch.isfinite(torch.view_as_real(waves)).all()):
        raise ImageError("exit waves contain NaN or infinite values")


def angular_grid(
    shape: tuple[int, int], sampling: torch.Tensor, wavelength_: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scattering angle alpha [rad] and azimuth phi [rad] of the FFT grid, each [B, H, W].

    sampling: [B, 2] Å/px (sx, sy) of the wave; frequencies as ``numpy.fft.fftfreq``.
    """
    kx = torch.fft.fftfreq(shape[0], device=sampling.device, dtype=sampling.dtype)
    ky = torch.fft.fftfreq(shape[1], device=sampling.device, dtype=sampling.dtype)
    kx = kx[None, :, None] / sampling[:, 0, None, None]
    ky = ky[None, None, :] / sampling[:, 1, None, None]
    alpha = torch.sqrt(kx**2 + ky**2) * wavelength_
    phi = torch.atan2(ky, kx).expand_as(alpha)
    return alpha, phi


def _expand(value: torch.Tensor) -> torch.Tensor:
    """[B] or [B, C] -> [B, 1 or C, 1, 1], to broadcast against [B, C, H, W]."""
    value = value[:, None] if value.ndim == 1 else value
    return value[..., None, None]


def lens_kernel(
    alpha: torch.Tensor, phi: torch.Tensor, wavelength_: float, lens: Lens, temporal: bool = True
) -> torch.Tensor:
    """Complex transfer function [B, C, H, W]: exp(-i chi) times the coherence envelopes.

    alpha, phi: [B, H, W] from `angular_grid`. With ``temporal=False`` the focal-spread envelope is
    left out (for the incoherent sum over defocus, which models the same spread explicitly).
    """
    alpha = alpha[:, None]
    alpha2 = alpha.square()
    c10 = -_expand(lens.defocus)
    c12 = _expand(lens.astigmatism)
    phi12 = _expand(lens.astigmatism_angle)
    c30 = _expand(lens.Cs)
    k = 2 * math.pi / wavelength_
    # C12 cos(2 (phi - phi12)) per sample [B, 1, H, W], expanded to avoid a per-channel cosine.
    cos2, sin2 = torch.cos(2 * phi)[:, None], torch.sin(2 * phi)[:, None]
    astig = c12 * torch.cos(2 * phi12) * cos2 + c12 * torch.sin(2 * phi12) * sin2
    chi = (0.5 * k) * alpha2 * (c10 + astig + 0.5 * c30 * alpha2)
    kernel = torch.polar(torch.ones_like(chi), -chi)

    spread = _expand(lens.source_semiangle) * 1e-3
    if bool((spread != 0).any()):
        dchi_dalpha = k * alpha * (c10 + astig + c30 * alpha2)
        sin_astig = c12 * (sin2 * torch.cos(2 * phi12) - cos2 * torch.sin(2 * phi12))
        dchi_dphi = -k * alpha * sin_astig
        kernel = kernel * torch.exp(
            -torch.sign(spread) * (spread / 2) ** 2 * (dchi_dalpha**2 + dchi_dphi**2)
        )
    focal = _expand(lens.focal_spread)
    if temporal and bool((focal != 0).any()):
        kernel = kernel * torch.exp(-((0.5 * math.pi / wavelength_ * focal * alpha2) ** 2))
    return kernel


def aperture(
    alpha: torch.Tensor,
    phi: torch.Tensor,
    sampling: torch.Tensor,
    wavelength_: float,
    cutoff: float,
    soft: bool = True,
) -> torch.Tensor:
    """Objective aperture [B, 1, H, W] of semi-angle ``cutoff`` [mrad]; all ones for ``inf``.

    The soft edge is abTEM's: a linear ramp one reciprocal-space pixel wide (along the azimuth),
    centred on the cutoff, and 1 at zero frequency.
    """
    if math.isinf(cutoff):
        return torch.ones_like(alpha)[:, None]
    cutoff_rad = cutoff * 1e-3
    if not soft:
        return (alpha <= cutoff_rad).to(alpha.dtype)[:, None]
    shape = alpha.shape[-2:]
    dalpha_x = (wavelength_ / (shape[0] * sampling[:, 0]))[:, None, None]
    dalpha_y = (wavelength_ / (shape[1] * sampling[:, 1]))[:, None, None]
    edge = torch.sqrt((torch.cos(phi) * dalpha_x) ** 2 + (torch.sin(phi) * dalpha_y) ** 2)
    edge[:, 0, 0] = 1.0
    array = torch.clamp((cutoff_rad - alpha) / edge + 0.5, 0.0, 1.0)
    array[:, 0, 0] = 1.0
    return array[:, None]


def focal_quadrature(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes (in units of the 1/e focal spread) and weights (summing to 1).

    The defocus distribution is ``p(delta) ~ exp(-(delta / focal_spread)^2)``, abTEM's 1/e width.
    """
    if points < 1:
        raise ImageError(f"quadrature_points must be >= 1, got {points}")
    nodes, weights = np.polynomial.hermite.hermgauss(points)
    return nodes, weights / math.sqrt(math.pi)


def form_intensity(
    waves: torch.Tensor,
    sampling: torch.Tensor,
    energy: float,
    lens: Lens,
    aperture_cutoff: float = math.inf,
    soft_aperture: bool = True,
    temporal: TemporalMode = "envelope",
    quadrature_points: int = 7,
) -> torch.Tensor:
    """Image intensity [B, C, H, W] (real, waves' precision) of exit waves [B, H, W] complex.

    sampling: [B, 2] Å/px; energy [eV]; lens: per-sample parameters, C channels of defocus;
    aperture_cutoff [mrad]. ``temporal="envelope"`` multiplies the focal-spread envelope onto the
    coherent transfer function; ``"quadrature"`` sums intensities incoherently over
    ``quadrature_points`` Gauss-Hermite defocus values instead.
    """
    check_waves(waves)
    sampling = sampling.to(device=waves.device, dtype=waves.real.dtype)
    lam = wavelength(energy)
    alpha, phi = angular_grid(tuple(waves.shape[-2:]), sampling, lam)
    waves_fft = torch.fft.fft2(waves)[:, None]
    pupil = aperture(alpha, phi, sampling, lam, aperture_cutoff, soft_aperture)

    def intensity(lens_: Lens, temporal_envelope: bool) -> torch.Tensor:
        kernel = lens_kernel(alpha, phi, lam, lens_, temporal_envelope) * pupil
        image = ifft2(waves_fft * kernel.to(waves.dtype))
        return image.real.square() + image.imag.square()

    if temporal == "envelope":
        return intensity(lens, True)
    if temporal != "quadrature":
        raise ImageError(f"temporal must be 'envelope' or 'quadrature', got {temporal!r}")
    nodes, weights = focal_quadrature(quadrature_points)
    total = torch.zeros_like(waves.real[:, None])
    for node, weight in zip(nodes.tolist(), weights.tolist(), strict=True):
        shifted = replace(lens, defocus=lens.defocus + node * lens.focal_spread[:, None])
        total = total + weight * intensity(shifted, False)
    return total


def apply_ctf(
    waves: torch.Tensor | np.ndarray,
    sampling: float | tuple[float, float],
    energy: float,
    defocus: float | Sequence[float],
    Cs: float = 0.0,
    astigmatism: float = 0.0,
    astigmatism_angle: float = 0.0,
    focal_spread: float = 0.0,
    source_semiangle: float = 0.0,
    aperture: float = math.inf,
    soft_aperture: bool = True,
    temporal: TemporalMode = "envelope",
    quadrature_points: int = 7,
) -> torch.Tensor:
    """Noise-free image intensity of exit waves for ONE set of lens parameters (no randomness).

    waves: [H, W] or [B, H, W] complex, abTEM order (axis 0 = x); sampling (sx, sy) [Å/px];
    energy [eV]; defocus [Å] (= -C10, positive = underfocus), a float or a focal series of C
    values; Cs [Å]; astigmatism [Å] at astigmatism_angle [rad]; focal_spread [Å] (1/e width, as
    abTEM); source_semiangle [mrad] (abTEM's ``angular_spread``); aperture semi-angle [mrad].
    Returns intensity shaped like ``waves`` for a float defocus, with a channel axis of C inserted
    before (H, W) for a sequence. Matches abTEM's ``Waves.apply_ctf(CTF(...)).intensity()``.
    """
    waves = torch.as_tensor(waves)
    single = waves.ndim == 2
    batch = waves[None] if single else waves
    check_waves(batch)
    real = batch.real.dtype
    sx, sy = (sampling, sampling) if isinstance(sampling, int | float) else sampling
    if not (sx > 0 and sy > 0):
        raise ImageError(f"sampling must be > 0 Å/px, got {sampling}")
    n = batch.shape[0]
    series = not isinstance(defocus, int | float)
    values = torch.as_tensor(list(defocus) if series else [defocus], dtype=real)

    def per_sample(value: float) -> torch.Tensor:
        return torch.full((n,), float(value), dtype=real, device=batch.device)

    lens = Lens(
        defocus=values.to(batch.device).expand(n, -1),
        Cs=per_sample(Cs),
        astigmatism=per_sample(astigmatism),
        astigmatism_angle=per_sample(astigmatism_angle),
        focal_spread=per_sample(focal_spread),
        source_semiangle=per_sample(source_semiangle),
    )
    grid = torch.tensor([[sx, sy]], dtype=real, device=batch.device).expand(n, 2)
    out = form_intensity(
        batch, grid, energy, lens, aperture, soft_aperture, temporal, quadrature_points
    )
    out = out if series else out[:, 0]
    return out[0] if single else out
