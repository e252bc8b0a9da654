"""Column finding and diffusion-event counting on synthetic series with known events."""

import numpy as np
import pytest
from hrtem_analysis.columns import count_events, detect_columns, match_columns
from hrtem_analysis.settings import Settings
from hrtem_core.errors import ImageError
from hrtem_msd.nets.points import SUPPRESS
from scipy.spatial import cKDTree

SHAPE = (120, 100)


def render(positions: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Column-probability map [H, W]: a Gaussian spot of peak 1 per column (axis 0 = x)."""
    ix, iy = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    probability = np.zeros(SHAPE)
    for x, y in positions:
        probability = np.maximum(
            probability, np.exp(-((ix - x) ** 2 + (iy - y) ** 2) / (2 * sigma**2))
        )
    return probability


def lattice(rng: np.random.Generator) -> np.ndarray:
    """A 10 px square lattice inside the frame with sub-pixel jitter, [M, 2] (x, y) [px]."""
    x, y = np.meshgrid(np.arange(10, 110, 10.0), np.arange(10, 90, 10.0), indexing="ij")
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    return points + rng.uniform(-0.4, 0.4, points.shape)


def test_find_columns_sub_pixel_positions_in_array_order() -> None:
    truth = lattice(np.random.default_rng(0))
    found = detect_columns(render(truth), threshold=0.5)
    assert found.shape == truth.shape
    _, nearest = cKDTree(found).query(truth)
    np.testing.assert_allclose(found[nearest], truth, atol=0.1)
    single = detect_columns(render(np.array([[30.3, 70.6]])))
    np.testing.assert_allclose(single, [[30.3, 70.6]], atol=0.1)  # (x, y): axis 0 first


def test_min_distance_merges_fragments_of_one_column() -> None:
    # One column cut into two fragments by a dip below the threshold.
    probability = render(np.array([[50.0, 50.0], [50.0, 54.0]]), sigma=1.0)
    assert len(detect_columns(probability, threshold=0.5)) == 2
    assert len(detect_columns(probability, threshold=0.5, min_distance=3.0)) == 2
    merged = detect_columns(probability, threshold=0.5, min_distance=5.0)
    np.testing.assert_allclose(merged, [[50.0, 52.0]], atol=0.05)


def test_suppress_drops_a_weaker_blob_beside_a_column_and_keeps_the_lattice() -> None:
    truth = lattice(np.random.default_rng(1))  # spacing 10 px
    halo = truth[:5] + np.array([6.0, 0.0])  # weaker blobs 0.6 spacing beside five columns
    probability = np.maximum(render(truth), 0.8 * render(halo, sigma=1.0))
    assert len(detect_columns(probability)) == len(truth) + 5
    found = detect_columns(probability, suppress=SUPPRESS * 10.0)
    assert found.shape == truth.shape
    _, nearest = cKDTree(found).query(truth)
    np.testing.assert_allclose(found[nearest], truth, atol=0.1)  # the columns, not the halo
    assert len(detect_columns(render(truth), suppress=SUPPRESS * 10.0)) == len(truth)


def test_positions_and_suppression_in_angstrom_on_oblong_pixels() -> None:
    """With the map's sampling, positions come in Å and the suppression radius is in Å on
    each axis: on (0.1, 0.3) Å/px a blob 1.2 Å from a column along x (12 px) is dropped
    within 1.75 Å, while the lattice 3 Å apart along y (10 px) is kept."""
    columns = np.array([[40.0, 30.0], [40.0, 40.0], [40.0, 50.0]])
    halo = np.array([[52.0, 30.0]])
    probability = np.maximum(render(columns), 0.8 * render(halo, sigma=1.0))
    found = detect_columns(probability, suppress=1.75, sampling=(0.1, 0.3))
    np.testing.assert_allclose(found, columns * [0.1, 0.3], atol=0.02)
    assert len(detect_columns(probability, sampling=(0.1, 0.3))) == 4  # no suppression


def test_the_analysis_suppresses_as_training_scores() -> None:
    assert Settings().suppress == SUPPRESS  # settings.py keeps a torch-free copy


def test_empty_map_and_bad_input() -> None:
    assert detect_columns(np.zeros(SHAPE)).shape == (0, 2)
    with pytest.raises(
        ImageError, match=r"probability map has shape \(2, 3, 4\); expected \[H, W\]"
    ):
        detect_columns(np.zeros((2, 3, 4)))
    with pytest.raises(ImageError, match="NaN"):
        detect_columns(np.full(SHAPE, np.nan))


def test_match_columns_is_one_to_one_nearest_first() -> None:
    previous = np.array([[10.0, 10.0], [11.5, 10.0], [50.0, 50.0]])
    current = np.array([[10.2, 10.0], [80.0, 80.0]])
    matched, appeared, vanished = match_columns(previous, current, max_distance=3.0)
    assert matched.tolist() == [[0, 0]]
    assert appeared.tolist() == [1]
    assert vanished.tolist() == [1, 2]
    matched, appeared, vanished = match_columns(np.zeros((0, 2)), current, 3.0)
    assert matched.shape == (0, 2) and appeared.tolist() == [0, 1] and vanished.size == 0


def test_count_events_on_series_with_known_events() -> None:
    rng = np.random.default_rng(1)
    base = lattice(rng)
    interstitial = np.array([[45.0, 45.0], [75.0, 25.0]])  # centres of lattice squares
    frames = [
        base,  # frame 0
        np.delete(base, [3, 17], axis=0),  # two columns vanish
        np.concatenate([np.delete(base, [3, 17, 40], axis=0), interstitial[:1]]),  # 1 out, 1 in
        np.concatenate([np.delete(base, [3, 17, 40], axis=0), interstitial[:1]]) + 0.7,  # drift
        np.concatenate([base, interstitial]),  # three return, one more appears
    ]
    series = [detect_columns(render(f), threshold=0.5) for f in frames]
    table = count_events(series, max_distance=3.0, frames=[0, 1, 2, 5, 6])
    assert table["frame"].tolist() == [0, 1, 2, 5, 6]
    assert table["columns"].tolist() == [len(f) for f in frames]
    assert table["appeared"].tolist() == [0, 0, 1, 0, 4]
    assert table["vanished"].tolist() == [0, 2, 1, 0, 0]
    assert table["events"].tolist() == [0, 2, 2, 0, 4]


def test_count_events_drops_a_column_missing_from_one_frame_only() -> None:
    base = lattice(np.random.default_rng(2))
    flicker = [base, np.delete(base, [5], axis=0), base, base]
    series = [detect_columns(render(f), threshold=0.5) for f in flicker]
    confirmed = count_events(series, max_distance=3.0)
    assert confirmed["events"].tolist() == [0, 0, 0, 0]
    raw = count_events(series, max_distance=3.0, confirm=False)
    assert raw["vanished"].tolist() == [0, 1, 0, 0]
    assert raw["appeared"].tolist() == [0, 0, 1, 0]


def test_count_events_rejects_mismatched_frame_numbers() -> None:
    with pytest.raises(ImageError, match="3 frame numbers for 2 frames"):
        count_events([np.zeros((0, 2))] * 2, 3.0, frames=[0, 1, 2])
