"""A model card builds its network; bad arguments or weights are one line naming the source."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hrtem_core.cards import ModelCard
from hrtem_msd.nets import MSDNet, UNet, build
from hrtem_msd.nets.errors import ModelError

CARD = ModelCard(
    task="mos2",
    architecture="msd",
    model_args={"depth": 4, "width": 2, "dilations": [1, 2, 3]},
    classes=["background", "Mo", "S2", "S1"],
    in_channels=3,
    defocus=[-90.0, 0.0, 90.0],
    sampling=0.105,
    normalisation="per_image",
    spec_hash="a1b2c3d4",
    energy=80e3,
)


def test_the_card_builds_its_network() -> None:
    net = build(CARD)
    assert isinstance(net, MSDNet) and (net.depth, net.width, net.dilations) == (4, 2, (1, 2, 3))
    assert net.config is CARD
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)
    unet = build(
        dataclasses.replace(CARD, architecture="unet", model_args={"depth": 1, "base_width": 4})
    )
    assert isinstance(unet, UNet) and unet(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)


def test_weights_are_loaded_and_checked() -> None:
    net = build(CARD)
    copy = build(CARD, net.state_dict())
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(copy(x), net(x))
    with pytest.raises(ModelError, match=r"^w\.safetensors: weights do not fit the model card"):
        build(dataclasses.replace(CARD, model_args={"depth": 5}), net.state_dict(), "w.safetensors")


def test_bad_architecture_or_arguments_name_the_source() -> None:
    with pytest.raises(ModelError, match=r"^card\.yaml: unknown model 'resnet'; known models: msd"):
        build(dataclasses.replace(CARD, architecture="resnet"), source="card.yaml")
    with pytest.raises(ModelError, match="unknown argument"):
        build(dataclasses.replace(CARD, model_args={"depht": 4}))
