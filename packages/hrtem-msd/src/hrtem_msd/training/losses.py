"""Segmentation losses on logits [B, K, H, W] and labels [B, H, W] int64: cross-entropy, Dice, focal.

:class:`SegmentationLoss` sums the named terms with weights, e.g. ``{"ce": 1.0, "dice": 0.5}``;
class weights [K] weight every term's per-class contribution. Arithmetic runs in float32, so the
losses are the same under bf16/fp16 autocast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hrtem_msd.nets.errors import ModelError

LOSSES = ("ce", "dice", "focal")


def dice_loss(
    logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None
) -> torch.Tensor:
    """1 - soft Dice of the softmax probabilities per class over the batch, (weighted) mean over classes."""
    probs = logits.float().softmax(1)
    onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    dice = (2 * inter + 1.0) / (total + 1.0)  # +1: a class absent from both scores 1, not 0/0
    if weight is None:
        return 1 - dice.mean()
    return 1 - (weight * dice).sum() / weight.sum()


def focal_loss(
    logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None, gamma: float
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): mean of -w_y (1 - p_y)^gamma log p_y over pixels."""
    logp = logits.float().log_softmax(1).gather(1, labels.unsqueeze(1)).squeeze(1)
    terms = -((1 - logp.exp()) ** gamma) * logp
    if weight is None:
        return terms.mean()
    w = weight[labels]
    return (w * terms).sum() / w.sum()


class SegmentationLoss(nn.Module):
    """Weighted sum of the named losses (keys of ``terms``: "ce", "dice", "focal")."""

    def __init__(
        self,
        terms: Mapping[str, float],
        class_weights: Sequence[float] | None = None,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__()
        unknown = sorted(set(terms) - set(LOSSES))
        if unknown or not terms:
            raise ModelError(f"losses: unknown or no loss {unknown}; known: {', '.join(LOSSES)}")
        self.terms = {name: float(w) for name, w in terms.items()}
        self.focal_gamma = focal_gamma
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", weight)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms and their weighted sum ("loss"), each a float32 scalar."""
        weight = self.class_weights
        if weight is not None and weight.numel() != logits.shape[1]:
            raise ModelError(
                f"losses: {weight.numel()} class weights for {logits.shape[1]} classes"
            )
        parts: dict[str, torch.Tensor] = {}
        if "ce" in self.terms:
            parts["ce"] = F.cross_entropy(logits.float(), labels, weight=weight)
        if "dice" in self.terms:
            parts["dice"] = dice_loss(logits, labels, weight)
        if "focal" in self.terms:
            parts["focal"] = focal_loss(logits, labels, weight, self.focal_gamma)
        parts["loss"] = sum(self.terms[name] * value for name, value in parts.items())
        return parts
