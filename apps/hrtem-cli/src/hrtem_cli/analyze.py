"""`hrtem analyze particles|series|mos2|vacancy-check|calibrate-threshold|series-check`.

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

from hrtem_cli.errors import one_line_errors

if TYPE_CHECKING:
    from hrtem_analysis.frame_analysis import Analysis
    from hrtem_analysis.series import SeriesSummary

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="analyze",
    help="Analyse frames with a trained model: particles, series over time, MoS2 vacancies.",
    no_args_is_help=True,
)
DEFAULTS = Settings()
FIGURE_FRAMES = 16  # --figures by default for inputs of at most this many frames

MODEL_HELP = "Model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a directory."
Inputs = Annotated[
    list[Path],
    typer.Argument(help="Frame files (each one frame or a stack), or one folder (natural order)."),
]
Model = Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)]
Sampling = Annotated[
    float | None,
    typer.Option(
        help="Frame sampling [Å/px]; overrides the files' metadata (needed when they have none)."
    ),
]
FrameInterval = Annotated[
    float | None,
    typer.Option(
        help="Time between frames [s]; default: the files' time axis, else the frame index."
    ),
]
Out = Annotated[
    Path, typer.Option("--out", "-o", help="Output folder: frames.csv/.parquet, figures.")
]
Window = Annotated[
    int, typer.Option(min=8, help="Tiled-inference window [px, at the model's sampling].")
]
Overlap = Annotated[
    float, typer.Option(min=0.0, max=0.95, help="Overlap of neighbouring windows (fraction).")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Windows per forward pass.")]
MaxResample = Annotated[
    float,
    typer.Option(
        min=1.0,
        help="Refuse frames whose sampling differs from the model's by more than this factor.",
    ),
]
Device = Annotated[
    str | None,
    typer.Option(help="torch device, e.g. cpu, cuda, cuda:1 (default: CUDA when present)."),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", "-w", min=0, help="Local dask worker processes (0: in this process)."
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Existing dask scheduler, e.g. tcp://HOST:8786 (workers must see the input and --out)."
    ),
]


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
    if analysis.kind == "particles" and not math.isnan(summary.interpretable_fraction):
        typer.echo(
            f"interpretable (peak-pair ratio <= {analysis.settings.threshold:g}): "
            f"{summary.interpretable_fraction:.0%} of the analysed frames"
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
    columns_model: Annotated[
        str | None,
        typer.Option(help="Column model URI: count columns and events on interpretable frames."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Frames whose peak-pair ratio is <= this are interpretable (on a zone axis) "
            "[default: the material's, calibrated on simulations: configs/materials/MATERIAL.yaml]."
        ),
    ] = DEFAULTS.threshold,
    material: Annotated[
        str,
        typer.Option(help="Material file (name or .yaml) giving the threshold and d-spacings."),
    ] = DEFAULTS.material,
    sampling: Sampling = None,
    frame_interval: FrameInterval = None,
    min_area: Annotated[float, typer.Option(help="Smallest particle [nm^2].")] = DEFAULTS.min_area,
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
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        max_resample=max_resample,
        device=device,
    ).resolved()
    analysis = Analysis("particles", model, columns_model, settings)
    _run(inputs, analysis, out, sampling, frame_interval, workers, scheduler, figures)


def parse_defocus(text: str | None) -> tuple[float, ...] | None:
    """ "-60,0,60" -> (-60.0, 0.0, 60.0) [Å]; a bad item is a BadParameter naming it."""
    if text is None:
        return None
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise typer.BadParameter(
            f"defocus must be comma-separated numbers in Å, one per image, got {text!r}"
        ) from None


Defocus = Annotated[
    str | None,
    typer.Option(
        help="Defocus of each image of a focal series [Å], e.g. -60,0,60 (positive = underfocus); "
        "overrides the files' metadata. A series the model was not trained on is refused."
    ),
]
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


@app.command("vacancy-check")
@one_line_errors()
def vacancy_check(
    model: Model,
    doses: Annotated[
        str, typer.Option(help="Comma-separated doses [e-/Å^2]: those of your experiment.")
    ] = "1000,2000,20000,100000",
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the tables and plots go.")] = Path(
        "outputs/vacancy-check"
    ),
    defocus: Defocus = None,
    scenes: Annotated[
        Path | None,
        typer.Option(
            help="Spec of the realistic scenes [default: mos2_scenes.yaml beside the "
            "model's training spec]."
        ),
    ] = None,
    scenes_profile: Annotated[
        str, typer.Option(help="Profile of the scenes' spec (tiny, small, full).")
    ] = "small",
    realistic: Annotated[
        bool, typer.Option(help="Also check on realistic scenes (simulated once, then cached).")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes simulating the scenes [default: one per core]."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Test images per forward pass.")] = 8,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides for a model directory, e.g. data.root=/scratch/data.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check a MoS2 model's vacancy counts on simulations whose counts are known.

    1. The test split of the model's own training run, one exit-wave period per image, at each
    dose: OUT/vacancy_check.csv and .png.
    2. Realistic focal series (--realistic): MoS2 flakes with holes, frames that cut the lattice,
    drift between the focal images, the model's microscope at --defocus (default: its nominal
    series), counted as `hrtem analyze mos2` counts (registration, tiled inference, counted
    area): per frame OUT/vacancy_scenes.csv and .png, per dose OUT/vacancy_scenes_summary.csv
    (MAE and bias, also relative to the true count, exact fraction, S1 precision / recall / F1,
    densities counted and true).
    """
    from hrtem_analysis.vacancy_check import agreement_summary, vacancy_agreement, write_check
    from hrtem_msd.evaluate import evaluated

    from hrtem_cli.evaluate import parse_doses

    checked = evaluated(model, overrides or [])
    values = parse_doses(doses)
    table = vacancy_agreement(checked, values, batch_size)
    csv, png = write_check(table, out)
    typer.echo("test split of the training run:")
    typer.echo(agreement_summary(table).to_string(index=False, float_format="%.2f"))
    typer.echo(f"wrote {csv} and {png}")
    if not realistic:
        return
    from hrtem_analysis.scene_check import scene_agreement, scene_figure, scene_summary
    from hrtem_analysis.vacancy_check import write_table_and_figure
    from hrtem_core.atomic import atomic_write

    frames = scene_agreement(
        checked, values, parse_defocus(defocus), scenes, scenes_profile, workers=workers
    )
    csv, png = write_table_and_figure(frames, scene_figure(frames), out, "vacancy_scenes")
    summary = scene_summary(frames)
    summary_csv = atomic_write(
        out / "vacancy_scenes_summary.csv", lambda tmp: summary.to_csv(tmp, index=False)
    )
    typer.echo("realistic focal series (flakes, holes, frame edges, drift):")
    typer.echo(summary.to_string(index=False, float_format="%.3g"))
    typer.echo(f"wrote {csv}, {png} and {summary_csv}")


