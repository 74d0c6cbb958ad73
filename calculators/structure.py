"""Pure geometry features of a [M(H2O)5L2] pentagonal bipyramid (no chemistry programs).

The six structural descriptors follow the GAUSS paper: donor atomic number, the planarity of the
five equatorial water O (MPP and SDP, Lu 2021), the L-M-L angle and the two M-donor distances.
Everything here takes plain coordinates in angstrom so it can be tested on hand-built shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.data import atomic_numbers

MAX_OH_WATER = 1.20  # angstrom: a water O keeps its two H this close (else: proton transfer)

# Fixed order of the feature vector; downstream tables and models rely on it.
FEATURE_NAMES: tuple[str, ...] = (
    "donor_z",  # atomic number of the coordinating atom (both ligands are identical)
    "mpp",  # molecular planarity parameter of the five water O (angstrom)
    "sdp",  # span of deviation from plane of the five water O (angstrom)
    "angle_lml",  # donor-metal-donor angle (degrees)
    "dist_md_short",  # shorter metal-donor distance (angstrom)
    "dist_md_long",  # longer metal-donor distance (angstrom)
)


def _points(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """(n, 3) float array, refusing shapes a plane fit cannot use."""
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < 3:
        raise ValueError(f"need at least 3 points of shape (n, 3), got {arr.shape}")
    return arr


def fit_plane(points: Sequence[Sequence[float]] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares plane (centroid, unit normal): the normal is the smallest singular vector.

    Minimising the sum of squared orthogonal distances is what Lu's MPP is defined against.
    """
    arr = _points(points)
    centroid = arr.mean(axis=0)
    _, _, vt = np.linalg.svd(arr - centroid)
    normal = vt[-1]
    return centroid, normal / np.linalg.norm(normal)


def plane_deviations(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Signed distance of each point from its own least-squares plane."""
    arr = _points(points)
    centroid, normal = fit_plane(arr)
    return (arr - centroid) @ normal


def mpp(points: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Molecular planarity parameter: RMS distance of the atoms from the fitted plane.

    Lu, J. Mol. Model. 27, 263 (2021). 0 for a perfectly planar set.
    """
    dev = plane_deviations(points)
    return float(np.sqrt(np.mean(dev**2)))


def sdp(points: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Span of deviation from plane: largest minus smallest signed deviation (Lu 2021).

    The GAUSS paper words SDP as a "sum of distances"; we use Lu's definition (the span),
    which is what the name stands for and what Multiwfn computes.
    """
    dev = plane_deviations(points)
    return float(dev.max() - dev.min())


def angle(a: Sequence[float], center: Sequence[float], b: Sequence[float]) -> float:
    """Angle a-center-b in degrees, clipped so rounding cannot produce NaN at 180."""
    u = np.asarray(a, dtype=float) - np.asarray(center, dtype=float)
    v = np.asarray(b, dtype=float) - np.asarray(center, dtype=float)
    cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance in the coordinates' unit."""
    return float(np.linalg.norm(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))


def atomic_number(element: str) -> int:
    """Atomic number of an element symbol ("Dy" -> 66)."""
    try:
        return atomic_numbers[element]
    except KeyError:
        raise ValueError(f"no atomic number known for element {element!r}") from None


def features(
    elements: Sequence[str],
    coordinates: Sequence[Sequence[float]] | np.ndarray,
    metal: int,
    waters: Sequence[int],
    donors: Sequence[int],
) -> dict[str, float]:
    """The six paper descriptors, keyed and ordered as FEATURE_NAMES.

    The two distances are sorted (short, long) so that swapping the identical ligands does not
    change the vector.
    """
    xyz = np.asarray(coordinates, dtype=float)
    if len(waters) != 5 or len(donors) != 2:
        raise ValueError(f"need 5 water O and 2 donors, got {len(waters)} and {len(donors)}")
    donor_elements = {elements[i] for i in donors}
    if len(donor_elements) != 1:
        raise ValueError(f"the two donors differ: {sorted(donor_elements)}")
    plane = xyz[list(waters)]
    d1, d2 = sorted(distance(xyz[metal], xyz[i]) for i in donors)
    values = (
        float(atomic_number(donor_elements.pop())),
        mpp(plane),
        sdp(plane),
        angle(xyz[donors[0]], xyz[metal], xyz[donors[1]]),
        d1,
        d2,
    )
    return dict(zip(FEATURE_NAMES, values, strict=True))
