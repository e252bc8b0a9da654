"""HRTEMDataModule: simulated exit waves -> images and labels formed on the fly, on the device.

The loaders (worker processes, CPU) only read exit waves and projected positions from the
hrtem-sim dataset; `on_after_batch_transfer` (on the GPU when there is one) forms the images with
`hrtem_sim.optics.ImageFormation` and renders the labels on the same detector grid with
`hrtem_sim.labels`, so labels are pixel-exact. Training draws a new microscope and dose per sample
every time; validation and test draws are fixed per sample index, and test uses ``eval_dose``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from hrtem_core.errors import DatasetError, SpecError
from hrtem_sim.dataset import ExitWaveDataset, open_dataset
from hrtem_sim.labels import augment, grid_positions, pad_points, render_columns, render_mask
from hrtem_sim.optics import DetectorGrid, ImageFormation, ImageFormationConfig, Range
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from hrtem_msd.config import LabelConfig
from hrtem_msd.nets.normalise import normalise

SPLITS = ("train", "val", "test")


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Seeded, disjoint train/val/test sample indices (each split at least one sample)."""
    n_val, n_test = (max(1, round(n * f)) for f in (val_fraction, test_fraction))
    if n - n_val - n_test < 1:
        raise DatasetError(f"{n} samples are too few to split into train/val/test")
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return {
        "test": np.sort(order[:n_test]),
        "val": np.sort(order[n_test : n_test + n_val]),
        "train": np.sort(order[n_test + n_val :]),
    }


class _Samples(Dataset):
    """Exit wave, sampling and the points to label for a list of sample indices."""

    def __init__(
        self, dataset: ExitWaveDataset, indices: Sequence[int], labels: LabelConfig
    ) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, object]:
        index = self.indices[i]
        sample = self.dataset[index]
        if self.labels.kind == "mask":
            labelled = sample.atoms.arrays["labelled"].astype(bool)
            points = sample.atoms.positions[labelled, :2]
            classes = np.ones(len(points), dtype=np.int64)
        else:
            points = sample.columns.positions
            classes = sample.columns.classes.astype(np.int64)
            if self.labels.kind == "columns":
                classes = np.ones_like(classes)
        return {
            "wave": torch.from_numpy(np.ascontiguousarray(sample.exit_wave)),
            "sampling": torch.tensor(sample.sampling, dtype=torch.float64),
            "points": points,
            "classes": classes,
            "index": index,
        }


def collate(items: list[dict[str, object]]) -> dict[str, torch.Tensor]:
    """Stack waves [B, H, W] and pad the ragged points into [B, M, 2] / [B, M] / [B, M]."""
    points, classes, valid = pad_points(
        [item["points"] for item in items], [item["classes"] for item in items]
    )
    return {
        "wave": torch.stack([item["wave"] for item in items]),
        "sampling": torch.stack([item["sampling"] for item in items]),
        "points": points,
        "classes": classes,
        "valid": valid,
        "index": torch.tensor([item["index"] for item in items], dtype=torch.int64),
    }


class HRTEMDataModule(LightningDataModule):
    """Batches ``{"image": [B, C, h, w] float32, "label": [B, h, w] int64, "index": [B]}``.

    dataset: an hrtem-sim dataset directory; labels: how labels are rendered; optics: the
    microscope/detector ranges (C = number of defocus values); eval_dose [e/Å^2]: the test dose
    (None: the optics range); seed: splits and the fixed validation draws.
    train_repeats: how many times each training exit wave is used per epoch (each time with a
    new microscope), for small datasets.
    """

    def __init__(
        self,
        dataset: str | Path,
        labels: LabelConfig,
        optics: ImageFormationConfig,
        batch_size: int = 8,
        num_workers: int = 2,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        eval_dose: float | None = None,
        train_repeats: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.path = Path(dataset)
        self.label_config = labels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.fractions = (val_fraction, test_fraction)
        self.train_repeats = train_repeats
        self.seed = seed
        self.formation = ImageFormation(optics)
        self.eval_formation = self.formation if eval_dose is None else self.with_dose(eval_dose)
        self.dataset = open_dataset(self.path)
        self.splits = split_indices(len(self.dataset), *self.fractions, seed)
        self._generator: torch.Generator | None = None

    @property
    def classes(self) -> list[str]:
        """Class names, index 0 = background (from the dataset for column/species labels)."""
        return list(self.dataset.classes)

    @property
    def in_channels(self) -> int:
        """Image channels: the number of defocus values."""
        return self.formation.channels

    def with_dose(self, dose: float) -> ImageFormation:
        """The evaluation image formation at one fixed dose [e/Å^2]."""
        if not dose > 0:
            raise SpecError(f"dose: must be > 0 e/Å^2, got {dose}")
        config = dataclasses.replace(self.formation.config, dose=Range(dose, dose))
        return ImageFormation(config)

    def set_eval_dose(self, dose: float) -> None:
        """Form validation and test images at ``dose`` [e/Å^2] from now on."""
        self.eval_formation = self.with_dose(dose)

    def _loader(self, split: str) -> DataLoader:
        indices = self.splits[split]
        if split == "train":
            indices = np.tile(indices, self.train_repeats)
        return DataLoader(
            _Samples(self.dataset, indices, self.label_config),
            batch_size=self.batch_size,
            shuffle=split == "train",
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")

    def _train_generator(self) -> torch.Generator:
        if self._generator is None:
            rank = self.trainer.global_rank if self.trainer is not None else 0
            state = np.random.SeedSequence([self.seed, rank, 0xD0]).generate_state(1, np.uint64)[0]
            self._generator = torch.Generator().manual_seed(int(state))
        return self._generator

    def form(self, batch: dict[str, torch.Tensor], training: bool) -> dict[str, torch.Tensor]:
        """Images ``[B, C, h, w]``, labels ``[B, h, w]`` and their sampling ``[B, 2]`` [Å/px] for a
        collated batch on its device (random draws when training, else fixed per sample); for
        column labels, not training, also ``"columns"``: per image the labelled column positions
        ``[T_b, 2]`` [px] (for :class:`hrtem_msd.training.column_metrics.ColumnDetection`)."""
        wave, sampling = batch["wave"], batch["sampling"]
        if training:
            formation = self.formation
            params = formation.draw(wave.shape[0], self._train_generator())
        else:
            formation = self.eval_formation
            params = formation.draw_fixed(batch["index"].tolist(), self.seed)
        images = formation(wave, sampling, params)
        grid = formation.grid(wave.shape[-2:], sampling, params)
        labels = self.render(batch["points"], batch["classes"], batch["valid"], grid)
        if training:
            images, labels = augment(images, labels, self._train_generator())
        formed = {
            "image": normalise(images),
            "label": labels,
            "sampling": grid.sampling,
            "index": batch["index"],
        }
        if not training and self.label_config.kind == "columns":
            formed["columns"] = grid_positions(
                batch["points"], batch["valid"], grid, reach=self.label_config.spot
            )
        return formed

    def render(
        self, points: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor, grid: DetectorGrid
    ) -> torch.Tensor:
        """Labels [B, h, w] int64 for the configured kind on ``grid`` (inputs from `collate`)."""
        config = self.label_config
        if config.kind == "mask":
            return render_mask(points, valid, grid, radius=config.radius)
        return render_columns(points, classes, valid, grid, spot=config.spot)

    def on_after_batch_transfer(
        self, batch: dict[str, torch.Tensor], dataloader_idx: int
    ) -> dict[str, torch.Tensor]:
        training = self.trainer is not None and self.trainer.training
        return self.form(batch, training)
