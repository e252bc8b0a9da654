"""Column detection as the columns task's metric: hand-built positions with known scores, the
labelled positions the data module hands over, and a tiny training that logs and monitors F1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hrtem_msd import SegmentationModule
from hrtem_msd.config import compose
from hrtem_msd.nets.points import SUPPRESS, spacing
from hrtem_msd.training.column_metrics import ColumnDetection, score_detections
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_msd.training.train import monitor
from lightning.pytorch import Trainer, seed_everything
from scipy import ndimage

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SPECS = Path(__file__).resolve().parents[2] / "data_specs"
# Au <110> columns: a centred rectangular lattice, nearest-neighbour spacing 2.50 Å.
A, B = 4.08, 4.08 / np.sqrt(2)
LATTICE = np.array(
    [(i * A + (j % 2) * A / 2, j * B / 2) for i in range(2, 6) for j in range(4, 12)]
)
FIELD = ((0.0, 0.0), (30.0, 30.0))  # [Å]


def test_perfect_detections_score_one_and_far_ones_zero() -> None:
    perfect = score_detections(LATTICE, LATTICE, field=FIELD)
    assert (perfect.precision, perfect.recall, perfect.f1, perfect.rms) == (1.0, 1.0, 1.0, 0.0)
    near = score_detections(LATTICE + np.array([0.3, -0.4]), LATTICE, field=FIELD)  # 0.5 Å < 1.25 Å
    assert near.f1 == 1.0 and near.rms == pytest.approx(0.5)
    far = score_detections(
        LATTICE + np.array([0.51, 1.4425]), LATTICE, field=FIELD
    )  # 1.53 Å from all
    assert (far.true_positives, far.precision, far.recall, far.f1) == (0, 0.0, 0.0, 0.0)
    assert np.isnan(far.rms)


def test_missed_and_extra_columns_and_the_field_edge() -> None:
    found = np.concatenate([LATTICE[2:], [[15.0, 24.0]]])  # two missed, one made up
    score = score_detections(found, LATTICE, field=FIELD)
    assert (score.true_positives, score.false_negatives, score.false_positives) == (30, 2, 1)
    assert score.f1 == pytest.approx(60 / 63)
    edge = np.concatenate([LATTICE, [[0.5, 12.0], [29.9, 3.0]]])  # cut by the frame's edge
    assert score_detections(LATTICE, edge, field=FIELD).recall == 1.0  # not counted missing
    assert score_detections(edge, LATTICE, field=FIELD).precision == 1.0
    assert score_detections(edge, LATTICE).precision == pytest.approx(32 / 34)  # no field given


def spots(points_px: np.ndarray, shape: tuple[int, int], sigma: float = 1.5) -> np.ndarray:
    ix, iy = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    out = np.zeros(shape)
    for x, y in points_px:
        out = np.maximum(out, np.exp(-((ix - x) ** 2 + (iy - y) ** 2) / (2 * sigma**2)))
    return out


def test_the_metric_detects_columns_in_probability_maps_and_accumulates() -> None:
    sampling = 0.1
    truth = torch.from_numpy(LATTICE / sampling)
    probability = torch.from_numpy(spots(LATTICE / sampling, (300, 300))).float()
    metric = ColumnDetection()
    metric.update(probability[None], [truth], torch.tensor([[sampling, sampling]]))
    first = metric.compute()
    assert first["f1"] == 1.0 and first["rms"] < 0.02  # [Å]
    metric.update(torch.zeros(1, 300, 300), [truth], torch.tensor([[sampling, sampling]]))
    second = metric.compute()  # the same columns, all missed in a second image
    assert (second["precision"], second["recall"]) == (1.0, 0.5)


def test_the_metric_drops_a_weaker_blob_beside_a_column() -> None:
    sampling = 0.1
    truth = torch.from_numpy(LATTICE / sampling)
    blob = LATTICE[:1] / sampling + [0.6 * spacing(LATTICE) / sampling, 0.0]
    maps = np.maximum(spots(LATTICE / sampling, (300, 300)), 0.8 * spots(blob, (300, 300), 1.0))
    pixel = torch.tensor([[sampling, sampling]])
    scores = {}
    for suppress in (0.0, SUPPRESS):
        metric = ColumnDetection(suppress=suppress)
        metric.update(torch.from_numpy(maps).float()[None], [truth], pixel)
        scores[suppress] = float(metric.compute()["precision"])
    assert scores[0.0] < 1.0 and scores[SUPPRESS] == 1.0


@pytest.fixture(scope="module")
def tiny_columns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data_specs/columns.yaml, profile tiny (4 Au particles, 24 Å cell), simulated here."""
    from hrtem_sim import load_spec, simulate_dataset

    spec = load_spec(SPECS / "columns.yaml", profile="tiny")
    return simulate_dataset(spec, tmp_path_factory.mktemp("data"), workers=0, progress=False)


def test_validation_batches_carry_the_labelled_column_centres(tiny_columns: Path) -> None:
    config = compose(["task=columns", "task.optics.output_size=[96,96]"], CONFIGS)
    data = HRTEMDataModule(
        tiny_columns, config.task.labels, config.task.optics, batch_size=4, num_workers=0
    )
    batch = data.form(next(iter(data.test_dataloader())), training=False)
    for label, centres in zip(batch["label"].numpy(), batch["columns"], strict=True):
        regions, n = ndimage.label(label == 1)
        found = np.array(ndimage.center_of_mass(label, regions, range(1, n + 1))).reshape(-1, 2)
        inside = np.all((found > 5) & (found < 90), axis=1)  # whole discs
        assert inside.sum() > 3
        distance = np.min(np.hypot(*(found[inside, None] - centres.numpy()[None]).T), axis=0)
        assert distance.max() < 0.3  # [px]: every disc is centred on a handed-over position
    assert "columns" not in data.form(next(iter(data.train_dataloader())), training=True)


def test_the_columns_task_logs_detection_and_keeps_the_best_f1(
    tiny_columns: Path, tmp_path: Path
) -> None:
    config = compose(["task=columns"], CONFIGS)
    assert monitor(config.task) == "val/column_f1"
    assert monitor(compose(["task=nanoparticle"], CONFIGS).task) == "val/iou"
    data = HRTEMDataModule(
        tiny_columns, config.task.labels, config.task.optics, batch_size=2, num_workers=0,
        val_fraction=0.25, test_fraction=0.25,
    )  # fmt: skip
    seed_everything(0, verbose=False)
    module = SegmentationModule(
        config.task.classes, 1, model_args={"depth": 3}, column_metrics=True, figure_every=0
    )
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    logged = trainer.callback_metrics
    assert {"val/column_f1", "val/column_precision", "val/column_recall", "val/column_rms"} <= set(
        logged
    )
    assert 0.0 <= float(logged["val/column_f1"]) <= 1.0
    tested = trainer.test(module, datamodule=data, verbose=False)[0]
    assert {"test/column_f1", "test/iou"} <= set(tested)
