"""Suite-wide settings, applied before any test module imports torch, and shared datasets."""

import os
from pathlib import Path

import pytest

# Spinning OpenMP threads make torch several times slower on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SPECS = Path(__file__).resolve().parents[1] / "data_specs"


@pytest.fixture(scope="session")
def tiny_mos2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data_specs/mos2.yaml, profile tiny (5 samples, 16 Å cell), simulated in this process; the
    dataset's folder (its parent is the data root)."""
    from hrtem_sim import load_spec, simulate_dataset

    spec = load_spec(SPECS / "mos2.yaml", profile="tiny")
    return simulate_dataset(spec, tmp_path_factory.mktemp("data"), workers=0, progress=False)


@pytest.fixture(scope="session")
def tiny_nanoparticle_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding data_specs/nanoparticle.yaml, profile tiny (4 Au samples), simulated."""
    from hrtem_sim import load_spec, simulate_dataset

    root = tmp_path_factory.mktemp("data")
    spec = load_spec(SPECS / "nanoparticle.yaml", profile="tiny")
    simulate_dataset(spec, root, workers=0, progress=False)
    return root
