"""How frames are analysed: every default of the analysis, in one place, importable without torch.

The CLI shows these defaults in its ``--help``; :func:`hrtem_analysis.tiled.tiled_predict` takes
its window, overlap and batch size from here.
"""

from __future__ import annotations

from dataclasses import dataclass

AU_D_SPACINGS = (2.355, 2.039)  # Au {111} and {200} [Å]
WINDOW = 512  # [px at the model's sampling]
OVERLAP = 0.5  # fraction of a window shared with its neighbour
BATCH_SIZE = 8  # windows per forward pass
VACANCY_BORDER = 1.0  # [Å] of the frame's edge where the model's output is not trusted
FOCAL_DRIFT = 5.0  # [Å] largest drift between the first and the last image of a focal series


@dataclass(frozen=True)
class Settings:
    """How frames are analysed.

    threshold:      a frame is interpretable when its peak-pair ratio is <= threshold.
    min_area:       smallest particle [nm^2].
    d_spacings:     lattice d-spacings [Å] whose Fourier peaks are paired (default Au {111}, {200}).
    match_distance: a column moving less than this [Å] between frames is the same column.
    window, overlap, batch_size: tiled inference (:func:`hrtem_analysis.tiled.tiled_predict`).
    device:         torch device of the models; None: CUDA when present, else the CPU.
    defocus:        MoS2 focal series: defocus [Å] of each image (positive = underfocus),
                    overriding the files' metadata; None: from the files, else the model's.
    focal_drift:    MoS2: largest drift [Å] between the focal series' first and last image.
    vacancy_border: MoS2: vacancies are counted ``2 b + vacancy_border`` [Å] (b = Mo-S bond)
                    inside the frame's edges (:func:`hrtem_analysis.vacancies.count_vacancies`).
    """

    threshold: float = 2.0
    min_area: float = 1.0
    d_spacings: tuple[float, ...] = AU_D_SPACINGS
    match_distance: float = 1.0
    window: int = WINDOW
    overlap: float = OVERLAP
    batch_size: int = BATCH_SIZE
    device: str | None = None
    defocus: tuple[float, ...] | None = None
    focal_drift: float = FOCAL_DRIFT
    vacancy_border: float = VACANCY_BORDER
