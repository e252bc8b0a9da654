"""Column detection as a metric: precision, recall, F1 and RMS localisation error [Å].

Pixel IoU of small discs says little about whether columns are found; this scores what the
analysis uses. Columns are detected in the predicted column probability exactly as the analysis
detects them (:func:`hrtem_msd.nets.points.detect_columns`, threshold 0.5, weaker detections
within :data:`~hrtem_msd.nets.points.SUPPRESS` of the labelled column spacing dropped), then matched one to one,
nearest first, to the labelled column positions within ``match_fraction`` of the lattice's
column spacing (the median nearest-neighbour distance of the labelled columns). Matches are true
positives (their distances give the RMS error), unmatched detections false positives, unmatched
labels false negatives; an unmatched point within the match distance of the field's edge is left
out (a column cut by the edge may or may not show). ``F1 = 2 TP / (2 TP + FP + FN)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics import Metric

from hrtem_msd.nets.points import SUPPRESS, detect_columns, match_points, spacing

MATCH_FRACTION = 0.5  # of the column spacing: a detection this close is the labelled column


@dataclass(frozen=True)
class DetectionScore:
    """Counts of one or more images: true/false positives, false negatives, and the sum of the
    squared distances [Å^2] of the matched pairs."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    squared_error: float = 0.0

    @property
    def precision(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_positives, 1)

    @property
    def recall(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_negatives, 1)

    @property
    def f1(self) -> float:
        found = 2 * self.true_positives
        return found / max(found + self.false_positives + self.false_negatives, 1)

    @property
    def rms(self) -> float:
        """RMS distance [Å] of the matched pairs (nan without any)."""
        if self.true_positives == 0:
            return float("nan")
        return float(np.sqrt(self.squared_error / self.true_positives))


def score_detections(
    predicted: np.ndarray,
    truth: np.ndarray,
    match_fraction: float = MATCH_FRACTION,
    field: tuple[Sequence[float], Sequence[float]] | None = None,
) -> DetectionScore:
    """Score predicted column positions ``[P, 2]`` against labelled ones ``[T, 2]`` [Å].

    The match distance is ``match_fraction`` times the spacing of ``truth`` (of ``predicted``
    when ``truth`` has fewer than two columns). field: the (lower, upper) corners [Å] of the image;
    unmatched points within the match distance of its edge are not counted.
    """
    predicted = np.asarray(predicted, dtype=float).reshape(-1, 2)
    truth = np.asarray(truth, dtype=float).reshape(-1, 2)
    lattice = spacing(truth)
    lattice = spacing(predicted) if np.isnan(lattice) else lattice
    distance = match_fraction * lattice if np.isfinite(lattice) else 0.0
    matched, extra, missed = match_points(truth, predicted, distance)
    if field is not None:
        extra = extra[_inside(predicted[extra], field, distance)]
        missed = missed[_inside(truth[missed], field, distance)]
    error = truth[matched[:, 0]] - predicted[matched[:, 1]]
    return DetectionScore(len(matched), len(extra), len(missed), float(np.sum(error**2)))


def _inside(
    points: np.ndarray, field: tuple[Sequence[float], Sequence[float]], margin: float
) -> np.ndarray:
    """[N] bool: points farther than ``margin`` inside the (lower, upper) corners of ``field``."""
    lower, upper = (np.asarray(corner, dtype=float) for corner in field)
    return np.all((points > lower + margin) & (points < upper - margin), axis=1)


class ColumnDetection(Metric):
    """Column precision, recall, F1 and RMS error [Å] over batches (sums synchronised under DDP).

    ``update(probability, truth, sampling)``: probability ``[B, H, W]`` of "column" (any
    foreground class), truth: per image the labelled positions ``[T_b, 2]`` [px, array order],
    sampling ``[B, 2]`` [Å/px]. ``compute()`` gives {"precision", "recall", "f1", "rms"}.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(
        self,
        match_fraction: float = MATCH_FRACTION,
        threshold: float = 0.5,
        suppress: float = SUPPRESS,
    ) -> None:
        super().__init__()
        self.match_fraction = match_fraction
        self.threshold = threshold
        self.suppress = suppress
        for name in ("true_positives", "false_positives", "false_negatives"):
            self.add_state(name, torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state(
            "squared_error", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
        )

    def update(
        self, probability: torch.Tensor, truth: Sequence[torch.Tensor], sampling: torch.Tensor
    ) -> None:
        maps = probability.detach().float().cpu().numpy()
        pixel = sampling.detach().double().cpu().numpy()
        shape = np.array(maps.shape[-2:], dtype=float)
        for image, points, s in zip(maps, truth, pixel, strict=True):
            labelled = points.detach().double().cpu().numpy() * s
            lattice = spacing(labelled)  # [Å]
            radius = self.suppress * lattice / float(np.mean(s)) if np.isfinite(lattice) else 0.0
            predicted = detect_columns(image, self.threshold, suppress=radius) * s
            field = (-0.5 * s, (shape - 0.5) * s)
            score = score_detections(predicted, labelled, self.match_fraction, field)
            self.true_positives += score.true_positives
            self.false_positives += score.false_positives
            self.false_negatives += score.false_negatives
            self.squared_error += score.squared_error

    def compute(self) -> dict[str, torch.Tensor]:
        score = DetectionScore(
            int(self.true_positives),
            int(self.false_positives),
            int(self.false_negatives),
            float(self.squared_error),
        )
        return {k: torch.tensor(getattr(score, k)) for k in ("precision", "recall", "f1", "rms")}
