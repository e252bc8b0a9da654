"""Minimal writers of microscope files for tests, written from the formats' published
descriptions (and the structures rosettasciio reads): Berkeley and Velox EMD, FEI TIA SER with
its EMI, Gatan DM3/DM4, TIFF saved by DigitalMicrograph.

Each takes images as a microscope stores them, ``[rows = y, cols = x]`` or a series
``[N, rows, cols]``, with the pixel size ``sampling`` as a scalar or ``(sx, sy)`` and, for a
series, the time step [s].
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import numpy as np
import tifffile


def _series(data: np.ndarray) -> np.ndarray:
    """``[N, rows, cols]`` little-endian (N = 1 for one image); float32 unless complex."""
    data = np.asarray(data)
    data = data.astype("<c8" if np.iscomplexobj(data) else "<f4")
    return data.reshape(-1, *data.shape[-2:])


def _pair(sampling: float | tuple[float, float]) -> tuple[float, float]:
    sx, sy = np.broadcast_to(np.asarray(sampling, dtype=float), (2,))
    return float(sx), float(sy)


def write_emd_berkeley(
    path: Path,
    data: np.ndarray,
    sampling_nm: float | tuple[float, float],
    time_step_s: float | None = None,
    units: str = "[n_m]",
) -> None:
    """Berkeley EMD v0.2 (HDF5): one data group, ``data`` and its calibrations ``dim1..dimN``.

    EMD orders dimensions x, y (, t) (dim1 is x), the reverse of ``[N, rows, cols]``; each dim#
    holds [offset, offset + step] with ``name`` and ``units`` ("[n_m]", "[1_/_n_m]", "[s]").
    """
    data = np.asarray(data, dtype=np.float32)
    sx, sy = _pair(sampling_nm)
    dims = [("x", units, sx), ("y", units, sy)]
    if data.ndim == 3:
        dims.append(("t", "[s]", time_step_s) if time_step_s else ("frame", "", 1.0))
    with h5py.File(path, "w") as file:
        file.attrs["version_major"], file.attrs["version_minor"] = 0, 2
        group = file.create_group("data/frames")
        group.attrs["emd_group_type"] = 1
        group["data"] = data.T
        for k, (name, unit, step) in enumerate(dims, start=1):
            dim = group.create_dataset(f"dim{k}", data=np.array([0.0, step]))
            dim.attrs["name"], dim.attrs["units"] = name, unit


def _velox_metadata(pixel_m: tuple[float, float], unit: str, frame_time_s: float) -> np.ndarray:
    """One frame's Velox metadata: JSON as a column of uint8 (as Velox stores it)."""
    content = {
        "BinaryResult": {
            "PixelSize": {"width": str(pixel_m[0]), "height": str(pixel_m[1])},
            "PixelUnitX": unit,
            "PixelUnitY": unit,
            "Offset": {"x": "0", "y": "0"},
            "DetectorIndex": "0",
        },
        "Detectors": {"Detector-0": {"DetectorName": "BM-Ceta", "ExposureTime": str(frame_time_s)}},
        "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1700000000"}},
        "Optics": {"AccelerationVoltage": "300000"},
        "Instrument": {"InstrumentModel": "Titan", "InstrumentId": "1"},
        "Scan": {},
        "CustomProperties": {},
    }
    return np.frombuffer(json.dumps(content).encode(), dtype=np.uint8)


