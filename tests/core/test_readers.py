"""Reading microscope images: transposed once to abTEM order, sampling from metadata in Å, time
axes from every format that has one; what is not a real-space image is refused in one line."""

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
from hrtem_core.readers import open_stack, read_image, read_stack

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
    with pytest.raises(ImageError, match=r"wave\.npy: complex data \(complex64\), not an image$"):
        read_image(tmp_path / "wave.npy")
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(
        ImageError, match=r"pickle\.npy: unreadable \(.*(Python objects|Object arrays)"
    ):
        read_image(tmp_path / "pickle.npy")


# Each microscope format's writer, pixels 0.05 nm in x by 0.04 nm in y (SER, Velox calibrate
# in m): name -> (file name, write(path, data, time step [s] or None)).
def _ser_and_emi(folder: Path, data: np.ndarray, dt: float | None) -> None:
    microscope_files.write_ser(folder / "series_1.ser", data, (5e-11, 4e-11), dt)
    microscope_files.write_emi(folder / "series.emi")


MICROSCOPE_WRITERS = {
    "berkeley.emd": (
        "f.emd",
        lambda path, data, dt: microscope_files.write_emd_berkeley(path, data, (0.05, 0.04), dt),
    ),
    "velox.emd": (
        "f.emd",
        lambda path, data, dt: microscope_files.write_emd_velox(
            path, data, (5e-11, 4e-11), dt or 0.5
        ),
    ),
    ".ser": (
        "f_1.ser",
        lambda path, data, dt: microscope_files.write_ser(path, data, (5e-11, 4e-11), dt),
    ),
    ".ser beside its .emi": (
        "series_1.ser",
        lambda path, data, dt: _ser_and_emi(path.parent, data, dt),
    ),
    ".emi": ("series.emi", lambda path, data, dt: _ser_and_emi(path.parent, data, dt)),
    ".dm3": (
        "f.dm3",
        lambda path, data, dt: microscope_files.write_dm(path, data, (0.05, 0.04), 3, dt),
    ),
    ".dm4": (
        "f.dm4",
        lambda path, data, dt: microscope_files.write_dm(path, data, (0.05, 0.04), 4, dt),
    ),
}


def write(name: str, folder: Path, data: np.ndarray, dt: float | None = None) -> Path:
    """Write ``data`` with writer ``name`` (MICROSCOPE_WRITERS, TIFF_WRITERS) into a new
    ``folder``; the path to read."""
    folder.mkdir()
    filename, write_file = (MICROSCOPE_WRITERS | TIFF_WRITERS)[name]
    write_file(folder / filename, data, dt)
    return folder / filename


@pytest.mark.parametrize("name", list(MICROSCOPE_WRITERS))
def test_microscope_image_and_series_via_rosettasciio(tmp_path: Path, name: str) -> None:
    path = write(name, tmp_path / "frame", FRAME)  # DM files also hold a thumbnail, skipped
    image, sampling = read_image(path)
    assert image.shape == (40, 30) and image.dtype == np.float32
    np.testing.assert_array_equal(image, FRAME.T)
    assert sampling == pytest.approx((0.5, 0.4))  # (sx, sy) in Å
    series = np.stack([FRAME, FRAME + 1, FRAME + 2])
    path = write(name, tmp_path / "series", series)
    stack, sampling = read_stack(path)
    assert stack.shape == (3, 40, 30)
    np.testing.assert_array_equal(stack, np.swapaxes(series, 1, 2))
    assert sampling == pytest.approx((0.5, 0.4))
    with pytest.raises(ImageError, match=r"expected a 2-D image, got shape \(3, 30, 40\)"):
        read_image(path)


def write_imagej(path: Path, data: np.ndarray, dt: float | None) -> None:
    metadata = {"unit": "nm", "axes": "TYX"} | ({"finterval": dt} if dt else {})
    tifffile.imwrite(path, data, imagej=True, resolution=(20.0, 25.0), metadata=metadata)


