"""Loading a trained model by URI: what analysis needs of the store.

URIs: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/model``, any MLflow artifact
URI, a local directory (an MLflow model directory, or a folder with ``model_config.yaml`` and
``weights.safetensors``) or a training checkpoint (``*.ckpt``, read with ``weights_only=True``).
The tracking/registry server is :func:`hrtem_msd.store.tracking.tracking_uri`; registered names
are resolved by :func:`hrtem_msd.store.registry.resolve_model_uri`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import torch
from hrtem_core.cards import ModelCard
from mlflow.exceptions import MlflowException

from hrtem_msd.store.checkpoint import load_checkpoint
from hrtem_msd.store.mlflow_model import CONFIG, RegistryError, data_dir, load_weights
from hrtem_msd.store.registry import resolve_model_uri
from hrtem_msd.store.tracking import client, experiment_name, tracking_uri
from hrtem_msd.store.trained import TrainedModel


def load_model(
    uri: str,
    task: str | None = None,
    in_channels: int | None = None,
    device: str | torch.device = "cpu",
) -> TrainedModel:
    """The :class:`~hrtem_msd.store.trained.TrainedModel` at ``uri`` in eval mode on ``device``:
    raw images [B, C, H, W] -> logits [B, K, H, W], its :class:`ModelCard` as ``.config``.

    task, in_channels: what the caller needs; a model trained for another task or channel count
    is a RegistryError naming both. With ``task`` known, ``@ALIAS`` is short for
    ``models:/hrtem-<task>@ALIAS`` (e.g. ``@pretrained``).
    """
    uri = expand_alias(uri, task)
    if uri.endswith(".ckpt") and ":/" not in uri:
        net = load_checkpoint(Path(uri).expanduser(), device)
        _check_card(uri, net.config, task, in_channels)
        return net
    with _model_folder(uri) as folder:
        data = data_dir(folder)
        card = ModelCard.load(data / CONFIG)
        _check_card(uri, card, task, in_channels)
        return load_weights(data, card, device)


def expand_alias(uri: str, task: str | None) -> str:
    """``@ALIAS`` -> ``models:/hrtem-<task>@ALIAS``; any other URI as it is."""
    if not uri.startswith("@"):
        return uri
    if task is None:
        raise RegistryError(f"{uri}: a bare alias needs a task; write models:/hrtem-<task>{uri}")
    return f"models:/{experiment_name(task)}{uri}"


def _check_card(uri: str, card: ModelCard, task: str | None, in_channels: int | None) -> None:
    """A RegistryError when the model is not for ``task`` or does not take ``in_channels``."""
    if task is not None and card.task != task:
        raise RegistryError(f"{uri}: model is for task {card.task!r}, expected {task!r}")
    if in_channels is not None and card.in_channels != in_channels:
        raise RegistryError(
            f"{uri}: model takes {card.in_channels} input channel(s), expected {in_channels}"
        )


@contextlib.contextmanager
def _model_folder(uri: str) -> Iterator[Path]:
    """A local folder with the model at ``uri``: the directory itself, or a temporary download."""
    if ":/" not in uri:
        path = Path(uri).expanduser()
        if not path.is_dir():
            raise RegistryError(f"{path}: model directory does not exist")
        yield path
        return
    tracking = tracking_uri()
    if uri.startswith("models:/"):
        uri = resolve_model_uri(uri, client(tracking))
    else:
        client(tracking)  # fail fast on an unreachable server
    with tempfile.TemporaryDirectory(prefix="hrtem-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=tracking, registry_uri=tracking
            )
        except (MlflowException, OSError) as err:
            raise RegistryError(f"{uri}: cannot download the model ({_first_line(err)})") from None
        yield Path(local)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