def write_emd_velox(
    path: Path,
    data: np.ndarray,
    pixel_m: float | tuple[float, float],
    frame_time_s: float = 0.5,
    unit: str = "m",
    spectrum_image: bool = False,
) -> None:
    """Thermo Fisher Velox EMD (HDF5): ``Version`` JSON, ``Data/Image/<uuid>/Data`` stored
    ``[rows, cols, N]`` with a per-frame JSON ``Metadata`` column (pixel size in ``unit``, "m" or
    "1/m"; the frame time is the camera's exposure). Complex data is stored as Velox stores FFTs
    (compound real/imaginary halves); ``spectrum_image`` adds an (empty) EDS spectrum stream."""
    images = _series(data)
    with h5py.File(path, "w") as file:
        file["Version"] = np.array([json.dumps({"format": "Velox", "version": "11"}).encode()])
        group = file.create_group("Data/Image/0123456789abcdef0123456789abcdef")
        stored = np.moveaxis(images, 0, -1)
        if np.iscomplexobj(stored):
            fft = np.dtype([("realFloatHalfEven", "<f4"), ("imagFloatHalfEven", "<f4")])
            packed = np.empty(stored.shape, dtype=fft)
            packed["realFloatHalfEven"], packed["imagFloatHalfEven"] = stored.real, stored.imag
            stored = packed
        group.create_dataset("Data", data=stored, chunks=(*stored.shape[:2], 1))
        column = _velox_metadata(_pair(pixel_m), unit, frame_time_s)
        group["Metadata"] = np.repeat(column[:, None], images.shape[0], axis=1)
        if spectrum_image:
            stream = file.create_group("Data/SpectrumStream/fedcba9876543210fedcba9876543210")
            stream["Data"] = np.zeros((16, 1), dtype=np.uint16)
            file.create_group("Data/SpectrumImage/fedcba9876543210fedcba9876543210")


def _ser_file(
    path: Path,
    data_type_id: int,
    dimensions: list[tuple[int, float, str, str]],
    elements: list[bytes],
) -> None:
    """A TIA series file (SER 0x0210, little-endian) of ``elements`` in ``dimensions``.

    dimensions: (size, step, description, units) each; layout: header, dimensions, data and tag
    offset arrays, data elements, time tags.
    """
    n = len(elements)
    dimension = b"".join(
        struct.pack("<IddII", size, 0.0, step, 0, len(description))
        + description.encode()
        + struct.pack("<I", len(units))
        + units.encode()
        for size, step, description, units in dimensions
    )
    offsets_at = 30 + len(dimension)
    first_element = offsets_at + 8 * n  # after the N data offsets and the N tag offsets
    offsets = [first_element + sum(map(len, elements[:k])) for k in range(n)]
    first_tag = first_element + sum(map(len, elements))
    offsets += [first_tag + 8 * k for k in range(n)]
    header = struct.pack(
        "<3H6I", 0x4949, 0x0197, 0x0210, data_type_id, 0x4152, n, n, offsets_at, len(dimensions)
    )  # data type (1-D or 2-D elements), time-only tags; total and valid elements
    tags = b"".join(struct.pack("<HHI", 0x4152, 0, k) for k in range(n))  # type, 0, time [s]
    offset_arrays = struct.pack(f"<{2 * n}I", *offsets)
    path.write_bytes(header + dimension + offset_arrays + b"".join(elements) + tags)


def write_ser(
    path: Path,
    data: np.ndarray,
    sampling_m: float | tuple[float, float],
    time_step_s: float | None = None,
) -> None:
    """FEI TIA series file of N 2-D data elements (float32, or complex64 for complex data).

    One dimension of N elements (time step [s] when given, else unit-less index); each element
    holds its calibration (offset, delta [m/px, or 1/m in diffraction], element) for x then y,
    the data type (7 float32, 9 complex64), its size, and rows bottom row first as TIA stores them.
    """
    images = _series(data)
    sx, sy = _pair(sampling_m)
    data_type = 9 if np.iscomplexobj(images) else 7
    rows, cols = images.shape[1:]
    elements = [
        struct.pack("<ddIddIHII", 0.0, sx, 0, 0.0, sy, 0, data_type, cols, rows)
        + image[::-1].tobytes()
        for image in images
    ]
    dimension = (
        (len(images), time_step_s, "Time", "s") if time_step_s else (len(images), 1.0, "Number", "")
    )
    _ser_file(path, 0x4122, [dimension], elements)


