"""An hrtem network as an MLflow Model that loads without unpickling anything.

The model directory holds ``MLmodel`` (python_function flavor with ``loader_module:
hrtem_msd.store.mlflow_model``) and ``data/hrtem_model/`` with ``weights.safetensors`` and
``model_config.yaml`` (the :class:`~hrtem_core.cards.ModelCard`). ``mlflow.pyfunc.load_model(uri)`` calls
:func:`_load_pyfunc`; :func:`hrtem_msd.load_model` returns the :class:`TrainedModel`.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import safetensors
import safetensors.torch
import torch
import yaml
from hrtem_core.cards import ModelCard
from hrtem_core.errors import HRTEMError
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from torch import nn

from hrtem_msd.nets import build
from hrtem_msd.store.trained import TrainedModel

WEIGHTS = "weights.safetensors"
CONFIG = "model_config.yaml"
DATA_DIR = "hrtem_model"
CANDIDATE = "candidate"


class RegistryError(HRTEMError):
    """A model cannot be found, logged or loaded, or is not the model the caller needs."""


def save_model_data(net: nn.Module, config: ModelCard, folder: Path) -> Path:
    """Write ``folder/weights.safetensors`` (the state dict on CPU) and ``folder/model_config.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: value.detach().cpu().contiguous() for name, value in net.state_dict().items()}
    safetensors.torch.save_file(state, str(folder / WEIGHTS))
    config.save(folder / CONFIG)
    return folder


def data_dir(folder: Path) -> Path:
    """The folder holding weights and config: ``folder`` itself, or the data dir its ``MLmodel`` names."""
    if (folder / CONFIG).is_file():
        return folder
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise RegistryError(f"{folder}: not an hrtem model (no MLmodel and no {CONFIG})")
    flavor = (
        (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("python_function", {})
    )
    if flavor.get("loader_module") != __name__ or not flavor.get("data"):
        raise RegistryError(f"{mlmodel}: not an hrtem model (loader_module is not {__name__})")
    return folder / flavor["data"]


def load_weights(
    folder: Path, config: ModelCard, device: str | torch.device = "cpu"
) -> TrainedModel:
    """The :class:`TrainedModel` of ``config`` with the weights in ``folder``, on ``device``, in eval mode."""
    path = folder / WEIGHTS
    try:
        state = safetensors.torch.load_file(str(path))
    except (OSError, safetensors.SafetensorError) as err:
        raise RegistryError(f"{path}: cannot read weights ({err})") from None
    return TrainedModel(build(config, state, str(path)), config).to(device).eval()


class HRTEMPyfunc:
    """``predict(raw images [N, C, H, W]) -> class probabilities [N, K, H, W]`` float32."""

    def __init__(self, net: TrainedModel) -> None:
        self.net = net
        self.config: ModelCard = net.config

    def predict(self, model_input: np.ndarray, params: dict[str, Any] | None = None) -> np.ndarray:
        images = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        channels = self.config.in_channels
        if images.dim() != 4 or images.shape[1] != channels:
            raise RegistryError(f"expected images [N, {channels}, H, W], got {list(images.shape)}")
        device = next(self.net.parameters()).device
        with torch.inference_mode():
            logits = self.net(images.to(device))
        return logits.float().softmax(1).cpu().numpy()


def _load_pyfunc(data_path: str) -> HRTEMPyfunc:
    """MLflow's entry point (``loader_module``): the model in ``data_path``, on CUDA when present."""
    folder = Path(data_path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return HRTEMPyfunc(load_weights(folder, ModelCard.load(folder / CONFIG), device))


def card_text(card: ModelCard) -> str:
    """The model card as the registered version's description (Markdown: one line per fact)."""
    return "hrtem model card\n\n" + "\n".join(f"- {line}" for line in card.describe().splitlines())


def signature(config: ModelCard) -> ModelSignature:
    """Tensor spec: images [-1, C, -1, -1] float32 -> probabilities [-1, K, -1, -1] float32."""
    float32 = np.dtype(np.float32)
    return ModelSignature(
        inputs=Schema([TensorSpec(float32, (-1, config.in_channels, -1, -1))]),
        outputs=Schema([TensorSpec(float32, (-1, config.out_channels, -1, -1))]),
    )


def requirements() -> list[str]:
    """What serving the model needs: hrtem-core, hrtem-msd, torch and safetensors as installed."""
    names = ("hrtem-core", "hrtem-msd", "torch", "safetensors")
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in names]


def log_model(
    net: nn.Module,
    config: ModelCard,
    artifact_path: str = "model",
    registered_name: str | None = None,
    example: np.ndarray | None = None,
    alias: str = CANDIDATE,
) -> tuple[str, int | None]:
    """Log ``net`` in the active MLflow run; register it as ``registered_name`` with ``alias``
    (default "candidate"), the model card as the version's description.

    example: optional input images [N, C, H, W] float32 stored with the model.
    Returns (model URI, registered version): ``models:/NAME/VERSION`` when registered, else
    ``runs:/RUN_ID/<artifact_path>`` and None.
    """
    run = mlflow.active_run()
    if run is None:
        raise RegistryError("log_model needs an active MLflow run (inside mlflow.start_run())")
    with tempfile.TemporaryDirectory() as tmp:
        data = save_model_data(net, config, Path(tmp) / DATA_DIR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info = mlflow.pyfunc.log_model(
                name=artifact_path,
                loader_module=__name__,
                data_path=str(data),
                signature=signature(config),
                input_example=example,
                registered_model_name=registered_name,
                pip_requirements=requirements(),
            )
    if registered_name is None:
        return f"runs:/{run.info.run_id}/{artifact_path}", None
    version = int(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.update_model_version(registered_name, str(version), description=card_text(config))
    client.set_registered_model_alias(registered_name, alias, str(version))
    return f"models:/{registered_name}/{version}", version
