"""Zone axes named from the geometry of a particle's lattice spots, beside the peak-pair ratio.

The pairs of symmetric spots (:class:`hrtem_analysis.fourier.PeakPair`) are indexed against an fcc
lattice of parameter ``a`` [Å]: a pair whose d-spacing is ``a / sqrt(N)`` belongs to the family
{111} (N = 3), {200} (N = 4) or {220} (N = 8). An fcc crystal on a low-index zone axis shows
(Williams & Carter, *Transmission Electron Microscopy*, the fcc zone-axis patterns):

- ``<110>``: two {111} pairs 70.53° apart (the {200} pair between them, 54.74° from each);
- ``<100>``: two {200} pairs 90° apart, and two {220} pairs 90° apart at 45° to them;
- ``<111>``: three {220} pairs 60° apart (no {111} or {200}).

On the zone axis the two pairs of a signature are symmetry-equivalent and about as bright; a
crystal tilted off it keeps the pair whose planes contain the tilt axis and loses the other, so
a signature counts only when its weaker pair is at least ``balance`` of the stronger one (the
same test the peak-pair ratio makes against the material's threshold). A signature that fails it
is a tilted crystal: "off axis".

A single crystal never shows more than two {111} directions (only <110> holds any), two {200}
or three {220}: more, or pairs of one family at angles no single zone has, come from several
crystal domains, as a multiply twinned particle (decahedron, icosahedron) shows them: "twinned".
Anything else, one set of fringes or none, is "off axis". Angles are compared within
``tolerance`` [deg]; spots of one direction seen twice (within the tolerance) count once. Pairs
weaker than ``relative`` of the brightest are left out: on abTEM simulations of Au particles
(30 Å, 5000 e-/Å^2) the spurious spots of noise, carbon and the weak reflections a tilted
crystal keeps were at most 0.07 of the brightest pair, a zone's weakest true pair (the {220} of
<110>, which no signature needs) at 0.12-0.15.

``relative`` 0.15 and ``balance`` 0.4 were chosen on the true masks of the scene check's 16
frames (31 single crystals on or clearly off axis; at 1000 e-/Å^2 on/off right 0.84 -> 0.97,
zone named right 0.89 -> 0.94) and held on 36 other single crystals simulated alone on carbon
(0.2 Å/px, 1000 e-/Å^2, seeds of their own: 0.94 -> 0.97, named 1.0); no twinned particle was
named a single-crystal zone in either.
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
RELATIVE = 0.15  # weakest pair counted, over the brightest
BALANCE = 0.4  # weaker pair of a zone's signature, over the stronger


# nearest projected column distance over the lattice parameter, seen along each zone (fcc)
COLUMN_SPACING = {"<110>": math.sqrt(3.0 / 8.0), "<100>": 0.5, "<111>": 1.0 / math.sqrt(6.0)}


def column_spacing(zone: str, lattice: float = AU_LATTICE) -> float:
    """The nearest-neighbour distance [Å] of an fcc crystal's atomic columns seen along ``zone``
    (<110>: a sqrt(3/8), <100>: a / 2, <111>: a / sqrt(6)); "twinned" as <110>, along which a
    decahedron's units lie; nan for "off axis" (no columns)."""
    key = "<110>" if zone == TWINNED else zone
    return COLUMN_SPACING[key] * lattice if key in COLUMN_SPACING else math.nan


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
) -> dict[str, list[tuple[float, float]]]:
    """The distinct spot directions of each fcc family among the ``pairs`` at least ``relative``
    as bright as the brightest: (angle [deg], intensity) of the brightest pair of each direction."""
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in FAMILIES.values()}
    brightest = max((pair.intensity for pair in pairs), default=0.0)
    for pair in sorted(pairs, key=lambda p: -p.intensity):
        name = family(pair.d_spacing, lattice)
        if name is None or pair.intensity < relative * brightest:
            continue
        angle = _angle(pair)
        if all(_between(angle, seen) > tolerance for seen, _ in found[name]):
            found[name].append((angle, pair.intensity))
    return found


def name_zone(
    pairs: Sequence[PeakPair],
    lattice: float = AU_LATTICE,
    tolerance: float = 5.0,
    relative: float = RELATIVE,
    balance: float = BALANCE,
) -> str:
    """ "<110>", "<100>", "<111>", "twinned" or "off axis" from the spot pairs of one particle
    (see the module doc); ``lattice`` [Å] is the fcc lattice parameter (Au 4.078)."""
    seen = directions(pairs, lattice, tolerance, relative)
    if any(len(seen[name]) > most for name, most in MOST_DIRECTIONS.items()):
        return TWINNED
    zones, tilted = set(), False
    for name, angle, zone in SIGNATURES:
        for (a, brightness_a), (b, brightness_b) in itertools.combinations(seen[name], 2):
            if abs(_between(a, b) - angle) <= tolerance:
                if min(brightness_a, brightness_b) >= balance * max(brightness_a, brightness_b):
                    zones.add(zone)
                else:
                    tilted = True  # near that zone, tipped off it
    if len(zones) > 1:
        return TWINNED  # two single-crystal zones at once: two domains
    if zones:
        return zones.pop()
    if tilted:
        return OFF_AXIS
    if any(len(seen[name]) > 1 for name in seen):
        return TWINNED  # two pairs of one family at an angle no zone has
    return OFF_AXIS


def on_zone(zone: str | None, ratio: float, threshold: float) -> bool:
    """Whether a particle is on a zone axis, for frame selection: named a single-crystal zone
    (:func:`name_zone`), or "twinned" with its peak-pair ratio finite and within ``threshold`` (a
    multiply twinned particle on its axis shows its domains' fringes about as bright)."""
    if zone in ZONES:
        return True
    return zone == TWINNED and math.isfinite(ratio) and ratio <= threshold
