"""`compare_runs` on two real tiny training runs: what ran (not what was asked), epochs, dataset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from hrtem_msd.config import compose
from hrtem_msd.evaluation.compare import compare_runs, plot_metric_curves
from hrtem_msd.store.tracking import TrackingError
from hrtem_msd.training.train import train

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.fixture(scope="module")
def runs(
    tiny_nanoparticle_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[object, object, str]:
    """An MSD-net run (3 epochs, float32, trainer "auto") and a U-Net run (2 epochs, bf16) of
    the nanoparticle task, trained for real; the tracking URI."""
    folder = tmp_path_factory.mktemp("runs")
    uri = helpers.sqlite_store(tmp_path_factory, folder)
    with helpers.tracking_to(uri), pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        root = tiny_nanoparticle_root
        msd = train(compose(helpers.tiny(root, "trainer=auto", "trainer.max_epochs=3",
                                         "trainer.progress=false"), helpers.CONFIGS))  # fmt: skip
        unet = train(
            compose(
                helpers.tiny(root, "model=unet", "model.depth=1", "model.base_width=4",
                             "trainer.precision=bf16-mixed", "trainer.max_epochs=2"),
                helpers.CONFIGS,
            )
        )  # fmt: skip
    return msd, unet, uri


def test_table_shows_what_ran_with_epochs_and_dataset(runs: tuple[object, object, str]) -> None:
    msd, unet, uri = runs
    with helpers.tracking_to(uri):
        table = compare_runs("nanoparticle").set_index("run_id")
        dataset = mlflow.get_run(msd.run_id).data.params["run.dataset_path"]
    first, second = table.loc[msd.run_id], table.loc[unet.run_id]
    assert (first["architecture"], first["depth"]) == ("msd", "4")
    # trainer=auto asked for "auto" precision and devices; the record says what ran
    assert (first["precision"], first["devices"], first["num_nodes"]) == ("32-true", 1, 1)
    assert (first["strategy"], first["batch"]) == ("single_device", 2)
    assert (second["architecture"], second["precision"]) == ("unet", "bf16-mixed")
    assert first["dataset"] == second["dataset"] == Path(dataset).name.rsplit("-", 1)[1]
    assert first["best_epoch"] in (0, 1, 2) and second["best_epoch"] in (0, 1)
    history = mlflow.MlflowClient(uri).get_metric_history(msd.run_id, "val/iou")
    assert len(history) == 3
    best = max(history, key=lambda point: point.value)
    assert first["best val/iou"] == pytest.approx(best.value)
    assert first["best_epoch"] == sorted(history, key=lambda p: p.step).index(best)
    assert first["test/iou"] == pytest.approx(msd.test_metrics["test/iou"])
    assert first["status"] == "FINISHED" and (table["duration_s"] > 0).all()
    assert isinstance(first["start"], pd.Timestamp)
    assert list(table.index) == sorted(
        table.index, key=lambda r: -table.loc[r, "best val/iou"]
    )  # best first


def test_each_architecture_registers_under_its_own_name(runs: tuple[object, object, str]) -> None:
    msd, unet, uri = runs
    assert msd.model_uri == "models:/hrtem-nanoparticle/1"
    assert unet.model_uri == "models:/hrtem-nanoparticle-unet/1"
    client = mlflow.MlflowClient(uri)
    assert str(client.get_model_version_by_alias("hrtem-nanoparticle", "candidate").version) == "1"
    description = client.get_model_version("hrtem-nanoparticle-unet", "1").description
    assert "architecture: unet" in description and "training crop: 48 x 48 px" in description


def test_run_record_and_config_are_logged(runs: tuple[object, object, str]) -> None:
    msd, _, uri = runs
    with helpers.tracking_to(uri):
        run = mlflow.get_run(msd.run_id)
        config = yaml.safe_load(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.yaml"))
    params = run.data.params
    assert params["trainer.precision"] == "auto" and params["run.precision"] == "32-true"
    assert params["run.world_size"] == "1" and params["run.effective_batch_size"] == "2"
    assert config["run"]["precision"] == "32-true" and config["model"]["depth"] == 4
    assert params["run.dataset_card_hash"] == config["run"]["dataset_card_hash"]
    assert run.data.tags["version.mlflow"] == mlflow.__version__
    assert params["run.package_versions.hrtem-core"] == run.data.tags["version.hrtem-core"]
    if (Path(__file__).parents[2] / ".git").exists():
        assert len(run.data.tags["mlflow.source.git.commit"].removesuffix("+dirty")) == 40


def test_loss_is_ranked_lowest_first(runs: tuple[object, object, str]) -> None:
    _, _, uri = runs
    with helpers.tracking_to(uri):
        table = compare_runs("nanoparticle", metric="val/loss")
    losses = table["best val/loss"].tolist()
    assert losses == sorted(losses)


def test_plot_writes_a_png(runs: tuple[object, object, str], tmp_path: Path) -> None:
    _, _, uri = runs
    with helpers.tracking_to(uri):
        path = plot_metric_curves(
            compare_runs("nanoparticle"), "val/iou", tmp_path / "plots" / "compare.png"
        )
    assert path == tmp_path / "plots" / "compare.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["compare.png"]


def test_unknown_task_is_one_line(runs: tuple[object, object, str]) -> None:
    _, _, uri = runs
    with helpers.tracking_to(uri), pytest.raises(TrackingError) as error:
        compare_runs("nope")
    assert str(error.value) == (
        f"no MLflow experiment 'hrtem-nope' at {uri}: train the task first (hrtem train task=nope)"
    )
