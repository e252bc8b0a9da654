"""Every config group composes against the typed schema; bad keys, types and names are one clear error."""

import shutil
from pathlib import Path

import pytest
from hrtem_core.errors import SpecError
from hrtem_msd.config import GROUPS, compose, config_from_dict, load_preset, to_container, to_yaml
from hrtem_sim.optics import ImageFormation

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_file_composes(group: str) -> None:
    for choice in choices(group):
        config = compose([f"{group}={choice}"], CONFIGS)
        assert getattr(config, group).name == choice
        ImageFormation(config.task.optics)  # the optics ranges are valid too
        assert "seed" in to_yaml(config)


def test_task_channels_match_classes() -> None:
    mos2 = compose(["task=mos2"], CONFIGS).task
    assert len(mos2.optics.defocus_offsets) == 3
    assert mos2.classes == ["background", "Mo", "S2", "S1"]


def test_dotlist_overrides_are_typed() -> None:
    config = compose(
        [
            "task=mos2",
            "model=unet",
            "trainer=ddp",
            "trainer.devices=8",
            "trainer.num_nodes=2",
            "trainer.precision=bf16-mixed",
            "seed=3",
            "model.depth=3",
        ],
        CONFIGS,
    )
    assert (config.trainer.devices, config.trainer.num_nodes, config.seed) == (8, 2, 3)
    assert config.model.depth == 3 and config.model.name == "unet"
    plain = to_container(config)
    assert plain["model"]["name"] == "unet" and plain["trainer"]["devices"] == 8


def test_a_task_sets_its_own_model_defaults(tmp_path: Path) -> None:
    """configs/task/nanoparticle.yaml asks for a depth-50 MSD-net; the command line, other tasks
    and other models are untouched by it, and an unknown model name there is one clear error."""
    assert compose(["task=nanoparticle"], CONFIGS).model.depth == 50
    assert compose(["task=nanoparticle", "model.depth=100"], CONFIGS).model.depth == 100
    assert compose(["task=columns"], CONFIGS).model.depth == 100
    assert compose(["model=unet"], CONFIGS).model.depth == 4  # the U-Net's own
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    task = configs / "task" / "nanoparticle.yaml"
    task.write_text(task.read_text().replace("models: {msd:", "models: {vgg:"))
    with pytest.raises(SpecError) as error:
        compose([], configs)
    assert str(error.value) == "task 'nanoparticle': models: unknown model(s) vgg; known: msd, unet"


def test_losses_belong_to_the_task() -> None:
    assert compose(["task=mos2"], CONFIGS).task.losses == {"ce": 1.0, "dice": 1.0}
    assert compose([], CONFIGS).task.losses == {"ce": 1.0}
    config = compose(["task.losses.focal=0.5", "task.class_weights=[1.0,4.0]"], CONFIGS)
    assert config.task.losses == {"ce": 1.0, "focal": 0.5} and config.task.class_weights == [1, 4]
    # a run logged when they were optim settings still loads, its losses now the task's
    logged = to_container(compose([], CONFIGS))
    del logged["task"]["losses"]
    logged["optim"]["losses"] = {"dice": 1.0}
    old = config_from_dict(logged)
    assert old.task.losses == {"dice": 1.0} and old.optim.lr == 1e-3
    assert logged["optim"]["losses"] == {"dice": 1.0}  # the caller's mapping is left as it was


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=graphene"], "unknown task 'graphene'; known: columns, mos2, nanoparticle"),
        (["model=resnet"], "unknown model 'resnet'; known: msd, unet"),
        (["trainer=tpu"], "unknown trainer 'tpu'; known: auto, cpu, ddp, gpu, slurm"),
        (["model.depht=3"], "config key model.depht: Key 'depht' not in 'MSDConfig'"),
        (
            ["trainer.num_nodes=two"],
            "config key trainer.num_nodes: Value 'two' of type 'str' could not be converted to Integer",
        ),
        (["seed"], "override 'seed': expected key=value"),
        (["data.batch_size=0"], "data.batch_size: must be >= 1, got 0"),
        (
            ["task.labels.kind=boxes"],
            "task.labels.kind: must be one of mask, columns, species, got 'boxes'",
        ),
        (["task.train_repeats=0"], "task.train_repeats: must be >= 1, got 0"),
    ],
)
def test_bad_config_is_one_clear_error(overrides: list[str], message: str) -> None:
    with pytest.raises(SpecError) as error:
        compose(overrides, CONFIGS)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("task", ["nanoparticle", "columns", "mos2"])
def test_pretrained_presets_compose_longer_runs_on_more_data(task: str) -> None:
    default = compose([f"task={task}"])
    longer = compose([*load_preset(CONFIGS / "pretrained" / f"{task}.yaml"), "seed=1"])
    assert (longer.task.name, longer.task.profile, longer.seed) == (task, "pretrained", 1)
    weights = (24, 1, 1 / 60, 1 / 3600)  # "DD:HH:MM:SS" in hours

    def hours(limit: str) -> float:
        return sum(int(v) * w for v, w in zip(limit.split(":"), weights, strict=True))

    assert hours(longer.trainer.cpu_max_time) > 4 * hours(default.trainer.cpu_max_time)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("overrides: [task=mos2]\nextra: 1\n", "unknown key(s) extra (known: overrides)"),
        ("overrides: task=mos2\n", "overrides: expected a list of key=value strings"),
    ],
)
def test_bad_preset_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_preset(path)
    assert str(err.value) == f"{path}: {message}"
