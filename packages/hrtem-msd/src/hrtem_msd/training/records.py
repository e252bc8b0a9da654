"""The cards a training run writes: the model card beside the weights, the run record in MLflow."""

from __future__ import annotations

from hrtem_core.cards import ModelCard, RunRecord
from lightning.pytorch import Trainer

from hrtem_msd.config import TrainConfig, to_container
from hrtem_msd.store.tracking import git_commit, package_versions
from hrtem_msd.training.datamodule import HRTEMDataModule


def model_args(config: TrainConfig) -> dict:
    """The network's constructor arguments besides in/out channels (the model config less its name)."""
    return {k: v for k, v in to_container(config.model).items() if k != "name"}


def model_card(
    config: TrainConfig, data: HRTEMDataModule, metrics: dict[str, float] | None = None
) -> ModelCard:
    """The card of the network ``config`` trains on ``data``: what inference must match."""
    optics = config.task.optics
    centre = (optics.defocus.low + optics.defocus.high) / 2
    sampling = optics.detector_sampling
    return ModelCard(
        task=config.task.name,
        architecture=config.model.name,
        model_args=model_args(config),
        classes=list(config.task.classes),
        in_channels=data.in_channels,
        defocus=[centre + (o.low + o.high) / 2 for o in optics.defocus_offsets],
        sampling=(sampling.low + sampling.high) / 2,
        normalisation="per_image",
        spec_hash=data.dataset.spec_hash,
        energy=optics.energy,
        crop=[int(n) for n in optics.output_size],
        sampling_range=[sampling.low, sampling.high],
        camera_range=(
            [optics.camera_sampling.low, optics.camera_sampling.high]
            if optics.camera_sampling is not None
            else None
        ),
        dose_range=[optics.dose.low, optics.dose.high],
        defocus_ranges=[
            [optics.defocus.low + o.low, optics.defocus.high + o.high]
            for o in optics.defocus_offsets
        ],
        dataset_card=data.dataset.card.card_hash,
        substrates=list(data.dataset.card.substrates) or None,
        metrics=dict(metrics or {}),
    )


def run_record(
    config: TrainConfig,
    trainer: Trainer,
    data: HRTEMDataModule,
    profile: str,
    lr: float,
    max_time: str | None,
) -> RunRecord:
    """What the run resolved to, read from the constructed Trainer (not from the config)."""
    return RunRecord(
        precision=str(trainer.precision),
        accelerator=type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
        devices=int(trainer.num_devices),
        num_nodes=int(trainer.num_nodes),
        world_size=int(trainer.world_size),
        strategy=str(
            getattr(type(trainer.strategy), "strategy_name", type(trainer.strategy).__name__)
        ),
        batch_size=config.data.batch_size,
        effective_batch_size=config.data.batch_size * trainer.world_size,
        lr=lr,
        profile=profile,
        max_time=max_time,
        dataset_path=str(data.path),
        dataset_spec_hash=data.dataset.spec_hash,
        dataset_card_hash=data.dataset.card.card_hash,
        git_commit=git_commit(),
        package_versions=package_versions(),
    )
