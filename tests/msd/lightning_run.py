"""A tiny synthetic segmentation task for SegmentationModule tests, and a script that trains on it.

    python tests/msd/lightning_run.py OUT_DIR --devices 2 --strategy ddp --steps 4

Run as a script (Lightning's DDP launcher re-executes it, once per extra process); each rank writes
``OUT_DIR/rank{r}.pt`` with its parameters after training, for the test to compare.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

CLASSES = ["background", "bright", "dark"]


class SyntheticDisks(Dataset):
    """[1, size, size] images of noisy bright (class 1) and dark (class 2) discs on a flat background."""

    def __init__(self, n: int, size: int = 32, seed: int = 0, noise: float = 0.3) -> None:
        gen = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.labels = torch.zeros(n, size, size, dtype=torch.int64)
        for i in range(n):
            for k in range(6):
                cx, cy = torch.randint(4, size - 4, (2,), generator=gen).tolist()
                r = 2 + 3 * torch.rand(1, generator=gen).item()
                self.labels[i][(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 1 + k % 2
        signal = torch.tensor([0.0, 1.0, -1.0])[self.labels]
        self.images = (signal + noise * torch.randn(n, size, size, generator=gen)).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.labels[i]}


def loader(n: int, seed: int, batch_size: int = 4, draws: int | None = None) -> DataLoader:
    """Batches of ``SyntheticDisks(n, seed)`` in order, or ``draws`` random samples (one long epoch)."""
    data = SyntheticDisks(n, seed=seed)
    if draws is None:
        return DataLoader(data, batch_size=batch_size)
    gen = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(data, replacement=True, num_samples=draws, generator=gen)
    return DataLoader(data, batch_size=batch_size, sampler=sampler)


def main() -> None:
    from hrtem_msd import SegmentationModule
    from lightning.pytorch import Trainer, seed_everything

    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0, verbose=False)
    module = SegmentationModule(CLASSES, 1, model_args={"depth": 6, "width": 2}, lr=1e-2)
    trainer = Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy=args.strategy,
        max_steps=args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(args.out),
    )
    trainer.fit(module, loader(16, seed=1))
    params = {k: v.detach().clone() for k, v in module.state_dict().items()}
    torch.save(
        {"params": params, "world": trainer.world_size}, args.out / f"rank{trainer.global_rank}.pt"
    )


if __name__ == "__main__":
    main()