@app.command("calibrate-threshold")
@one_line_errors()
def calibrate_threshold(
    particles: Annotated[
        int, typer.Option(min=4, help="Simulated Au particles, half on axis, half tilted.")
    ] = 48,
    dose: Annotated[float, typer.Option(min=1e-3, help="Dose per image [e-/Å^2].")] = 1000.0,
    sampling: Annotated[float, typer.Option(min=0.01, help="Detector sampling [Å/px].")] = 0.2,
    diameter: Annotated[
        tuple[float, float],
        typer.Option(help="Range of particle diameters [Å] (the sizes in your frames)."),
    ] = (15.0, 80.0),
    seed: Annotated[int, typer.Option(help="Seed of the structures and the noise.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Material file to write [default: configs/materials/au.yaml]."),
    ] = None,
    report: Annotated[
        Path, typer.Option(help="Folder for ratios.csv and the plot ratios.png.")
    ] = Path("outputs/calibrate-threshold"),
) -> None:
    """Derive the zone-axis threshold from simulations: Au particles on amorphous carbon
    (truncated octahedra, decahedra, icosahedra and random fcc cuts on <110>, <100> and <111>)
    on axis (tilt 0-1°) and tilted (8-15°), the peak-pair ratio of each with its true mask, and
    the threshold that separates them best. Prints and plots both distributions and writes the
    threshold with the d-spacings to the material file, which `series` reads as its default
    --threshold. Needs the simulation extra (abTEM, ASE); 5-20 s per particle on one core."""
    from dataclasses import replace

    from hrtem_analysis.materials import material_path
    from hrtem_analysis.simulated_frames import Microscope
    from hrtem_analysis.threshold import Population, calibrate, distribution_table

    default = Microscope()
    microscope = replace(
        default, dose=dose, sampling=sampling, wave_sampling=min(default.wave_sampling, sampling)
    )
    command = (
        f"hrtem analyze calibrate-threshold --particles {particles} --dose {dose:g} "
        f"--sampling {sampling:g} --diameter {diameter[0]:g} {diameter[1]:g} --seed {seed}"
    )
    target = out or material_path("au")
    population = Population(diameter=list(diameter))
    run = calibrate(particles, microscope, target, report, command, population, seed=seed)
    typer.echo(distribution_table(run.table).to_string(index=False, float_format="%.2f"))
    typer.echo(
        f"threshold {run.material.threshold:g}: on axis kept {run.separation.on_axis_kept:.0%}, "
        f"tilted rejected {run.separation.tilted_rejected:.0%} "
        f"(balanced accuracy {run.separation.balanced_accuracy:.2f})"
    )
    typer.echo(f"wrote {run.material_file}, {run.csv} and {run.plot}")


