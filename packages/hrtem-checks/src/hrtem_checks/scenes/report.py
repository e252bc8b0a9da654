"""What the scene benchmark shows and keeps: a table on screen, CSVs, two PNGs, MLflow records.

Files (written atomically under ``out``): ``scenes.csv`` (metrics per method and dose),
``scene_particles.csv`` (every true particle per method and dose: found, IoU, peak-pair ratio,
classified on axis), ``scene_frames.csv`` (per method, dose and frame: its sampling, true,
predicted, found and false particles), ``scene_zone.csv`` (zone-axis accuracy per method, dose and particle
shape), ``scene_metrics.png`` (each metric against dose, one line per method) and
``scene_example.png`` (one frame with the true and each method's predicted outlines).

:func:`evaluate_scenes` is ``hrtem check scenes``; :func:`benchmark_run` the same at the end
of ``hrtem train --scenes N``: metrics ``scenes/<method>/<metric>`` (step = dose [e-/Å^2]) and the
files logged to the training run, the table appended to the registered version's description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis.settings import Settings
from hrtem_core.atomic import atomic_write
from matplotlib.figure import Figure

from hrtem_checks.scenes.benchmark import (
    CLASSICAL,
    DOSES,
    FRAME_SAMPLING,
    SIZE,
    TRUTH,
    SceneResult,
    SceneSetup,
    default_setup,
    scene_benchmark,
)
from hrtem_checks.scenes.detection import METRICS, zone_by_shape

FILES = ("scenes.csv", "scene_particles.csv", "scene_frames.csv", "scene_zone.csv", "scene_metrics.png", "scene_example.png")  # fmt: skip
SHOWN = ["method", "dose", "precision", "recall", "mean_iou", "false_per_frame", "zone_accuracy", "pixel_iou"]  # fmt: skip
BY_SIZE = ["method", "dose", "recall_1nm", "recall_1.5-3nm", "recall_3nm+", "recall_1.5nm+", "recall_edge", "false_per_empty_frame", "exposure"]  # fmt: skip
ZONE_NAMED = ["method", "dose", "zone_on_off", "zone_named", "mtp_as_zone"]
LABELS = {
    "precision": "precision",
    "recall": "recall (IoU ≥ 0.5)",
    "mean_iou": "mean IoU of found particles",
    "false_per_frame": "false particles per frame",
    "zone_accuracy": "zone axis vs tilted: accuracy",
    "pixel_iou": "pixel IoU of the masks",
}


def table_text(summary: pd.DataFrame) -> str:
    """The summary as two fixed-width tables for the screen: the metrics, then recall by particle
    size, false particles on substrate-only frames and whether each model saw the scenes'
    substrates in training."""
    shown = {"float_format": lambda v: f"{v:.3f}", "na_rep": "-", "index": False}
    substrates = summary["substrates"].iloc[0] if len(summary) else "-"
    return "\n".join(
        [
            summary[SHOWN].to_string(**shown),
            f"by particle size, on substrates {substrates}:",
            summary[BY_SIZE].to_string(**shown),
            "zones named from the spots (hrtem_analysis.zone_naming) of the found particles: "
            "single crystals on/off axis right, on-axis ones named right, twinned named a zone:",
            summary[ZONE_NAMED].to_string(**shown),
        ]
    )


def zone_text(particles: pd.DataFrame) -> str:
    """Zone-axis accuracy per shape (rows: method and dose; columns: shape), for the screen."""
    table = zone_by_shape(particles)
    if table.empty:
        return "zone axis vs tilted by shape: no particle found"
    wide = table.pivot_table(
        index=["method", "dose"], columns="shape", values="accuracy", sort=False
    ).reset_index()
    wide.columns.name = None
    text = wide.to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="-")
    return "zone axis vs tilted, accuracy by shape:\n" + text


def metrics_figure(summary: pd.DataFrame) -> Figure:
    """Each metric against dose (log axis), one line per method (classical dashed, truth dotted)."""
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    styles = {CLASSICAL: "--", TRUTH: ":"}
    for ax, metric in zip(axes, METRICS, strict=True):
        for method, rows in summary.groupby("method", sort=False):
            ax.plot(rows["dose"], rows[metric], styles.get(method, "-"), marker="o", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("dose [e$^-$/Å$^2$]")
        ax.set_title(LABELS[metric])
        ax.grid(True, which="both", alpha=0.3)
        if metric != "false_per_frame":
            ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize="small")
    return fig


def example_figure(result: SceneResult) -> Figure:
    """The example frame (transposed: x right, y up, Å) with true outlines (white) and one panel
    per method with its predicted outlines."""
    example = result.example
    methods = [m for m in example.predicted if m != TRUTH]
    fig = Figure(figsize=(4.6 * len(methods), 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    extent = (
        0.0,
        example.image.shape[0] * example.sampling[0],
        0.0,
        example.image.shape[1] * example.sampling[1],
    )
    x = (np.arange(example.image.shape[0]) + 0.5) * example.sampling[0]
    y = (np.arange(example.image.shape[1]) + 0.5) * example.sampling[1]
    low, high = np.percentile(example.image, [1, 99])
    for ax, method in zip(axes, methods, strict=True):
        ax.imshow(example.image.T, cmap="gray", origin="lower", extent=extent, vmin=low, vmax=high)
        ax.contour(x, y, (example.truth > 0).T, levels=[0.5], colors="white", linewidths=1.0)
        ax.contour(
            x, y, (example.predicted[method] > 0).T, levels=[0.5], colors="tab:red", linewidths=1.0
        )
        ax.set_title(f"{method}\nwhite: true, red: predicted", fontsize="small")
        ax.set_xlabel("x [Å]")
        ax.set_ylabel("y [Å]")
    fig.suptitle(
        f"scene {example.scene} at {example.dose:g} e$^-$/Å$^2$, {example.sampling[0]:.3g} Å/px"
    )
    return fig


def write_report(result: SceneResult, out: str | Path) -> list[Path]:
    """The :data:`FILES` under ``out``, atomically; returns their paths."""
    out = Path(out)
    metrics, example = metrics_figure(result.summary), example_figure(result)
    zone = zone_by_shape(result.particles)
    return [
        atomic_write(out / FILES[0], lambda tmp: result.summary.to_csv(tmp, index=False)),
        atomic_write(out / FILES[1], lambda tmp: result.particles.to_csv(tmp, index=False)),
        atomic_write(out / FILES[2], lambda tmp: result.frames.to_csv(tmp, index=False)),
        atomic_write(out / FILES[3], lambda tmp: zone.to_csv(tmp, index=False)),
        atomic_write(out / FILES[4], lambda tmp: metrics.savefig(tmp, dpi=110, format="png")),
        atomic_write(out / FILES[5], lambda tmp: example.savefig(tmp, dpi=110, format="png")),
    ]


def description_text(result: SceneResult) -> str:
    """The summary as Markdown lines, for a registered version's description."""
    frames = int(result.summary["frames"].iloc[0]) if len(result.summary) else 0
    low, high = result.frame_sampling
    lines = [
        f"scene benchmark: {frames} frames of {result.size}^2 px at {result.sampling:g} Å/px "
        f"(imaged at {low:g}-{high:g} Å/px; scenes {result.spec_hash})",
        "",
    ]
    for _, row in result.summary.iterrows():
        values = ", ".join(f"{m} {row[m]:.3g}" for m in METRICS if not math.isnan(row[m]))
        lines.append(f"- {row['method']} @ {row['dose']:g} e-/Å^2: {values}")
    return "\n".join(lines)


