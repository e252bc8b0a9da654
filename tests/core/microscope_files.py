"""Minimal writers of microscope files for tests: Berkeley EMD, FEI TIA SER, Gatan DM3/DM4.

Written from the formats' published descriptions. Each takes images as a microscope stores
them, ``[rows = y, cols = x]`` or a series ``[N, rows, cols]``, stored as float32, with the
pixel size ``sampling`` as a scalar or ``(sx, sy)`` and, for a series, the time step [s].
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np


def _series(data: np.ndarray) -> np.ndarray:
    """``[N, rows, cols]`` little-endian float32 (N = 1 for one image)."""
    data = np.asarray(data, dtype="<f4")
    return data.reshape(-1, *data.shape[-2:])


def _pair(sampling: float | tuple[float, float]) -> tuple[float, float]:
    sx, sy = np.broadcast_to(np.asarray(sampling, dtype=float), (2,))
    return float(sx), float(sy)


def write_emd_berkeley(
    path: Path,
    data: np.ndarray,
    sampling_nm: float | tuple[float, float],
    time_step_s: float | None = None,
) -> None:
    """Berkeley EMD v0.2 (HDF5): one data group, ``data`` and its calibrations ``dim1..dimN``.

    EMD orders dimensions x, y (, t) (dim1 is x), the reverse of ``[N, rows, cols]``; each dim#
    holds [offset, offset + step] with ``name`` and ``units`` ("[n_m]", "[s]") attributes.
    """
    data = np.asarray(data, dtype=np.float32)
    sx, sy = _pair(sampling_nm)
    dims = [("x", "[n_m]", sx), ("y", "[n_m]", sy)]
    if data.ndim == 3:
        dims.append(("t", "[s]", time_step_s) if time_step_s else ("frame", "", 1.0))
    with h5py.File(path, "w") as file:
        file.attrs["version_major"], file.attrs["version_minor"] = 0, 2
        group = file.create_group("data/frames")
        group.attrs["emd_group_type"] = 1
        group["data"] = data.T
        for k, (name, units, step) in enumerate(dims, start=1):
            dim = group.create_dataset(f"dim{k}", data=np.array([0.0, step]))
            dim.attrs["name"], dim.attrs["units"] = name, units


def write_ser(
    path: Path,
    data: np.ndarray,
    sampling_m: float | tuple[float, float],
    time_step_s: float | None = None,
) -> None:
    """FEI TIA series file (SER 0x0210, little-endian) of N 2-D float32 data elements.

    Layout: header, one dimension of N elements (time step [s] when given, else unit-less
    index), data and tag offset arrays, data elements (calibration in m/px, rows stored bottom
    row first as TIA does), time tags.
    """
    images = _series(data)
    n, rows, cols = images.shape
    sx, sy = _pair(sampling_m)
    description, units = (b"Time", b"s") if time_step_s else (b"Number", b"")
    dimension = (
        struct.pack("<IddII", n, 0.0, time_step_s or 1.0, 0, len(description))
        + description
        + struct.pack("<I", len(units))
        + units
    )
    offsets_at = 30 + len(dimension)
    element_size = 50 + images[0].nbytes
    first_element = offsets_at + 8 * n  # after the N data offsets and the N tag offsets
    first_tag = first_element + n * element_size
    header = struct.pack(
        "<3H6I", 0x4949, 0x0197, 0x0210, 0x4122, 0x4152, n, n, offsets_at, 1
    )  # 2-D elements, time-only tags; total and valid elements; one dimension
    offsets = [first_element + k * element_size for k in range(n)]
    offsets += [first_tag + 8 * k for k in range(n)]
    elements = b"".join(
        struct.pack("<ddIddIHII", 0.0, sx, 0, 0.0, sy, 0, 7, cols, rows) + image[::-1].tobytes()
        for image in images
    )  # calibration offset, delta, element for x then y; data type 7 = float32; sizes x, y
    tags = b"".join(struct.pack("<HHI", 0x4152, 0, k) for k in range(n))  # type, 0, time [s]
    path.write_bytes(header + dimension + struct.pack(f"<{2 * n}I", *offsets) + elements + tags)


def _dm_data(value: float | int | str | np.ndarray, size: str) -> bytes:
    """A DM data tag's content: "%%%%", its encoded type (big-endian), then little-endian values."""
    if isinstance(value, np.ndarray):
        info, payload = (20, {"<f4": 6, "|u1": 10}[value.dtype.str], value.size), value.tobytes()
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


def _dm_image(data: np.ndarray, scales: list[float], units: list[str], data_type: int) -> dict:
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
            "DataType": data_type,
            "Dimensions": list(data.shape[::-1]),  # x, y (, N)
            "PixelDepth": data.itemsize,
        },
        "ImageTags": {},
        "Name": "",
    }


def write_dm(
    path: Path,
    data: np.ndarray,
    sampling_nm: float | tuple[float, float],
    version: int = 3,
    time_step_s: float | None = None,
) -> None:
    """Gatan DigitalMicrograph DM3 or DM4 file of one image or a stack ``[N, rows, cols]``.

    Tag structure big-endian, values little-endian; DM4 has 8-byte counts and tag lengths.
    ImageList holds a uint8 thumbnail (listed under Thumbnails, as DM writes it) and the image,
    calibrated per dimension x, y (, N): Scale in nm/px (s per frame when given), Units, Origin.
    """
    data = np.asarray(data, dtype="<f4")
    scales, units = [*_pair(sampling_nm)], ["nm", "nm"]
    if data.ndim == 3:
        scales.append(time_step_s or 1.0)
        units.append("s" if time_step_s else "")
    thumbnail = np.zeros((4, 4), dtype=np.uint8)
    root = {
        "ImageList": [
            _dm_image(thumbnail, [1.0, 1.0], ["", ""], data_type=6),
            _dm_image(data, scales, units, data_type=2),
        ],
        "Thumbnails": [{"ImageIndex": 0}],
    }
    tags = _dm_group(root, version)
    size = "I" if version == 3 else "Q"
    header = struct.pack(f">i{size}i", version, len(tags), 1)  # 1: values are little-endian
    path.write_bytes(header + tags + bytes(8))  # 8 null bytes end the file
