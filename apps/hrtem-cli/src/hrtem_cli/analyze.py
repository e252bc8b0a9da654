"""`hrtem analyze particles|series|mos2|watch`: a trained model on the user's frames.

Commands only parse and hand off to :mod:`hrtem_analysis`; every default shown in ``--help``
comes from :class:`hrtem_analysis.settings.Settings`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from hrtem_analysis.settings import Settings
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hrtem_cli.analysis_options import (
    BatchSize,
    ColumnsModel,
    FrameInterval,
    Inputs,
    Material,
    MaxResample,
    MinArea,
    Out,
    Overlap,
    Sampling,
    Scheduler,
    Threshold,
    Window,
    Workers,
)
from hrtem_cli.errors import one_line_errors
from hrtem_cli.options import Defocus, Device, Model, parse_defocus
from hrtem_cli.watch import watch

if TYPE_CHECKING:
    from hrtem_analysis.frame_analysis import Analysis
    from hrtem_analysis.series import SeriesSummary

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="analyze",
    help="Analyse frames with a trained model: particles, series over time, MoS2 vacancies, a "
    "folder live as the camera writes it.",
    no_args_is_help=True,
)
DEFAULTS = Settings()
FIGURE_FRAMES = 16  # --figures by default for inputs of at most this many frames


def _run(
    inputs: list[Path],
    analysis: Analysis,
    out: Path,
    sampling: float | None,
    frame_interval: float | None,
    workers: int = 0,
    scheduler: str | None = None,
    figures: bool | None = None,
) -> None:
    """Open the frames, run with a progress bar, print the summary; exit 1 if every frame failed.

    figures: per-frame PNGs in OUT/figures; None: when the input has at most FIGURE_FRAMES frames.
    """
    from dataclasses import replace

    from hrtem_analysis.frames import open_frames
    from hrtem_analysis.series import run_series
    from hrtem_msd import configure_threads

    configure_threads()
    source = open_frames(inputs, analysis.channels(), sampling, frame_interval)
    if figures if figures is not None else len(source) <= FIGURE_FRAMES:
        analysis = replace(analysis, figures=out / "figures")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("frames", total=len(source))

        def advance(done: int, row: dict | None) -> None:
            label = "frames" if row is None else f"frame {row['frame']}"
            progress.update(task, completed=done, description=label)

        summary = run_series(source, analysis, out, workers, scheduler, progress=advance)
    _print_summary(summary, analysis)
    if summary.analysed == 0 and summary.failed > 0:
        typer.echo(f"error: every frame failed; first: {summary.first_error}", err=True)
        raise typer.Exit(1)


def _print_summary(summary: SeriesSummary, analysis: Analysis) -> None:
    typer.echo(
        f"frames: {summary.frames}; analysed {summary.analysed}, skipped {summary.skipped} "
        f"(already in the table), failed {summary.failed}, no particle {summary.no_particle}; "
        f"{summary.seconds:.1f} s"
    )
    if analysis.kind == "particles" and summary.sizes:
        sizes = ", ".join(f"{name} {count}" for name, count in summary.sizes.items())
        typer.echo(
            f"particles (above --min-area) by equivalent diameter: {sizes}; a model that takes "
            "carbon for particles shows many under 1.5 nm"
        )
    if analysis.kind == "particles" and summary.zones:
        zones = ", ".join(f"{name} {count}" for name, count in sorted(summary.zones.items()))
        typer.echo(f"zone of each frame's largest particle, from its spots: {zones}")
    if analysis.kind == "particles" and not math.isnan(summary.interpretable_fraction):
        typer.echo(
            f"interpretable (a single-crystal zone, or twinned with peak-pair ratio <= "
            f"{analysis.settings.threshold:g}): {summary.interpretable_fraction:.0%} of the "
            "analysed frames"
        )
    if summary.first_error:
        typer.echo(f"first failure: {summary.first_error}")
    typer.echo(f"table: {summary.csv} and {summary.parquet}")
    if analysis.kind == "particles" and analysis.columns_model is not None:
        typer.echo(f"events: {summary.events}")
    if summary.plot is not None:
        typer.echo(f"plot: {summary.plot}")
    if analysis.figures is not None:
        typer.echo(f"figures: {analysis.figures}")


PARTICLES_HELP = """Nanoparticles in each frame: count, areas [nm^2] and the Fourier peak-pair
ratio of each particle; whether the frame is on a zone axis; with --columns-model, atomic
columns, the drift [Å] and the diffusion events between consecutive interpretable frames
(columns that appeared or vanished, matched after removing the drift within a fraction of the
column spacing; each one with its position in OUT/events.csv).