def write_ser_spectrum_image(
    path: Path, data: np.ndarray, step_m: float, dispersion_ev: float
) -> None:
    """TIA spectrum image ``[rows, cols, energy]``: 1-D float32 elements (offset, dispersion [eV],
    element, data type, length) over two dimensions in m (y, then x)."""
    data = np.asarray(data, dtype="<f4")
    rows, cols, channels = data.shape
    elements = [
        struct.pack("<ddIHI", 0.0, dispersion_ev, 0, 7, channels) + spectrum.tobytes()
        for spectrum in data.reshape(-1, channels)
    ]
    dimensions = [(rows, step_m, "Y", "meters"), (cols, step_m, "X", "meters")]
    _ser_file(path, 0x4120, dimensions, elements)


def write_emi(path: Path, mode: str = "TEM uP SA Zoom Image", camera: bool = True) -> None:
    """The TIA ``.emi`` beside ``NAME_1.ser``: binary with one XML ``<ObjectInfo>`` per series
    (acquisition date, the microscope's Mode, the camera), as TIA writes it."""
    acquire = "<AcquireInfo><CameraNamePath>BM-Ceta</CameraNamePath></AcquireInfo>" * camera
    rows = "".join(
        f"<Data><Label>{label}</Label><Value>{value}</Value><Unit>{unit}</Unit></Data>"
        for label, value, unit in [
            ("High tension", "300", "kV"),
            ("Microscope", "Microscope Titan 80-300", ""),
            ("Mode", mode, ""),
        ]
    )
    xml = (
        "<ObjectInfo><AcquireDate>Mon Jan 02 10:00:00 2023</AcquireDate>"
        f"<ExperimentalDescription><Root>{rows}</Root></ExperimentalDescription>"
        f"{acquire}</ObjectInfo>"
    )
    path.write_bytes(b"\x4a\x00\x00\x00" + bytes(60) + xml.encode() + bytes(16))


def _dm_data(value: float | int | str | np.ndarray, size: str) -> bytes:
    """A DM data tag's content: "%%%%", its encoded type (big-endian), then little-endian values.
    Arrays are stored as elements of the pixel's size (complex64 as 8-byte, RGBA as 4-byte)."""
    if isinstance(value, np.ndarray):
        element = {"<f4": 6, "|u1": 10, "<u4": 5, "<c8": 7}[value.dtype.str]
        info, payload = (20, element, value.size), value.tobytes()
    elif isinstance(value, str):  # array of UTF-16 characters
        info, payload = (20, 4, len(value)), value.encode("utf-16-le")
    elif isinstance(value, float):
        info, payload = (7,), struct.pack("<d", value)
    else:
        info, payload = (3,), struct.pack("<i", value)
    return b"%%%%" + struct.pack(f">{len(info) + 1}{size}", len(info), *info) + payload


def _dm_group(group: dict | list, version: int) -> bytes:
    """A DM tag group: sorted and open flags, tag count, entries (a list's entries are unnamed)."""
    size = "I" if version == 3 else "Q"
    items = group.items() if isinstance(group, dict) else [("", v) for v in group]
    body = b""
    for name, value in items:
        nested = isinstance(value, dict | list)
        content = _dm_group(value, version) if nested else _dm_data(value, size)
        length = struct.pack(">Q", len(content)) if version == 4 else b""
        body += struct.pack(">BH", 20 if nested else 21, len(name)) + name.encode() + length
        body += content
    return struct.pack(f">BB{size}", 0, 1, len(items)) + body


_DM_TYPES = {"<f4": 2, "<c8": 3, "|u1": 6, "<u4": 23}  # float32, complex64, uint8, RGBA


def _dm_image(
    data: np.ndarray, scales: list[float], units: list[str], meta: dict | None = None
) -> dict:
    dimensions = [
        {"Origin": 0.0, "Scale": scale, "Units": unit}
        for scale, unit in zip(scales, units, strict=True)
    ]
    return {
        "ImageData": {
            "Calibrations": {
                "Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": ""},
                "Dimension": dimensions,
            },
            "Data": data.ravel(),
            "DataType": _DM_TYPES[data.dtype.str],
            "Dimensions": list(data.shape[::-1]),  # x, y (, N)
            "PixelDepth": data.itemsize,
        },
        "ImageTags": {"Meta Data": meta} if meta else {},
        "Name": "",
    }