TIFF_WRITERS = {  # the DigitalMicrograph TIFF at (0.05, 0.04) µm/px
    "DigitalMicrograph TIFF": (
        "dm.tif",
        lambda path, data, dt: microscope_files.write_dm_tiff(path, data, (0.05, 0.04), dt),
    ),
    "ImageJ TIFF": ("imagej.tif", write_imagej),
}
SAMPLINGS = {"DigitalMicrograph TIFF": (500.0, 400.0), "ImageJ TIFF": (0.5, 0.4)}


@pytest.mark.parametrize("name", list(MICROSCOPE_WRITERS) + list(TIFF_WRITERS))
def test_time_axes_of_every_format(tmp_path: Path, name: str) -> None:
    """2.5 s between frames, as each format records it (Velox: the camera's exposure)."""
    path = write(name, tmp_path / "series", np.stack([FRAME, FRAME + 1, FRAME + 2]), 2.5)
    stack = open_stack(path)
    assert stack.shape == (3, 30, 40) and len(stack) == 3
    assert stack.time_step == pytest.approx(2.5)
    assert stack.sampling == pytest.approx(SAMPLINGS.get(name, (0.5, 0.4)))
    np.testing.assert_array_equal(stack.read(1), (FRAME + 1).T)


def test_imagej_slices_are_not_a_time_axis(tmp_path: Path) -> None:
    path = tmp_path / "z.tif"
    series = np.stack([FRAME, FRAME + 1])
    tifffile.imwrite(path, series, imagej=True, metadata={"spacing": 2.5, "axes": "ZYX"})
    assert open_stack(path).time_step is None
    microscope_files.write_dm(tmp_path / "frames.dm3", series, 0.05)  # frame axis, no unit
    assert open_stack(tmp_path / "frames.dm3").time_step is None


def _rgb(path: Path, channels: int) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (10, 13, channels), dtype=np.uint8)
    tifffile.imwrite(path, rgb, photometric="rgb")


def _ser_and_emi_of(path: Path, patterns: np.ndarray, mode: str) -> None:
    """Diffraction patterns calibrated in 1/m, as TIA does; the .emi records the mode."""
    stem = path.stem.removesuffix("_1")
    microscope_files.write_ser(path.with_name(f"{stem}_1.ser"), patterns, 2e7)
    microscope_files.write_emi(path.with_name(f"{stem}.emi"), mode=mode)


