"""Typed training configuration, composed from ``configs/`` and command-line overrides.

``compose(["task=mos2", "model=unet", "trainer.devices=4"])`` merges, in order:
``configs/train.yaml``, the chosen ``configs/task/<task>.yaml``, ``configs/model/<model>.yaml``
and ``configs/trainer/<trainer>.yaml`` (each under its key), then the dot-list overrides, against
the dataclass schema below. A wrong key, type or group name is a :class:`SpecError` naming it,
before any work starts. ``train.yaml`` picks the groups in its ``defaults:`` mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrtem_core.errors import SpecError
from hrtem_core.paths import config_dir
from hrtem_sim.optics import ImageFormationConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

GROUPS = ("task", "model", "trainer")
LABEL_KINDS = ("mask", "columns", "species")


@dataclass
class LabelConfig:
    """How labels are rendered from the stored positions (see hrtem_sim.labels).

    kind: "mask" (union of discs of ``radius`` [Å] around the labelled atoms, holes closed),
    "columns" (discs of ``spot`` [Å] at the labelled columns) or "species" (column discs, the
    class of each column: MoS2 Mo / S2 / S1).
    """

    kind: str = "mask"
    radius: float = 1.5
    spot: float = 0.4


@dataclass
class TaskConfig:
    """One segmentation task: its dataset, classes, labels and microscope ranges.

    spec: data spec YAML; profile: its size profile ("auto": "small" on CPU, "full" on GPU);
    classes: class names, index 0 = background; eval_dose [e/Å^2]: dose of the test metrics.
    losses: name -> weight among "ce", "dice", "focal" (empty: cross-entropy alone; an override
    adds or reweights a term, weight 0 switches one off); class_weights: [K] weights of the
    classes in every loss, or None. Both belong to the task: they answer its class balance (a
    rare class, e.g. MoS2's S1 columns, needs Dice or weights). train_repeats: uses of each
    training exit wave per epoch for this task (None: ``data.train_repeats``).
    """

    name: str = "nanoparticle"
    spec: str = "data_specs/nanoparticle.yaml"
    profile: str = "auto"
    classes: list[str] = field(default_factory=lambda: ["background", "particle"])
    labels: LabelConfig = field(default_factory=LabelConfig)
    optics: ImageFormationConfig = field(default_factory=ImageFormationConfig)
    eval_dose: float = 200.0
    losses: dict[str, float] = field(default_factory=dict)
    class_weights: list[float] | None = None
    train_repeats: int | None = None


@dataclass
class MSDConfig:
    """Mixed-Scale Dense network (hrtem_msd.MSDNet)."""

    name: str = "msd"
    depth: int = 100
    width: int = 1
    dilations: list[int] = field(default_factory=lambda: list(range(1, 11)))
    padding: str = "reflect"


@dataclass
class UNetConfig:
    """U-Net baseline (hrtem_msd.UNet)."""

    name: str = "unet"
    depth: int = 4
    base_width: int = 32
    upsampling: str = "bilinear"


MODEL_SCHEMAS: dict[str, type] = {"msd": MSDConfig, "unet": UNetConfig}


@dataclass
class TrainerConfig:
    """Lightning Trainer settings. "auto" picks the GPU when there is one.

    precision "auto": "bf16-mixed" on CUDA, "32-true" on CPU. threads: torch intra-op threads
    per process (None: leave torch's default; on small CPU VMs 1 is often faster than 2).
    max_time: "DD:HH:MM:SS" wall-clock limit or None; cpu_max_time: the limit used instead when
    max_time is None and training runs on the CPU (keeps the default CPU run under 20 minutes,
    dataset simulation included).
    """

    name: str = "auto"
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    max_epochs: int = 30
    max_time: str | None = None
    cpu_max_time: str | None = "00:00:13:00"
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    log_every_n_steps: int = 10
    gradient_clip_val: float | None = None
    threads: int | None = None
    progress: bool = True


@dataclass
class DataConfig:
    """Data loading. root: where datasets live; batch_size per device; fractions of samples.

    wait_timeout [s]: a DDP rank other than 0 stops when no new shard of the dataset rank 0 is
    simulating has appeared for this long.
    """

    root: str = "data"
    batch_size: int = 8
    num_workers: int = 2
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    train_repeats: int = 1
    wait_timeout: float = 1800.0


@dataclass
class OptimConfig:
    """Adam and its schedule.

    lr [1/step] is the per-device rate; scale_lr multiplies it by the number of processes
    (linear scaling with the effective batch size), and both are logged.
    """

    lr: float = 1e-3
    scale_lr: bool = False
    scheduler: str = "cosine"


@dataclass
class MLflowConfig:
    """Tracking: experiment (None: "hrtem-<task>"), run name, and the registered model name
    (None: "hrtem-<task>"); register=False skips the registry."""

    experiment: str | None = None
    run_name: str | None = None
    registered_model: str | None = None
    register: bool = True


@dataclass
class TrainConfig:
    """Everything one ``hrtem train`` run needs. seed drives simulation, splits and training.

    resume: None, "last" (the task's latest unfinished run) or an MLflow run id.
    """

    seed: int = 0
    task: TaskConfig = field(default_factory=TaskConfig)
    model: Any = field(default_factory=MSDConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)
    resume: str | None = None
    out: str = "outputs"


def default_config_dir() -> Path:
    """``configs/`` of the project: $HRTEM_CONFIGS, else ./configs, else the repository's."""
    return config_dir()


def _load(path: Path) -> DictConfig:
    if not path.is_file():
        raise SpecError(f"{path}: no such config file")
    try:
        loaded = OmegaConf.load(path)
    except Exception as error:  # yaml errors come in many types
        raise SpecError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(loaded, DictConfig):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return loaded


def _group_file(config_dir: Path, group: str, choice: str) -> DictConfig:
    path = config_dir / group / f"{choice}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
        raise SpecError(f"unknown {group} {choice!r}; known: {', '.join(known)}")
    return _load(path)


def _with_task_defaults(model: DictConfig, task: DictConfig, task_name: str) -> DictConfig:
    """The model group with the task's own defaults for that model merged in (task key
    ``models``: model name -> keys, e.g. a shallower MSD-net where the CPU budget needs more
    steps); the command line's ``model.*`` still wins. The key is removed from the task."""
    per_model = task.pop("models", None) or {}
    unknown = sorted(set(per_model) - set(MODEL_SCHEMAS))
    if unknown:
        raise SpecError(
            f"task {task_name!r}: models: unknown model(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(MODEL_SCHEMAS))}"
        )
    return OmegaConf.merge(model, per_model.get(str(model.get("name")), {}))


def _split_overrides(overrides: list[str]) -> tuple[dict[str, str], list[str]]:
    groups, dotlist = {}, []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"override {item!r}: expected key=value")
        if key in GROUPS:
            groups[key] = value
        else:
            dotlist.append(item)
    return groups, dotlist


def compose(
    overrides: list[str] | None = None, config_dir: str | Path | None = None
) -> TrainConfig:
    """The typed TrainConfig from ``configs/`` and ``overrides`` ("group=name" or "a.b=value")."""
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    base = _load(config_dir / "train.yaml")
    defaults = dict(base.pop("defaults", None) or {})
    unknown = sorted(set(defaults) - set(GROUPS))
    if unknown:
        raise SpecError(
            f"{config_dir / 'train.yaml'}: defaults: unknown group(s) {', '.join(unknown)}"
        )
    groups, dotlist = _split_overrides(list(overrides or []))
    choices = {
        group: str(defaults.get(group, group_default))
        for group, group_default in zip(GROUPS, ("nanoparticle", "msd", "auto"), strict=True)
    }
    choices.update(groups)
    parts = {group: _group_file(config_dir, group, choices[group]) for group in GROUPS}
    parts["model"] = _with_task_defaults(parts["model"], parts["task"], choices["task"])
    typed = _typed([base, {group: parts[group] for group in GROUPS}], dotlist)
    _resolve_paths(typed, config_dir.parent)
    return typed


def load_preset(path: str | Path) -> list[str]:
    """The overrides of a preset file (e.g. ``configs/pretrained/<task>.yaml``): a mapping with
    one key, ``overrides``, a list of "group=name" or "a.b=value" strings, applied before the
    command line's."""
    path = Path(path)
    preset = _load(path)
    unknown = sorted(set(preset) - {"overrides"})
    if unknown:
        raise SpecError(f"{path}: unknown key(s) {', '.join(map(str, unknown))} (known: overrides)")
    overrides = preset.get("overrides")
    if not OmegaConf.is_list(overrides) or not all(isinstance(o, str) for o in overrides):
        raise SpecError(f"{path}: overrides: expected a list of key=value strings")
    return list(overrides)


def config_from_dict(
    data: dict[str, Any], overrides: Sequence[str] = (), source: str = "config"
) -> TrainConfig:
    """A TrainConfig from a plain mapping (e.g. a run's logged config.yaml) plus dot-list overrides."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise SpecError(f"{source}: not a training config (no model section)")
    _, dotlist = _split_overrides(list(overrides))
    optim, task = dict(data.get("optim") or {}), dict(data.get("task") or {})
    for key in ("losses", "class_weights"):  # runs logged before these moved from optim to task
        if key in optim:
            task.setdefault(key, optim.pop(key))
    return _typed([OmegaConf.create({**data, "optim": optim, "task": task})], dotlist)


def _typed(parts: list[Any], dotlist: list[str]) -> TrainConfig:
    """Merge ``parts`` and the dot-list onto the schema (model schema chosen by model.name), checked."""
    merged_raw = OmegaConf.merge(*parts, OmegaConf.from_dotlist(dotlist))
    model_name = str(OmegaConf.select(merged_raw, "model.name", default="msd"))
    if model_name not in MODEL_SCHEMAS:
        raise SpecError(f"unknown model {model_name!r}; known: {', '.join(sorted(MODEL_SCHEMAS))}")
    schema = OmegaConf.structured(TrainConfig(model=MODEL_SCHEMAS[model_name]()))
    try:
        config = OmegaConf.to_object(
            OmegaConf.merge(schema, *parts, OmegaConf.from_dotlist(dotlist))
        )
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or "?"
        message = str(error).splitlines()[0]
        raise SpecError(f"config key {key}: {message}") from None
    check(config)  # type: ignore[arg-type]
    return config  # type: ignore[return-value]


def _resolve_paths(config: TrainConfig, project: Path) -> None:
    """Relative spec and detector paths name files of the project (the parent of configs/)."""

    def resolve(path: str) -> str:
        return path if Path(path).is_absolute() else str(project / path)

    config.task.spec = resolve(config.task.spec)
    if config.task.optics.detector:
        config.task.optics.detector = resolve(config.task.optics.detector)


def check(config: TrainConfig) -> None:
    """Raise SpecError naming the first value out of range (types are checked by the schema)."""
    if config.task.labels.kind not in LABEL_KINDS:
        raise SpecError(
            f"task.labels.kind: must be one of {', '.join(LABEL_KINDS)}, got {config.task.labels.kind!r}"
        )
    if len(config.task.classes) < 2:
        raise SpecError(
            f"task.classes: need background and at least one class, got {config.task.classes}"
        )
    if config.task.train_repeats is not None and config.task.train_repeats < 1:
        raise SpecError(f"task.train_repeats: must be >= 1, got {config.task.train_repeats}")
    if config.data.batch_size < 1:
        raise SpecError(f"data.batch_size: must be >= 1, got {config.data.batch_size}")
    if not (0 < config.data.val_fraction < 1 and 0 < config.data.test_fraction < 1):
        raise SpecError("data.val_fraction and data.test_fraction: must be in (0, 1)")
    if config.data.val_fraction + config.data.test_fraction >= 1:
        raise SpecError("data.val_fraction + data.test_fraction: must leave samples to train on")
    if not config.optim.lr > 0:
        raise SpecError(f"optim.lr: must be > 0, got {config.optim.lr}")
    if config.task.eval_dose <= 0:
        raise SpecError(f"task.eval_dose: must be > 0 e/Å^2, got {config.task.eval_dose}")


def to_yaml(config: TrainConfig) -> str:
    """The resolved config as YAML (logged with every run)."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def to_container(config: object) -> dict[str, Any]:
    """A config dataclass (or part of one) as plain nested dicts and lists."""
    return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)  # type: ignore[return-value]
