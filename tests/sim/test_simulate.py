"""simulate_dataset: seeded samples, real dask workers (1 == 2), resume, and errors before any work."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from distributed import LocalCluster
from hrtem_core.errors import DatasetError
from hrtem_sim import open_dataset, simulate_dataset
from hrtem_sim.card import dataset_card
from hrtem_sim.errors import StructureError
from hrtem_sim.shards import write_shard
from hrtem_sim.simulate import make_sample, run_simulation
from hrtem_sim.spec import DataSpec, load_spec

MOS2 = Path(__file__).parents[2] / "data_specs" / "mos2.yaml"


@pytest.fixture(scope="module")
def spec() -> DataSpec:
    return load_spec(MOS2, "tiny")


def test_same_seed_same_sample_different_seed_different(spec: DataSpec) -> None:
    a, b = make_sample(spec, 1), make_sample(spec, 1)
    np.testing.assert_array_equal(a.exit_wave, b.exit_wave)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
    assert a.meta == b.meta
    other = make_sample(dataclasses.replace(spec, seed=spec.seed + 1), 1)
    assert not np.allclose(other.atoms.positions[:4], a.atoms.positions[:4])
    assert np.abs(other.exit_wave - a.exit_wave).max() > 0.1
    assert np.abs(make_sample(spec, 2).exit_wave - a.exit_wave).max() > 0.1


def test_two_workers_on_a_scheduler_give_the_same_data_as_one(
    spec: DataSpec, tmp_path: Path
) -> None:
    one = simulate_dataset(spec, tmp_path / "one", workers=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        two = simulate_dataset(
            spec, tmp_path / "two", scheduler=cluster.scheduler_address, progress=False
        )
    assert one.name == two.name
    with open_dataset(one) as a, open_dataset(two) as b:
        assert len(a) == len(b) == spec.samples
        for x, y in zip(a, b, strict=True):
            # FFTW_MEASURE may plan differently in each process: float32 round-off, not data.
            np.testing.assert_allclose(x.exit_wave, y.exit_wave, rtol=0, atol=1e-5)
            np.testing.assert_array_equal(x.atoms.positions, y.atoms.positions)
            np.testing.assert_array_equal(x.columns.positions, y.columns.positions)
            np.testing.assert_array_equal(x.columns.classes, y.columns.classes)
            assert x.meta == y.meta


def test_resume_keeps_finished_shards_and_fills_the_gap(spec: DataSpec, tmp_path: Path) -> None:
    first = run_simulation(spec, tmp_path, workers=0, progress=False)
    assert (first.simulated, first.skipped) == (spec.num_shards, 0)
    kept = first.path / "shard-00000.h5"
    stamp = kept.stat().st_mtime_ns
    (first.path / "shard-00001.h5").unlink()
    stale = first.path / ".shard-00001.h5.tmp-999999999-k3j2"  # a killed writer's
    stale.write_bytes(b"half a shard")
    again = run_simulation(spec, tmp_path, workers=0, progress=False)
    assert (again.path, again.simulated, again.skipped) == (first.path, 1, spec.num_shards - 1)
    assert kept.stat().st_mtime_ns == stamp
    assert not stale.exists()
    with open_dataset(again.path) as ds:
        assert [s.meta["index"] for s in ds] == list(range(spec.samples))
        np.testing.assert_array_equal(ds[2].exit_wave, make_sample(spec, 2).exit_wave)


def test_bad_structure_fails_before_any_worker_starts(tmp_path: Path) -> None:
    spec = load_spec(MOS2.with_name("nanoparticle.yaml"), "tiny")
    small = dataclasses.replace(
        spec, structure=dataclasses.replace(spec.structure, cell=(20.0, 20.0))
    )
    with pytest.raises(StructureError, match=r"^au_scene: a particle of diameter up to 18\.0 Å"):
        simulate_dataset(small, tmp_path, workers=1, progress=False)
    assert not list(tmp_path.rglob("shard-*"))


def test_failed_write_is_one_error_and_leaves_nothing(spec: DataSpec, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the dataset folder should be")
    path = tmp_path / "taken" / "shard-00000.h5"
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: cannot write shard: "):
        write_shard(path, [make_sample(spec, 0)], shard=0, spec_yaml="", card=dataset_card(spec))
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