_SPECTRUM_IMAGE = np.random.default_rng(2).random((2048, 2, 2)).astype(np.float32)  # E, y, x
_WAVE = FRAME.astype(np.complex64)
_RGBA = np.random.default_rng(3).integers(0, 255, (30, 40, 4), dtype=np.uint8)
REFUSED = {  # file name: (write(path), what it holds)
    "EELS_SI.dm4": (
        lambda p: microscope_files.write_dm_signal(
            p, _SPECTRUM_IMAGE, [2.0, 2.0, 0.25], ["nm", "nm", "eV"], 4,
            {"Format": "Spectrum image", "Signal": "EELS"},
        ),
        "a spectrum image (2048 energy channels)",
    ),
    "EELS.dm3": (
        lambda p: microscope_files.write_dm_signal(
            p, _SPECTRUM_IMAGE[:, 0, 0].copy(), [0.25], ["eV"], 3,
            {"Format": "Spectrum", "Signal": "EELS"},
        ),
        "a spectrum (2048 energy channels)",
    ),
    "SI_1.ser": (
        lambda p: microscope_files.write_ser_spectrum_image(
            p, np.moveaxis(_SPECTRUM_IMAGE[:64], 0, -1), 1e-9, 0.5
        ),
        "a spectrum image (64 energy channels)",
    ),
    "SI.emd": (
        lambda p: microscope_files.write_emd_velox(p, FRAME, 1e-9, spectrum_image=True),
        "a spectrum image (Velox EDS spectrum stream)",
    ),
    "DP_1.ser": (
        lambda p: _ser_and_emi_of(p, FRAME, "TEM uP SA Zoom Diffraction"),
        "a diffraction pattern (axes in 1 / nm)",
    ),
    "DPs.emi": (
        lambda p: _ser_and_emi_of(p, np.stack([FRAME] * 2), "STEM nP SA Zoom Diffraction"),
        "2 diffraction patterns (axes in 1 / nm)",
    ),
    "DP.dm3": (
        lambda p: microscope_files.write_dm(p, FRAME, 0.02, units="1/nm"),
        "a diffraction pattern (axes in 1/nm)",
    ),
    "DPs.dm4": (
        lambda p: microscope_files.write_dm(p, np.stack([FRAME] * 3), 0.02, 4, units="1/nm"),
        "3 diffraction patterns (axes in 1/nm)",
    ),
    "DP_uncalibrated.dm3": (
        lambda p: microscope_files.write_dm_signal(
            p, FRAME, [1.0, 1.0], ["", ""], 3, {"Format": "Diffraction image"}
        ),
        "a diffraction pattern (recorded as 'diffraction image')",
    ),
    "DP_berkeley.emd": (
        lambda p: microscope_files.write_emd_berkeley(p, FRAME, 0.02, units="[1_/_n_m]"),
        "a diffraction pattern (axes in 1 / nm)",
    ),
    "DP_velox.emd": (
        lambda p: microscope_files.write_emd_velox(p, FRAME, 2e7, unit="1/m"),
        "a diffraction pattern (axes in 1 / µm)",
    ),
    "FFT_velox.emd": (
        lambda p: microscope_files.write_emd_velox(p, _WAVE, 2e7, unit="1/m"),
        "an FFT (complex, axes in 1 / µm)",
    ),
    "FFT.dm4": (
        lambda p: microscope_files.write_dm(p, _WAVE, 0.02, 4, units="1/nm"),
        "an FFT (complex, axes in 1/nm)",
    ),
    "wave.dm3": (lambda p: microscope_files.write_dm(p, _WAVE, 0.05), "complex data (complex64)"),
    "wave_1.ser": (
        lambda p: microscope_files.write_ser(p, _WAVE, 5e-11), "complex data (complex64)"
    ),
    "wave.tif": (lambda p: tifffile.imwrite(p, _WAVE), "complex data (complex64)"),
    "RGB.tif": (lambda p: _rgb(p, 3), "a colour (RGB) image"),
    "RGBA.tif": (lambda p: _rgb(p, 4), "a colour (RGBA) image"),
    "RGBA.dm4": (
        lambda p: microscope_files.write_dm_signal(
            p, microscope_files.rgba_as_dm(_RGBA), [0.05, 0.04], ["nm", "nm"], 4
        ),
        "a colour (RGBA) image",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_is_not_an_image_is_refused_in_one_line_naming_it(tmp_path: Path, case: str) -> None:
    write_file, holds = REFUSED[case]
    path = tmp_path / case
    write_file(path)
    for read in (open_stack, read_image, read_stack):
        with pytest.raises(ImageError) as error:
            read(path)
        assert str(error.value) == f"{path}: {holds}, not an image"


def test_a_ser_without_its_emi_has_no_real_space_sampling(tmp_path: Path) -> None:
    """A TIA diffraction pattern calibrated in 1/m, read as metres without its .emi (2e17 Å)."""
    microscope_files.write_ser(tmp_path / "DP_1.ser", FRAME, 2e7)
    with pytest.raises(ImageError) as error:
        read_image(tmp_path / "DP_1.ser")
    assert str(error.value) == (
        f"{tmp_path / 'DP_1.ser'}: pixel size 2e+17 x 2e+17 Å is no real-space sampling "
        "(0.001 to 1e+07 Å/px); a TIA diffraction pattern? its .emi, kept beside it, records "
        "the mode"
    )
    microscope_files.write_emi(tmp_path / "lonely.emi")
    with pytest.raises(ImageError, match=r"lonely\.emi: no series beside it \(lonely_1\.ser"):
        read_image(tmp_path / "lonely.emi")


@pytest.mark.parametrize("name", list(MICROSCOPE_WRITERS))
def test_truncated_microscope_files_are_one_line_errors_naming_the_file(
    tmp_path: Path, name: str
) -> None:
    path = write(name, tmp_path / "cut", np.stack([FRAME, FRAME + 1]))
    cut = path.with_name(f"{path.stem}_1.ser") if path.suffix == ".emi" else path
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    for read in (read_image, read_stack):
        with pytest.raises(ImageError, match=rf"^{re.escape(str(path))}: unreadable") as error:
            read(path)
        assert "\n" not in str(error.value)
