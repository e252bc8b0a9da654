"""Suite-wide settings, applied before any test module imports torch; shared datasets; the small
real models of analysis/synthetic.py (saved once per session, loaded by path); realistic MoS2
scenes (data_specs/mos2_scenes.yaml, profile tiny), simulated once per session into the data root
of the tiny MoS2 dataset, where the vacancy check finds them cached; a tiny MoS2 model trained on
that dataset, once per test module."""

import importlib.util
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


_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).parent / "analysis" / "synthetic.py"
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Model directories: "particle", "columns" (intensity thresholds) and "mos2" (species)."""
    root = tmp_path_factory.mktemp("models")
    return {
        "particle": str(synthetic.particle_model(root / "particle")),
        "columns": str(synthetic.columns_model(root / "columns")),
        "mos2": str(synthetic.mos2_model(root / "mos2")),
    }


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def tiny_scenes(tiny_mos2: Path):
    """The tiny scenes' dataset (3 flakes with a hole each, 32 Å cells, real abTEM exit waves)."""
    from hrtem_checks.vacancies.scenes import simulate_scenes
    from hrtem_sim import open_dataset

    path = simulate_scenes(SPECS / "mos2_scenes.yaml", "tiny", tiny_mos2.parent, 0, False)
    return open_dataset(path)


@pytest.fixture(scope="module")
def mos2_uri(tiny_mos2: Path, tmp_path_factory: pytest.TempPathFactory):
    """``models:/hrtem-mos2@candidate``: a tiny MoS2 model trained for one epoch on the tiny dataset
    (detector 0.2-0.22 Å/px, the tiny exit waves being at 0.15 Å/px), registered in a sqlite
    store that MLFLOW_TRACKING_URI names for the module's tests."""
    from hrtem_msd.config import compose
    from hrtem_msd.training.train import train

    folder = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        patch.chdir(folder)
        overrides = [
            "task=mos2", "task.profile=tiny", f"data.root={tiny_mos2.parent}", "model.depth=4",
            "trainer=cpu", "trainer.max_epochs=1", "trainer.progress=false", "data.batch_size=2",
            "data.num_workers=0", "data.val_fraction=0.2", "data.test_fraction=0.4",
            "task.optics.detector_sampling.low=0.2", "task.optics.detector_sampling.high=0.22",
            "task.optics.output_size=[64,64]",
        ]  # fmt: skip
        train(compose(overrides, CONFIGS))
        yield "models:/hrtem-mos2@candidate"
