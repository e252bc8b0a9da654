"""Runs of one task side by side: a table of their settings and best metrics, and a plot of their curves.

Reads what training logs: the architecture (params ``model.name``, ``model.depth``), the run
record (params ``run.*``: the precision, devices, nodes and strategy that ran, the effective batch
size and the dataset's spec hash) and metric histories such as ``val/iou``. Lightning logs metrics
at the global step and the epoch beside them (metric ``epoch``), which maps steps to epochs.
Whatever a run lacks (a run logged before the run record) shows as missing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from hrtem_core.atomic import atomic_write
from hrtem_core.cards import RunRecord
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric, Run

from hrtem_msd.store.tracking import TrackingError, client, experiment_name, tracking_uri

MODEL_COLUMNS = {"architecture": "model.name", "depth": "model.depth"}
RECORD_COLUMNS = {  # column -> RunRecord field
    "precision": "precision",
    "devices": "devices",
    "num_nodes": "num_nodes",
    "strategy": "strategy",
    "batch": "effective_batch_size",
    "dataset": "dataset_spec_hash",
}
FINAL_METRICS = ("test/iou", "test/dice", "test/f1")
MAX_RUNS = 1000


def lower_is_better(metric: str) -> bool:
    """Losses and errors are minimised; IoU, Dice, F1 and accuracies maximised."""
    return "loss" in metric or "error" in metric


def best_point(history: Sequence[Metric], metric: str) -> tuple[float, int] | tuple[None, None]:
    """(best value, its step) of a metric history; (None, None) when it is empty."""
    if not history:
        return None, None
    pick = min if lower_is_better(metric) else max
    best = pick(history, key=lambda point: point.value)
    return best.value, best.step


def epochs_by_step(mlflow_client: MlflowClient, run_id: str) -> dict[int, int]:
    """Global step -> epoch, from the ``epoch`` metric Lightning logs beside every metric."""
    return {
        point.step: int(point.value) for point in mlflow_client.get_metric_history(run_id, "epoch")
    }


def compare_runs(task: str, metric: str = "val/iou") -> pd.DataFrame:
    """One row per run of experiment ``hrtem-<task>``, best ``metric`` first.

    Columns: run_id, run_name, status, architecture, depth, then from the run record precision,
    devices (per node), num_nodes, strategy, batch (effective), dataset (spec hash); ``best
    <metric>``, best_epoch (the epoch of the best value), the final test/iou, test/dice, test/f1,
    duration_s (end - start, or until now while running), start (UTC).
    """
    mlflow_client = client()
    experiment = mlflow_client.get_experiment_by_name(experiment_name(task))
    if experiment is None:
        raise TrackingError(
            f"no MLflow experiment {experiment_name(task)!r} at {tracking_uri()}: "
            f"train the task first (hrtem train task={task})"
        )
    runs = mlflow_client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=MAX_RUNS
    )
    best = f"best {metric}"
    rows = [_row(run, metric, best, mlflow_client) for run in runs]
    columns = [
        *("run_id", "run_name", "status"),
        *MODEL_COLUMNS,
        *RECORD_COLUMNS,
        *(best, "best_epoch"),
        *FINAL_METRICS,
    ]
    table = pd.DataFrame(rows, columns=[*columns, "duration_s", "start"])
    table = table.sort_values(best, ascending=lower_is_better(metric), na_position="last")
    return table.reset_index(drop=True)


def _row(run: Run, metric: str, best: str, mlflow_client: MlflowClient) -> dict[str, object]:
    info, data = run.info, run.data
    value, step = best_point(mlflow_client.get_metric_history(info.run_id, metric), metric)
    end = info.end_time or int(time.time() * 1000)
    record = RunRecord.from_params(data.params)
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "status": info.status,
        **{column: data.params.get(key) for column, key in MODEL_COLUMNS.items()},
        **{column: getattr(record, field) for column, field in RECORD_COLUMNS.items()},
        best: value,
        "best_epoch": None
        if step is None
        else epochs_by_step(mlflow_client, info.run_id).get(step),
        **{name: data.metrics.get(name) for name in FINAL_METRICS},
        "duration_s": (end - info.start_time) / 1000,
        "start": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
    }


def plot_metric_curves(runs: pd.DataFrame, metric: str, path: str | Path) -> Path:
    """PNG at ``path`` (written atomically) of ``metric`` against epoch, one line per row of ``runs``
    (a table from :func:`compare_runs`: run_id and run_name; architecture and depth if present)."""
    mlflow_client = client()
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for _, run in runs.iterrows():
        history = sorted(
            mlflow_client.get_metric_history(run["run_id"], metric), key=lambda p: p.step
        )
        epochs = epochs_by_step(mlflow_client, run["run_id"])
        if history:
            x = [epochs.get(point.step, point.step) for point in history]
            ax.plot(x, [point.value for point in history], marker=".", label=_label(run))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        ax.text(
            0.5, 0.5, f"no run logged {metric}", ha="center", va="center", transform=ax.transAxes
        )
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def _label(run: pd.Series) -> str:
    """``run name (msd, depth 100)``, leaving out what the run did not log."""
    name = run.get("run_name") or str(run["run_id"])[:8]
    settings = [
        str(run[key]) for key in ("architecture", "depth") if key in run and not pd.isna(run[key])
    ]
    if len(settings) == 2:
        settings[1] = f"depth {settings[1]}"
    return f"{name} ({', '.join(settings)})" if settings else name
