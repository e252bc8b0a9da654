"""The model registry: every name builds its model from typed arguments; typos are clear errors."""

import pytest
import torch
from hrtem_core.errors import HRTEMError
from hrtem_msd import MSDNet, UNet, get_model, list_models
from hrtem_msd.nets.errors import ModelError


def test_list_models() -> None:
    assert list_models() == ["msd", "unet"]


@pytest.mark.parametrize(
    ("name", "cls", "args"),
    [
        ("msd", MSDNet, {"in_channels": 3, "out_channels": 2, "depth": 5, "width": 2}),
        ("unet", UNet, {"in_channels": 3, "out_channels": 2, "depth": 2, "base_width": 4}),
    ],
)
def test_get_model_builds_each(name: str, cls: type, args: dict) -> None:
    net = get_model(name, **args)
    assert type(net) is cls
    assert net(torch.randn(1, 3, 24, 24)).shape == (1, 2, 24, 24)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"^unknown model 'msdnet'; known models: msd, unet$"):
        get_model("msdnet", in_channels=1, out_channels=2)
    assert issubclass(ModelError, HRTEMError)


def test_unknown_or_missing_argument_is_named() -> None:
    with pytest.raises(
        ModelError, match=r"^model 'msd': unknown argument\(s\) detph; known: in_channels"
    ):
        get_model("msd", in_channels=1, out_channels=2, detph=10)
    with pytest.raises(
        ModelError, match=r"^model 'unet': missing a required argument: 'out_channels'$"
    ):
        get_model("unet", in_channels=1)


def test_configure_threads_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from hrtem_msd.threads import configure_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("HRTEM_NUM_THREADS", raising=False)
        assert configure_threads() == before
        monkeypatch.setenv("HRTEM_NUM_THREADS", "1")
        assert configure_threads() == 1 and torch.get_num_threads() == 1
        assert configure_threads(2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("HRTEM_NUM_THREADS", "two")
        with pytest.raises(
            ModelError, match=r"^HRTEM_NUM_THREADS must be a positive integer, got 'two'$"
        ):
            configure_threads()
    finally:
        torch.set_num_threads(before)
