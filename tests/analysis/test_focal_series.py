"""Focal series as microscopes take them: a series outside the trained defocus is refused in one
line, and the drift between focal images of real abTEM MoS2 flakes is recovered."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hrtem_analysis.focal_series import (
    check_series,
    fourier_shift,
    reference_channel,
    register_series,
)
from hrtem_analysis.registration import drift
from hrtem_checks.vacancies.scenes import scene_frames
from hrtem_cli.main import app
from hrtem_core.cards import ModelCard
from hrtem_core.errors import SpecError
from hrtem_msd.config import compose
from typer.testing import CliRunner

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

# The card of a model trained as the old mos2 task: middle -60..60 Å, offsets -100..-80, +80..+100.
RANGES = [[-160.0, -20.0], [-60.0, 60.0], [20.0, 160.0]]


def card(**changes: object) -> ModelCard:
    base = ModelCard(
        task="mos2", architecture="msd", model_args={"depth": 1}, classes=["background", "Mo", "S2", "S1"],
        in_channels=3, defocus=[-90.0, 0.0, 90.0], sampling=0.1, normalisation="per_image",
        spec_hash="x", energy=80e3, defocus_ranges=RANGES,
    )  # fmt: skip
    return base.replace(**changes)


def test_series_the_model_was_trained_on_pass() -> None:
    assert reference_channel(card()) == 1
    for series in ([-90, 0, 90], [-140, -50, 40], [-20, 60, 160]):
        check_series(card(), series)
    check_series(card(defocus_ranges=None), [-60, 0, 60])  # nothing recorded: cannot refuse


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([-170, 0, 90], "focal series defocus -170, 0, 90 Å: channel 1 at -170 Å is outside the trained -160..-20 Å"),
        ([-60, 0, 60], "focal series defocus -60, 0, 60 Å: channel 1 is -60 Å from channel 2; the model was trained with -100..-80 Å"),
        ([-90, 0], "focal series defocus -90, 0 Å: 2 images; the model takes 3 (trained at -90, 0, 90 Å)"),
    ],
)  # fmt: skip
def test_a_series_outside_the_trained_defocus_is_refused_in_one_line(
    series: list[float], message: str
) -> None:
    with pytest.raises(SpecError) as error:
        check_series(card(), series)
    assert str(error.value) == message


def test_the_default_mos2_task_takes_steps_of_40_to_120() -> None:
    """The card's ranges of the default task: any series -s, 0, +s with s in 40..120 Å passes."""
    optics = compose(["task=mos2"], CONFIGS).task.optics
    ranges = [
        [optics.defocus.low + o.low, optics.defocus.high + o.high] for o in optics.defocus_offsets
    ]
    trained = card(defocus_ranges=ranges)
    for step in (40, 60, 120):
        check_series(trained, [-step, 0, step])
    with pytest.raises(SpecError, match=r"channel 1 is -30 Å from channel 2; .* -120\.\.-40 Å$"):
        check_series(trained, [-30, 0, 30])


@pytest.mark.parametrize("series", [(-60.0, 0.0, 60.0), (-120.0, 20.0, 160.0)])
def test_registration_recovers_known_shifts_between_focal_images(tiny_scenes, series) -> None:
    """Real abTEM exit waves of MoS2 flakes with holes, focal series at 0.1 Å/px with drift between
    the images (each formed at its own place in the wave): the drift found is within 0.1 Å of the
    truth at 2e4 e-/Å^2. One cross-correlation (`drift`) is fooled by the contrast reversals."""
    optics = compose(["task=mos2"], CONFIGS).task.optics
    fooled = 0.0
    for sample in tiny_scenes:
        [frame] = scene_frames(sample, optics, 0.1, series, 1, [2e4], seed=11, spot=0.4)
        assert np.hypot(*frame.drift.T).max() > 0.3  # the images did drift
        registered = register_series(frame.image, frame.sampling, 1, max_drift=5.0)
        found = registered.shifts * np.asarray(frame.sampling)
        np.testing.assert_allclose(found, frame.drift, atol=0.1)
        # the images are put on the reference's grid: their residual drift is ~0
        again = register_series(registered.image, frame.sampling, 1, max_drift=5.0)
        assert np.hypot(*again.shifts.T).max() * 0.1 < 0.05
        outer = drift(frame.image[0], frame.image[2], 50) * 0.1
        fooled = max(fooled, np.hypot(*(outer - (frame.drift[2] - frame.drift[0]))))
    assert fooled > 0.3


def test_fourier_shift_moves_content() -> None:
    image = np.zeros((32, 30), dtype=np.float32)
    image[10, 12] = 1.0
    moved = fourier_shift(image, (3.0, -2.0))
    assert moved.dtype == np.float32 and np.unravel_index(moved.argmax(), moved.shape) == (13, 10)
    np.testing.assert_allclose(fourier_shift(moved, (-3.0, 2.0)), image, atol=1e-5)


def trained_model(folder: Path) -> Path:
    """The synthetic MoS2 model with the card of a model trained on -100..-80, 0, +80..+100 Å."""
    path = synthetic.mos2_model(folder)
    card = ModelCard.load(path / "model_config.yaml")
    card.replace(defocus=[-90.0, 0.0, 90.0], defocus_ranges=RANGES).save(path / "model_config.yaml")
    return path


def write_series(path: Path, defocus: list[float]) -> Path:
    """Two time points of three images in one HDF5 stack [6, rows, cols] with a defocus attribute."""
    image = synthetic.mos2_frame().T
    with h5py.File(path, "w") as file:
        file["images"] = np.stack([image] * 6)
        file["images"].attrs["defocus"] = defocus * 2
        file["images"].attrs["sampling"] = synthetic.SAMPLING
    return path


def test_mos2_refuses_a_series_outside_the_trained_defocus(tmp_path: Path) -> None:
    model = trained_model(tmp_path / "model")
    stack = write_series(tmp_path / "focal.h5", [-90.0, 0.0, 90.0])
    args = ["analyze", "mos2", str(stack), "--model", str(model), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--defocus", "-60,0,60"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: focal series defocus -60, 0, 60 Å: channel 1 is -60 Å from channel 2; "
        "the model was trained with -100..-80 Å"
    )
    assert not (tmp_path / "out" / "frames.csv").exists()  # refused before any frame

    result = CliRunner().invoke(app, args)  # the file's metadata: -90, 0, 90 Å
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "frames.csv")
    assert table["defocus"].tolist() == ["-90;0;90"] * 2
    assert table["vacancies"].tolist() == [0, 0] and (table["counted_area"] > 0).all()
    assert (tmp_path / "out" / "figures" / "frame_000001.png").stat().st_size > 20_000

    bad = write_series(tmp_path / "bad.h5", [-60.0, 0.0, 60.0])
    result = CliRunner().invoke(app, ["analyze", "mos2", str(bad), "--model", str(model),
                                      "--out", str(tmp_path / "bad")])  # fmt: skip
    assert result.exit_code == 1
    assert "every frame failed; first: " in result.stderr
    assert "channel 1 is -60 Å from channel 2" in result.stderr
