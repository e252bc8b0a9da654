"""Particle matching and the scene benchmark's metrics on hand-built cases with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from hrtem_checks.scenes.detection import (
    iou_matrix,
    match_particles,
    summarise,
    zone_by_shape,
    zone_class,
    zone_name_scores,
)
from hrtem_core.errors import ImageError

N = 64


def squares(*corners: tuple[int, int], side: int = 10) -> np.ndarray:
    """Label image [N, N]: square k + 1 of ``side`` px at each corner."""
    labels = np.zeros((N, N), dtype=np.int64)
    for k, (i, j) in enumerate(corners, start=1):
        labels[i : i + side, j : j + side] = k
    return labels


TRUTH = squares((5, 5), (5, 40), (40, 20))


def scored(predicted: np.ndarray, method: str = "m") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Frame and particle rows of one frame, as the benchmark makes them (all tilts 0)."""
    matches = match_particles(TRUTH, predicted)
    frames = pd.DataFrame([{"method": method, "dose": 100.0, "true": len(matches.partner),
                            "predicted": matches.iou.shape[1],
                            "false": matches.false, "intersection": matches.intersection,
                            "union": matches.union}])  # fmt: skip
    particles = pd.DataFrame(
        {
            "method": method,
            "dose": 100.0,
            "found": matches.partner > 0,
            "iou": [
                matches.iou[t, p - 1] if p else math.nan for t, p in enumerate(matches.partner)
            ],
            "tilt": 0.0,
            "diameter": [12.0, 20.0, 40.0][: len(matches.partner)],  # [Å]: one per size class
            "edge": False,
            "classified_on": [True if p else math.nan for p in matches.partner],
            "shape": "truncated_octahedron",
            "zone_axis": "110",
            "zone_named": ["<110>" if p else "" for p in matches.partner],
        }
    )
    return frames, particles


def test_a_perfect_predictor_scores_one() -> None:
    predicted = np.zeros_like(TRUTH)
    for old, new in ((1, 3), (2, 1), (3, 2)):  # same particles, other numbers
        predicted[TRUTH == old] = new
    row = summarise(*scored(predicted)).iloc[0]
    assert (row.precision, row.recall, row.mean_iou, row.pixel_iou) == (1.0, 1.0, 1.0, 1.0)
    assert row.false_per_frame == 0.0 and row.zone_accuracy == 1.0 and row.particles == 3


def test_an_empty_predictor_has_recall_zero() -> None:
    row = summarise(*scored(np.zeros_like(TRUTH))).iloc[0]
    assert row.recall == 0.0 and row.false_per_frame == 0.0 and row.pixel_iou == 0.0
    assert math.isnan(row.precision) and math.isnan(row.mean_iou)  # undefined, not 0 or 1


def test_iou_threshold_and_false_particles() -> None:
    # particle 1 shifted by 2 px (IoU 80/120), particle 2 by 5 px (IoU 50/150: missed), particle 3
    # not predicted, and a blob on bare substrate
    predicted = squares((7, 5), (5, 45), (50, 50), side=10)
    predicted[50:60, 50:60] = 0
    predicted[55:60, 0:5] = 3
    iou = iou_matrix(TRUTH, predicted)
    assert iou[0, 0] == pytest.approx(2 / 3) and iou[1, 1] == pytest.approx(1 / 3)
    matches = match_particles(TRUTH, predicted)
    assert matches.partner.tolist() == [1, 0, 0] and (matches.found, matches.false) == (1, 2)
    row = summarise(*scored(predicted)).iloc[0]
    assert row.recall == pytest.approx(1 / 3) and row.precision == pytest.approx(1 / 3)
    assert row.mean_iou == pytest.approx(2 / 3) and row.false_per_frame == 2.0
    # found: the 1 nm particle only; no substrate-only frame in this set
    assert (row["recall_1nm"], row["recall_1.5-3nm"], row["recall_3nm+"]) == (1.0, 0.0, 0.0)
    assert row["recall_1.5nm+"] == 0.0
    assert math.isnan(row.false_per_empty_frame)


def test_false_particles_on_substrate_only_frames_are_counted_apart() -> None:
    frames, particles = scored(squares((5, 5), (5, 40), (40, 20)))
    bare = pd.DataFrame([{**frames.iloc[0].to_dict(), "true": 0, "predicted": 3, "false": 3}])
    row = summarise(pd.concat([frames, bare]), particles).iloc[0]
    assert row.false_per_empty_frame == 3.0 and row.false_per_frame == 1.5


