"""The cosine schedule ends with the run: by steps when steps run out, by time when time does."""

from __future__ import annotations

import itertools
import time

import torch
from hrtem_msd.training.schedule import budget_cosine
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset


class Slow(LightningModule):
    """One weight; every step takes ``pause`` seconds."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.pause = pause

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        time.sleep(self.pause)
        return (self.weight * batch[0]).pow(2).mean()

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.SGD(self.parameters(), lr=1.0)
        scheduler = budget_cosine(optimizer, self.trainer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class Rates(Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer: Trainer, *args: object) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


def fit(pause: float, max_epochs: int, max_time: dict | None) -> list[float]:
    rates = Rates()
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        max_time=max_time,
        callbacks=[rates],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    data = DataLoader(TensorDataset(torch.ones(40, 1)), batch_size=1)
    trainer.fit(Slow(pause), data)
    return rates.rates


def test_the_rate_decays_to_zero_over_the_planned_steps() -> None:
    rates = fit(pause=0.0, max_epochs=2, max_time=None)
    assert len(rates) == 80 and rates[0] == 1.0
    assert abs(rates[40] - 0.5) < 0.03  # half way
    assert rates[-1] < 0.01


def test_a_time_limit_ends_the_cosine_too() -> None:
    """1.5 s of 0.02 s steps is about 75 of the 4000 planned steps: a cosine over steps alone
    would still be at its peak."""
    rates = fit(pause=0.02, max_epochs=100, max_time={"seconds": 1.5})
    assert 10 < len(rates) < 4000
    assert rates[0] == 1.0 and rates[-1] < 0.1
    assert all(a >= b for a, b in itertools.pairwise(rates))
