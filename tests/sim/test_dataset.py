"""Shards and open_dataset: round trip, lazy per-process reads, and damaged shards named on open."""

import multiprocessing
import re
import shutil
from copy import deepcopy
from pathlib import Path

import h5py
import numpy as np
import pytest
from hrtem_core.cards import DatasetCard
from hrtem_core.cards.dataset import UNKNOWN_GENERATOR
from hrtem_core.errors import DatasetError
from hrtem_sim import dataset_card, open_dataset
from hrtem_sim.simulate import make_sample, run_simulation
from hrtem_sim.spec import load_spec, spec_hash
from hrtem_sim.types import Sample

MOS2 = Path(__file__).parents[2] / "data_specs" / "mos2.yaml"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MoS2 dataset, simulated in this process (3 shards of 2, 2 and 1 samples)."""
    spec = load_spec(MOS2, "tiny")
    assert (spec.samples, spec.shard_size) == (5, 2)
    return run_simulation(spec, tmp_path_factory.mktemp("data"), workers=0, progress=False).path


@pytest.fixture
def copy(simulated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(simulated, tmp_path / simulated.name))


def assert_same(a: Sample, b: Sample) -> None:
    np.testing.assert_array_equal(a.exit_wave, b.exit_wave)
    assert a.sampling == b.sampling
    np.testing.assert_array_equal(a.columns.positions, b.columns.positions)
    np.testing.assert_array_equal(a.columns.classes, b.columns.classes)
    np.testing.assert_array_equal(a.columns.counts, b.columns.counts)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
    np.testing.assert_array_equal(a.atoms.numbers, b.atoms.numbers)
    np.testing.assert_array_equal(a.atoms.arrays["labelled"], b.atoms.arrays["labelled"])
    np.testing.assert_allclose(a.atoms.cell.lengths(), b.atoms.cell.lengths())
    assert a.meta == b.meta


def test_round_trip(simulated: Path) -> None:
    spec = load_spec(MOS2, "tiny")
    with open_dataset(simulated) as ds:
        assert (len(ds), ds.task, ds.spec, ds.spec_hash) == (5, "mos2", spec, spec_hash(spec))
        assert ds.classes == ("background", "Mo", "S2", "S1")
        assert ds.path == simulated and simulated.name == f"{spec.name}-{spec_hash(spec)}"
        for i in (0, 3, 4):
            sample = ds[i]
            assert sample.exit_wave.dtype == np.complex64 and sample.exit_wave.ndim == 2
            assert sample.meta["index"] == i and sample.meta["seed"] == spec.seed
            assert set(np.unique(sample.columns.classes)) <= {1, 2, 3}
            assert_same(sample, make_sample(spec, i))
        assert ds[-1].meta["index"] == 4
        assert [s.meta["index"] for s in ds[1:4]] == [1, 2, 3]
        with pytest.raises(IndexError):
            ds[5]


def _read(ds: object) -> np.ndarray:
    return ds[3].exit_wave  # type: ignore[index]


def test_files_are_reopened_after_fork_and_pickling(simulated: Path) -> None:
    ds = open_dataset(simulated)
    expected = ds[3].exit_wave  # the parent holds shard 1 open across the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        np.testing.assert_array_equal(pool.apply(_read, (ds,)), expected)
    np.testing.assert_array_equal(ds[3].exit_wave, expected)
    copy = deepcopy(ds)  # state as a spawned DataLoader worker gets it (__getstate__)
    assert copy._files == {}
    np.testing.assert_array_equal(copy[3].exit_wave, expected)
    ds.close()


def test_missing_shard_is_named(copy: Path) -> None:
    (copy / "shard-00001.h5").unlink()
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(copy))}/shard-00001\.h5: missing shard$"
    ):
        open_dataset(copy)


def test_truncated_shard_is_named(copy: Path) -> None:
    path = copy / "shard-00002.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        DatasetError,
        match=rf"^{re.escape(str(path))}: corrupt or truncated shard \(.*truncated file",
    ):
        open_dataset(copy)


def test_corrupt_header_is_named(copy: Path) -> None:
    path = copy / "shard-00001.h5"
    data = bytearray(path.read_bytes())
    data[:512] = bytes(512)
    path.write_bytes(bytes(data))
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}: corrupt or truncated shard \("
    ):
        open_dataset(copy)


def test_unfinished_shard_is_named(copy: Path) -> None:
    path = copy / "shard-00000.h5"
    with h5py.File(path, "a") as f:
        del f.attrs["complete"]
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}: unfinished shard \(no 'complete' marker\)$"
    ):
        open_dataset(copy)


def test_corrupt_exit_wave_is_named_on_read(copy: Path) -> None:
    path = copy / "shard-00001.h5"
    with h5py.File(path, "r") as f:
        chunk = f["exit_waves"].id.get_chunk_info(1)
    with open(path, "r+b") as f:
        f.seek(chunk.byte_offset + chunk.size // 2)
        f.write(bytes(64))
    ds = open_dataset(copy)  # the header is intact
    ds[2]
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: corrupt sample 1: "):
        ds[3]


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(tmp_path))}/absent: no such dataset directory$"
    ):
        open_dataset(tmp_path / "absent")
    with pytest.raises(
        DatasetError, match=rf"^{re.escape(str(tmp_path))}: no shards \(not simulated yet\?\)$"
    ):
        open_dataset(tmp_path)


def test_every_shard_carries_the_dataset_card(simulated: Path) -> None:
    spec = load_spec(MOS2, "tiny")
    with open_dataset(simulated) as ds:
        card = ds.card
    assert card == dataset_card(spec)
    assert (card.energy, card.sampling, card.task) == (80e3, 0.15, "mos2")
    assert card.classes == ["background", "Mo", "S2", "S1"] and card.structure_kinds == ["mos2"]
    assert card.generator.startswith("hrtem-sim ")
    for path in sorted(simulated.glob("shard-*.h5")):
        with h5py.File(path, "r") as f:
            assert DatasetCard.from_json(f.attrs["card"]) == card


def test_a_shard_from_before_the_cards_still_opens(copy: Path) -> None:
    """Format 1 stored spec_hash, task and classes; the card comes from the stored spec."""
    spec = load_spec(MOS2, "tiny")
    for path in copy.glob("shard-*.h5"):
        with h5py.File(path, "r+") as f:
            del f.attrs["card"]
            f.attrs.update(
                format_version=1,
                spec_hash=spec_hash(spec),
                task="mos2",
                classes=["background", "Mo", "S2", "S1"],
            )
    with open_dataset(copy) as ds:
        assert ds.card == dataset_card(spec, generated_by=UNKNOWN_GENERATOR)
        assert ds.classes == ("background", "Mo", "S2", "S1") and len(ds) == 5


def test_a_corrupt_card_names_the_shard(copy: Path) -> None:
    first = copy / "shard-00000.h5"
    with h5py.File(first, "r+") as f:
        f.attrs["card"] = '{"energy": 80000.0}'
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(first))} \(attribute 'card'\): "):
        open_dataset(copy)


def test_opening_a_dataset_builds_no_structure(
    simulated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored spec was checked when simulated: opening it again needs neither the simulate
    extra nor the seconds a large scene takes to build."""
    import hrtem_sim.structures

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a structure was built")

    monkeypatch.setattr(hrtem_sim.structures, "build_structure", refuse)
    with open_dataset(simulated) as ds:
        assert len(ds) == 5 and ds.spec == load_spec(MOS2, "tiny", build=False)
    with pytest.raises(AssertionError, match="a structure was built"):
        load_spec(MOS2, "tiny")  # a spec from a user is checked
