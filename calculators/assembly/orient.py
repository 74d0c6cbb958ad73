"""Rigid re-orientation of each ligand about its donor, lone pair towards the metal.

molSimplify's legacy generator puts every M-L bond at 2.40 A (2.42 A for N) but often aligns an
N-donor ligand wrongly (an N-H or a substituent beside or even inside the metal), so each L is
turned about its donor: the donor stays, so M-L and the L-M-L angle are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calculators import structure
from calculators.assembly.checks import MIN_HEAVY_CONTACT
from calculators.assembly.complex import N_WATERS
from calculators.assembly.identify import BOND_SCALE, Labels, covalent_radius

ORIENT_TILTS = (0.0, 15.0, 30.0)  # degrees between lone pair and the M-donor direction
ORIENT_SPINS = tuple(np.arange(0.0, 360.0, 15.0))  # degrees about the M-donor axis
PLANAR_DONOR_HEIGHT = 0.15  # angstrom of a 3-coordinate donor above its neighbours' plane


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _perpendicular(v: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to v (crossed with whichever axis is far from parallel)."""
    return _unit(np.cross(v, [1.0, 0.0, 0.0] if abs(v[0]) < 0.9 else [0.0, 1.0, 0.0]))


def _rodrigues(k: np.ndarray, sin: float, cos: float) -> np.ndarray:
    """Rotation about the unit axis k by the angle with this sine and cosine (Rodrigues)."""
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1 - cos) * kx @ kx


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Proper rotation matrix taking direction a onto direction b."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        # antiparallel: half turn about any axis perpendicular to a
        k = _perpendicular(a)
        return 2.0 * np.outer(k, k) - np.eye(3)
    return _rodrigues(axis / sin, sin, cos)


def _axis_rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotation by `degrees` about `axis`."""
    t = np.radians(degrees)
    return _rodrigues(_unit(axis), np.sin(t), np.cos(t))


def _lone_pair_directions(xyz: np.ndarray, donor: int, neighbours: Sequence[int]) -> list:
    """Where the donor's lone pair can point; both faces when the donor is planar.

    One neighbour: straight away from it. Two: opposite their bisector. Three: the normal of
    the neighbours' plane on the donor's side (an apex; robust for strained rings where a sum
    of bond vectors is not), or both normals when the donor sits in that plane.
    """
    bonds = np.array([_unit(xyz[n] - xyz[donor]) for n in neighbours])
    if len(bonds) == 1:
        return [-bonds[0]]
    if len(bonds) == 2:
        away = -(bonds[0] + bonds[1])
        if np.linalg.norm(away) > 0.3:
            return [_unit(away)]
        perp = _perpendicular(bonds[0])
        return [perp, np.cross(bonds[0], perp)]
    centroid, normal = structure.fit_plane(xyz[list(neighbours)])
    height = float((xyz[donor] - centroid) @ normal)
    if abs(height) < PLANAR_DONOR_HEIGHT:
        return [normal, -normal]
    return [normal if height > 0 else -normal]


def _tilted_targets(target: np.ndarray) -> list[np.ndarray]:
    """The M-D direction and directions tilted from it by each of ORIENT_TILTS, 6 azimuths."""
    t = _unit(target)
    p1 = _perpendicular(t)
    p2 = np.cross(t, p1)
    out = [t]
    for tilt in ORIENT_TILTS[1:]:
        for psi in np.radians(np.arange(0.0, 360.0, 60.0)):
            side = np.cos(psi) * p1 + np.sin(psi) * p2
            out.append(np.cos(np.radians(tilt)) * t + np.sin(np.radians(tilt)) * side)
    return out


def _contact_limits(elements: Sequence[str], left: Sequence[int], right: Sequence[int]):
    """Closest non-bonded approach allowed between two atom sets (angstrom matrix).

    Beyond the bond-perception cutoff, so no bond is perceived; at least MIN_HEAVY_CONTACT
    between heavy atoms. An O-H...O hydrogen bond (~1.8 A) stays allowed.
    """
    radii = np.array([covalent_radius(el) for el in elements])
    heavy = np.array([el != "H" for el in elements])
    limit = BOND_SCALE * (radii[list(left)][:, None] + radii[list(right)][None])
    both_heavy = heavy[list(left)][:, None] & heavy[list(right)][None]
    return np.where(both_heavy, np.maximum(limit, MIN_HEAVY_CONTACT), limit)


def _placement_score(
    moved: np.ndarray, metal_xyz: np.ndarray, rest: np.ndarray, limits: np.ndarray
) -> float:
    """Smallest distance ratio to what would fail a check (> 1 passes; larger is roomier).

    Ratios: each ligand atom to the metal over the M-donor distance (moved[0] is the donor),
    and each contact with another fragment over its limit from _contact_limits.
    """
    to_metal = np.linalg.norm(moved[1:] - metal_xyz, axis=1) / np.linalg.norm(moved[0] - metal_xyz)
    dist = np.linalg.norm(moved[:, None] - rest[None], axis=-1)
    return float(min(to_metal.min(initial=np.inf), (dist / limits).min()))


def orient_ligands(elements: tuple[str, ...], xyz: np.ndarray, labels: Labels) -> np.ndarray:
    """Rotate each L rigidly about its donor so it points its lone pair at the metal.

    Among rotations whose lone pair is within 30 deg of the metal direction, spun about the
    M-D axis, the one farthest from everything else is taken.
    """
    xyz = np.array(xyz, dtype=float)
    for frag, donor in zip(labels.fragments[N_WATERS:], labels.donors, strict=True):
        atoms = [donor, *(i for i in frag if i != donor)]  # donor first for the score
        rest = [i for i in range(len(elements)) if i not in frag and i != labels.metal]
        limits = _contact_limits(elements, atoms, rest)
        target = xyz[labels.metal] - xyz[donor]
        local = xyz[atoms] - xyz[donor]
        best, best_score = xyz[atoms], -np.inf
        for direction in _lone_pair_directions(xyz, donor, labels.neighbours[donor]):
            for tilted in _tilted_targets(target):
                aligned = local @ _rotation(direction, tilted).T
                for spin in ORIENT_SPINS:
                    moved = aligned @ _axis_rotation(target, spin).T + xyz[donor]
                    score = _placement_score(moved, xyz[labels.metal], xyz[rest], limits)
                    if score > best_score:
                        best, best_score = moved, score
        xyz[atoms] = best
    return xyz
