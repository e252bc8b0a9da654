"""Particle detection scored against known particles: matching by IoU, and the benchmark's metrics.

A true particle is *found* when a predicted particle overlaps it with IoU >= ``MATCH_IOU`` (0.5);
at that threshold a true particle has at most one such partner and a predicted one too, so the
matching is one to one. A predicted particle matching no true one is a *false particle*.

Zone-axis classification: a true particle is on its zone axis when its tilt is at most
``ON_AXIS_TILT`` [deg], tilted when at least ``TILTED_TILT`` [deg] (in between it is not scored);
it is classified on axis when the peak-pair ratio of its predicted mask is finite and at most the
frame filter's threshold (:class:`hrtem_analysis.settings.Settings`).

Inputs are instance label images ``[H, W]`` int (0 = background, particles 1..n), as
:func:`hrtem_analysis.fourier.particles` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hrtem_core.errors import ImageError

MATCH_IOU = 0.5
ON_AXIS_TILT = 1.0  # [deg]
TILTED_TILT = 8.0  # [deg]
METRICS = (
    "precision",
    "recall",
    "mean_iou",
    "false_per_frame",
    "zone_accuracy",
    "pixel_iou",
)
"""Per method and dose: precision (matched / predicted particles), recall (found / true
particles), mean IoU of the found particles, false particles per frame, zone-axis classification
accuracy (on axis vs tilted, found particles), pixel IoU of the particle masks (all frames)."""
SIZE_CLASSES = {
    "recall_1nm": (0.0, 15.0),
    "recall_1.5-3nm": (15.0, 30.0),
    "recall_3nm+": (30.0, np.inf),
    "recall_1.5nm+": (15.0, np.inf),
}
"""Recall by particle diameter [Å], [low, high): 1 nm clusters, 1.5-3 nm, larger than 3 nm, and
1.5 nm and larger (the issue's target class); over
the particles inside the frame (one cut by its edge is sized by the part a user sees, not by its
diameter: ``recall_edge`` scores those)."""


@dataclass(frozen=True)
class Matches:
    """IoU of every true (rows) and predicted (columns) particle, and the one-to-one matches.

    iou: [T, P]; partner: [T] the matched predicted particle (1..P) of each true one, or 0;
    intersection, union: pixels of the union masks (all true vs all predicted particles).
    """

    iou: np.ndarray
    partner: np.ndarray
    intersection: int
    union: int

    @property
    def found(self) -> int:
        return int((self.partner > 0).sum())

    @property
    def false(self) -> int:
        """Predicted particles that match no true particle."""
        return self.iou.shape[1] - self.found


def iou_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """[T, P] IoU of true particle t + 1 and predicted particle p + 1 (label images ``[H, W]``)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 2:
        raise ImageError(
            f"true labels {truth.shape} and predicted labels {predicted.shape} must be one [H, W]"
        )
    n_true, n_pred = int(truth.max(initial=0)), int(predicted.max(initial=0))
    pairs = np.bincount(
        (truth.astype(np.int64) * (n_pred + 1) + predicted).ravel(),
        minlength=(n_true + 1) * (n_pred + 1),
    ).reshape(n_true + 1, n_pred + 1)
    area_true, area_pred = pairs.sum(axis=1)[1:], pairs.sum(axis=0)[1:]
    inter = pairs[1:, 1:]
    union = area_true[:, None] + area_pred[None, :] - inter
    return inter / np.maximum(union, 1)


def match_particles(truth: np.ndarray, predicted: np.ndarray) -> Matches:
    """The IoU matches of predicted particles to true ones (see the module doc)."""
    iou = iou_matrix(truth, predicted)
    partner = np.zeros(iou.shape[0], dtype=np.int64)
    taken = np.zeros(iou.shape[1], dtype=bool)
    for t in np.argsort(-iou.max(axis=1, initial=0.0)):  # best overlaps first
        candidates = np.where(~taken & (iou[t] >= MATCH_IOU))[0]
        if len(candidates):
            p = candidates[np.argmax(iou[t, candidates])]
            partner[t], taken[p] = p + 1, True
    true_mask, pred_mask = np.asarray(truth) > 0, np.asarray(predicted) > 0
    return Matches(
        iou=iou,
        partner=partner,
        intersection=int((true_mask & pred_mask).sum()),
        union=int((true_mask | pred_mask).sum()),
    )


def zone_class(tilt: float) -> str | None:
    """ "on" (tilt <= ON_AXIS_TILT), "tilted" (>= TILTED_TILT) or None (in between) [deg]."""
    if tilt <= ON_AXIS_TILT:
        return "on"
    return "tilted" if tilt >= TILTED_TILT else None


def zone_correct(found: pd.DataFrame) -> pd.Series:
    """Whether each scored particle of ``found`` (rows with ``tilt`` [deg] and ``classified_on``)
    was classified right: one bool per particle on axis or clearly tilted (:func:`zone_class`)."""
    classes = found["tilt"].map(zone_class)
    scored = classes.notna()
    return found.loc[scored, "classified_on"].astype(bool) == (classes[scored] == "on")


def zone_by_shape(particles: pd.DataFrame) -> pd.DataFrame:
    """Zone-axis accuracy per method, dose and particle shape, over the found particles that are
    on axis or clearly tilted: columns method, dose, shape, particles, on_axis (how many of them
    are on axis), accuracy. The ratio sees a single crystal's tilt; a multiply twinned particle
    has domains at many orientations, and a tilted icosahedron often shows crossed fringes of
    another domain (see :mod:`hrtem_analysis.fourier`)."""
    rows = []
    found = particles[particles["found"].astype(bool)]
    for (method, dose, shape), group in found.groupby(["method", "dose", "shape"], sort=False):
        correct = zone_correct(group)
        on_axis = group.loc[correct.index, "tilt"].map(zone_class) == "on"
        rows.append(
            {
                "method": method,
                "dose": float(dose),
                "shape": shape,
                "particles": len(correct),
                "on_axis": int(on_axis.sum()),
                "accuracy": _ratio(correct.sum(), len(correct)),
            }
        )
    return pd.DataFrame(
        rows, columns=["method", "dose", "shape", "particles", "on_axis", "accuracy"]
    )


MTP_SHAPES = ("decahedron", "icosahedron")  # multiply twinned: no single-crystal zone
SINGLE_ZONES = ("<110>", "<100>", "<111>")
ZONE_NAMES = ("zone_on_off", "zone_named", "mtp_as_zone")


def zone_name_scores(found: pd.DataFrame) -> dict[str, float]:
    """Over the found particles (``shape``, ``tilt`` [deg], ``zone_axis``, ``zone_named``):
    zone_on_off, the single crystals on axis or clearly tilted whose name says on or off axis
    right; zone_named, the on-axis single crystals named with their own zone; mtp_as_zone, the
    multiply twinned particles named as a single-crystal zone (lower is better)."""
    mtp = found["shape"].isin(MTP_SHAPES)
    single = found[~mtp & found["tilt"].map(zone_class).notna()]
    on = single["tilt"].map(zone_class) == "on"
    named_on = single["zone_named"].isin(SINGLE_ZONES)
    expected = [f"<{axis}>" for axis in single.loc[on, "zone_axis"]]
    return {
        "zone_on_off": _ratio((named_on == on).sum(), len(single)),
        "zone_named": _ratio((single.loc[on, "zone_named"] == expected).sum(), on.sum()),
        "mtp_as_zone": _ratio(found.loc[mtp, "zone_named"].isin(SINGLE_ZONES).sum(), mtp.sum()),
    }


def _ratio(total: float, count: float) -> float:
    return float(total / count) if count else float("nan")


def size_recalls(truth: pd.DataFrame) -> dict[str, float]:
    """Recall per :data:`SIZE_CLASSES` over the true particles ``truth`` (``diameter`` [Å],
    ``edge``, ``found``) inside the frame, and ``recall_edge`` over those cut by its edge."""
    edge = truth["edge"].astype(bool)
    found = truth["found"].astype(bool)
    inside = truth[~edge]
    recalls = {
        name: _ratio(
            (found[~edge] & inside["diameter"].between(low, high, inclusive="left")).sum(),
            inside["diameter"].between(low, high, inclusive="left").sum(),
        )
        for name, (low, high) in SIZE_CLASSES.items()
    }
    return {**recalls, "recall_edge": _ratio((found & edge).sum(), edge.sum())}


def summarise(frames: pd.DataFrame, particles: pd.DataFrame) -> pd.DataFrame:
    """The metrics (:data:`METRICS`) per method and dose.

    frames: one row per method, dose and frame with ``predicted``, ``false``, ``intersection``,
    ``union`` (pixels). particles: one row per method, dose and true particle with ``found``
    (bool), ``iou`` (of its match, NaN if none), ``tilt`` [deg], ``diameter`` [Å], ``edge`` (bool)
    and ``classified_on`` (bool, NaN if not found). Precision is NaN where nothing was predicted, mean IoU where nothing was found,
    zone accuracy where no found particle is on axis or tilted.
    """
    rows = []
    for (method, dose), group in frames.groupby(["method", "dose"], sort=False):
        truth = particles[(particles["method"] == method) & (particles["dose"] == dose)]
        found = truth[truth["found"].astype(bool)]  # an empty column is of dtype object
        correct = zone_correct(found)
        predicted = group["predicted"].sum()
        rows.append(
            {
                "method": method,
                "dose": float(dose),
                "frames": len(group),
                "particles": len(truth),
                "precision": _ratio(predicted - group["false"].sum(), predicted),
                "recall": _ratio(len(found), len(truth)),
                "mean_iou": float(found["iou"].mean()) if len(found) else float("nan"),
                "false_per_frame": _ratio(group["false"].sum(), len(group)),
                "zone_accuracy": _ratio(correct.sum(), len(correct)),
                "zone_particles": len(correct),
                "pixel_iou": _ratio(group["intersection"].sum(), group["union"].sum()),
                **size_recalls(truth),
                "false_per_empty_frame": _ratio(
                    group.loc[group["true"] == 0, "false"].sum(), (group["true"] == 0).sum()
                ),
                **zone_name_scores(found),
            }
        )
    return pd.DataFrame(rows)
