"""`hrtem train` end to end on a tiny real dataset: MLflow run, registry, load back, DDP, bf16, resume."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from hrtem_core.errors import SpecError
from hrtem_msd import load_model
from hrtem_msd.config import compose
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_msd.training.train import resolve_auto, train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
tiny = helpers.tiny


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite tracking store; runs work in tmp_path."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def runs(uri: str, experiment: str = "hrtem-nanoparticle") -> list:
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_train_logs_registers_and_loads_back(tiny_nanoparticle_root: Path, store: str) -> None:
    config = compose(tiny(tiny_nanoparticle_root, "trainer.max_epochs=2"), CONFIGS)
    result = train(config)
    [run] = runs(store)
    assert run.info.run_id == result.run_id and run.info.status == "FINISHED"
    assert run.data.params["model.depth"] == "4"
    assert run.data.params["run.dataset_spec_hash"] in run.data.params["run.dataset_path"]
    assert {"train/loss_epoch", "val/iou", "test/iou", "test/dice", "test/f1"} <= set(
        run.data.metrics
    )
    history = mlflow.MlflowClient(store).get_metric_history(result.run_id, "val/iou")
    assert len(history) == 2  # one per epoch
    artifacts = {a.path for a in mlflow.MlflowClient(store).list_artifacts(result.run_id)}
    assert "config.yaml" in artifacts
    version = mlflow.MlflowClient(store).get_model_version_by_alias(
        "hrtem-nanoparticle", "candidate"
    )
    assert result.model_uri == f"models:/hrtem-nanoparticle/{version.version}"

    net = load_model("models:/hrtem-nanoparticle@candidate", task="nanoparticle", in_channels=1)
    assert net.config.classes == ["background", "particle"] and not net.training
    assert net.config.sampling == pytest.approx(0.21)
    data = HRTEMDataModule(
        config.data.root + "/" + Path(run.data.params["run.dataset_path"]).name,
        config.task.labels,
        config.task.optics,
        batch_size=2,
        num_workers=0,
        val_fraction=0.25,
        test_fraction=0.25,
    )
    batch = data.form(next(iter(data.test_dataloader())), training=False)
    ckpt = Path(config.out).glob(f"*/{result.run_id}/checkpoints/best-*.ckpt")
    state = torch.load(next(ckpt), map_location="cpu", weights_only=True)["state_dict"]
    reference = load_model(result.model_uri)
    reference.net.load_state_dict(
        {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    )
    with torch.no_grad():
        torch.testing.assert_close(net(batch["image"]), reference(batch["image"]))


def test_resume_continues_the_same_run(tiny_nanoparticle_root: Path, store: str) -> None:
    first = train(compose(tiny(tiny_nanoparticle_root, "mlflow.register=false"), CONFIGS))
    resumed = train(
        compose(
            tiny(
                tiny_nanoparticle_root,
                "mlflow.register=false",
                "trainer.max_epochs=2",
                "resume=last",
            ),
            CONFIGS,
        )
    )
    assert resumed.run_id == first.run_id
    assert len(runs(store)) == 1
    history = mlflow.MlflowClient(store).get_metric_history(first.run_id, "val/iou")
    assert len(history) == 2
    with pytest.raises(
        SpecError,
        match=rf"resume={first.run_id}: config no longer matches the run's at model.depth \(run: 4, now: 5\)",
    ):
        train(
            compose(
                tiny(
                    tiny_nanoparticle_root,
                    "mlflow.register=false",
                    "resume=last",
                    "model.depth=5",
                    "trainer.max_epochs=3",
                ),
                CONFIGS,
            )
        )


def test_resume_without_runs_is_one_clear_error(tiny_nanoparticle_root: Path, store: str) -> None:
    with pytest.raises(SpecError, match="resume=last: experiment 'hrtem-nanoparticle' has no runs"):
        train(compose(tiny(tiny_nanoparticle_root, "resume=last"), CONFIGS))


@pytest.mark.parametrize(
    "extra",
    [
        ["trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu"],
        ["trainer.precision=bf16-mixed"],
    ],
    ids=["ddp2", "bf16"],
)
def test_ddp_and_bf16_log_exactly_one_run(
    tiny_nanoparticle_root: Path, store: str, extra: list[str]
) -> None:
    env = {**os.environ, "HRTEM_CONFIGS": str(CONFIGS)}
    done = subprocess.run(
        [sys.executable, "-m", "hrtem_cli.main", "train", *tiny(tiny_nanoparticle_root, *extra)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = runs(store)
    assert run.info.status == "FINISHED"
    assert np.isfinite(run.data.metrics["test/iou"])
    assert "model      models:/hrtem-nanoparticle/1 (alias candidate)" in done.stdout


def test_evaluate_sweeps_doses_of_a_registered_model(
    tiny_nanoparticle_root: Path, store: str, tmp_path: Path
) -> None:
    from hrtem_msd.evaluation.dose_sweep import evaluate

    train(compose(tiny(tiny_nanoparticle_root), CONFIGS))
    table = evaluate(
        ["models:/hrtem-nanoparticle@candidate", "models:/hrtem-nanoparticle/1"],
        [20, 1000],
        tmp_path / "eval",
        progress=False,
    )
    assert list(table["dose"]) == [20.0, 1000.0, 20.0, 1000.0]
    assert table[["iou", "dice", "f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert table["iou"].iloc[0] == table["iou"].iloc[2]  # the same model, the same fixed test draws
    assert (tmp_path / "eval" / "dose_sweep.png").stat().st_size > 10_000
    [sweep_run] = [r for r in runs(store) if r.info.run_name == "evaluate"]
    artifacts = {a.path for a in mlflow.MlflowClient(store).list_artifacts(sweep_run.info.run_id)}
    assert artifacts == {"dose_sweep.csv", "dose_sweep.png"}
    with pytest.raises(SpecError, match=r"doses: need one or more values > 0 e/Å\^2, got \[0\]"):
        evaluate(["models:/hrtem-nanoparticle@candidate"], [0], tmp_path / "bad")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU defaults")
def test_auto_on_cpu_is_float32_small_and_time_bounded() -> None:
    assert resolve_auto(compose([], CONFIGS)) == ("small", "32-true", "00:00:13:00")
    config = compose(
        ["trainer.max_time=00:01:00:00", "trainer.precision=bf16-mixed", "task.profile=tiny"],
        CONFIGS,
    )
    assert resolve_auto(config) == ("tiny", "bf16-mixed", "00:01:00:00")


def test_train_against_a_real_mlflow_server(
    tiny_nanoparticle_root: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    mlflow_helpers: object,
) -> None:
    backend = mlflow_helpers.sqlite_store(tmp_path_factory, tmp_path)
    monkeypatch.chdir(tmp_path)
    with mlflow_helpers.mlflow_server(tmp_path, backend) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        result = train(compose(tiny(tiny_nanoparticle_root), CONFIGS))
        [run] = runs(url)
        assert run.info.run_id == result.run_id and "test/iou" in run.data.metrics
        net = load_model("models:/hrtem-nanoparticle@candidate", task="nanoparticle")
        assert net.config.in_channels == 1
    assert (tmp_path / "artifacts").is_dir()  # the server stored the artifacts, not the client