@app.command("series-check")
@one_line_errors()
def series_check(
    model: Model,
    columns_model: Annotated[str, typer.Option(help="Column model URI (as for `series`).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the frames, the analysis and the report go.")
    ] = Path("outputs/series-check"),
    frames: Annotated[int, typer.Option(min=3, help="Frames of the simulated series.")] = 12,
    dose: Annotated[float, typer.Option(min=1e-3, help="Dose per frame [e-/Å^2].")] = 1000.0,
    sampling: Annotated[float, typer.Option(min=0.01, help="Detector sampling [Å/px].")] = 0.2,
    max_drift: Annotated[
        float, typer.Option(min=0.0, help="Largest drift between frames [Å].")
    ] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the particle, drift, events and noise.")] = 0,
    threshold: Annotated[
        float | None, typer.Option(help="As for `series` [default: the material's].")
    ] = DEFAULTS.threshold,
    match_fraction: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="As for `series`.")
    ] = DEFAULTS.match_fraction,
    device: Device = DEFAULTS.device,
) -> None:
    """Check the series analysis on a simulated series with known events before publishing.

    An Au truncated octahedron (30 Å, <110>) on amorphous carbon, simulated with abTEM frame by
    frame: it drifts (up to --max-drift per frame), is tilted 12° off axis in frames 4 and 9,
    and loses or regains 5 surface columns at frames 3, 6 and 10. The frames are analysed as
    `series` analyses yours; printed: frame-selection accuracy, column-count error, event
    precision and recall, drift error; OUT/series_check.csv per frame and OUT/series_check.png
    (true against counted events, columns and drift). Needs the simulation extra (abTEM, ASE).
    """
    from dataclasses import replace

    from hrtem_analysis.frame_analysis import Analysis
    from hrtem_analysis.series_check import series_check as run_check
    from hrtem_analysis.series_scenario import Scenario
    from hrtem_analysis.simulated_frames import Microscope
    from hrtem_msd import configure_threads

    configure_threads()
    settings = Settings(threshold=threshold, match_fraction=match_fraction, device=device)
    analysis = Analysis("particles", model, columns_model, settings.resolved(), out / "figures")
    default = Microscope()
    microscope = replace(
        default, dose=dose, sampling=sampling, wave_sampling=min(default.wave_sampling, sampling)
    )
    scenario = replace(Scenario(), frames=frames, max_drift=max_drift, seed=seed)
    run = run_check(analysis, out, scenario, microscope)
    shown = [c for c in run.table.columns if not c.startswith("drift")]
    typer.echo(run.table.to_string(index=False, float_format="%.2f", columns=shown))
    for line in run.summary.lines():
        typer.echo(line)
    typer.echo(f"wrote {run.csv}, {run.plot} and the analysis in {run.analysis}")
