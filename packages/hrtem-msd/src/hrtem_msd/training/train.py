"""One training run: dataset (simulated if missing) -> Lightning fit and test -> MLflow run and model.

`train(config)` is what ``hrtem train`` and ``make train TASK=...`` call. Every process of a DDP
run executes it; only rank 0 talks to MLflow (Lightning's loggers are rank-zero only, and the
model is logged and registered on rank 0). An interrupted run resumes from its last checkpoint
into the same MLflow run with ``resume=RUN_ID`` or ``resume=last``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from hrtem_core.cards import ModelCard
from hrtem_sim import dataset_card, dataset_path, load_spec
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import MLFlowLogger

from hrtem_msd.config import TaskConfig, TrainConfig, to_container
from hrtem_msd.store.tracking import (
    artifact_location,
    check_tracking_server,
    experiment_name,
    log_run_context,
    tracking_uri,
)
from hrtem_msd.threads import configure_threads
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_msd.training.dataset_check import check_task_data
from hrtem_msd.training.dataset_ready import ensure_dataset
from hrtem_msd.training.module import SegmentationModule
from hrtem_msd.training.records import model_args, model_card, run_record
from hrtem_msd.training.resume import find_resume


def monitor(task: TaskConfig) -> str:
    """The validation metric the best checkpoint maximises: column F1 for column labels (what the
    analysis uses), else the mean IoU."""
    return "val/column_f1" if task.labels.kind == "columns" else "val/iou"


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced (rank 0; other ranks get run_id None)."""

    run_id: str | None
    best_metric: float | None
    test_metrics: dict[str, float]
    model_uri: str | None
    version: int | None
    duration: float


def resolve_auto(config: TrainConfig) -> tuple[str, str, str | None]:
    """(dataset profile, precision, max_time) with "auto" replaced: the GPU gets bf16 and the full
    profile; the CPU float32, the small profile and ``cpu_max_time`` unless max_time is set."""
    gpu = torch.cuda.is_available() and config.trainer.accelerator in ("auto", "gpu", "cuda")
    profile = config.task.profile if config.task.profile != "auto" else ("full" if gpu else "small")
    precision = config.trainer.precision
    if precision == "auto":
        precision = "bf16-mixed" if gpu else "32-true"
    max_time = config.trainer.max_time or (None if gpu else config.trainer.cpu_max_time)
    return profile, precision, max_time


def registered_name(config: TrainConfig) -> str:
    """The registry name of the run's network: ``mlflow.registered_model``, else ``hrtem-<task>``
    for the MSD-net and ``hrtem-<task>-<architecture>`` for any other (a baseline never replaces
    the MSD-net's candidate)."""
    if config.mlflow.registered_model:
        return config.mlflow.registered_model
    name = experiment_name(config.task.name)
    return name if config.model.name == "msd" else f"{name}-{config.model.name}"


def build_trainer(
    config: TrainConfig, precision: str, max_time: str | None, logger: MLFlowLogger
) -> Trainer:
    """The Lightning Trainer of ``config.trainer``, checkpointing on the task's :func:`monitor`."""
    t = config.trainer
    best = ModelCheckpoint(
        monitor=monitor(config.task), mode="max", save_last=True, filename="best-{epoch}"
    )
    callbacks = [
        best,
        LearningRateMonitor(logging_interval="epoch"),
    ]
    if t.progress:
        callbacks.append(RichProgressBar())
    return Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=precision,
        max_epochs=t.max_epochs,
        max_time=max_time,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        log_every_n_steps=t.log_every_n_steps,
        gradient_clip_val=t.gradient_clip_val,
        enable_progress_bar=t.progress,
        default_root_dir=config.out,
        callbacks=callbacks,
        logger=logger,
        num_sanity_val_steps=0,
    )


def train(config: TrainConfig) -> TrainResult:
    """Simulate if needed, train, test at ``task.eval_dose``, log and register; see module doc."""
    start = time.time()
    configure_threads(config.trainer.threads)
    uri = tracking_uri()
    check_tracking_server(uri)
    profile, precision, max_time = resolve_auto(config)
    resume_run, ckpt = find_resume(config, uri) if config.resume else (None, None)
    seed_everything(config.seed, workers=True, verbose=False)
    spec = load_spec(config.task.spec, profile=profile)
    check_task_data(config.task, dataset_card(spec), dataset_path(spec, config.data.root))
    path = ensure_dataset(spec, config.data.root, timeout=config.data.wait_timeout)
    data = HRTEMDataModule(
        path,
        labels=config.task.labels,
        optics=config.task.optics,
        batch_size=config.data.batch_size,
        num_workers=config.data.num_workers,
        val_fraction=config.data.val_fraction,
        test_fraction=config.data.test_fraction,
        train_repeats=config.task.train_repeats or config.data.train_repeats,
        seed=config.seed,
    )
    experiment = config.mlflow.experiment or experiment_name(config.task.name)
    logger = MLFlowLogger(
        experiment_name=experiment,
        run_name=config.mlflow.run_name,
        tracking_uri=uri,
        artifact_location=artifact_location(uri, experiment),
        run_id=resume_run,
    )
    trainer = build_trainer(config, precision, max_time, logger)
    lr = config.optim.lr * (trainer.world_size if config.optim.scale_lr else 1)
    module = SegmentationModule(
        class_names=config.task.classes,
        in_channels=data.in_channels,
        model=config.model.name,
        model_args=model_args(config),
        losses=config.task.losses,
        class_weights=config.task.class_weights,
        lr=lr,
        scheduler=config.optim.scheduler,
        column_metrics=config.task.labels.kind == "columns",
        card=model_card(config, data),
    )
    if trainer.is_global_zero and resume_run is None:
        record = run_record(config, trainer, data, profile, lr, max_time)
        log_run_context(logger.run_id, to_container(config), record, uri)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    data.set_eval_dose(config.task.eval_dose)
    best = trainer.checkpoint_callback.best_model_path or None
    tested = trainer.test(module, datamodule=data, ckpt_path=best, verbose=False)
    test_metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    model_uri = version = None
    if trainer.is_global_zero:
        card = model_card(config, data, _card_metrics(test_metrics))
        model_uri, version = _log_best(config, card, module, logger, uri)
    best_score = trainer.checkpoint_callback.best_model_score
    return TrainResult(
        run_id=logger.run_id if trainer.is_global_zero else None,
        best_metric=float(best_score) if best_score is not None else None,
        test_metrics=test_metrics,
        model_uri=model_uri,
        version=version,
        duration=time.time() - start,
    )


def _card_metrics(test_metrics: dict[str, float]) -> dict[str, float]:
    """The test metrics the model card keeps: the means and per-class values, not the losses."""
    return {k: v for k, v in test_metrics.items() if "loss" not in k}


def _log_best(
    config: TrainConfig,
    card: ModelCard,
    module: SegmentationModule,
    logger: MLFlowLogger,
    uri: str,
) -> tuple[str, int | None]:
    """Log the network (best weights, already loaded by trainer.test) and register it."""
    import mlflow

    from hrtem_msd.store.mlflow_model import log_model

    mlflow.set_tracking_uri(uri)
    name = registered_name(config) if config.mlflow.register else None
    with mlflow.start_run(run_id=logger.run_id):
        return log_model(module.net.float().cpu().eval(), card, registered_name=name)
