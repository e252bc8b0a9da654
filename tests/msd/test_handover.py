"""Hand-overs between stages: the task against its dataset's card, ranks waiting on rank 0,
the model card through checkpoints."""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path

import pytest
import torch
from hrtem_core.errors import CardError, DatasetError
from hrtem_msd import load_model
from hrtem_msd.config import compose
from hrtem_msd.store.checkpoint import CheckpointError
from hrtem_msd.store.mlflow_model import RegistryError
from hrtem_msd.training.dataset_check import check_task_data
from hrtem_msd.training.dataset_ready import FAILED, ensure_dataset, wait_for_dataset
from hrtem_msd.training.train import train
from hrtem_sim import dataset_card, dataset_path, load_spec

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
SPECS = Path(__file__).resolve().parents[2] / "data_specs"


def mos2_task(*overrides: str):
    return compose(["task=mos2", *overrides], helpers.CONFIGS).task


@pytest.fixture(scope="module")
def mos2_card():
    """The card of the small MoS2 dataset (80 kV, exit waves at 0.08 Å/px): no simulation."""
    return dataset_card(load_spec(SPECS / "mos2.yaml", "small"))


def test_the_default_tasks_fit_their_datasets() -> None:
    for task in ("nanoparticle", "columns", "mos2"):
        config = compose([f"task={task}"], helpers.CONFIGS)
        spec = load_spec(config.task.spec, "small")
        check_task_data(config.task, dataset_card(spec), dataset_path(spec))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "task.optics.energy=300e3",
            "task mos2: optics.energy 300 kV but data/mos2-HASH exit waves are at 80 kV",
        ),
        (
            "task.classes=[background,Mo,S2]",
            "task mos2: classes [background, Mo, S2] but data/mos2-HASH labels columns as "
            "[background, Mo, S2, S1] (scheme mos2)",
        ),
        (
            "task.optics.detector_sampling.low=0.05",
            "task mos2: optics.detector_sampling from 0.05 Å/px is finer than data/mos2-HASH "
            "exit waves at 0.08 Å/px",
        ),
        (
            "task.optics.camera_sampling={low: 0.05, high: 0.3}",
            "task mos2: optics.camera_sampling from 0.05 Å/px is finer than data/mos2-HASH "
            "exit waves at 0.08 Å/px",
        ),
    ],
)
def test_a_mismatch_is_one_line_naming_both_values(
    mos2_card: object, override: str, message: str
) -> None:
    path = f"data/mos2-{mos2_card.spec_hash}"
    with pytest.raises(CardError) as error:
        check_task_data(mos2_task(override), mos2_card, path)
    assert str(error.value) == message.replace("HASH", mos2_card.spec_hash)


def test_a_binary_task_with_three_classes_is_refused() -> None:
    config = compose(["task=columns", "task.classes=[background,column,edge]"], helpers.CONFIGS)
    spec = load_spec(config.task.spec, "small")
    with pytest.raises(CardError, match=r"^task columns: labels.kind columns gives 2 classes"):
        check_task_data(config.task, dataset_card(spec), dataset_path(spec))


def test_training_stops_before_simulating_a_mismatched_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    config = compose(helpers.tiny(tmp_path / "data", "task.optics.energy=80e3"), helpers.CONFIGS)
    with pytest.raises(CardError, match=r"^task nanoparticle: optics.energy 80 kV but .* 300 kV$"):
        train(config)
    assert not (tmp_path / "data").exists()  # nothing was simulated


def test_other_ranks_stop_with_rank_0s_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(SPECS / "nanoparticle.yaml", "tiny")
    path = dataset_path(spec, tmp_path)
    path.mkdir(parents=True)
    monkeypatch.setenv("RANK", "1")
    stale = path / FAILED
    stale.write_text("an old run's failure\n")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    with pytest.raises(DatasetError, match=r"no new shard of .* from rank 0 in 0\.3 s \(0 of 2\)"):
        wait_for_dataset(path, spec.num_shards, timeout=0.3, poll=0.05)  # old marker ignored
    stale.write_text("DatasetError: disk full\n")  # rank 0 fails now
    started = time.monotonic()
    with pytest.raises(DatasetError) as error:
        ensure_dataset(spec, str(tmp_path), timeout=60)
    assert time.monotonic() - started < 10
    assert str(error.value) == f"rank 1: rank 0 could not make {path}: DatasetError: disk full"


def test_rank_0_leaves_its_failure_for_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(SPECS / "nanoparticle.yaml", "tiny")
    monkeypatch.setenv("RANK", "0")
    path = dataset_path(spec, tmp_path)
    (path / "shard-00000.h5").mkdir(parents=True)  # a folder where a shard must go
    with pytest.raises(DatasetError, match=r"shard-00000\.h5: cannot write shard") as error:
        ensure_dataset(spec, str(tmp_path), timeout=60)
    assert (path / FAILED).read_text() == f"DatasetError: {error.value}\n"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the data root should be")
    with pytest.raises(DatasetError, match="cannot create the dataset directory"):
        ensure_dataset(spec, str(blocked), timeout=60)  # no marker to leave, the error stands


def test_a_checkpoint_loads_as_the_model_with_its_card(
    tiny_nanoparticle_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    result = train(compose(helpers.tiny(tiny_nanoparticle_root), helpers.CONFIGS))
    [ckpt] = (tmp_path / "outputs").glob(f"*/{result.run_id}/checkpoints/best-*.ckpt")
    from_checkpoint = load_model(str(ckpt), task="nanoparticle")
    registered = load_model(result.model_uri)
    card = from_checkpoint.config
    assert card.crop == [48, 48] and card.sampling_range == [0.2, 0.22]
    assert card.camera_range == [0.2, 0.4]  # recorded by the camera, resized to the detector's
    assert card.dose_range == [10.0, 10000.0] and card.defocus_ranges == [[-150.0, 150.0]]
    assert card.dataset_card == registered.config.dataset_card is not None
    assert card.metrics == {}  # the checkpoint's card is written before the test
    assert registered.config.metrics["test/iou"] == pytest.approx(result.test_metrics["test/iou"])
    assert registered.config.replace(metrics={}) == card
    x = torch.randn(1, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(from_checkpoint(x), registered(x))
    with pytest.raises(RegistryError, match=re.escape(f"{ckpt}: model is for task 'nanoparticle'")):
        load_model(str(ckpt), task="mos2")


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "weights.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(
        CheckpointError, match=rf"^{re.escape(str(bad))}: not a readable checkpoint"
    ):
        load_model(str(bad))
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match=r"plain\.ckpt: no model card in the checkpoint"):
        load_model(str(tmp_path / "plain.ckpt"))
