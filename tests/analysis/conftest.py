"""The small real models of synthetic.py, saved once per session and loaded by path."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
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
