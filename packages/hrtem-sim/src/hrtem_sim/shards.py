"""HDF5 shards: one file per dask task, written atomically, validated on open.

Layout of ``shard-KKKKK.h5`` (n samples, T atoms and M columns over all its samples; sample j's
atoms are rows ``offsets[j]:offsets[j + 1]`` of the ``atoms/*`` arrays, likewise for columns)::

    exit_waves          [n, H, W] complex64, chunks (1, H, W), gzip 1 + shuffle, fletcher32
    sampling            [n, 2]    float64   (sx, sy) [Å/px], read back from abTEM
    index               [n]       int64     global sample indices
    atoms/positions     [T, 3]    float64   [Å], as abTEM sliced them (wrapped into the cell)
    atoms/numbers       [T]       int64     atomic numbers
    atoms/labelled      [T]       bool      atoms that carry labels
    atoms/cell          [n, 3]    float64   orthogonal cell lengths [Å]
    atoms/offsets       [n + 1]   int64
    columns/positions   [M, 2]    float64   (x, y) [Å] in the exit wave's frame
    columns/classes     [M]       int64     index into the card's ``classes`` (0 = background)
    columns/counts      [M]       int64     atoms per column
    columns/offsets     [n + 1]   int64
    meta                [n]       str       JSON: structure parameters, seed, index

    attrs: format_version, card (the dataset's DatasetCard as JSON), spec (resolved YAML), shard,
           num_samples, complete (written last; a shard without it is unfinished)

Format 1 (before dataset cards) had ``spec_hash``, ``task`` and ``classes`` attributes instead of
the card; such shards still open, their card derived from the stored spec. Shards are written
with :func:`hrtem_core.atomic.atomic_write`, so a finished shard is whole and an interrupted one
never appears under its name. Compression pays (measured): gzip
level 1 with byte shuffle stores a wave in 0.3 (MoS2) to 0.7 (Au particle in vacuum) of its raw
size, costs ~60 ms per 500 x 500 wave to write (a few % of its multislice) and ~7 ms to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from hrtem_core.atomic import atomic_write
from hrtem_core.cards import DatasetCard
from hrtem_core.errors import CardError, DatasetError

from hrtem_sim.types import Columns, Sample

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
_DATASETS = (
    "exit_waves",
    "sampling",
    "index",
    "meta",
    "atoms/positions",
    "atoms/numbers",
    "atoms/labelled",
    "atoms/cell",
    "atoms/offsets",
    "columns/positions",
    "columns/classes",
    "columns/counts",
    "columns/offsets",
)


@dataclass(frozen=True)
class ShardHeader:
    """What a shard says about itself; ``indices`` are its global sample indices."""

    path: Path
    spec_yaml: str
    card: DatasetCard
    shard: int
    indices: np.ndarray
    wave_shape: tuple[int, int]


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}.h5"


def write_shard(
    path: Path,
    samples: list[Sample],
    *,
    shard: int,
    spec_yaml: str,
    card: DatasetCard,
) -> None:
    """Write ``samples`` to ``path`` atomically; an OSError (e.g. disk full) is a DatasetError."""

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            _write_arrays(f, samples)
            f.attrs.update(
                format_version=FORMAT_VERSION,
                card=card.to_json(),
                spec=spec_yaml,
                shard=shard,
                num_samples=len(samples),
            )
            f.attrs["complete"] = True

    try:
        atomic_write(path, write)
    except OSError as error:
        raise DatasetError(f"{path}: cannot write shard: {error.strerror or error}") from None


def _write_arrays(f: h5py.File, samples: list[Sample]) -> None:
    waves = np.stack([s.exit_wave for s in samples]).astype(np.complex64)
    f.create_dataset(
        "exit_waves",
        data=waves,
        chunks=(1, *waves.shape[1:]),
        compression="gzip",
        compression_opts=1,
        shuffle=True,
        fletcher32=True,
    )
    f["sampling"] = np.array([s.sampling for s in samples], dtype=np.float64)
    f["index"] = np.array([s.meta["index"] for s in samples], dtype=np.int64)
    f.create_dataset("meta", data=[json.dumps(s.meta) for s in samples], dtype=h5py.string_dtype())
    f["atoms/positions"] = np.concatenate([s.atoms.positions for s in samples]).reshape(-1, 3)
    f["atoms/numbers"] = np.concatenate([s.atoms.numbers for s in samples]).astype(np.int64)
    f["atoms/labelled"] = np.concatenate([s.atoms.arrays["labelled"] for s in samples]).astype(bool)
    f["atoms/cell"] = np.array([s.atoms.cell.lengths() for s in samples], dtype=np.float64)
    f["atoms/offsets"] = _offsets([len(s.atoms) for s in samples])
    f["columns/positions"] = np.concatenate([s.columns.positions for s in samples]).reshape(-1, 2)
    f["columns/classes"] = np.concatenate([s.columns.classes for s in samples]).astype(np.int64)
    f["columns/counts"] = np.concatenate([s.columns.counts for s in samples]).astype(np.int64)
    f["columns/offsets"] = _offsets([len(s.columns) for s in samples])


def _offsets(lengths: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def read_header(path: Path) -> ShardHeader:
    """Open ``path`` and check it is a complete, consistent shard; DatasetError naming it if not."""
    try:
        with h5py.File(path, "r") as f:
            return _header(path, f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing shard") from None
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatasetError(f"{path}: corrupt or truncated shard ({reason})") from None


def _header(path: Path, f: h5py.File) -> ShardHeader:
    if not f.attrs.get("complete", False):
        raise DatasetError(f"{path}: unfinished shard (no 'complete' marker)")
    if f.attrs["format_version"] not in READABLE_FORMATS:
        raise DatasetError(
            f"{path}: shard format {f.attrs['format_version']}, expected one of {READABLE_FORMATS}"
        )
    missing = [name for name in _DATASETS if name not in f]
    if missing:
        raise DatasetError(f"{path}: corrupt shard (no dataset {missing[0]!r})")
    n = int(f.attrs["num_samples"])
    waves = f["exit_waves"]
    checks = {
        "exit_waves": waves.shape[0] == n and waves.ndim == 3 and waves.dtype == np.complex64,
        "sampling": f["sampling"].shape == (n, 2),
        "index": f["index"].shape == (n,),
        "meta": f["meta"].shape == (n,),
        "atoms/offsets": _offsets_ok(f["atoms/offsets"][()], n, len(f["atoms/numbers"])),
        "columns/offsets": _offsets_ok(f["columns/offsets"][()], n, len(f["columns/classes"])),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise DatasetError(f"{path}: corrupt shard (inconsistent {bad[0]!r})")
    spec_yaml = str(f.attrs["spec"])
    return ShardHeader(
        path=path,
        spec_yaml=spec_yaml,
        card=_card(f, path, spec_yaml),
        shard=int(f.attrs["shard"]),
        indices=f["index"][()],
        wave_shape=(int(waves.shape[1]), int(waves.shape[2])),
    )


def _card(f: h5py.File, path: Path, spec_yaml: str) -> DatasetCard:
    """The shard's card; for a format-1 shard, the card of its stored spec (generator unknown)."""
    if "card" in f.attrs:
        try:
            return DatasetCard.from_json(str(f.attrs["card"]), f"{path} (attribute 'card')")
        except CardError as error:
            raise DatasetError(str(error)) from None
    from hrtem_core.cards.dataset import UNKNOWN_GENERATOR

    from hrtem_sim.card import dataset_card
    from hrtem_sim.spec import spec_from_yaml

    spec = spec_from_yaml(spec_yaml, f"{path} (attribute 'spec')", build=False)
    return dataset_card(spec, generated_by=UNKNOWN_GENERATOR)


