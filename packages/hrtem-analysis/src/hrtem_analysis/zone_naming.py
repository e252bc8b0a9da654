"""Zone axes named from the geometry of a particle's lattice spots, beside the peak-pair ratio.

The pairs of symmetric spots (:class:`hrtem_analysis.fourier.PeakPair`) are indexed against an fcc
lattice of parameter ``a`` [Å]: a pair whose d-spacing is ``a / sqrt(N)`` belongs to the family
{111} (N = 3), {200} (N = 4) or {220} (N = 8). An fcc crystal on a low-index zone axis shows
(Williams & Carter, *Transmission Electron Microscopy*, the fcc zone-axis patterns):

- ``<110>``: two {111} pairs 70.53° apart (the {200} pair between them, 54.74° from each);
- ``<100>``: two {200} pairs 90° apart, and two {220} pairs 90° apart at 45° to them;
- ``<111>``: three {220} pairs 60° apart (no {111} or {200}).

A single crystal never shows more than two {111} directions (only <110> holds any), two {200}
or three {220}: more, or pairs of one family at angles no single zone has, come from several
crystal domains, as a multiply twinned particle (decahedron, icosahedron) shows them: "twinned".
Anything else, one set of fringes or none, is "off axis". Angles are compared within
``tolerance`` [deg]; spots of one direction seen twice (within the tolerance) count once. Pairs
weaker than ``relative`` of the brightest are left out: on abTEM simulations of Au particles
(30 Å, 5000 e-/Å^2) the spurious spots of noise, carbon and the weak reflections a tilted
crystal keeps were at most 0.07 of the brightest pair, a zone's weakest true pair (the {220} of
<110>) at 0.12-0.15.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from hrtem_analysis.fourier import PeakPair

FAMILIES = {3: "111", 4: "200", 8: "220"}  # h^2 + k^2 + l^2 -> family
ZONES = ("<110>", "<100>", "<111>")
TWINNED = "twinned"
OFF_AXIS = "off axis"
AU_LATTICE = 4.078  # [Å]
# (family, angle between two of its pairs [deg], the zone it marks), most specific first
SIGNATURES = (
    ("111", 70.53, "<110>"),
    ("200", 90.0, "<100>"),
    ("220", 90.0, "<100>"),
    ("220", 60.0, "<111>"),
)
MOST_DIRECTIONS = {"111": 2, "200": 2, "220": 3}  # in projection, for a single crystal
RELATIVE = 0.1  # weakest pair counted, over the brightest


def family(d_spacing: float, lattice: float = AU_LATTICE, tolerance: float = 0.03) -> str | None:
    """The fcc family ("111", "200", "220") of a d-spacing [Å], within a relative ``tolerance``
    of ``lattice / sqrt(N)``; None when it is none of them."""
    for n, name in FAMILIES.items():
        if abs(d_spacing - lattice / math.sqrt(n)) <= tolerance * lattice / math.sqrt(n):
            return name
    return None


def _angle(pair: PeakPair) -> float:
    """Direction of the pair's spots [deg], in [0, 180)."""
    return math.degrees(math.atan2(pair.k1[1], pair.k1[0])) % 180.0


def _between(a: float, b: float) -> float:
    """Angle between two directions [deg], in [0, 90]."""
    difference = abs(a - b) % 180.0
    return min(difference, 180.0 - difference)


def directions(
    pairs: Sequence[PeakPair],
    lattice: float = AU_LATTICE,
    tolerance: float = 5.0,
    relative: float = RELATIVE,
) -> dict[str, list[float]]:
    """The distinct spot directions [deg] of each fcc family among the ``pairs`` at least
    ``relative`` as bright as the brightest."""
    found: dict[str, list[float]] = {name: [] for name in FAMILIES.values()}
    brightest = max((pair.intensity for pair in pairs), default=0.0)
    for pair in pairs:
        name = family(pair.d_spacing, lattice)
        if name is None or pair.intensity < relative * brightest:
            continue
        angle = _angle(pair)
        if all(_between(angle, seen) > tolerance for seen in found[name]):
            found[name].append(angle)
    return found


def name_zone(
    pairs: Sequence[PeakPair],
    lattice: float = AU_LATTICE,
    tolerance: float = 5.0,
    relative: float = RELATIVE,
) -> str:
    """ "<110>", "<100>", "<111>", "twinned" or "off axis" from the spot pairs of one particle
    (see the module doc); ``lattice`` [Å] is the fcc lattice parameter (Au 4.078)."""
    seen = directions(pairs, lattice, tolerance, relative)
    if any(len(seen[name]) > most for name, most in MOST_DIRECTIONS.items()):
        return TWINNED
    zones = set()
    for name, angle, zone in SIGNATURES:
        if any(
            abs(_between(a, b) - angle) <= tolerance
            for a, b in itertools.combinations(seen[name], 2)
        ):
            zones.add(zone)
    if len(zones) > 1:
        return TWINNED  # two single-crystal zones at once: two domains
    if zones:
        return zones.pop()
    if any(len(seen[name]) > 1 for name in seen):
        return TWINNED  # two pairs of one family at an angle no zone has
    return OFF_AXIS
