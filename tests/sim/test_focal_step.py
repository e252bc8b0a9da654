"""Focal series drawn with one shared focal step: -s, 0, +s as microscopes take them."""

from __future__ import annotations

from pathlib import Path

import torch
from hrtem_sim.optics import ImageFormation, ImageFormationConfig, Range
from omegaconf import OmegaConf

TASK = Path(__file__).resolve().parents[2] / "configs" / "task" / "mos2.yaml"


def series(shared_step: bool) -> torch.Tensor:
    config = ImageFormationConfig(
        defocus=Range(-60.0, 60.0),
        defocus_offsets=[Range(-120.0, -40.0), Range(0.0, 0.0), Range(40.0, 120.0)],
        shared_step=shared_step,
    )
    params = ImageFormation(config).draw(2000, torch.Generator().manual_seed(3))
    return params.lens.defocus.double()


def test_a_shared_step_gives_symmetric_series_over_the_whole_step_range() -> None:
    defocus = series(shared_step=True)
    below, above = defocus[:, 1] - defocus[:, 0], defocus[:, 2] - defocus[:, 1]
    torch.testing.assert_close(below, above, atol=1e-4, rtol=0)  # one step for both sides
    assert 40 <= float(above.min()) < 42 and 118 < float(above.max()) <= 120
    assert -60 <= float(defocus[:, 1].min()) and float(defocus[:, 1].max()) <= 60


def test_independent_offsets_give_lopsided_series() -> None:
    """Without the shared step the two sides differ by up to 80 Å (no microscope's series)."""
    defocus = series(shared_step=False)
    lopsided = (defocus[:, 2] - defocus[:, 1]) - (defocus[:, 1] - defocus[:, 0])
    assert float(lopsided.abs().max()) > 70
    assert float((lopsided.abs() > 27).double().mean()) > 0.4


def test_the_mos2_task_trains_on_focal_steps_of_40_to_120_angstrom() -> None:
    optics = OmegaConf.merge(
        OmegaConf.structured(ImageFormationConfig), OmegaConf.load(TASK)["optics"]
    )
    config: ImageFormationConfig = OmegaConf.to_object(optics)
    assert config.shared_step
    steps = [(r.low, r.high) for r in config.defocus_offsets]
    assert steps == [(-120.0, -40.0), (0.0, 0.0), (40.0, 120.0)]
