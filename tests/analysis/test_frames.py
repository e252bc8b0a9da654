"""Frame sources: natural order, lazy stacks (NPY, TIFF, HDF5) in abTEM order, focal-series
grouping, sampling and time from metadata or options, unreadable frames as records."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from hrtem_analysis.frames import natural_key, open_frames
from hrtem_core.errors import ImageError

_spec = importlib.util.spec_from_file_location(
    "microscope_files", Path(__file__).parents[1] / "core" / "microscope_files.py"
)
microscope_files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(microscope_files)

# Images as files store them: [N, rows = y, cols = x]; frame k is filled with k plus a ramp in x.
STACK = (np.arange(7)[:, None, None] + np.linspace(0, 0.5, 24)[None, None, :]) * np.ones(
    (7, 16, 24)
)
STACK = STACK.astype(np.float32)


def test_folder_is_read_in_natural_order(tmp_path: Path) -> None:
    for k in (10, 2, 1):
        np.save(tmp_path / f"frame{k}.npy", STACK[k % 7])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.npy").write_bytes(b"")
    source = open_frames(tmp_path, sampling=0.5)
    frames = list(source)
    assert [f.source for f in frames] == ["frame1.npy", "frame2.npy", "frame10.npy"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time for f in frames] == [0.0, 1.0, 2.0]  # no time information: the index
    for frame, k in zip(frames, (1, 2, 10), strict=True):
        assert frame.image.shape == (1, 24, 16)  # [C, nx, ny]: transposed to abTEM order
        np.testing.assert_array_equal(frame.image[0], STACK[k % 7].T)
        assert frame.sampling == (0.5, 0.5) and frame.error is None
    assert sorted(["f10", "f9", "F1"], key=lambda n: natural_key(Path(n))) == ["F1", "f9", "f10"]


def write_stack(path: Path) -> None:
    if path.suffix == ".npy":
        np.save(path, STACK)
    elif path.suffix == ".tif":
        tifffile.imwrite(path, STACK, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "nm"})
    else:
        with h5py.File(path, "w") as file:
            file.create_dataset("series/images", data=STACK).attrs["sampling"] = [0.1, 0.1]
            file["series/images"].attrs["units"] = "nm"


@pytest.mark.parametrize("name", ["stack.npy", "stack.tif", "stack.h5"])
def test_stack_files_are_read_one_frame_at_a_time(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_stack(path)
    sampling = 2.0 if name.endswith(".npy") else None  # NPY has no metadata
    source = open_frames(path, sampling=sampling, frame_interval=0.25)
    assert len(source) == 7
    frame = source.read(4)
    np.testing.assert_array_equal(frame.image[0], STACK[4].T)
    assert frame.source == f"{name}[4]"
    assert frame.time == 1.0  # 4 x 0.25 s
    assert frame.sampling == pytest.approx((1.0, 1.0) if sampling is None else (2.0, 2.0))


def test_focal_series_groups_consecutive_images(tmp_path: Path) -> None:
    np.save(tmp_path / "focal.npy", STACK)  # 7 images: two time points of 3, and one left over
    source = open_frames(tmp_path / "focal.npy", channels=3, sampling=0.1)
    assert len(source) == 3
    frame = source.read(1)
    np.testing.assert_array_equal(frame.image, np.swapaxes(STACK[3:6], 1, 2))
    leftover = source.read(2)
    assert leftover.image is None
    assert leftover.error == "focal.npy[2]: incomplete focal series, 1 of 3 images"
    with h5py.File(tmp_path / "series.h5", "w") as file:  # [T, C, rows, cols]
        file["images"] = STACK[:6].reshape(2, 3, 16, 24)
    source = open_frames(tmp_path / "series.h5", channels=3, sampling=0.1)
    assert len(source) == 2
    np.testing.assert_array_equal(source.read(1).image, np.swapaxes(STACK[3:6], 1, 2))
    folder = tmp_path / "folder"
    folder.mkdir()
    for t in range(2):  # one [3, rows, cols] file per time point
        np.save(folder / f"t{t}.npy", STACK[3 * t : 3 * t + 3])
    source = open_frames(folder, channels=3, sampling=0.1)
    assert len(source) == 2 and source.read(1).source == "t1.npy"
    np.testing.assert_array_equal(source.read(1).image, np.swapaxes(STACK[3:6], 1, 2))


def test_a_single_image_for_a_three_channel_model_is_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", STACK[0])
    with pytest.raises(
        ImageError, match=r"one\.npy: 1 image\(s\) cannot make one frame of 3 channels"
    ):
        open_frames(tmp_path / "one.npy", channels=3, sampling=0.1)
    with h5py.File(tmp_path / "four.h5", "w") as file:
        file["images"] = STACK[:4].reshape(2, 2, 16, 24)
    with pytest.raises(ImageError, match=r"four\.h5: frames of 2 channels .* the model takes 3"):
        open_frames(tmp_path / "four.h5", channels=3, sampling=0.1)


def test_unknown_sampling_and_missing_input_are_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "frame.npy", STACK[0])
    with pytest.raises(ImageError, match=r"frame\.npy: no sampling in the file's metadata"):
        open_frames(tmp_path / "frame.npy")
    unprobed = open_frames(tmp_path / "frame.npy", probe=False)  # no pixels read yet
    assert unprobed.read(0).error.startswith("frame.npy: no sampling in the file's metadata")
    with pytest.raises(ImageError, match=r"missing\.npy: no such file"):
        open_frames([tmp_path / "missing.npy"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match=r"empty: no image files"):
        open_frames(empty)


def test_corrupt_and_nan_frames_are_records_not_exceptions(tmp_path: Path) -> None:
    np.save(tmp_path / "a1.npy", STACK[0])
    np.save(tmp_path / "a2.npy", STACK[1])
    data = (tmp_path / "a2.npy").read_bytes()
    (tmp_path / "a2.npy").write_bytes(data[: len(data) // 2])  # truncated
    tifffile.imwrite(tmp_path / "a3.tif", STACK[2])
    data = (tmp_path / "a3.tif").read_bytes()
    (tmp_path / "a3.tif").write_bytes(data[: len(data) // 3])
    nan = STACK[3].copy()
    nan[2, 3] = np.nan
    np.save(tmp_path / "a4.npy", nan)
    np.save(tmp_path / "a5.npy", STACK[4])
    frames = list(open_frames(tmp_path, sampling=0.1))
    assert [f.error is None for f in frames] == [True, False, False, False, True]
    assert frames[1].error.startswith(f"{tmp_path / 'a2.npy'}: unreadable")
    assert frames[2].error.startswith(f"{tmp_path / 'a3.tif'}: unreadable")
    assert "NaN" in frames[3].error and "a4.npy" in frames[3].error
    np.testing.assert_array_equal(frames[4].image[0], STACK[4].T)


def test_a_folder_of_tia_files_lists_each_series_once(tmp_path: Path) -> None:
    """Each NAME_1.ser is a frame (read through the NAME.emi beside it); the .emi is not."""
    for name, k in (("b", 2), ("a", 1)):
        microscope_files.write_ser(tmp_path / f"{name}_1.ser", STACK[k], 1e-10)
        microscope_files.write_emi(tmp_path / f"{name}.emi")
    frames = list(open_frames(tmp_path))
    assert [f.source for f in frames] == ["a_1.ser", "b_1.ser"]
    np.testing.assert_array_equal(frames[1].image[0], STACK[2].T)
    assert frames[1].sampling == pytest.approx((1.0, 1.0))


# STACK in each microscope format, pixels 0.1 nm in x by 0.2 nm in y, and a time step [s].
MICROSCOPE_STACKS = {
    ".emd": lambda path, dt: microscope_files.write_emd_berkeley(path, STACK, (0.1, 0.2), dt),
    ".ser": lambda path, dt: microscope_files.write_ser(path, STACK, (1e-10, 2e-10), dt),
    ".dm3": lambda path, dt: microscope_files.write_dm(path, STACK, (0.1, 0.2), 3, dt),
    ".dm4": lambda path, dt: microscope_files.write_dm(path, STACK, (0.1, 0.2), 4, dt),
}


@pytest.mark.parametrize("suffix", list(MICROSCOPE_STACKS))
def test_microscope_stacks_give_sampling_and_time_from_metadata(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"stack{suffix}"
    MICROSCOPE_STACKS[suffix](path, 0.5)
    frames = list(open_frames(path))  # neither sampling nor frame_interval given
    assert [f.source for f in frames] == [f"stack{suffix}[{t}]" for t in range(7)]
    assert [f.time for f in frames] == pytest.approx([0.5 * t for t in range(7)])
    for t, frame in enumerate(frames):
        assert frame.error is None and frame.sampling == pytest.approx((1.0, 2.0))
        np.testing.assert_array_equal(frame.image[0], STACK[t].T)
    focal = open_frames(path, channels=3).read(1)  # images 3..5, taken 1.5 s after images 0..2
    np.testing.assert_array_equal(focal.image, np.swapaxes(STACK[3:6], 1, 2))
    assert focal.time == pytest.approx(1.5)
    untimed = tmp_path / f"untimed{suffix}"
    MICROSCOPE_STACKS[suffix](untimed, None)  # a frame axis without time units: the index
    assert [f.time for f in open_frames(untimed)] == list(range(7))
