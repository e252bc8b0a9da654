"""Realistic MoS2 scenes (data_specs/mos2_scenes.yaml, profile tiny), simulated once per session
into the data root of the tiny MoS2 dataset, where the vacancy check finds them cached."""

from __future__ import annotations

from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[2] / "data_specs"


@pytest.fixture(scope="session")
def tiny_scenes(tiny_mos2: Path):
    """The tiny scenes' dataset (3 flakes with a hole each, 32 Å cells, real abTEM exit waves)."""
    from hrtem_analysis.mos2_scenes import simulate_scenes
    from hrtem_sim import open_dataset

    path = simulate_scenes(SPECS / "mos2_scenes.yaml", "tiny", tiny_mos2.parent, 0, False)
    return open_dataset(path)