Resumable: rows are appended to OUT/frames.csv per frame and a rerun skips frames already
there; OUT/frames.parquet and the time-series plot OUT/series.png are written at the end. With
--figures (default for up to 16 frames), OUT/figures/ gets the image / inference / FFT panel
and the particles coloured by zone-axis alignment. `particles` and `series` are one command."""


@app.command("series", help=PARTICLES_HELP)
@app.command("particles", help=PARTICLES_HELP)
@one_line_errors()
def particles(
    inputs: Inputs,
    model: Model,
    out: Out = Path("outputs/particles"),
    columns_model: ColumnsModel = None,
    threshold: Threshold = DEFAULTS.threshold,
    material: Material = DEFAULTS.material,
    sampling: Sampling = None,
    frame_interval: FrameInterval = None,
    min_area: MinArea = DEFAULTS.min_area,
    match_fraction: Annotated[
        float,
        typer.Option(
            min=0.05,
            max=1.0,
            help="After removing the drift, a column within this fraction of the column spacing "
            "(measured from the data) of a column of the previous frame is the same column.",
        ),
    ] = DEFAULTS.match_fraction,
    match_distance: Annotated[
        float | None,
        typer.Option(help="Fixed match distance [Å]; overrides --match-fraction."),
    ] = DEFAULTS.match_distance,
    max_drift: Annotated[
        float,
        typer.Option(min=0.1, help="Largest plausible drift [Å] between interpretable frames."),
    ] = DEFAULTS.max_drift,
    confirm_events: Annotated[
        bool,
        typer.Option(
            "--confirm-events/--raw-events",
            help="A column counts as appeared or vanished only when the next frame with columns "
            "does not undo it (a one-frame flicker of the detection is no event); --raw-events: "
            "every change between two frames.",
        ),
    ] = DEFAULTS.confirm_events,
    workers: Workers = 0,
    scheduler: Scheduler = None,
    window: Window = DEFAULTS.window,
    overlap: Overlap = DEFAULTS.overlap,
    batch_size: BatchSize = DEFAULTS.batch_size,
    max_resample: MaxResample = DEFAULTS.max_resample,
    device: Device = DEFAULTS.device,
    figures: Annotated[
        bool | None,
        typer.Option(
            help=f"Per-frame PNG panels in OUT/figures [default: for up to {FIGURE_FRAMES} frames]."
        ),
    ] = None,
) -> None:
    from hrtem_analysis.frame_analysis import Analysis

    settings = Settings(
        material=material,
        threshold=threshold,
        min_area=min_area,
        match_fraction=match_fraction,
        match_distance=match_distance,
        max_drift=max_drift,
        confirm_events=confirm_events,
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        max_resample=max_resample,
        device=device,
    ).resolved()
    analysis = Analysis("particles", model, columns_model, settings)
    _run(inputs, analysis, out, sampling, frame_interval, workers, scheduler, figures)


FocalDrift = Annotated[
    float,
    typer.Option(min=0.0, help="Largest drift between the first and last focal image [Å]."),
]
VacancyBorder = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Vacancies are counted 2 b + this [Å] inside the frame's edges (b: Mo-S bond).",
    ),
]


@app.command()
@one_line_errors()
def mos2(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Focal series: a folder or stack of images, C consecutive images per time point."
        ),
    ],
    model: Model,
    out: Out = Path("outputs/mos2"),
    sampling: Sampling = None,
    defocus: Defocus = None,
    frame_interval: FrameInterval = None,
    focal_drift: FocalDrift = DEFAULTS.focal_drift,
    vacancy_border: VacancyBorder = DEFAULTS.vacancy_border,
    workers: Workers = 0,
    scheduler: Scheduler = None,
    window: Window = DEFAULTS.window,
    overlap: Overlap = DEFAULTS.overlap,
    batch_size: BatchSize = DEFAULTS.batch_size,
    max_resample: MaxResample = DEFAULTS.max_resample,
    device: Device = DEFAULTS.device,
    figures: Annotated[
        bool | None,
        typer.Option(
            help="Per-frame PNG (image, species, counted region and vacancies) in OUT/figures "
            f"[default: for up to {FIGURE_FRAMES} frames]."
        ),
    ] = None,
) -> None:
    """MoS2 focal series: Mo / S2 / S1 columns and sulphur vacancies per time point, with the area
    over which they were counted [nm^2] and their density [1/nm^2].

    The model's in_channels (e.g. 3) consecutive images make one time point, in the order of the
    model's defocus values, taken in that order; their defocus (from the files or --defocus) is
    checked against the model's training, their drift undone onto the reference image. Only S
    sites with all six Mo neighbours, inside the frame by 2 b + --vacancy-border, are counted, so
    a rate over time does not follow a changing field of view. Resumable like `series`; the
    vacancies, their density and the counted area against time in OUT/series.png.
    """
    from hrtem_analysis.frame_analysis import Analysis

    settings = Settings(
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        max_resample=max_resample,
        device=device,
        defocus=parse_defocus(defocus),
        focal_drift=focal_drift,
        vacancy_border=vacancy_border,
    )
    analysis = Analysis("mos2", model, None, settings)
    analysis.load_models()  # a series outside the trained defocus is refused before any frame
    _run(inputs, analysis, out, sampling, frame_interval, workers, scheduler, figures)


app.command("watch")(watch)
