"""SegmentationModule: trains any registered network to label pixels, task-agnostic.

Batches are dicts ``{"image": [B, C, H, W] float32, "label": [B, H, W] int64}`` (class 0 = background);
the class names come from the dataset. Losses (cross-entropy, Dice, focal; weighted, with class
weights), torchmetrics IoU, Dice and F1 per class and their mean, for column tasks the detection
metric (``{stage}/column_f1``, ``_precision``, ``_recall``, ``_rms`` [Å], from the batches'
``"columns"``), Adam with an optional scheduler, and a figure of input, target and prediction
every ``figure_every`` epochs. Works unchanged under
``precision="bf16-mixed"`` and ``strategy="ddp"`` (metrics are synchronised by torchmetrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import LightningModule
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex
from torchmetrics.segmentation import DiceScore

if TYPE_CHECKING:
    from hrtem_core.cards import ModelCard

from hrtem_msd.nets import get_model
from hrtem_msd.nets.errors import ModelError
from hrtem_msd.store.checkpoint import CARD_KEY
from hrtem_msd.training.column_metrics import ColumnDetection
from hrtem_msd.training.figures import log_figure, prediction_figure
from hrtem_msd.training.losses import SegmentationLoss
from hrtem_msd.training.schedule import budget_cosine

SCHEDULERS = ("none", "cosine", "step", "plateau")


def segmentation_metrics(num_classes: int) -> MetricCollection:
    """Per-class IoU (Jaccard), Dice (per image, averaged) and F1 (over all pixels)."""
    return MetricCollection(
        {
            "iou": MulticlassJaccardIndex(num_classes, average="none"),
            "dice": DiceScore(num_classes, average="none", input_format="index"),
            "f1": MulticlassF1Score(num_classes, average="none"),
        }
    )


class SegmentationModule(LightningModule):
    """Pixel classification with the network ``model`` (a name of :func:`hrtem_msd.get_model`).

    class_names:   one name per class, index 0 = background; K = len(class_names).
    in_channels:   image channels C (e.g. the defocus values of a focal series).
    model_args:    the network's arguments besides in_channels / out_channels, e.g. {"depth": 100}.
    losses:        loss name -> weight, names "ce", "dice", "focal"; default {"ce": 1.0}.
    class_weights: [K] weights of the classes in every loss, or None.
    scheduler:     "none", "cosine" (to 0 at the end of the run, by steps or ``max_time``,
                   see :mod:`hrtem_msd.training.schedule`), "step" (x scheduler_gamma
                   every scheduler_step_size epochs) or "plateau" (x scheduler_gamma after
                   scheduler_patience epochs without a lower val/loss).
    figure_every:  log a validation figure every N epochs (0: never).
    column_metrics: score column detection on validation and test (batches carry ``"columns"``,
                   as :class:`hrtem_msd.training.datamodule.HRTEMDataModule` forms them for column labels).
    card:          the model card of the network, saved in every checkpoint (``"model_card"``)
                   so that :func:`hrtem_msd.load_model` can load a checkpoint as a model.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        in_channels: int,
        model: str = "msd",
        model_args: Mapping[str, Any] | None = None,
        losses: Mapping[str, float] | None = None,
        class_weights: Sequence[float] | None = None,
        focal_gamma: float = 2.0,
        lr: float = 1e-3,
        scheduler: str = "none",
        scheduler_gamma: float = 0.1,
        scheduler_step_size: int = 30,
        scheduler_patience: int = 10,
        figure_every: int = 1,
        column_metrics: bool = False,
        card: ModelCard | None = None,
    ) -> None:
        super().__init__()
        if len(class_names) < 2:
            raise ModelError(f"SegmentationModule: need >= 2 classes, got {list(class_names)}")
        if scheduler not in SCHEDULERS:
            raise ModelError(
                f"SegmentationModule: scheduler must be one of {SCHEDULERS}, got {scheduler!r}"
            )
        self.save_hyperparameters(ignore=["card"])
        self.card = card
        self.class_names = [str(name) for name in class_names]
        self.net = get_model(
            model, in_channels=in_channels, out_channels=len(class_names), **dict(model_args or {})
        )
        self.loss = SegmentationLoss(losses or {"ce": 1.0}, class_weights, focal_gamma)
        self.train_metrics = segmentation_metrics(len(class_names))
        self.val_metrics = segmentation_metrics(len(class_names))
        self.test_metrics = segmentation_metrics(len(class_names))
        self.column_metrics = nn.ModuleDict(
            {stage: ColumnDetection() for stage in ("val", "test")} if column_metrics else {}
        )
        self._figure_sample: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [B, C, H, W] -> logits [B, K, H, W]."""
        return self.net(image)

    def _step(
        self, batch: dict[str, torch.Tensor], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["image"])
        parts = self.loss(logits, batch["label"])
        pred = logits.argmax(1)
        self._metrics(stage).update(pred, batch["label"])
        if stage in self.column_metrics:
            if "columns" not in batch:
                raise ModelError(
                    f"{stage}: column metrics need the labelled positions batch['columns']"
                )
            foreground = 1 - logits.detach().float().softmax(1)[:, 0]
            self.column_metrics[stage].update(foreground, batch["columns"], batch["sampling"])
        on_step = stage == "train"
        for name, value in parts.items():
            self.log(
                f"{stage}/{name}",
                value,
                on_step=on_step,
                on_epoch=True,
                sync_dist=not on_step,
                prog_bar=name == "loss",
                batch_size=pred.shape[0],
            )
        return parts["loss"], pred

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, pred = self._step(batch, "val")
        if batch_idx == 0 and self._figure_due():
            self._figure_sample = (batch["image"][0], batch["label"][0], pred[0])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(
        self, batch: dict[str, torch.Tensor] | torch.Tensor, batch_idx: int
    ) -> torch.Tensor:
        """Class probabilities [B, K, H, W] float32 (softmax of the logits)."""
        image = batch["image"] if isinstance(batch, dict) else batch
        return self(image).float().softmax(1)

    def _log_metrics(self, stage: str) -> None:
        values = self._metrics(stage).compute()
        for metric, per_class in values.items():
            self.log(f"{stage}/{metric}", per_class.mean(), sync_dist=False)
            for name, value in zip(self.class_names, per_class, strict=True):
                self.log(f"{stage}/{metric}_{name}", value, sync_dist=False)
        self._metrics(stage).reset()
        if stage in self.column_metrics:
            for metric, value in self.column_metrics[stage].compute().items():
                self.log(f"{stage}/column_{metric}", value, sync_dist=False)
            self.column_metrics[stage].reset()

    def _metrics(self, stage: str) -> MetricCollection:
        return getattr(self, f"{stage}_metrics")

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")
        if self._figure_sample is not None:
            image, label, pred = self._figure_sample
            fig = prediction_figure(image, label, pred, self.class_names)
            name = f"val_epoch{self.current_epoch:04d}"
            log_figure(
                self.trainer.loggers, fig, name, self.global_step, self.trainer.default_root_dir
            )
            self._figure_sample = None

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _figure_due(self) -> bool:
        every = self.hparams["figure_every"]
        trainer = self.trainer
        return (
            every > 0
            and not trainer.sanity_checking
            and trainer.is_global_zero
            and self.current_epoch % every == 0
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.card is not None:
            checkpoint[CARD_KEY] = self.card.to_dict()

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.Adam(self.parameters(), lr=hp["lr"])
        if hp["scheduler"] == "none":
            return optimizer
        if hp["scheduler"] == "cosine":
            cosine = budget_cosine(optimizer, self.trainer)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": cosine, "interval": "step"},
            }
        if hp["scheduler"] == "step":
            step = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=hp["scheduler_step_size"], gamma=hp["scheduler_gamma"]
            )
            return {"optimizer": optimizer, "lr_scheduler": step}
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=hp["scheduler_gamma"], patience=hp["scheduler_patience"]
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss"},
        }
