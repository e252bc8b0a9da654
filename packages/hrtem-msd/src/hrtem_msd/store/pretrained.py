"""Shipped models: weights, model cards and checksums that travel with hrtem-msd, registered in a
user's MLflow store by ``hrtem models install``.

Layout of a shipped directory (default ``hrtem_msd/pretrained/``)::

    manifest.yaml              task -> {sha256, bytes, source}: the weights' SHA-256 and size, and
                               how they were made (run id, config, command)
    <task>/weights.safetensors the network's state dict (safetensors: never a pickle)
    <task>/model_config.yaml   its ModelCard, the check figures in ``checks``

Installing registers each task's model as ``hrtem-<task>`` with the alias ``pretrained`` (the
``candidate`` alias of the user's own trainings is left alone) and tags the version with the
weights' SHA-256, so a second install finds it and changes nothing. Every file is verified
(size, checksum, card, weights fit the card) before anything is registered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import yaml
from hrtem_core.atomic import atomic_write_text
from hrtem_core.cards import ModelCard
from hrtem_core.errors import CardError

from hrtem_msd.store.mlflow_model import (
    CONFIG,
    WEIGHTS,
    RegistryError,
    load_weights,
    log_model,
    save_model_data,
)
from hrtem_msd.store.tracking import client, experiment_for, experiment_name, tracking_uri

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MANIFEST = "manifest.yaml"
ALIAS = "pretrained"
SHA_TAG = "hrtem.weights_sha256"


@dataclasses.dataclass(frozen=True)
class Shipped:
    """One shipped model: its folder, the weights' SHA-256 and size [bytes], how it was made."""

    task: str
    folder: Path
    sha256: str
    size: int
    source: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Installed:
    """What an install did for one task: the version it registered or found, and whether it was new."""

    task: str
    name: str
    version: int
    new: bool


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped(directory: Path | None = None) -> dict[str, Shipped]:
    """The models listed in ``directory/manifest.yaml`` (default :data:`PRETRAINED_DIR`), by task
    (empty when there is none)."""
    directory = directory or PRETRAINED_DIR
    path = directory / MANIFEST
    if not path.is_file():
        return {}
    try:
        entries = yaml.safe_load(path.read_text()) or {}
        return {
            task: Shipped(
                task, directory / task, str(e["sha256"]), int(e["bytes"]), dict(e.get("source", {}))
            )
            for task, e in entries.items()
        }
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise RegistryError(f"{path}: not a manifest of shipped models ({err})") from None


def verify(entry: Shipped) -> ModelCard:
    """The card of ``entry`` after checking its weights' size and SHA-256, the card, and that the
    weights build the card's network; a RegistryError naming the file otherwise."""
    weights = entry.folder / WEIGHTS
    if not weights.is_file():
        raise RegistryError(f"{weights}: shipped weights are missing")
    size = weights.stat().st_size
    if size != entry.size:
        raise RegistryError(
            f"{weights}: {size} bytes, the manifest says {entry.size} (truncated or replaced?)"
        )
    digest = sha256(weights)
    if digest != entry.sha256:
        raise RegistryError(
            f"{weights}: SHA-256 {digest[:12]}... does not match the manifest's "
            f"{entry.sha256[:12]}... (corrupted or tampered with)"
        )
    try:
        card = ModelCard.load(entry.folder / CONFIG)
    except CardError as err:
        raise RegistryError(str(err)) from None
    if card.task != entry.task:
        raise RegistryError(
            f"{entry.folder / CONFIG}: a model for task {card.task!r}, shipped as {entry.task!r}"
        )
    load_weights(entry.folder, card)  # the weights fit the card's network
    return card


def install(tasks: Sequence[str] = (), directory: Path | None = None) -> list[Installed]:
    """Register the shipped models of ``tasks`` (default: all) as ``hrtem-<task>@pretrained``.

    All are verified before any is registered; a task already installed with the same weights
    is found, not registered again.
    """
    available = shipped(directory)
    unknown = [task for task in tasks if task not in available]
    if unknown or not available:
        names = ", ".join(sorted(available)) or "none"
        raise RegistryError(
            f"no shipped model for task {', '.join(map(repr, unknown)) or 'any'} (shipped: {names})"
        )
    chosen = [available[task] for task in (tasks or sorted(available))]
    cards = {entry.task: verify(entry) for entry in chosen}
    return [_install_one(entry, cards[entry.task]) for entry in chosen]


def _install_one(entry: Shipped, card: ModelCard) -> Installed:
    uri = tracking_uri()
    mlflow_client = client(uri)
    name = experiment_name(entry.task)
    for version in mlflow_client.search_model_versions(f"name = '{name}'"):
        if version.tags.get(SHA_TAG) == entry.sha256:
            mlflow_client.set_registered_model_alias(name, ALIAS, version.version)
            return Installed(entry.task, name, int(version.version), new=False)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=experiment_for(entry.task, uri), run_name=ALIAS):
        source = {f"hrtem.source.{key}": value for key, value in entry.source.items()}
        mlflow.set_tags({SHA_TAG: entry.sha256, **source})
        mlflow.log_metrics({metric_name(k): v for k, v in card.checks.items()})
        net = load_weights(entry.folder, card).net  # the bare network, as training logs it
        _, version = log_model(net, card, registered_name=name, alias=ALIAS)
    assert version is not None
    mlflow_client.set_model_version_tag(name, str(version), SHA_TAG, entry.sha256)
    return Installed(entry.task, name, version, new=True)


def export(
    uri: str,
    task: str,
    checks: Mapping[str, float],
    source: Mapping[str, str],
    directory: Path | None = None,
) -> Shipped:
    """Write the model at ``uri`` (for ``task``) into ``directory/<task>/`` (default
    :data:`PRETRAINED_DIR`) with ``checks`` in its card, and its entry into the manifest (written
    atomically, other tasks kept)."""
    from hrtem_msd.store.load import load_model

    directory = directory or PRETRAINED_DIR
    net = load_model(uri, task=task)
    card = net.config.replace(checks=dict(checks))
    folder = directory / task
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:  # staged beside, then moved in
        staged = save_model_data(net.net, card, Path(tmp) / task)
        if folder.exists():
            shutil.rmtree(folder)
        staged.rename(folder)
    weights = folder / WEIGHTS
    entry = Shipped(task, folder, sha256(weights), weights.stat().st_size, dict(source))
    manifest: dict[str, Any] = {
        other.task: _manifest_entry(other) for other in shipped(directory).values()
    }
    manifest[task] = _manifest_entry(entry)
    atomic_write_text(directory / MANIFEST, yaml.safe_dump(dict(sorted(manifest.items()))))
    return entry


def _manifest_entry(entry: Shipped) -> dict[str, Any]:
    return {"sha256": entry.sha256, "bytes": entry.size, "source": dict(entry.source)}


def metric_name(check: str) -> str:
    """The MLflow metric of a card's check figure: ``check/<name>``, characters MLflow refuses
    (e.g. the "+" of ``recall_3nm+``) spelled out or replaced by "_"."""
    return "check/" + re.sub(r"[^\w\-. :/]", "_", check.replace("+", "_plus"))
