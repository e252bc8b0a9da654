"""MLflow test helpers as fixtures."""

import importlib.util
from pathlib import Path

import pytest


def _helpers():  # tests run with --import-mode=importlib: load the helper module by path
    spec = importlib.util.spec_from_file_location(
        "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mlflow_helpers():
    """tests/msd/mlflow_helpers.py as a module (stores, a real mlflow server, a tiny model)."""
    return _helpers()


@pytest.fixture
def store(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh sqlite tracking store (MLFLOW_TRACKING_URI) in tmp_path, which is also the cwd."""
    uri = _helpers().sqlite_store(tmp_path_factory, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri
