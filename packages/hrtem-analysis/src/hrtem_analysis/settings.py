"""How frames are analysed: every default of the analysis, in one place, importable without torch.

The CLI shows these defaults in its ``--help``; :func:`hrtem_analysis.tiled.tiled_predict` takes
its window, overlap and batch size from here. The zone-axis threshold and the d-spacings it was
calibrated for come from the material's file (:mod:`hrtem_analysis.materials`) unless given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

AU_D_SPACINGS = (2.355, 2.039, 1.442)  # Au {111}, {200} and {220} [Å] (<111> shows only {220})
# Windows of 1024 px (2 per forward: the pixels of 8 windows of 512) at overlap 0.5 compute
# (2N - W)^2 px on an N^2 frame: 9.4 M on 2048^2 against 12.8 M with 512 px windows. The scene
# check (4 scenes of 2048^2, 3 doses, 2 cores) ran in 163 s against 191 s, with the same recall
# >= 1.5 nm, fewer false particles (1.75 / 0.5 / 0.25 per frame against 2.0 / 1.0 / 0.5) and pixel
# IoU 0.81-0.85 against 0.77-0.85; 2048 px windows (135 s) lost 1 nm clusters (0.4 against 0.8
# at 1000 e-/Å^2).
WINDOW = 1024  # [px at the model's sampling]
OVERLAP = 0.5  # fraction of a window shared with its neighbour
BATCH_SIZE = 2  # windows per forward pass
MAX_RESAMPLE = 4.0  # largest factor a frame is resampled by to the model's sampling, either way
VACANCY_BORDER = 1.0  # [Å] of the frame's edge where the model's output is not trusted
FOCAL_DRIFT = 5.0  # [Å] largest drift between the first and the last image of a focal series
SUPPRESS = 0.7  # hrtem_msd.nets.points.SUPPRESS (torch-free here; a test keeps the two equal)


@dataclass(frozen=True)
class Settings:
    """How frames are analysed.

    material:       the material file (``configs/materials/<material>.yaml``) giving the
                    defaults of ``threshold`` and ``d_spacings``.
    threshold:      peak-pair ratio at most which a particle named "twinned" is on its axis
                    (single crystals go by their zone's name, :func:`~hrtem_analysis.zone_naming.on_zone`;
                    None: the material's, calibrated on simulated particles on and off axis).
    min_area:       smallest particle [nm^2]; smaller components of the mask are dropped.
    opening:        radius [Å] of the disc opening that cleans the mask (probability > 0.5)
                    before holes are filled and small components dropped; 0: none.
    d_spacings:     lattice d-spacings [Å] whose Fourier peaks are paired (None: the material's).
    match_fraction: a column closer than this fraction of the column spacing (the median
                    nearest-neighbour distance of the detected columns) to where a column of the
                    previous frame lies after removing the drift is the same column.
    match_distance: [Å], overrides ``match_fraction`` (None: tied to the lattice).
    suppress:       a detected column closer than this fraction of the column spacing of the
                    frame's zone (:func:`~hrtem_analysis.zone_naming.column_spacing`) to a
                    stronger one is dropped (:func:`hrtem_msd.nets.points.suppress_weaker`); 0: none.
    max_drift:      largest plausible drift [Å] between consecutive interpretable frames.
    confirm_events: a column counts as appeared or vanished only when the next frame with
                    columns does not undo it (one frame's flicker of the detection is no event;
                    :mod:`hrtem_analysis.series_writer`); False: every change between two frames.
    window, overlap, batch_size: tiled inference (:func:`hrtem_analysis.tiled.tiled_predict`).
    max_resample:   a frame whose sampling differs from the model's by more than this factor
                    (either way) is refused, not resampled.
    device:         torch device of the models; None: CUDA when present, else the CPU.
    defocus:        MoS2 focal series: defocus [Å] of each image (positive = underfocus),
                    overriding the files' metadata; None: from the files, else the model's.
    focal_drift:    MoS2: largest drift [Å] between the focal series' first and last image.
    vacancy_border: MoS2: vacancies are counted ``2 b + vacancy_border`` [Å] (b = Mo-S bond)
                    inside the frame's edges (:func:`hrtem_analysis.vacancies.count_vacancies`).
    """

    material: str = "au"
    threshold: float | None = None
    min_area: float = 1.0
    opening: float = 0.0
    d_spacings: tuple[float, ...] | None = None
    match_fraction: float = 0.5
    match_distance: float | None = None
    suppress: float = SUPPRESS
    max_drift: float = 5.0
    confirm_events: bool = True
    window: int = WINDOW
    overlap: float = OVERLAP
    batch_size: int = BATCH_SIZE
    max_resample: float = MAX_RESAMPLE
    device: str | None = None
    defocus: tuple[float, ...] | None = None
    focal_drift: float = FOCAL_DRIFT
    vacancy_border: float = VACANCY_BORDER

    def resolved(self) -> Settings:
        """These settings with ``threshold`` and ``d_spacings`` filled in from the material's
        file where None (an HRTEMError naming the file when it is missing or malformed)."""
        if self.threshold is not None and self.d_spacings is not None:
            return self
        from hrtem_analysis.materials import load_material

        material = load_material(self.material)
        return replace(
            self,
            threshold=material.threshold if self.threshold is None else self.threshold,
            d_spacings=material.d_spacings if self.d_spacings is None else self.d_spacings,
        )