def _offsets_ok(offsets: np.ndarray, n: int, total: int) -> bool:
    return (
        offsets.shape == (n + 1,)
        and offsets[0] == 0
        and offsets[-1] == total
        and bool(np.all(np.diff(offsets) >= 0))
    )


def read_sample(f: h5py.File, j: int) -> Sample:
    """Sample ``j`` (local to the shard) of an open, validated shard (its atoms need ASE)."""
    from ase import Atoms

    a0, a1 = f["atoms/offsets"][j : j + 2]
    c0, c1 = f["columns/offsets"][j : j + 2]
    atoms = Atoms(
        numbers=f["atoms/numbers"][a0:a1],
        positions=f["atoms/positions"][a0:a1],
        cell=f["atoms/cell"][j],
        pbc=True,
    )
    atoms.set_array("labelled", f["atoms/labelled"][a0:a1])
    columns = Columns(
        positions=f["columns/positions"][c0:c1],
        classes=f["columns/classes"][c0:c1],
        counts=f["columns/counts"][c0:c1],
    )
    sx, sy = f["sampling"][j]
    return Sample(
        exit_wave=f["exit_waves"][j],
        sampling=(float(sx), float(sy)),
        columns=columns,
        atoms=atoms,
        meta=json.loads(f["meta"][j]),
    )
