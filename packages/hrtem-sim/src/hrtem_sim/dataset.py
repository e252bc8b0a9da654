"""open_dataset: a simulated dataset directory as a lazy, read-only ``Sequence[Sample]``.

Every shard's header is checked when the dataset is opened (missing, truncated, corrupt, foreign
or unfinished shards are a DatasetError naming the file); sample data are read on access. HDF5
files are opened per process and reopened after a fork, so the dataset can be handed to
DataLoader workers (``num_workers > 0``, fork or spawn).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import h5py
from hrtem_core.errors import DatasetError

from hrtem_sim.shards import ShardHeader, read_header, read_sample, shard_name
from hrtem_sim.spec import DataSpec, spec_from_yaml, spec_hash
from hrtem_sim.types import Sample


class ExitWaveDataset(Sequence[Sample]):
    """The samples of a dataset directory, in index order. Use :func:`open_dataset`."""

    def __init__(self, path: Path, spec: DataSpec, headers: list[ShardHeader]) -> None:
        self.path = path
        self.spec = spec
        self.card = headers[0].card
        self._headers = headers
        self._files: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.spec.samples

    @property
    def spec_hash(self) -> str:
        return self.card.spec_hash

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the stored column labels, index 0 = background."""
        return tuple(self.card.classes)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...
    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        shard, local = divmod(index % len(self), self.spec.shard_size)
        try:
            return read_sample(self._file(shard), local)
        except (OSError, KeyError, ValueError) as error:
            raise DatasetError(
                f"{self._headers[shard].path}: corrupt sample {local}: {error}"
            ) from None

    def _file(self, shard: int) -> h5py.File:
        if os.getpid() != self._pid:  # forked: the parent's handles are not ours to use
            self._files = {}
            self._pid = os.getpid()
        if shard not in self._files:
            self._files[shard] = h5py.File(self._headers[shard].path, "r")
        return self._files[shard]

    def close(self) -> None:
        """Close the open shard files of this process (reopened on the next access)."""
        if os.getpid() == self._pid:
            for f in self._files.values():
                f.close()
        self._files = {}

    def __enter__(self) -> ExitWaveDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_files": {}}

    def __repr__(self) -> str:
        return f"ExitWaveDataset({str(self.path)!r}, task={self.task!r}, samples={len(self)})"


def open_dataset(path: str | Path) -> ExitWaveDataset:
    """Open the dataset directory ``path`` (``<root>/<name>-<hash>``), checking every shard."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset directory")
    found = sorted(path.glob("shard-*.h5"))
    if not found:
        raise DatasetError(f"{path}: no shards (not simulated yet?)")
    first = read_header(found[0])
    spec = spec_from_yaml(first.spec_yaml, f"{found[0]} (attribute 'spec')", build=False)
    if spec_hash(spec) != first.card.spec_hash:
        raise DatasetError(
            f"{found[0]}: stored spec does not match its hash {first.card.spec_hash} (corrupt, or written by another hrtem_sim version)"
        )
    headers = []
    for shard in range(spec.num_shards):
        header = first if shard == first.shard else read_header(path / shard_name(shard))
        _check(header, first, spec, shard)
        headers.append(header)
    return ExitWaveDataset(path, spec, headers)


def _check(header: ShardHeader, first: ShardHeader, spec: DataSpec, shard: int) -> None:
    if header.card.spec_hash != first.card.spec_hash:
        raise DatasetError(
            f"{header.path}: belongs to dataset {header.card.spec_hash}, not {first.card.spec_hash}"
        )
    if header.shard != shard:
        raise DatasetError(f"{header.path}: holds shard {header.shard}, expected {shard}")
    if list(header.indices) != list(spec.shard_indices(shard)):
        raise DatasetError(f"{header.path}: wrong sample indices {list(header.indices)}")
    if header.wave_shape != first.wave_shape:
        raise DatasetError(
            f"{header.path}: exit waves {header.wave_shape}, expected {first.wave_shape}"
        )
