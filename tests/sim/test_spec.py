"""Data specs: every shipped spec and profile resolves; bad specs are one error naming file and key."""

from pathlib import Path

import pytest
from hrtem_core.errors import SpecError
from hrtem_sim.spec import (
    PROFILES,
    dataset_path,
    load_spec,
    spec_from_yaml,
    spec_hash,
    spec_profiles,
    spec_to_yaml,
)

SPECS = sorted((Path(__file__).parents[2] / "data_specs").glob("*.yaml"))

GOOD = """\
name: good
task: mos2
seed: 3
structure:
  kind: mos2
  cell: [16, 16]
labels: {scheme: mos2, tolerance: 0.5}
simulation: {energy: 80e3, sampling: 0.15}
samples: 4
shard_size: 2
profiles:
  tiny: ["samples=2", "simulation.sampling=0.2"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_shipped_specs_cover_every_task_and_profile() -> None:
    assert {p.stem for p in SPECS} == {"nanoparticle", "columns", "mos2", "mos2_scenes"}
    for path in SPECS:
        for profile in (None, *PROFILES):
            spec = load_spec(path, profile)
            assert spec.task == path.stem.removesuffix("_scenes")  # scenes of the vacancy check
            assert spec.num_shards * spec.shard_size >= spec.samples


def test_a_spec_lists_its_profiles_in_the_file_s_order(tmp_path: Path) -> None:
    mos2 = next(p for p in SPECS if p.stem == "mos2")
    assert spec_profiles(mos2) == ["tiny", "small", "pretrained", "full"]
    with pytest.raises(SpecError, match=r"^nowhere\.yaml: no such spec file$"):
        spec_profiles("nowhere.yaml")
    path = write(tmp_path, GOOD.replace("profiles:", "profiles: 3\nunused:"))
    with pytest.raises(SpecError, match=rf"^{path}: profiles: expected a mapping"):
        spec_profiles(path)


def test_profile_overrides_merge_onto_the_spec(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    base, tiny = load_spec(path), load_spec(path, "tiny")
    assert (base.samples, base.simulation.sampling) == (4, 0.15)
    assert (tiny.samples, tiny.simulation.sampling) == (2, 0.2)
    assert tiny.structure == base.structure
    assert base.structure.cell == (16.0, 16.0)


def test_hash_is_stable_through_yaml_and_changes_with_data(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    again = spec_from_yaml(spec_to_yaml(spec), "stored")
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)
    assert len(spec_hash(spec)) == 12
    assert spec_hash(load_spec(write(tmp_path, GOOD.replace("seed: 3", "seed: 4")))) != spec_hash(
        spec
    )
    assert dataset_path(spec, "root") == Path("root") / f"good-{spec_hash(spec)}"


SCENE = """\
name: scene
task: nanoparticle
seed: 3
structure:
  kind: au_scene
  cell: [40, 40]
  params: {diameter: [9, 18], spacing: 3.0}
labels: {scheme: particle, tolerance: 0.5}
simulation: {energy: 300e3, sampling: 0.2}
samples: 2
shard_size: 2
"""


def test_a_parameter_added_later_keeps_the_hash_of_datasets_written_before_it(
    tmp_path: Path,
) -> None:
    before = load_spec(write(tmp_path, SCENE))  # the spec as written before diameter_draw
    assert "diameter_draw" not in spec_to_yaml(before)
    uniform = SCENE.replace("spacing: 3.0}", "spacing: 3.0, diameter_draw: uniform}")
    assert spec_hash(load_spec(write(tmp_path, uniform))) == spec_hash(before)
    log = load_spec(write(tmp_path, uniform.replace("draw: uniform", "draw: log_uniform")))
    assert spec_hash(log) != spec_hash(before)
    stored = spec_from_yaml(spec_to_yaml(log), "stored")
    assert stored.structure.params.diameter_draw == "log_uniform"
    assert spec_hash(stored) == spec_hash(log)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seed: 3\n", "", "seed: missing value"),
        ("seed: 3", "sed: 3", "sed: unknown key (did you mean 'seed'?)"),
        ("samples: 4", "samples: 4\nsampels: 4", "sampels: unknown key (did you mean 'samples'?)"),
        (
            "  cell: [16, 16]",
            "  cell: [16, 16]\n  params: {diamter: 3}",
            "structure.params.diamter: unknown key",
        ),
        (
            "  cell: [16, 16]",
            "  cell: [16, 16]\n  params: {s_vacancy_fraction: [0.2, 0.1]}",
            "structure.params.s_vacancy_fraction: range [0.2, 0.1] has min > max",
        ),
        ("seed: 3", "seed: three", "seed: invalid value 'three'"),
        ("  cell: [16, 16]", "  cell: [16, 16, 3]", "structure.cell: invalid value [16, 16, 3]"),
        (
            "sampling: 0.15",
            "sampling: -0.1",
            "simulation.sampling: invalid value -0.1: expected > 0",
        ),
        ("samples: 4", "samples: 0", "samples: invalid value 0: expected >= 1"),
        (
            "task: mos2",
            "task: nanoparticle",
            "labels.scheme: task 'nanoparticle' needs scheme 'particle', got 'mos2'",
        ),
        (
            "kind: mos2",
            "kind: graphene",
            "structure.kind: unknown structure kind 'graphene' (known: ",
        ),
        ("name: good", "name: ../up", "name: invalid value '../up': expected letters, digits"),
    ],
)
def test_bad_spec_is_one_error_naming_file_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_missing_malformed_and_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^nowhere\.yaml: no such spec file$"):
        load_spec("nowhere.yaml")
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(SpecError, match=rf"^{path}: malformed YAML at line 2: "):
        load_spec(path)
    path = write(tmp_path, GOOD)
    with pytest.raises(SpecError, match=rf"^{path}: unknown profile 'huge' \(known: tiny\)$"):
        load_spec(path, "huge")
    path = write(tmp_path, GOOD.replace("samples=2", "smaples=2"))
    with pytest.raises(SpecError, match=rf"^{path}: smaples: unknown key"):
        load_spec(path, "tiny")
