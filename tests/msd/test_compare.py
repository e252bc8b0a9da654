"""`compare_runs` on real MLflow runs: the right settings, best metrics and order; a PNG of the curves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from hrtem_msd.compare import compare_runs, plot_metric_curves
from hrtem_msd.tracking import TrackingError, experiment_for, log_run_context

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

MSD_IOU = [0.30, 0.62, 0.71, 0.69]  # best 0.71 at epoch 2
UNET_IOU = [0.40, 0.55, 0.58]  # best 0.58 at epoch 2


def log_run(name: str, config: dict, val_iou: list[float], test_iou: float | None) -> str:
    with mlflow.start_run(experiment_id=experiment_for("test"), run_name=name) as run:
        log_run_context(run.info.run_id, config)
        for epoch, iou in enumerate(val_iou):
            mlflow.log_metrics({"val/iou": iou, "val/loss": 1.0 - iou}, step=epoch)
        if test_iou is not None:
            mlflow.log_metric("test/iou", test_iou, step=len(val_iou))
    return run.info.run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Two finished runs of task "test" (MSD-net, U-Net without trainer params); the tracking URI."""
    uri = helpers.sqlite_store(tmp_path_factory, tmp_path_factory.mktemp("store"))
    with helpers.tracking_to(uri):
        msd = log_run(
            "msd-run",
            {
                "task": {"name": "test"},
                "model": {"name": "msd", "depth": 100, "dilations": [1, 2, 3]},
                "trainer": {"precision": "bf16-mixed", "devices": 4, "num_nodes": 2},
                "data": {"spec_hash": "abc123"},
            },
            MSD_IOU,
            0.7,
        )
        unet = log_run(
            "unet-run",
            {"model": {"name": "unet", "depth": 4}, "data": {"spec_hash": "abc123"}},
            UNET_IOU,
            None,
        )
    return msd, unet, uri


def test_table_has_settings_best_metric_and_order(runs: tuple[str, str, str]) -> None:
    msd, unet, uri = runs
    with helpers.tracking_to(uri):
        table = compare_runs("test")
    assert list(table["run_id"]) == [msd, unet]  # best val/iou first
    first, second = table.iloc[0], table.iloc[1]
    assert (first["run_name"], first["architecture"], first["depth"]) == ("msd-run", "msd", "100")
    assert (first["precision"], first["devices"], first["num_nodes"]) == ("bf16-mixed", "4", "2")
    assert first["dataset"] == "abc123" and first["status"] == "FINISHED"
    assert (first["best val/iou"], first["best_epoch"], first["test/iou"]) == (0.71, 2, 0.7)
    assert (second["architecture"], second["best val/iou"]) == ("unet", 0.58)
    assert pd.isna(second["precision"]) and pd.isna(second["test/iou"])  # not logged: missing
    assert (table["duration_s"] >= 0).all()
    assert isinstance(first["start"], pd.Timestamp)


def test_loss_is_ranked_lowest_first(runs: tuple[str, str, str]) -> None:
    msd, unet, uri = runs
    with helpers.tracking_to(uri):
        table = compare_runs("test", metric="val/loss")
    assert list(table["run_id"]) == [msd, unet]
    assert table["best val/loss"].tolist() == pytest.approx([1 - 0.71, 1 - 0.58])


def test_plot_writes_a_png(runs: tuple[str, str, str], tmp_path: Path) -> None:
    _, _, uri = runs
    with helpers.tracking_to(uri):
        path = plot_metric_curves(
            compare_runs("test"), "val/iou", tmp_path / "plots" / "compare.png"
        )
    assert path == tmp_path / "plots" / "compare.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["compare.png"]


def test_unknown_task_is_one_line(runs: tuple[str, str, str]) -> None:
    _, _, uri = runs
    with helpers.tracking_to(uri), pytest.raises(TrackingError) as error:
        compare_runs("nope")
    assert str(error.value) == (
        f"no MLflow experiment 'hrtem-nope' at {uri}: train the task first (hrtem train task=nope)"
    )


def test_run_context_logs_config_versions_and_commit(runs: tuple[str, str, str]) -> None:
    msd, _, uri = runs
    with helpers.tracking_to(uri):
        run = mlflow.get_run(msd)
        config = yaml.safe_load(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.yaml"))
    assert run.data.params["model.dilations"] == "[1, 2, 3]"
    assert config["trainer"] == {"precision": "bf16-mixed", "devices": 4, "num_nodes": 2}
    assert run.data.tags["version.mlflow"] == mlflow.__version__
    assert "version.hrtem-msd" in run.data.tags
    if (Path(__file__).parents[2] / ".git").exists():
        assert len(run.data.tags["mlflow.source.git.commit"].removesuffix("+dirty")) == 40
