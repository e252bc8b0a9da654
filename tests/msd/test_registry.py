"""A network logged as an MLflow Model, registered with alias "candidate", loaded back by every kind of
URI (local SQLite store and a real `mlflow server`), never unpickled; bad URIs are one-line errors."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from hrtem_core.cards import ModelCard
from hrtem_msd import load_model
from hrtem_msd.nets.normalise import normalise
from hrtem_msd.store.mlflow_model import RegistryError, log_model
from hrtem_msd.store.registry import promote, registered_models, show_model
from hrtem_msd.store.tracking import TrackingError, experiment_for
from torch import nn

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

IMAGES = torch.randn(2, 1, 24, 20, generator=torch.Generator().manual_seed(1))


@dataclasses.dataclass
class Logged:
    net: nn.Module
    config: ModelCard
    run_id: str
    model_uri: str
    version: int
    tracking: str


def log_tiny(
    task: str = "test", name: str = "hrtem-test"
) -> tuple[nn.Module, ModelCard, str, str, int]:
    net, config = helpers.tiny_model(task)
    with mlflow.start_run(experiment_id=experiment_for(task)) as run:
        uri, version = log_model(net, config, registered_name=name)
    return net, config, run.info.run_id, uri, version


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """One model logged and registered as hrtem-test in a fresh local store."""
    uri = helpers.sqlite_store(tmp_path_factory, tmp_path_factory.mktemp("store"))
    with helpers.tracking_to(uri):
        return Logged(*log_tiny(), tracking=uri)


@pytest.fixture
def tracking(logged: Logged) -> Iterator[str]:
    with helpers.tracking_to(logged.tracking) as uri:
        yield uri


def model_dir(logged: Logged) -> Path:
    """The logged MLflow model directory in the store's artifacts."""
    location = mlflow.MlflowClient().get_model_version_download_uri(
        "hrtem-test", str(logged.version)
    )
    assert location.startswith("file://")
    return Path(location.removeprefix("file://"))


def assert_same_net(loaded: nn.Module, logged: Logged) -> None:
    """The loaded model is the logged network behind its normalisation: raw images in."""
    assert not loaded.training
    assert loaded.config == logged.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(IMAGES), logged.net(normalise(IMAGES)), rtol=0, atol=0)


def test_a_loaded_model_takes_raw_frames_at_any_linear_scale(tracking: str, logged: Logged) -> None:
    """Counts or any linear scale of them (gain, offset) give the same logits."""
    net = load_model("models:/hrtem-test@candidate")
    with torch.no_grad():
        torch.testing.assert_close(net(IMAGES * 1000.0 + 50.0), net(IMAGES), rtol=1e-4, atol=1e-4)
        assert net(IMAGES).std() > 0


def test_log_model_registers_a_candidate_version(tracking: str, logged: Logged) -> None:
    assert logged.model_uri == f"models:/hrtem-test/{logged.version}"
    version = mlflow.MlflowClient().get_model_version_by_alias("hrtem-test", "candidate")
    assert int(version.version) == logged.version
    assert version.run_id == logged.run_id
    with torch.no_grad():
        assert (
            logged.net(IMAGES).std() > 0
        )  # a non-trivial net, so comparing outputs means something


@pytest.mark.parametrize("kind", ["alias", "version", "run", "directory", "data directory"])
def test_load_model_returns_the_logged_network(tracking: str, logged: Logged, kind: str) -> None:
    uri = {
        "alias": "models:/hrtem-test@candidate",
        "version": f"models:/hrtem-test/{logged.version}",
        "run": f"runs:/{logged.run_id}/model",
        "directory": str(model_dir(logged)),
        "data directory": str(model_dir(logged) / "data" / "hrtem_model"),
    }[kind]
    assert_same_net(load_model(uri, task="test", in_channels=1), logged)


def test_pyfunc_predicts_probabilities_of_normalised_images(tracking: str, logged: Logged) -> None:
    model = mlflow.pyfunc.load_model("models:/hrtem-test@candidate")
    probabilities = model.predict(IMAGES.numpy())
    with torch.no_grad():
        expected = logged.net(normalise(IMAGES)).softmax(1).numpy()
    assert probabilities.shape == (2, 2, 24, 20)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_logged_model_holds_no_pickle(tracking: str, logged: Logged) -> None:
    folder = model_dir(logged)
    files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    assert {
        "MLmodel",
        "data/hrtem_model/weights.safetensors",
        "data/hrtem_model/model_config.yaml",
    } <= files
    assert not [
        name for name in files if name.endswith((".pkl", ".pickle", ".pt", ".pth", ".ckpt"))
    ]
    mlmodel = (folder / "MLmodel").read_text()
    assert "python_model" not in mlmodel and "cloudpickle" not in mlmodel
    flavors = yaml.safe_load(mlmodel)["flavors"]
    assert list(flavors) == ["python_function"]
    assert flavors["python_function"]["loader_module"] == "hrtem_msd.store.mlflow_model"
    signature = yaml.safe_load(mlmodel)["signature"]
    assert '"shape": [-1, 1, -1, -1]' in signature["inputs"]
    assert '"shape": [-1, 2, -1, -1]' in signature["outputs"]


