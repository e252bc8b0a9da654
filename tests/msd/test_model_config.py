"""The model card: a YAML round trip, the network it builds, one-line errors naming file and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from hrtem_msd.model_config import ModelConfig, build
from hrtem_msd.models import MSDNet, UNet
from hrtem_msd.models.errors import ModelError

CARD = {
    "task": "mos2",
    "architecture": "msd",
    "model_args": {"depth": 4, "width": 2, "dilations": [1, 2, 3]},
    "classes": ["background", "Mo", "S2", "S1"],
    "in_channels": 3,
    "defocus": [-90.0, 0.0, 90.0],
    "sampling": 0.105,
    "normalisation": "per_image",
    "spec_hash": "a1b2c3d4",
    "energy": 80e3,
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "model_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_yaml_round_trip_and_build(tmp_path: Path) -> None:
    config = ModelConfig(**CARD)
    path = config.save(tmp_path / "card" / "model_config.yaml")
    assert ModelConfig.load(path) == config
    assert [p.name for p in path.parent.iterdir()] == ["model_config.yaml"]  # no temporary left
    net = build(config)
    assert isinstance(net, MSDNet) and (net.depth, net.width, net.dilations) == (4, 2, (1, 2, 3))
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)
    unet = build(
        dataclasses.replace(config, architecture="unet", model_args={"depth": 1, "base_width": 4})
    )
    assert isinstance(unet, UNet) and unet(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)


def test_integers_are_accepted_for_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, {**CARD, "energy": 80000, "defocus": [-90, 0, 90]})
    assert ModelConfig.load(path).energy == 80000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depht": 4}, "unknown key 'depht'; known keys: task, architecture,"),
        ({"in_channels": "3"}, "key 'in_channels' must be an integer, got '3'"),
        ({"in_channels": True}, "key 'in_channels' must be an integer, got True"),
        ({"classes": "particle"}, "key 'classes' must be a list of strings, got 'particle'"),
        ({"sampling": "0.1"}, "key 'sampling' must be a number [Å/px], got '0.1'"),
        ({"sampling": 0.0}, "key 'sampling' must be > 0 [Å/px], got 0.0"),
        ({"defocus": [0.0]}, "key 'defocus' must be 3 values (one per channel), got [0.0]"),
        (
            {"architecture": "resnet"},
            "key 'architecture' must be one of ['msd', 'unet'], got 'resnet'",
        ),
        (
            {"normalisation": "global"},
            "key 'normalisation' must be one of ['per_image'], got 'global'",
        ),
        (
            {"classes": ["particle"]},
            "key 'classes' must be at least 2 names (index 0 = background)",
        ),
        (
            {"model_args": {"depth": {"a": 1}}},
            "key 'model_args' must be a mapping of argument names",
        ),
    ],
)
def test_bad_card_is_one_line_naming_file_and_key(
    tmp_path: Path, change: dict, message: str
) -> None:
    path = write(tmp_path, {**CARD, **change})
    with pytest.raises(ModelError) as error:
        ModelConfig.load(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_missing_key_file_or_bad_yaml(tmp_path: Path) -> None:
    card = dict(CARD)
    del card["spec_hash"]
    path = write(tmp_path, card)
    with pytest.raises(ModelError, match=r"model_config\.yaml: missing key 'spec_hash'$"):
        ModelConfig.load(path)
    path.write_text("task: [unclosed")
    with pytest.raises(ModelError, match=r"model_config\.yaml: not valid YAML"):
        ModelConfig.load(path)
    path.write_text("- a list")
    with pytest.raises(
        ModelError, match=r"model_config\.yaml: expected a mapping of keys, got list"
    ):
        ModelConfig.load(path)
    with pytest.raises(ModelError, match=r"nope\.yaml: cannot read model config"):
        ModelConfig.load(tmp_path / "nope.yaml")


def test_bad_model_args_fail_when_building() -> None:
    config = ModelConfig(**{**CARD, "model_args": {"depht": 4}})
    with pytest.raises(ModelError, match="unknown argument"):
        build(config)
