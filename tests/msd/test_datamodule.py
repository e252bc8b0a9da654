"""HRTEMDataModule: splits, batches formed on the fly, labels aligned with the images they go with."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hrtem_core.errors import DatasetError
from hrtem_msd.config import LabelConfig
from hrtem_msd.training.datamodule import HRTEMDataModule, split_indices
from hrtem_sim.optics import ImageFormationConfig, Range
from scipy import ndimage


def optics(dose: float = math.inf) -> ImageFormationConfig:
    """A weak-phase focal series at 80 kV, small defoci so column contrast sits on the columns
    (noise-free unless ``dose`` is finite)."""
    return ImageFormationConfig(
        energy=80e3,
        defocus=Range(0.0, 0.0),
        defocus_offsets=[Range(-15.0, -15.0), Range(0.0, 0.0), Range(15.0, 15.0)],
        Cs=Range(0.0, 0.0),
        astigmatism=Range(0.0, 0.0),
        focal_spread=Range(20.0, 20.0),
        detector_sampling=Range(0.15, 0.15),
        output_size=[96, 96],
        dose=Range(dose, dose),
    )


def module(path: Path, **overrides: object) -> HRTEMDataModule:
    args = dict(
        labels=LabelConfig(kind="species", spot=0.4), optics=optics(), batch_size=2, num_workers=0
    )
    return HRTEMDataModule(path, **{**args, **overrides})


def test_splits_are_disjoint_seeded_and_complete() -> None:
    a, b = split_indices(50, 0.1, 0.2, seed=1), split_indices(50, 0.1, 0.2, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "val", "test")] == [35, 5, 10]
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(50))
    assert not np.array_equal(a["test"], split_indices(50, 0.1, 0.2, seed=2)["test"])
    with pytest.raises(DatasetError, match="2 samples are too few to split"):
        split_indices(2, 0.1, 0.1, seed=0)


def column_peaks_near_labels(image: torch.Tensor, label: torch.Tensor) -> float:
    """Fraction of labelled columns (label components) with a local maximum of the image's
    contrast |I - <I>| (summed over the focal series) within 1 px of their centroid."""
    contrast = (image - image.mean(dim=(-2, -1), keepdim=True)).abs().sum(0).numpy()
    peaks = contrast == ndimage.maximum_filter(contrast, size=5, mode="wrap")
    components, n = ndimage.label(label.numpy() > 0)
    centroids = ndimage.center_of_mass(np.ones_like(contrast), components, range(1, n + 1))
    near = ndimage.maximum_filter(peaks, size=3)  # any peak within 1 px (Chebyshev)
    inside = [
        c for c in centroids if 1 <= c[0] < label.shape[0] - 1 and 1 <= c[1] < label.shape[1] - 1
    ]
    return float(np.mean([near[round(c[0]), round(c[1])] for c in inside]))


@pytest.mark.parametrize("training", [False, True])
def test_labels_sit_on_the_columns_of_their_image(tiny_mos2: Path, training: bool) -> None:
    dm = module(tiny_mos2)
    batch = next(iter(dm.train_dataloader() if training else dm.val_dataloader()))
    out = dm.form(batch, training=training)
    assert out["image"].shape == (len(batch["index"]), 3, 96, 96)
    assert out["image"].dtype == torch.float32 and out["label"].dtype == torch.int64
    assert set(out["label"].unique().tolist()) <= {0, 1, 2, 3} and out["label"].max() > 0
    for image, label in zip(out["image"], out["label"], strict=True):
        assert column_peaks_near_labels(image, label) >= 0.9
        # a misaligned label (shifted half a column spacing) must not pass the same check
        assert column_peaks_near_labels(image, label.roll(5, dims=0)) < 0.3


def test_validation_draws_are_fixed_and_training_draws_are_not(tiny_mos2: Path) -> None:
    dm = module(
        tiny_mos2, optics=dataclasses.replace(optics(), dose=Range(100.0, 1000.0, log=True))
    )
    batch = next(iter(dm.val_dataloader()))
    first, again = dm.form(batch, training=False), dm.form(batch, training=False)
    assert torch.equal(first["image"], again["image"])
    one, two = dm.form(batch, training=True), dm.form(batch, training=True)
    assert not torch.equal(one["image"], two["image"])


def test_images_are_normalised_per_channel(tiny_mos2: Path) -> None:
    dm = module(tiny_mos2, optics=dataclasses.replace(optics(), dose=Range(200.0, 200.0)))
    image = dm.form(next(iter(dm.train_dataloader())), training=True)["image"]
    torch.testing.assert_close(
        image.mean(dim=(-2, -1)), torch.zeros(image.shape[:2]), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        image.std(dim=(-2, -1)), torch.ones(image.shape[:2]), atol=1e-4, rtol=0
    )


def test_loader_workers_read_the_dataset_after_fork(tiny_mos2: Path) -> None:
    dm = module(tiny_mos2, num_workers=2)
    dm.dataset[0]  # opens a shard in the parent before the workers fork
    indices = sorted(i for batch in dm.train_dataloader() for i in batch["index"].tolist())
    assert indices == sorted(dm.splits["train"].tolist())
