"""Reading microscope images: transposed once to abTEM order, sampling from metadata in Å."""

from __future__ import annotations

import importlib.util
import re
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from hrtem_core.errors import ImageError
from hrtem_core.readers import read_image, read_stack

_spec = importlib.util.spec_from_file_location(
    "microscope_files", Path(__file__).with_name("microscope_files.py")
)
microscope_files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(microscope_files)

# Rows are y (30), columns are x (40), as a microscope file stores them.
FRAME = np.random.default_rng(0).random((30, 40)).astype(np.float32)


def write_mrc(path: Path, data: np.ndarray, voxel: float) -> None:
    """A minimal MRC 2014 file (mode 2, float32), cell lengths in Å."""
    nz, ny, nx = data.shape
    header = bytearray(1024)
    struct.pack_into("<4i", header, 0, nx, ny, nz, 2)
    struct.pack_into("<3i", header, 28, nx, ny, nz)
    struct.pack_into("<3f", header, 40, nx * voxel, ny * voxel, nz * voxel)
    struct.pack_into("<3i", header, 64, 1, 2, 3)
    header[208:216] = b"MAP \x44\x44\x00\x00"
    path.write_bytes(bytes(header) + data.astype("<f4").tobytes())


def test_tiff_with_imagej_calibration(tmp_path: Path) -> None:
    path = tmp_path / "frame.tif"
    tifffile.imwrite(
        path, FRAME, imagej=True, resolution=(1 / 0.05, 1 / 0.04), metadata={"unit": "nm"}
    )
    image, sampling = read_image(path)
    assert image.shape == (40, 30) and image.dtype == np.float32
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling == pytest.approx((0.5, 0.4))  # (sx, sy) in Å


def test_plain_tiff_and_npy_have_no_sampling(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "plain.tif", (FRAME * 1000).astype(np.uint16))
    image, sampling = read_image(tmp_path / "plain.tif")
    np.testing.assert_array_equal(image, (FRAME * 1000).astype(np.uint16).T.astype(np.float32))
    assert sampling is None
    np.save(tmp_path / "frame.npy", FRAME)
    image, sampling = read_image(tmp_path / "frame.npy")
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling is None


def test_hdf5_dataset_with_sampling_attribute(tmp_path: Path) -> None:
    path = tmp_path / "frame.h5"
    with h5py.File(path, "w") as file:
        dataset = file.create_group("entry").create_dataset("image", data=FRAME)
        dataset.attrs["sampling"] = [0.03, 0.02]  # per stored axis: rows (y), columns (x)
        dataset.attrs["units"] = "nm"
        file.create_dataset("counts", data=np.arange(5))
    image, sampling = read_image(path)
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling == pytest.approx((0.2, 0.3))
    with h5py.File(tmp_path / "two.h5", "w") as file:
        file["a"], file["b"] = FRAME, FRAME
    with pytest.raises(
        ImageError, match=r"two\.h5: need exactly one image dataset \(rank 2 to 4\), found 2"
    ):
        read_image(tmp_path / "two.h5")


def test_mrc_image_and_stack_via_rosettasciio(tmp_path: Path) -> None:
    write_mrc(tmp_path / "frame.mrc", FRAME[None], 0.7)
    image, sampling = read_image(tmp_path / "frame.mrc")
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling == pytest.approx((0.7, 0.7))
    series = np.stack([FRAME, FRAME + 1, FRAME + 2])
    write_mrc(tmp_path / "series.mrc", series, 0.7)
    stack, sampling = read_stack(tmp_path / "series.mrc")
    assert stack.shape == (3, 40, 30)
    np.testing.assert_array_equal(stack[1], (FRAME + 1).T)
    with pytest.raises(ImageError, match=r"series\.mrc: no 2-D image|series\.mrc: expected a 2-D"):
        read_image(tmp_path / "series.mrc")


def test_stack_of_a_single_frame(tmp_path: Path) -> None:
    np.save(tmp_path / "frame.npy", FRAME)
    stack, _ = read_stack(tmp_path / "frame.npy")
    assert stack.shape == (1, 40, 30)
    np.testing.assert_array_equal(stack[0], FRAME.T)


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    cases = {
        "notes.txt": (b"hello", r"notes\.txt: unknown image format '\.txt'"),
        "broken.dm3": (b"garbage" * 20, r"broken\.dm3: unreadable"),
        "broken.tif": (b"II*\x00garbage", r"broken\.tif: unreadable"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageError, match=message) as error:
            read_image(tmp_path / name)
        assert "\n" not in str(error.value)
    with pytest.raises(ImageError, match=r"missing\.tif: no such file"):
        read_image(tmp_path / "missing.tif")
    with_nan = FRAME.copy()
    with_nan[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    with pytest.raises(ImageError, match=r"nan\.npy: image contains NaN"):
        read_image(tmp_path / "nan.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ImageError, match=r"cube\.npy: expected a 2-D image, got shape \(2, 3, 4\)"):
        read_image(tmp_path / "cube.npy")
    np.save(tmp_path / "wave.npy", FRAME.astype(np.complex64))
    with pytest.raises(
        ImageError, match=r"wave\.npy: expected real pixel values, got dtype complex64"
    ):
        read_image(tmp_path / "wave.npy")
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(
        ImageError, match=r"pickle\.npy: unreadable \(.*(Python objects|Object arrays)"
    ):
        read_image(tmp_path / "pickle.npy")


# Each microscope format's writer, pixels 0.05 nm in x by 0.04 nm in y (SER calibrates in m).
MICROSCOPE_WRITERS = {
    ".emd": lambda path, data: microscope_files.write_emd_berkeley(path, data, (0.05, 0.04)),
    ".ser": lambda path, data: microscope_files.write_ser(path, data, (5e-11, 4e-11)),
    ".dm3": lambda path, data: microscope_files.write_dm(path, data, (0.05, 0.04), version=3),
    ".dm4": lambda path, data: microscope_files.write_dm(path, data, (0.05, 0.04), version=4),
}


@pytest.mark.parametrize("suffix", list(MICROSCOPE_WRITERS))
def test_microscope_image_and_series_via_rosettasciio(tmp_path: Path, suffix: str) -> None:
    write = MICROSCOPE_WRITERS[suffix]  # DM files also hold a thumbnail, which is skipped
    write(tmp_path / f"frame{suffix}", FRAME)
    image, sampling = read_image(tmp_path / f"frame{suffix}")
    assert image.shape == (40, 30) and image.dtype == np.float32
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling == pytest.approx((0.5, 0.4))  # (sx, sy) in Å
    series = np.stack([FRAME, FRAME + 1, FRAME + 2])
    write(tmp_path / f"series{suffix}", series)
    stack, sampling = read_stack(tmp_path / f"series{suffix}")
    assert stack.shape == (3, 40, 30)
    np.testing.assert_array_equal(stack, np.swapaxes(series, 1, 2))
    assert sampling == pytest.approx((0.5, 0.4))
    with pytest.raises(ImageError, match=r"expected a 2-D image, got shape \(3, 30, 40\)"):
        read_image(tmp_path / f"series{suffix}")


@pytest.mark.parametrize("suffix", list(MICROSCOPE_WRITERS))
def test_truncated_microscope_files_are_one_line_errors_naming_the_file(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"cut{suffix}"
    MICROSCOPE_WRITERS[suffix](path, np.stack([FRAME, FRAME + 1]))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for read in (read_image, read_stack):
        with pytest.raises(ImageError, match=rf"^{re.escape(str(path))}: unreadable") as error:
            read(path)
        assert "\n" not in str(error.value)
