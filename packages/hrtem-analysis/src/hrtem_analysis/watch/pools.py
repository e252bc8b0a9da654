"""Where a watched file's frames are analysed: in the watcher's process, or on dask workers.

Both pools take files in arrival order (:meth:`submit`) and give back, in that same order,
each file's ``(frame, record)`` pairs, or the one line saying why the file cannot be read (yet)
(:meth:`results`). The frames' ``index`` and ``time`` are the file's own (0, 1, ... for a
stack); the watcher numbers them as it writes them.

:class:`InProcess` analyses one file at a time, frame by frame as the pairs are taken.
:class:`OnDask` keeps two files per worker in flight; each worker reads its own file (the
folder must be on a file system the workers share) and holds one copy of the models, sent once.
It returns the frames without their pixels, or with the live page's preview (the first image and
the particle mask, strided alike). A worker that dies mid-file has its
file re-run on another by dask; a file whose task fails is a reason like an unreadable one.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hrtem_core.errors import HRTEMError

from hrtem_analysis.frame_analysis import Analysis, FrameRecord, Models, analyse_frame
from hrtem_analysis.frames import Frame, open_frames
from hrtem_analysis.watch.live import strided

if TYPE_CHECKING:
    from distributed import Client, Future

WORKERS_EVERY = 2.0  # [s] between counts of the dask workers
Pairs = Iterator[tuple[Frame, FrameRecord]]
Result = tuple[Path, Pairs | str]
"""A file and its frames' (frame, record) pairs, or why it cannot be read."""


def file_frames(
    path: Path, channels: int, sampling: float | None, done: set[str]
) -> Iterator[Frame] | str:
    """The frames of one file not yet ``done`` (sources ``file`` or ``file[t]``), read one at a
    time; or, when the file or its first frame cannot be read (yet), the reader's one line."""
    try:
        source = open_frames([path], channels, sampling, probe=False)
    except HRTEMError as error:
        return str(error).splitlines()[0]
    first = source.read(0)
    if first.error is not None:
        return first.error
    rest = (source.read(t) for t in range(1, len(source)) if source.name(t) not in done)
    return itertools.chain([first] if first.source not in done else [], rest)


def analysed(frames: Iterator[Frame], analysis: Analysis, models: Models) -> Pairs:
    """Each frame with its record, analysed as it is taken."""
    return ((frame, analyse_frame(frame, analysis, models)) for frame in frames)


def analyse_file(
    path: Path,
    channels: int,
    sampling: float | None,
    done: set[str],
    analysis: Analysis,
    models: Models,
    preview: bool,
) -> list[tuple[Frame, FrameRecord]] | str:
    """A dask task: the file's (frame, record) pairs, the frames' pixels dropped or, with
    ``preview``, cut to the live page's preview (:func:`~hrtem_analysis.watch.live.strided`, the
    first image and the mask); or why it is unread."""
    frames = file_frames(path, channels, sampling, done)
    if isinstance(frames, str):
        return frames
    return [_shrunk(frame, record, preview) for frame, record in analysed(frames, analysis, models)]


def _shrunk(frame: Frame, record: FrameRecord, preview: bool) -> tuple[Frame, FrameRecord]:
    if frame.image is None or not preview:
        return replace(frame, image=None), replace(record, mask=None)
    image, mask = strided(frame.image[0], record.mask)
    return replace(frame, image=image[None]), replace(record, mask=mask)


class InProcess:
    """One file at a time in this process, each frame analysed when its pair is taken."""

    def __init__(self, analysis: Analysis, models: Models, sampling: float | None) -> None:
        self.analysis = analysis
        self.models = models
        self.channels = models["model"].config.in_channels
        self.sampling = sampling
        self.waiting: deque[tuple[Path, set[str]]] = deque()

    def free(self) -> int:
        """How many more files :meth:`submit` takes now."""
        return 0 if self.waiting else 1

    def held(self) -> set[Path]:
        """Files submitted whose results are not yet taken."""
        return {path for path, _ in self.waiting}

    def submit(self, path: Path, done: set[str]) -> None:
        self.waiting.append((path, done))

    def results(self) -> Iterator[Result]:
        while self.waiting:
            path, done = self.waiting.popleft()
            frames = file_frames(path, self.channels, self.sampling, done)
            yield (
                path,
                frames if isinstance(frames, str) else analysed(frames, self.analysis, self.models),
            )

    def close(self) -> None:
        self.waiting.clear()


class OnDask:
    """Files analysed on the workers of ``client``, two per worker in flight; ``wake`` is called
    (from the client's thread) whenever a file's task ends."""

    def __init__(
        self,
        client: Client,
        analysis: Analysis,
        models: Models,
        sampling: float | None,
        preview: bool,
        wake: Callable[[], None],
    ) -> None:
        self.client = client
        self.analysis = analysis
        self.shipped = client.scatter(models, broadcast=True)
        self.channels = models["model"].config.in_channels
        self.sampling = sampling
        self.preview = preview
        self.wake = wake
        self.flying: deque[tuple[Path, Future]] = deque()
        self.workers, self.counted = 0, -math.inf

    def free(self) -> int:
        now = time.monotonic()
        if now - self.counted >= WORKERS_EVERY:  # a round trip to the scheduler: not every loop
            self.workers = len(self.client.scheduler_info()["workers"])
            self.counted = now
        return max(0, 2 * max(1, self.workers) - len(self.flying))

    def held(self) -> set[Path]:
        """Files submitted whose results are not yet taken."""
        return {path for path, _ in self.flying}

    def submit(self, path: Path, done: set[str]) -> None:
        mine = {source for source in done if source.startswith(f"{path.name}[")}
        future = self.client.submit(
            analyse_file, path, self.channels, self.sampling, mine, self.analysis,
            self.shipped, self.preview, pure=False,
        )  # fmt: skip
        future.add_done_callback(lambda _: self.wake())
        self.flying.append((path, future))

    def results(self) -> Iterator[Result]:
        """Finished files, in submission order (a later one waits for those before it)."""
        while self.flying and self.flying[0][1].done():
            path, future = self.flying.popleft()
            try:
                result = future.result()
            except Exception as error:
                text = str(error).splitlines()[0] if str(error) else ""
                yield path, f"{path}: worker failed: {type(error).__name__}: {text}"
                continue
            yield path, result if isinstance(result, str) else iter(result)

    def close(self) -> None:
        self.client.cancel([future for _, future in self.flying])
        self.flying.clear()
