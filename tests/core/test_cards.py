"""The cards: YAML/JSON round trips, old cards loading with stated defaults, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hrtem_core.cards import DatasetCard, ModelCard, RunRecord
from hrtem_core.cards.dataset import UNKNOWN_GENERATOR
from hrtem_core.errors import CardError

# A card as hrtem 0.1 wrote it: no crop, ranges, dataset card or metrics.
OLD_CARD = {
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
NEW_FIELDS = {
    "crop": [128, 128],
    "sampling_range": [0.1, 0.11],
    "camera_range": [0.15, 0.4],
    "dose_range": [200.0, 2.0e4],
    "defocus_ranges": [[-160.0, -20.0], [-60.0, 60.0], [20.0, 160.0]],
    "dataset_card": "0f1e2d3c4b5a",
    "substrates": ["clumped_carbon", "graded_carbon"],
    "metrics": {"test/iou": 0.61, "test/iou_S1": 0.37},
}
DATASET = {
    "spec_hash": "a1b2c3d4",
    "name": "mos2",
    "task": "mos2",
    "energy": 80e3,
    "sampling": 0.08,
    "cell": [40.0, 40.0],
    "label_scheme": "mos2",
    "classes": ["background", "Mo", "S2", "S1"],
    "structure_kinds": ["mos2"],
    "samples": 256,
    "generator": "hrtem-sim 0.2.0",
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "model_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_model_card_yaml_round_trip(tmp_path: Path) -> None:
    card = ModelCard(**OLD_CARD, **NEW_FIELDS)
    path = card.save(tmp_path / "card" / "model_config.yaml")
    assert ModelCard.load(path) == card
    assert [p.name for p in path.parent.iterdir()] == ["model_config.yaml"]  # no temporary left
    assert card.out_channels == 4 and card.class_index("S1") == 3


def test_an_old_card_loads_with_nothing_recorded(tmp_path: Path) -> None:
    card = ModelCard.load(write(tmp_path, OLD_CARD))
    assert (card.crop, card.dose_range, card.defocus_ranges, card.dataset_card) == (None,) * 4
    assert card.metrics == {}
    text = card.describe()
    assert "training crop: not recorded" in text and "dose: not recorded" in text
    assert card.substrates is None and "substrates: not recorded" in text


def test_describe_gives_units() -> None:
    lines = ModelCard(**OLD_CARD, **NEW_FIELDS).describe().splitlines()
    assert "training crop: 128 x 128 px" in lines
    assert "dose: 200-20000 e-/Å^2" in lines
    assert "energy: 80 kV" in lines
    assert (
        "sampling: nominal 0.105 Å/px; trained 0.1-0.11 Å/px, recorded at 0.15-0.4 Å/px and resized"
        in lines
    )
    assert any(
        line.startswith("defocus: nominal -90, 0, 90 Å; trained per channel -160-")
        for line in lines
    )
    assert "metrics: test/iou 0.61, test/iou_S1 0.37" in lines
    assert "substrates: clumped_carbon, graded_carbon" in lines


def test_a_missing_class_is_an_error_not_the_first_foreground() -> None:
    with pytest.raises(CardError, match=r"^the mos2 model has no class 'particle' \(classes: "):
        ModelCard(**OLD_CARD).class_index("particle")


def test_integers_are_accepted_for_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, {**OLD_CARD, "energy": 80000, "defocus": [-90, 0, 90]})
    assert ModelCard.load(path).energy == 80000


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
            {"normalisation": "global"},
            "key 'normalisation' must be one of ('per_image',), got 'global'",
        ),
        (
            {"classes": ["particle"]},
            "key 'classes' must be at least 2 names (index 0 = background)",
        ),
        (
            {"model_args": {"depth": {"a": 1}}},
            "key 'model_args' must be a mapping of argument names",
        ),
        ({"crop": [128]}, "key 'crop' must be (h, w) [px] or null, got [128]"),
        (
            {"defocus_ranges": [[0.0, 1.0]]},
            "key 'defocus_ranges' must be 3 (low, high) pairs (one per channel)",
        ),
        ({"metrics": {"test/iou": "high"}}, "key 'metrics' must be a mapping of metric names"),
    ],
)
def test_bad_card_is_one_line_naming_file_and_key(
    tmp_path: Path, change: dict, message: str
) -> None:
    path = write(tmp_path, {**OLD_CARD, **change})
    with pytest.raises(CardError) as error:
        ModelCard.load(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_missing_key_file_or_bad_yaml(tmp_path: Path) -> None:
    card = dict(OLD_CARD)
    del card["spec_hash"]
    path = write(tmp_path, card)
    with pytest.raises(CardError, match=r"model_config\.yaml: missing key 'spec_hash'$"):
        ModelCard.load(path)
    path.write_text("task: [unclosed")
    with pytest.raises(CardError, match=r"model_config\.yaml: not valid YAML"):
        ModelCard.load(path)
    path.write_text("- a list")
    with pytest.raises(
        CardError, match=r"model_config\.yaml: expected a mapping of keys, got list"
    ):
        ModelCard.load(path)
    with pytest.raises(CardError, match=r"nope\.yaml: cannot read card"):
        ModelCard.load(tmp_path / "nope.yaml")


def test_dataset_card_json_round_trip_and_hash() -> None:
    card = DatasetCard(**DATASET)
    assert DatasetCard.from_json(card.to_json()) == card
    assert len(card.card_hash) == 12 and card.card_hash == DatasetCard(**DATASET).card_hash
    assert DatasetCard(**{**DATASET, "energy": 300e3}).card_hash != card.card_hash
    old = {k: v for k, v in DATASET.items() if k != "generator"}
    assert DatasetCard.from_dict(old).generator == UNKNOWN_GENERATOR
    assert DatasetCard.from_dict(old).substrates == []  # a card from before the families
    families = DatasetCard(**{**DATASET, "substrates": ["graded_carbon"]})
    assert DatasetCard.from_json(families.to_json()) == families


def test_bad_dataset_card_is_one_line() -> None:
    with pytest.raises(CardError, match=r"^shard-00000\.h5: key 'energy' must be a number > 0"):
        DatasetCard.from_dict({**DATASET, "energy": -1}, "shard-00000.h5")
    with pytest.raises(CardError, match=r"^shard-00000\.h5: not valid JSON"):
        DatasetCard.from_json("{", "shard-00000.h5")


def test_run_record_params_round_trip() -> None:
    record = RunRecord(
        precision="bf16-mixed",
        accelerator="cuda",
        devices=4,
        num_nodes=2,
        world_size=8,
        strategy="ddp",
        batch_size=8,
        effective_batch_size=64,
        lr=8e-3,
        profile="full",
        max_time=None,
        dataset_path="/data/nanoparticle-0123abcd4567",
        dataset_spec_hash="0123abcd4567",
        dataset_card_hash="89ef0123abcd",
        git_commit="abc123+dirty",
        package_versions={"torch": "2.13.0", "hrtem-msd": "0.2.0"},
    )
    params = record.params()
    assert params["run.precision"] == "bf16-mixed" and params["run.devices"] == "4"
    assert params["run.package_versions.torch"] == "2.13.0" and "run.max_time" not in params
    assert RunRecord.from_params(params) == record


def test_an_old_run_lacks_what_it_did_not_log() -> None:
    old = {"run.precision": "32-true", "run.processes": "1", "run.dataset_spec_hash": "abc"}
    record = RunRecord.from_params(old)
    assert (record.precision, record.dataset_spec_hash) == ("32-true", "abc")
    assert record.devices is None and record.strategy is None and record.package_versions == {}
