"""Image formation in torch (no abTEM): CTF, focal series, resampling, dose, detector MTF.

`apply_ctf` forms one noise-free image for one parameter set (analysis, tests);
`ImageFormation` forms training batches with parameters drawn per sample from the ranges of an
`ImageFormationConfig`. Defocus as abTEM: defocus = -C10, positive = underfocus.
"""

from hrtem_sim.optics.ctf import Lens, apply_ctf, form_intensity, wavelength
from hrtem_sim.optics.formation import ImageFormation
from hrtem_sim.optics.mtf import apply_mtf, mtf_curve
from hrtem_sim.optics.noise import poisson_noise
from hrtem_sim.optics.params import (
    ImageFormationConfig,
    MTFConfig,
    OpticsParams,
    Range,
    load_detector,
)
from hrtem_sim.optics.resample import DetectorGrid, detector_grid, resample

__all__ = [
    "DetectorGrid",
    "ImageFormation",
    "ImageFormationConfig",
    "Lens",
    "MTFConfig",
    "OpticsParams",
    "Range",
    "apply_ctf",
    "apply_mtf",
    "detector_grid",
    "form_intensity",
    "load_detector",
    "mtf_curve",
    "poisson_noise",
    "resample",
    "wavelength",
]