def test_zone_accuracy_scores_only_on_axis_and_clearly_tilted_particles() -> None:
    assert [zone_class(t) for t in (0.0, 1.0, 4.0, 8.0, 15.0)] == [
        "on",
        "on",
        None,
        "tilted",
        "tilted",
    ]
    frames, particles = scored(TRUTH.copy())
    particles["tilt"] = [0.0, 12.0, 4.0]
    particles["classified_on"] = [True, True, False]  # right, wrong, not scored
    row = summarise(frames, particles).iloc[0]
    assert row.zone_accuracy == 0.5 and row.zone_particles == 2


def test_zone_accuracy_by_shape_counts_each_shape_apart() -> None:
    frames, particles = scored(TRUTH.copy())
    particles["shape"] = ["icosahedron", "decahedron", "icosahedron"]
    particles["tilt"] = [0.0, 0.0, 12.0]
    particles["classified_on"] = [False, True, True]  # both icosahedra wrong
    table = zone_by_shape(particles).set_index("shape")
    assert table.loc["icosahedron", ["particles", "on_axis", "accuracy"]].tolist() == [2, 1, 0.0]
    assert table.loc["decahedron", ["particles", "on_axis", "accuracy"]].tolist() == [1, 1, 1.0]
    assert summarise(frames, particles).iloc[0].zone_accuracy == pytest.approx(1 / 3)
    particles["found"] = False
    assert zone_by_shape(particles).empty


def test_mismatched_label_images_are_one_error() -> None:
    with pytest.raises(ImageError, match=r"true labels \(64, 64\) and predicted labels \(64, 63\)"):
        iou_matrix(TRUTH, TRUTH[:, :-1])


def test_frames_of_substrate_only_are_scored_without_particles() -> None:
    """A set of substrate-only frames: no particle rows at all, false particles still counted."""
    frames = pd.DataFrame([{"method": "m", "dose": 100.0, "true": 0, "predicted": 2, "false": 2,
                            "intersection": 0, "union": 40}])  # fmt: skip
    particles = pd.DataFrame([], columns=["method", "dose", "found", "iou", "tilt", "diameter", "edge", "classified_on", "shape", "zone_axis", "zone_named"])  # fmt: skip
    row = summarise(frames, particles).iloc[0]
    assert row.false_per_empty_frame == 2.0 and row.precision == 0.0 and math.isnan(row.recall)
    assert zone_by_shape(particles).empty


def test_zone_names_score_single_crystals_and_twinned_particles_apart() -> None:
    found = pd.DataFrame(
        {
            "shape": ["truncated_octahedron", "fcc_random", "fcc_random", "truncated_octahedron",
                      "decahedron", "icosahedron", "fcc_random"],
            "zone_axis": ["110", "100", "111", "110", "110", "111", "100"],
            "tilt": [0.0, 0.0, 0.0, 12.0, 0.0, 0.0, 4.0],
            "zone_named": ["<110>", "<111>", "off axis", "off axis", "twinned", "<111>", "<100>"],
        }
    )  # fmt: skip
    scores = zone_name_scores(found)
    # single crystals scored: the first four (4 deg is neither on axis nor clearly tilted);
    # on/off right: 1, 2 (named a zone, if the wrong one), 4; named right: 1 of the 3 on axis
    assert scores == {"zone_on_off": 0.75, "zone_named": pytest.approx(1 / 3), "mtp_as_zone": 0.5}
    assert summarise(*scored(TRUTH.copy())).iloc[0][["zone_on_off", "zone_named"]].tolist() == [
        1.0,
        1.0,
    ]


def test_particles_cut_by_the_frame_edge_are_scored_apart_from_the_size_classes() -> None:
    from hrtem_checks.scenes.detection import size_recalls

    truth = pd.DataFrame(
        {"diameter": [20.0, 20.0, 40.0], "edge": [False, True, True], "found": [True, False, True]}
    )
    recalls = size_recalls(truth)
    assert recalls["recall_1.5-3nm"] == 1.0 and math.isnan(recalls["recall_3nm+"])
    assert recalls["recall_1.5nm+"] == 1.0 and recalls["recall_edge"] == 0.5
