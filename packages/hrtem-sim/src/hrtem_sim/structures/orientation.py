"""Rotations that put a crystal direction along the beam (+z), then turn and tilt it.

Order, as a microscopist sets a particle up: the zone axis onto +z, a rotation about z
(in-plane), then an off-axis tilt about an in-plane axis (``cos(tilt_axis), sin(tilt_axis), 0``).
Angles are in degrees.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

_Z = np.array([0.0, 0.0, 1.0])


def direction_to_z(direction: np.ndarray) -> Rotation:
    """The shortest rotation that maps ``direction`` [3] onto +z."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    axis = np.cross(d, _Z)
    sin, cos = np.linalg.norm(axis), float(d @ _Z)
    if sin < 1e-12:
        return Rotation.identity() if cos > 0 else Rotation.from_rotvec([np.pi, 0.0, 0.0])
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, cos))


def about_z(angle: float) -> Rotation:
    """Rotation by ``angle`` [deg] about +z."""
    return Rotation.from_euler("z", angle, degrees=True)


def tilt(angle: float, axis_angle: float) -> Rotation:
    """Tilt by ``angle`` [deg] about the in-plane axis at ``axis_angle`` [deg] from +x."""
    phi = np.radians(axis_angle)
    return Rotation.from_rotvec(np.radians(angle) * np.array([np.cos(phi), np.sin(phi), 0.0]))


def orient(
    direction: np.ndarray, inplane_rotation: float, tilt_angle: float, tilt_axis: float
) -> Rotation:
    """``direction`` onto +z, then ``inplane_rotation`` about z, then the tilt (all [deg])."""
    return tilt(tilt_angle, tilt_axis) * about_z(inplane_rotation) * direction_to_z(direction)
