"""Dose sweep: test-set IoU, Dice and F1 of one or more models at each dose (the paper's headline).

For a registered or run model, the test split, labels and microscope ranges are those of its own
training run (its logged ``config.yaml``); for a local model directory, those of the task's
config composed from ``configs/`` (plus overrides). Results: a table (CSV), a plot of metric
against dose (PNG), and an MLflow run in the task's experiment holding both.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from hrtem_core.atomic import atomic_write
from hrtem_core.errors import SpecError
from hrtem_sim import dataset_card, dataset_path, load_spec, spec_hash
from hrtem_sim.spec import DataSpec, spec_profiles
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException

from hrtem_msd.config import TrainConfig, compose, config_from_dict
from hrtem_msd.store.load import load_model
from hrtem_msd.store.registry import resolve_model_uri
from hrtem_msd.store.tracking import client, tracking_uri
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_msd.training.dataset_check import check_task_data
from hrtem_msd.training.module import segmentation_metrics

METRICS = ("iou", "dice", "f1")


@dataclass(frozen=True)
class Evaluated:
    """One model to sweep: its URI, network (eval mode, ``.config``) and training config."""

    uri: str
    net: torch.nn.Module
    config: TrainConfig


def evaluated(uri: str, overrides: Sequence[str] = (), task: str | None = None) -> Evaluated:
    """The model at ``uri`` with its training config; ``task``: refuse a model of another task."""
    return Evaluated(uri, load_model(uri, task=task), training_config(uri, overrides))


def training_config(uri: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """The TrainConfig a model was trained with (from its run), else (a directory, a model that
    `hrtem models install` registered) the task's current config."""
    run_id = _run_id(uri)
    logged = None if run_id is None else _logged_config(run_id)
    if logged is None:
        net = load_model(uri)
        return compose([f"task={net.config.task}", *overrides])
    run = logged.pop("run", {})
    if run.get("profile"):
        logged["task"]["profile"] = run["profile"]  # what "auto" resolved to
    return config_from_dict(logged, overrides, source=f"{uri} (config.yaml of run {run_id})")


def _logged_config(run_id: str) -> dict | None:
    """The config.yaml that training logged to run ``run_id``; None when the run has none."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client().download_artifacts(run_id, "config.yaml", tmp)
        except (MlflowException, OSError):
            return None
        return yaml.safe_load(Path(path).read_text())


def _run_id(uri: str) -> str | None:
    if uri.startswith("runs:/"):
        return uri.removeprefix("runs:/").split("/", 1)[0]
    if uri.startswith("models:/"):
        mlflow_client = client(tracking_uri())
        name, _, version = (
            resolve_model_uri(uri, mlflow_client).removeprefix("models:/").partition("/")
        )
        return mlflow_client.get_model_version(name, version).run_id
    return None


def check_doses(doses: Sequence[float]) -> None:
    """A SpecError unless ``doses`` [e/Å^2] are one or more values > 0."""
    if not doses or any(not d > 0 for d in doses):
        raise SpecError(f"doses: need one or more values > 0 e/Å^2, got {list(doses)}")


def held_out_data(model: Evaluated, batch_size: int = 8) -> HRTEMDataModule:
    """The test split of the model's training data, formed as in its run (``set_eval_dose``);
    the task is checked against the dataset's card first."""
    config = model.config
    spec = _training_spec(model)
    path = dataset_path(spec, config.data.root)
    check_task_data(config.task, dataset_card(spec), path)
    return HRTEMDataModule(
        path,
        labels=config.task.labels,
        optics=config.task.optics,
        batch_size=batch_size,
        num_workers=0,
        val_fraction=config.data.val_fraction,
        test_fraction=config.data.test_fraction,
        seed=config.seed,
    )


def training_data_path(model: Evaluated) -> Path:
    """Where the model's training data lies (simulated or not)."""
    return Path(dataset_path(_training_spec(model), model.config.data.root))


def _training_spec(model: Evaluated) -> DataSpec:
    return load_spec(model.config.task.spec, profile=_profile(model.config, model.net))


def sweep(
    model: Evaluated, doses: Sequence[float], batch_size: int = 8, progress: bool = True
) -> pd.DataFrame:
    """Rows (model, dose, iou, dice, f1 — means over classes — and per-class columns)."""
    data = held_out_data(model, batch_size)
    classes = model.net.config.classes
    rows = []
    from tqdm import tqdm

    for dose in tqdm(doses, desc=f"doses ({model.uri})", disable=not progress):
        data.set_eval_dose(dose)
        metrics = segmentation_metrics(len(classes))
        with torch.no_grad():
            for batch in data.test_dataloader():
                formed = data.form(batch, training=False)
                metrics.update(model.net(formed["image"]).argmax(1), formed["label"])
        values = metrics.compute()
        row = {"model": model.uri, "dose": float(dose)}
        for name in METRICS:
            row[name] = float(values[name].mean())
            row.update(
                {f"{name}_{c}": float(v) for c, v in zip(classes, values[name], strict=True)}
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _profile(config: TrainConfig, net: torch.nn.Module) -> str:
    """The dataset profile of the model: the config's, or ("auto") the one with its spec hash."""
    if config.task.profile != "auto":
        return config.task.profile
    for profile in spec_profiles(config.task.spec):
        if spec_hash(load_spec(config.task.spec, profile=profile)) == net.config.spec_hash:
            return profile
    raise SpecError(
        f"no profile of {config.task.spec} has the model's dataset hash {net.config.spec_hash}"
    )


def dose_figure(table: pd.DataFrame, metric: str = "iou") -> Figure:
    """Metric against dose (log axis), one line per model."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for uri, rows in table.groupby("model", sort=False):
        ax.plot(rows["dose"], rows[metric], marker="o", label=uri)
    ax.set_xscale("log")
    ax.set_xlabel("dose [e$^-$/Å$^2$]")
    ax.set_ylabel(f"test {metric} (mean over classes)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def evaluate(
    uris: Sequence[str],
    doses: Sequence[float],
    out: str | Path,
    overrides: Sequence[str] = (),
    log: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Sweep every model over ``doses``; write ``out/dose_sweep.csv`` and ``out/dose_sweep.png``
    and log both, with the metrics per dose, to an MLflow run "evaluate" of the first model's task."""
    check_doses(doses)
    models: list[Evaluated] = []
    for uri in uris:
        models.append(evaluated(uri, overrides, task=models[0].net.config.task if models else None))
    table = pd.concat([sweep(m, doses, progress=progress) for m in models], ignore_index=True)
    out = Path(out)
    figure = dose_figure(table)
    atomic_write(out / "dose_sweep.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out / "dose_sweep.png", lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    if log:
        _log(models[0].net.config.task, table, out)
    return table


def _log(task: str, table: pd.DataFrame, out: Path) -> None:
    import mlflow

    from hrtem_msd.store.tracking import experiment_for

    mlflow.set_tracking_uri(tracking_uri())
    with mlflow.start_run(experiment_id=experiment_for(task), run_name="evaluate"):
        mlflow.log_param("models", ",".join(table["model"].unique()))
        for i, (_, rows) in enumerate(table.groupby("model", sort=False)):
            for _, row in rows.iterrows():
                for name in METRICS:
                    mlflow.log_metric(
                        f"dose_sweep/{name}_model{i}", row[name], step=round(row["dose"])
                    )
        mlflow.log_artifact(str(out / "dose_sweep.csv"))
        mlflow.log_artifact(str(out / "dose_sweep.png"))
