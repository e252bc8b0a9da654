"""`hrtem check scenes|series|vacancies|threshold`: a model checked where users use it, on
simulations whose truth is known and whose seeds are disjoint from training.

Commands only parse and hand off to :mod:`hrtem_checks`; they need the simulation extra (abTEM,
ASE), and cache what they simulate under the data root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from hrtem_analysis.settings import Settings

from hrtem_cli.analysis_options import BatchSize, Overlap, Window
from hrtem_cli.errors import one_line_errors
from hrtem_cli.options import (
    SCENE_DOSES,
    SCENE_SAMPLING,
    SCENE_SIZE,
    Defocus,
    Device,
    Model,
    parse_defocus,
    parse_doses,
    parse_range,
)

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="check",
    help="Check a model on simulated cases with known truth: particle scenes, a series with "
    "known events, MoS2 focal series with known vacancies; calibrate the zone-axis threshold.",
    no_args_is_help=True,
)
DEFAULTS = Settings()


@app.command("scenes")
@one_line_errors()
def scenes(
    model: Model,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            "-c",
            help="Another nanoparticle model on the same scenes (repeatable), e.g. the U-Net.",
        ),
    ] = None,
    frames: Annotated[int, typer.Option("--scenes", min=1, help="Simulated frames.")] = 4,
    doses: Annotated[str, typer.Option(help="Comma-separated doses [e-/Å^2].")] = SCENE_DOSES,
    size: Annotated[
        int, typer.Option(help="Side [px] of a frame, at the first model's sampling.", min=8)
    ] = SCENE_SIZE,
    sampling: Annotated[
        str,
        typer.Option(
            help="LOW,HIGH [Å/px]: each frame is imaged at a sampling drawn from this range "
            "(the analysis resamples it to the model's)."
        ),
    ] = SCENE_SAMPLING,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="Spec of the scenes [default: data_specs/benchmarks/scenes.yaml].",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Profile of the scene spec (e.g. tiny).", show_default=False)
    ] = None,
    substrates: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated substrates of the scenes instead of the spec's held-out family "
            "(clumped_carbon), e.g. graded_carbon,graphitic_carbon,contaminated_carbon to see the "
            "model on the families it trained on.",
            show_default=False,
        ),
    ] = None,
    data_root: Annotated[Path, typer.Option(help="Where simulated scenes are cached.")] = Path(
        "data"
    ),
    workers: Annotated[
        int | None,
        typer.Option(
            help="Simulation workers for missing scenes (default: one per core; 0: this process).",
            show_default=False,
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            help="Scenes scored at once, one thread each (default: one per core).",
            show_default=False,
        ),
    ] = None,
    window: Window = DEFAULTS.window,
    overlap: Overlap = DEFAULTS.overlap,
    batch_size: BatchSize = DEFAULTS.batch_size,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the tables and plots go.")] = Path(
        "outputs/scenes"
    ),
    log: Annotated[bool, typer.Option(help="Log the tables and plots to an MLflow run.")] = True,
) -> None:
    """Nanoparticle models on large simulated frames: mostly amorphous carbon of a family the
    training data never hold (clumped_carbon; --substrates picks others), many Au particles
    (truncated octahedra, decahedra, icosahedra, random fcc cuts of 10-80 Å), half on a zone
    axis and half tilted 8-15°, some cut by the frame's edge, a quarter of the frames substrate
    only, from data_specs/benchmarks/scenes.yaml (seed 770001, disjoint from training), imaged
    with the nanoparticle task's microscope ranges at each dose and at a sampling drawn per frame
    from --sampling.

    Prints per model and dose: particle precision and recall (IoU >= 0.5), mean IoU of the found
    particles, false particles per frame, zone-axis accuracy and pixel IoU, beside a local-variance
    + Otsu baseline and the true masks; then recall by particle size (1 nm, 1.5-3 nm, > 3 nm;
    particles inside the frame) and of those cut by its edge, false particles on substrate-only
    frames and whether each model saw the scenes' substrates in training (from its card); then
    the zone-axis accuracy by particle shape. Writes OUT/scenes.csv, scene_particles.csv,
    scene_frames.csv (each frame's sampling and false particles), scene_zone.csv,
    scene_metrics.png and scene_example.png (the frame with the most particles).
    The scenes are simulated once and cached under --data-root.
    """
    from hrtem_checks.scenes.report import evaluate_scenes, table_text, zone_text

    result, files = evaluate_scenes(
        [model, *(compare or [])], frames, parse_doses(doses), out, size, data_root, workers,
        spec, profile, log=log, substrates=substrates.split(",") if substrates else None,
        frame_sampling=parse_range(sampling, "--sampling"), parallel=parallel or os.cpu_count() or 1,
        settings=Settings(window=window, overlap=overlap, batch_size=batch_size),
    )  # fmt: skip
    typer.echo(table_text(result.summary))
    typer.echo(zone_text(result.particles))
    typer.echo("wrote " + ", ".join(str(f) for f in files))


@app.command("series")
@one_line_errors()
def series(
    model: Model,
    columns_model: Annotated[
        str, typer.Option(help="Column model URI (as for `hrtem analyze series`).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the frames, the analysis and the report go.")
    ] = Path("outputs/check-series"),
    frames: Annotated[int, typer.Option(min=3, help="Frames of the simulated series.")] = 12,
    dose: Annotated[float, typer.Option(min=1e-3, help="Dose per frame [e-/Å^2].")] = 1000.0,
    sampling: Annotated[float, typer.Option(min=0.01, help="Detector sampling [Å/px].")] = 0.2,
    max_drift: Annotated[
        float, typer.Option(min=0.0, help="Largest drift between frames [Å].")
    ] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the particle, drift, events and noise.")] = 0,
    threshold: Annotated[
        float | None, typer.Option(help="As for `hrtem analyze series` [default: the material's].")
    ] = DEFAULTS.threshold,
    match_fraction: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="As for `hrtem analyze series`.")
    ] = DEFAULTS.match_fraction,
    device: Device = DEFAULTS.device,
) -> None:
    """Check the series analysis on a simulated series with known events before publishing.

    An Au truncated octahedron (30 Å, <110>) on amorphous carbon, simulated with abTEM frame by
    frame: it drifts (up to --max-drift per frame), is tilted 12° off axis in frames 4 and 9,
    and loses or regains 5 surface columns at frames 3, 6 and 10. The frames are analysed as
    `hrtem analyze series` analyses yours; printed: frame-selection accuracy, column-count error, event
    precision and recall, drift error; OUT/series_check.csv per frame and OUT/series_check.png
    (true against counted events, columns and drift). Needs the simulation extra (abTEM, ASE).
    """
    from dataclasses import replace

    from hrtem_analysis.frame_analysis import Analysis
    from hrtem_checks.series.check import series_check as run_check
    from hrtem_checks.series.scenario import Scenario
    from hrtem_msd import configure_threads
    from hrtem_sim.frames import Microscope

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
    typer.echo(f"wrote {run.csv}, {run.summary_csv}, {run.plot} and the analysis in {run.analysis}")


@app.command("vacancies")
@one_line_errors()
def vacancies(
    model: Model,
    doses: Annotated[
        str, typer.Option(help="Comma-separated doses [e-/Å^2]: those of your experiment.")
    ] = "1000,2000,20000,100000",
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the tables and plots go.")] = Path(
        "outputs/check-vacancies"
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
    (the model, MAE and bias, also relative to the true count, exact fraction, S1 precision / recall / F1,
    densities counted and true). The scenes' seed (data_specs/mos2_scenes.yaml: 20260112) is
    disjoint from training; they are simulated once and cached beside the training data.
    """
    from hrtem_checks.vacancies.test_split import (
        agreement_summary,
        check_species_model,
        vacancy_agreement,
        write_check,
    )
    from hrtem_msd.evaluation.dose_sweep import evaluated, training_data_path
    from hrtem_msd.store.load import expand_alias

    checked = evaluated(expand_alias(model, "mos2"), overrides or [])
    check_species_model(checked)
    values = parse_doses(doses)
    training_data = training_data_path(checked)
    if training_data.is_dir():
        table = vacancy_agreement(checked, values, batch_size)
        csv, png = write_check(table, out)
        typer.echo("test split of the training run:")
        typer.echo(agreement_summary(table).to_string(index=False, float_format="%.2f"))
        typer.echo(f"wrote {csv} and {png}")
    else:  # e.g. a shipped model: its training data is not on this machine
        typer.echo(f"test split skipped: the training data is not at {training_data}")
    if not realistic:
        return
    from hrtem_checks.vacancies.realistic import scene_agreement, scene_figure, scene_summary
    from hrtem_checks.vacancies.test_split import write_table_and_figure
    from hrtem_core.atomic import atomic_write

    frames = scene_agreement(
        checked, values, parse_defocus(defocus), scenes, scenes_profile, workers=workers
    )
    csv, png = write_table_and_figure(frames, scene_figure(frames), out, "vacancy_scenes")
    summary = scene_summary(frames)
    summary.insert(0, "model", checked.uri)  # for `hrtem models export --vacancies`
    summary_csv = atomic_write(
        out / "vacancy_scenes_summary.csv", lambda tmp: summary.to_csv(tmp, index=False)
    )
    typer.echo("realistic focal series (flakes, holes, frame edges, drift):")
    typer.echo(summary.to_string(index=False, float_format="%.3g"))
    typer.echo(f"wrote {csv}, {png} and {summary_csv}")


@app.command("threshold")
@one_line_errors()
def threshold(
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
    ] = Path("outputs/check-threshold"),
) -> None:
    """Derive the zone-axis threshold from simulations: Au particles on amorphous carbon
    (truncated octahedra, decahedra, icosahedra and random fcc cuts on <110>, <100> and <111>)
    on axis (tilt 0-1°) and tilted (8-15°), the peak-pair ratio of each with its true mask, and
    the threshold that separates them best. Prints and plots both distributions and writes the
    threshold with the d-spacings to the material file, which `hrtem analyze series` reads as its default
    --threshold. Needs the simulation extra (abTEM, ASE); 5-20 s per particle on one core."""
    from dataclasses import replace

    from hrtem_analysis.materials import material_path
    from hrtem_checks.threshold import Population, calibrate, distribution_table
    from hrtem_sim.frames import Microscope

    default = Microscope()
    microscope = replace(
        default, dose=dose, sampling=sampling, wave_sampling=min(default.wave_sampling, sampling)
    )
    command = (
        f"hrtem check threshold --particles {particles} --dose {dose:g} "
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
