"""Scenes in training: substrate-only samples give empty masks, and random crops can miss the
particles of a scene (the tiny nanoparticle dataset, formed as the data module forms batches)."""

from pathlib import Path

import torch
from hrtem_msd.config import LabelConfig
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_sim import open_dataset
from hrtem_sim.optics import ImageFormationConfig, Range


def test_empty_scenes_give_empty_masks_and_crops_can_miss(tiny_nanoparticle_root: Path) -> None:
    (path,) = tiny_nanoparticle_root.iterdir()
    with open_dataset(path) as ds:
        empty = {s.meta["index"] for s in ds if s.meta["empty"]}
        full = {s.meta["index"] for s in ds if s.meta["n_particles"] > 0}
    assert empty and full
    # 24 px at 0.2 Å/px see 4.8 Å of the 32 Å scenes
    optics = ImageFormationConfig(
        detector_sampling=Range(0.2, 0.22), output_size=[24, 24], dose=Range(1e3, 1e3)
    )
    dm = HRTEMDataModule(path, LabelConfig(kind="mask"), optics, batch_size=4, num_workers=0)
    pixels: dict[int, list[int]] = {i: [] for i in empty | full}
    for _ in range(6):
        for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
            for batch in loader:
                formed = dm.form(batch, training=True)
                assert torch.isfinite(formed["image"]).all()
                for index, label in zip(formed["index"].tolist(), formed["label"], strict=True):
                    pixels[index].append(int(label.sum()))
    assert all(max(pixels[i]) == 0 for i in empty)  # substrate-only: empty masks
    crops = [n for i in full for n in pixels[i]]
    assert min(crops) == 0 and max(crops) > 0  # a crop of a scene can miss its particles