def test_wrong_task_or_channels_is_one_clear_line(tracking: str, logged: Logged) -> None:
    uri = "models:/hrtem-test@candidate"
    with pytest.raises(RegistryError) as error:
        load_model(uri, task="mos2")
    assert str(error.value) == f"{uri}: model is for task 'test', expected 'mos2'"
    with pytest.raises(RegistryError) as error:
        load_model(uri, in_channels=3)
    assert str(error.value) == f"{uri}: model takes 1 input channel(s), expected 3"


def test_unknown_name_alias_or_version_is_one_clear_line(tracking: str, logged: Logged) -> None:
    with pytest.raises(RegistryError) as error:
        load_model("models:/hrtem-nope@champion")
    assert (
        str(error.value)
        == f"no registered model 'hrtem-nope' at {tracking} (registered: hrtem-test)"
    )
    with pytest.raises(RegistryError) as error:
        load_model("models:/hrtem-test@champion")
    assert "no alias 'champion'" in str(error.value)
    assert f"candidate -> {logged.version}" in str(error.value)
    with pytest.raises(RegistryError, match=r"has no version 99 \(versions: 1\)$"):
        load_model("models:/hrtem-test/99")
    with pytest.raises(RegistryError, match="model directory does not exist"):
        load_model("/no/such/model")


def test_corrupt_weights_name_the_file(tracking: str, logged: Logged, tmp_path: Path) -> None:
    folder = shutil.copytree(model_dir(logged) / "data" / "hrtem_model", tmp_path / "model")
    (folder / "weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RegistryError, match=r"weights\.safetensors: cannot read weights"):
        load_model(str(folder))


def test_promote_sets_the_alias_and_list_show_describe_it(tracking: str, logged: Logged) -> None:
    promote("hrtem-test", logged.version, "champion")
    assert_same_net(load_model("models:/hrtem-test@champion"), logged)
    with pytest.raises(RegistryError, match="no version 7"):
        promote("hrtem-test", 7, "champion")
    [summary] = [model for model in registered_models() if model.name == "hrtem-test"]
    assert summary.aliases == {"candidate": logged.version, "champion": logged.version}
    details = show_model("hrtem-test")
    assert details.config == logged.config
    assert [(v.version, v.run_id) for v in details.versions] == [(logged.version, logged.run_id)]
    assert details.versions[0].aliases == ["candidate", "champion"]


def test_log_model_needs_an_active_run(tracking: str, logged: Logged) -> None:
    with pytest.raises(RegistryError, match="needs an active MLflow run"):
        log_model(logged.net, logged.config)


def test_unreachable_server_fails_fast_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{helpers.free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    start = time.monotonic()
    with pytest.raises(TrackingError) as error:
        load_model("models:/hrtem-nanoparticle@champion")
    # Not a speed benchmark: MLflow's own client would retry for minutes before failing.
    assert time.monotonic() - start < 30
    message = str(error.value)
    assert message.startswith(f"MLflow tracking server {url} is unreachable (")
    assert "\n" not in message


def test_round_trip_through_a_real_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("server")
    backend = helpers.sqlite_store(tmp_path_factory, folder)
    with helpers.mlflow_server(folder, backend) as url, helpers.tracking_to(url):
        net, config, run_id, uri, version = log_tiny("nanoparticle", "hrtem-nanoparticle")
        assert (uri, version) == ("models:/hrtem-nanoparticle/1", 1)
        stored = list((folder / "artifacts").rglob("weights.safetensors"))
        assert len(stored) == 1  # the artifacts went through the server's proxy
        for model_uri in ("models:/hrtem-nanoparticle@candidate", f"runs:/{run_id}/model"):
            loaded = load_model(model_uri, task="nanoparticle", in_channels=1)
            with torch.no_grad():
                torch.testing.assert_close(loaded(IMAGES), net(normalise(IMAGES)), rtol=0, atol=0)
        promote("hrtem-nanoparticle", 1, "champion")
        assert show_model("hrtem-nanoparticle").summary.aliases == {"candidate": 1, "champion": 1}
        assert load_model("models:/hrtem-nanoparticle@champion").config == config
