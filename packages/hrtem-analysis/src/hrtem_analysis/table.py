"""A resumable results table: one CSV row appended (and flushed) per frame, Parquet at the end.

``NAME.csv`` is the record of what is done: a rerun reads it and skips those frames. A row cut off
by a crash (missing one of its ``required`` columns, e.g. ``status``) is dropped when the table is
opened, by an atomic rewrite
(temporary name, then ``os.replace``), so finished rows are never lost. :meth:`ResultTable.close`
writes ``NAME.parquet`` from the CSV, sorted by frame, also atomically.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
from hrtem_core.atomic import atomic_write
from hrtem_core.errors import HRTEMError


class TableError(HRTEMError):
    """A results table cannot be read or written, or has columns other than expected."""


def _format(value: Any) -> Any:
    return "" if value is None else value


class ResultTable:
    """Rows keyed by ``frame`` in ``folder/NAME.csv`` (appended) and ``folder/NAME.parquet``."""

    def __init__(
        self,
        folder: Path,
        columns: Mapping[str, str],
        name: str = "frames",
        required: Sequence[str] = ("frame", "status"),
    ) -> None:
        """columns: name -> pandas dtype ("Int64", "float64", "string", "boolean"); "frame" first.
        required: the columns every complete row has."""
        self.required = list(required)
        self.dtypes = dict(columns)
        self.columns = list(columns)
        self.csv = folder / f"{name}.csv"
        self.parquet = folder / f"{name}.parquet"
        folder.mkdir(parents=True, exist_ok=True)
        self.rows = self._load()
        self._stream: TextIO | None = None

    def _load(self) -> pd.DataFrame:
        """Rows already written (incomplete rows dropped, the CSV rewritten without them)."""
        if not self.csv.is_file() or self.csv.stat().st_size == 0:
            return pd.DataFrame(columns=self.columns).astype(self.dtypes)
        try:
            rows = pd.read_csv(self.csv, keep_default_na=False, na_values=[""], on_bad_lines="skip")
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
            raise TableError(f"{self.csv}: cannot read the results table ({error})") from None
        if list(rows.columns) != self.columns:
            raise TableError(
                f"{self.csv}: columns {list(rows.columns)} differ from {self.columns}; "
                "use another output folder"
            )
        complete = rows.dropna(subset=self.required)
        if len(complete) != len(rows):
            atomic_write(self.csv, lambda tmp: complete.to_csv(tmp, index=False))
        try:
            return complete.astype(self.dtypes)
        except (TypeError, ValueError) as error:
            raise TableError(f"{self.csv}: a value does not fit its column ({error})") from None

    def keep_frames(self, frames: Collection[int]) -> None:
        """Drop the rows of frames not in ``frames`` (rewriting the CSV atomically if any)."""
        keep = self.rows["frame"].astype(int).isin(list(frames))
        if not keep.all():
            self.rows = self.rows[keep]
            atomic_write(self.csv, lambda tmp: self.rows.to_csv(tmp, index=False))

    def done(self) -> set[int]:
        """Frames that already have a row."""
        return set(self.rows["frame"].astype(int))

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (keys: the columns) to the CSV and flush it to disk."""
        if self._stream is None:
            new = not self.csv.is_file() or self.csv.stat().st_size == 0
            self._stream = self.csv.open("a", newline="")
            if new:
                csv.writer(self._stream).writerow(self.columns)
        csv.writer(self._stream).writerow([_format(row.get(c)) for c in self.columns])
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> pd.DataFrame:
        """Close the CSV and write the Parquet table; returns every row, sorted by frame."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.rows = self._load()
        table = self.rows.sort_values("frame", kind="stable").reset_index(drop=True)
        atomic_write(self.parquet, lambda tmp: table.to_parquet(tmp, index=False))
        return table
