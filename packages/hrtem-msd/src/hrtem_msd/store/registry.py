"""The model registry: resolve a registered name to a version, list models, show one, set an alias.

Loading a model's weights is :mod:`hrtem_msd.store.load`; the server is
:func:`hrtem_msd.store.tracking.tracking_uri`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import tempfile
from datetime import UTC, datetime

import mlflow
from hrtem_core.cards import ModelCard
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from hrtem_msd.store.mlflow_model import CONFIG, DATA_DIR, RegistryError
from hrtem_msd.store.tracking import client

LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
MAX_LISTED = 20  # names listed in an "unknown model" error


def resolve_model_uri(uri: str, mlflow_client: MlflowClient) -> str:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> ``models:/NAME/VERSION`` of an existing version."""
    ref = uri.removeprefix("models:/").rstrip("/")
    if LOGGED_MODEL_ID.fullmatch(ref):
        return uri
    if "@" in ref:
        name, alias = ref.split("@", 1)
        _registered(name, mlflow_client)
        try:
            version = mlflow_client.get_model_version_by_alias(name, alias).version
        except MlflowException:
            aliases = ", ".join(f"{a} -> {v}" for a, v in _aliases(name, mlflow_client).items())
            raise RegistryError(
                f"registered model {name!r} has no alias {alias!r} (aliases: {aliases or 'none'})"
            ) from None
        return f"models:/{name}/{version}"
    name, _, version = ref.partition("/")
    if not version:
        raise RegistryError(
            f"{uri}: name a version or an alias, models:/NAME/VERSION or models:/NAME@ALIAS"
        )
    _registered(name, mlflow_client)
    versions = [str(v.version) for v in _versions(name, mlflow_client)]
    if version not in versions:
        raise RegistryError(
            f"registered model {name!r} has no version {version} (versions: {', '.join(versions)})"
        )
    return f"models:/{name}/{version}"


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """One registered model: its newest version and its aliases (alias -> version)."""

    name: str
    latest_version: int | None
    aliases: dict[str, int]
    updated: datetime
    description: str


@dataclasses.dataclass(frozen=True)
class VersionDetails:
    """One version of a registered model and the final metrics of the run that made it."""

    version: int
    run_id: str | None
    aliases: list[str]
    status: str
    created: datetime
    metrics: dict[str, float]


@dataclasses.dataclass(frozen=True)
class ModelDetails:
    """A registered model, its versions (newest first) and the model card of the newest version."""

    summary: ModelSummary
    versions: list[VersionDetails]
    config: ModelCard | None


def registered_models() -> list[ModelSummary]:
    """Every registered model of the tracking server, by name."""
    mlflow_client = client()
    models = []
    page_token = None
    while True:
        page = mlflow_client.search_registered_models(order_by=["name ASC"], page_token=page_token)
        models.extend(_summary(model, mlflow_client) for model in page)
        page_token = page.token
        if not page_token:
            return models


def show_model(name: str) -> ModelDetails:
    """Versions of ``name`` (run ids, aliases, run metrics) and the model card of its newest version."""
    mlflow_client = client()
    summary = _summary(_registered(name, mlflow_client), mlflow_client)
    versions = []
    for mv in _versions(name, mlflow_client):
        metrics = {}
        if mv.run_id:
            with contextlib.suppress(MlflowException):
                metrics = dict(mlflow_client.get_run(mv.run_id).data.metrics)
        versions.append(
            VersionDetails(
                version=int(mv.version),
                run_id=mv.run_id,
                aliases=sorted(a for a, v in summary.aliases.items() if v == int(mv.version)),
                status=str(mv.status),
                created=_time(mv.creation_timestamp),
                metrics=metrics,
            )
        )
    config = None
    if versions:
        config = _version_config(name, versions[0].version, mlflow_client)
    return ModelDetails(summary, versions, config)


def promote(name: str, version: int, alias: str = "champion") -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` (moving it from any other version)."""
    mlflow_client = client()
    resolve_model_uri(f"models:/{name}/{version}", mlflow_client)
    mlflow_client.set_registered_model_alias(name, alias, str(version))


def _registered(
    name: str, mlflow_client: MlflowClient
) -> mlflow.entities.model_registry.RegisteredModel:
    try:
        return mlflow_client.get_registered_model(name)
    except MlflowException:
        page = mlflow_client.search_registered_models(max_results=MAX_LISTED)
        names = ", ".join(model.name for model in page) or "none"
        more = ", ..." if page.token else ""
        raise RegistryError(
            f"no registered model {name!r} at {mlflow_client.tracking_uri} (registered: {names}{more})"
        ) from None


def _versions(
    name: str, mlflow_client: MlflowClient
) -> list[mlflow.entities.model_registry.ModelVersion]:
    found = mlflow_client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def _aliases(name: str, mlflow_client: MlflowClient) -> dict[str, int]:
    return {alias: int(v) for alias, v in _registered(name, mlflow_client).aliases.items()}


def _summary(
    model: mlflow.entities.model_registry.RegisteredModel, mlflow_client: MlflowClient
) -> ModelSummary:
    versions = _versions(model.name, mlflow_client)
    return ModelSummary(
        name=model.name,
        latest_version=int(versions[0].version) if versions else None,
        aliases={alias: int(v) for alias, v in sorted(model.aliases.items())},
        updated=_time(model.last_updated_timestamp),
        description=model.description or "",
    )


def _version_config(name: str, version: int, mlflow_client: MlflowClient) -> ModelCard | None:
    """The model card of one version, downloading only its YAML; None if it is not an hrtem model."""
    location = mlflow_client.get_model_version_download_uri(name, str(version))
    with tempfile.TemporaryDirectory(prefix="hrtem-config-") as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/data/{DATA_DIR}/{CONFIG}",
                dst_path=tmp,
                tracking_uri=mlflow_client.tracking_uri,
            )
        except (MlflowException, OSError):
            return None
        return ModelCard.load(path)


def _time(milliseconds: int | None) -> datetime:
    return datetime.fromtimestamp((milliseconds or 0) / 1000, tz=UTC)