def write_dm_signal(
    path: Path,
    data: np.ndarray,
    scales: list[float],
    units: list[str],
    version: int = 3,
    meta: dict | None = None,
) -> None:
    """Gatan DigitalMicrograph DM3 or DM4 file of one signal ``data`` (numpy order, float32,
    complex64, or uint32 holding B, G, R, A bytes as DM's RGBA), calibrated per DM dimension
    (x, y, ...: the reverse of numpy's order) by ``scales`` and ``units``; ``meta`` is the image's
    "Meta Data" tag group (e.g. Format "Spectrum image", Signal "EELS").

    Tag structure big-endian, values little-endian; DM4 has 8-byte counts and tag lengths.
    ImageList holds a uint8 thumbnail (listed under Thumbnails, as DM writes it) and the image.
    """
    thumbnail = np.zeros((4, 4), dtype=np.uint8)
    root = {
        "ImageList": [
            _dm_image(thumbnail, [1.0, 1.0], ["", ""]),
            _dm_image(data, scales, units, meta),
        ],
        "Thumbnails": [{"ImageIndex": 0}],
    }
    tags = _dm_group(root, version)
    size = "I" if version == 3 else "Q"
    header = struct.pack(f">i{size}i", version, len(tags), 1)  # 1: values are little-endian
    path.write_bytes(header + tags + bytes(8))  # 8 null bytes end the file


def write_dm(
    path: Path,
    data: np.ndarray,
    sampling_nm: float | tuple[float, float],
    version: int = 3,
    time_step_s: float | None = None,
    units: str = "nm",
) -> None:
    """DM3/DM4 file of one image or a stack ``[N, rows, cols]`` (float32, or complex64):
    Scale in ``units``/px (nm, or 1/nm for diffraction), s per frame when given."""
    data = np.asarray(data)
    data = data.astype("<c8" if np.iscomplexobj(data) else "<f4")
    scales, all_units = [*_pair(sampling_nm)], [units, units]
    if data.ndim == 3:
        scales.append(time_step_s or 1.0)
        all_units.append("s" if time_step_s else "")
    write_dm_signal(path, data, scales, all_units, version)


def rgba_as_dm(rgba: np.ndarray) -> np.ndarray:
    """``[rows, cols, 4]`` uint8 R, G, B, A as DM stores RGBA pixels: uint32 of bytes B, G, R, A."""
    bgra = np.ascontiguousarray(np.asarray(rgba, dtype=np.uint8)[..., [2, 1, 0, 3]])
    return bgra.view("<u4")[..., 0]


def write_dm_tiff(
    path: Path, data: np.ndarray, sampling_um: tuple[float, float], time_step_s: float
) -> None:
    """A stack ``[N, rows, cols]`` as DigitalMicrograph exports TIFF: one page per frame and
    Gatan's private tags, units (65003-65005), origins (65006-65008) and scales (65009-65011)
    for x, y and the frame axis, no ImageJ description."""
    sx, sy = sampling_um
    tags = [
        (65003, "s", 3, "µm".encode("latin-1"), False),
        (65004, "s", 3, "µm".encode("latin-1"), False),
        (65005, "s", 2, b"s", False),
        (65006, "d", 1, 0.0, False),
        (65007, "d", 1, 0.0, False),
        (65008, "d", 1, 0.0, False),
        (65009, "d", 1, sx, False),
        (65010, "d", 1, sy, False),
        (65011, "d", 1, time_step_s, False),
        (65017, "i", 1, 1, False),
    ]
    tifffile.imwrite(
        path,
        np.asarray(data, dtype=np.float32),
        photometric="minisblack",
        extratags=tags,
        metadata=None,
    )