def log_result(result: SceneResult, files: Sequence[Path], run_id: str | None = None) -> str:
    """Log the metrics ``scenes/<method>/<metric>`` (step: dose) and ``files`` to run ``run_id``
    (None: a new run "scenes" in the nanoparticle experiment); returns the run id."""
    import mlflow
    from hrtem_msd.store.tracking import experiment_for, tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    if run_id is None:
        context = mlflow.start_run(experiment_id=experiment_for("nanoparticle"), run_name="scenes")
    else:
        context = mlflow.start_run(run_id=run_id)
    with context as run:
        names = {method: _metric_name(method) for method in result.summary["method"].unique()}
        for _, row in result.summary.iterrows():
            for metric in METRICS:
                if not math.isnan(row[metric]):
                    key = f"scenes/{names[row['method']]}/{metric}"
                    mlflow.log_metric(key, float(row[metric]), step=round(row["dose"]))
        mlflow.log_param("scenes.spec_hash", result.spec_hash)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="scenes")
        return run.info.run_id


def _metric_name(method: str) -> str:
    """An MLflow-safe name of a method (URIs lose their ':' and '@')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in method).strip("_")


def append_description(model_uri: str, text: str) -> bool:
    """Append ``text`` to the description of the registered version ``models:/NAME/VERSION``
    (an alias is resolved); False for a URI that names no registered version."""
    if not model_uri.startswith("models:/"):
        return False
    from hrtem_msd.store.registry import resolve_model_uri
    from hrtem_msd.store.tracking import client

    mlflow_client = client()
    name, _, version = (
        resolve_model_uri(model_uri, mlflow_client).removeprefix("models:/").partition("/")
    )
    current = mlflow_client.get_model_version(name, version).description or ""
    mlflow_client.update_model_version(name, version, description=f"{current}\n\n{text}".strip())
    return True


def evaluate_scenes(
    uris: Sequence[str],
    scenes: int,
    doses: Sequence[float] = DOSES,
    out: str | Path = "outputs/scenes",
    size: int = SIZE,
    root: str | Path = "data",
    workers: int | None = None,
    spec: str | Path | None = None,
    profile: str | None = None,
    log: bool = True,
    progress: bool = True,
    substrates: Sequence[str] | None = None,
    frame_sampling: tuple[float, float] = FRAME_SAMPLING,
    parallel: int = 1,
    settings: Settings | None = None,
) -> tuple[SceneResult, list[Path]]:
    """``hrtem check scenes``: load every model (nanoparticle task), benchmark them side by
    side on the scenes of ``spec`` (:func:`default_setup`; ``parallel`` scenes at once, analysed
    with ``settings``), write the report under ``out`` and, with ``log``, log it to a new MLflow
    run."""
    from hrtem_analysis.models import analysis_model

    models = {uri: analysis_model(uri, "nanoparticle") for uri in uris}
    setup = default_setup(
        root,
        workers=workers,
        spec=spec,
        profile=profile,
        substrates=substrates,
        frame_sampling=frame_sampling,
        parallel=parallel,
        settings=settings,
    )
    result = scene_benchmark(models, scenes, doses, size, setup, progress)
    files = write_report(result, out)
    if log:
        log_result(result, files)
    return result, files


def benchmark_run(
    model_uri: str,
    run_id: str,
    scenes: int,
    doses: Sequence[float] = DOSES,
    out: str | Path = "outputs/scenes",
    size: int = SIZE,
    setup: SceneSetup | None = None,
    progress: bool = True,
) -> tuple[SceneResult, list[Path]]:
    """The end of ``hrtem train --scenes N``: benchmark the trained model (scenes and optics of
    ``setup``, default :func:`default_setup`), log to its run ``run_id`` and append the table to
    its registered version's description."""
    from hrtem_analysis.models import analysis_model

    models = {"model": analysis_model(model_uri, "nanoparticle")}
    result = scene_benchmark(models, scenes, doses, size, setup, progress)
    files = write_report(result, out)
    log_result(result, files, run_id)
    append_description(model_uri, description_text(result))
    return result, files
