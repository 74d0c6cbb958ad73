"""Geometry checks: each names the first property of a [M(H2O)5L2] build that is wrong.

A silently wrong structure (stripped N-H, a proton moved to an alkoxide, a clash, a chelating
or misoriented ligand) becomes a CalculationFailed with a specific reason instead of a bad row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from rdkit import Chem

from calculators import structure
from calculators.assembly.complex import N_WATERS, Complex
from calculators.base import CalculationFailed
from calculators.structure import MAX_OH_WATER

# angstrom, degrees
MAX_PLANE_DEVIATION = 0.30  # metal + 5 water O from their least-squares plane
MIN_LML_ANGLE = 160.0
MIN_PAIR_DISTANCE = 0.70  # any two atoms
MIN_HEAVY_CONTACT = 1.60  # heavy atoms of different fragments (metal excluded)
METAL_DONOR_RANGE = (1.8, 3.2)  # every metal-O(water) and metal-donor bond
MIN_SECOND_DONOR = 2.75  # a ligand N/O other than the donor this close means chelation


def _formula(counts: Counter[str]) -> str:
    return "".join(f"{el}{counts[el]}" for el in sorted(counts))


def _expected_counts(mol: Chem.Mol, metal: str) -> Counter[str]:
    """Element counts of [M(H2O)5L2] with L given without explicit H."""
    counts: Counter[str] = Counter({metal: 1, "O": N_WATERS, "H": 2 * N_WATERS})
    for atom in mol.GetAtoms():
        counts[atom.GetSymbol()] += 2
        counts["H"] += 2 * atom.GetTotalNumHs()
    return counts


def check_composition(elements: Sequence[str], mol: Chem.Mol, metal: str, smiles: str) -> None:
    """Element counts must be exactly M + 5 H2O + 2 L (catches a stripped donor N-H)."""
    expected = _expected_counts(mol, metal)
    found = Counter(elements)
    if found != expected:
        hint = " (N-H donor stripped?)" if found["H"] < expected["H"] else ""
        raise CalculationFailed(
            f"composition {_formula(found)} is not {_formula(expected)} for L={smiles!r}" + hint
        )


def check_waters(elements: Sequence[str], xyz: np.ndarray, waters: Sequence[int]) -> None:
    """Each water O keeps exactly two H within MAX_OH_WATER (catches proton transfer)."""
    hydrogens = np.array([i for i, el in enumerate(elements) if el == "H"])
    for o in waters:
        close = int(np.sum(np.linalg.norm(xyz[hydrogens] - xyz[o], axis=1) < MAX_OH_WATER))
        if close != 2:
            raise CalculationFailed(
                f"water O{o} has {close} H within {MAX_OH_WATER} A (proton transfer?)"
            )


def _distances(xyz: np.ndarray) -> np.ndarray:
    """All pair distances, the diagonal set to infinity."""
    dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    np.fill_diagonal(dist, np.inf)
    return dist


def check_pairs(elements: Sequence[str], xyz: np.ndarray) -> None:
    """No two atoms closer than MIN_PAIR_DISTANCE (checked before bonds are perceived)."""
    dist = _distances(xyz)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    if dist[i, j] < MIN_PAIR_DISTANCE:
        raise CalculationFailed(
            f"atoms {elements[i]}{i} and {elements[j]}{j} clash at {dist[i, j]:.2f} A"
        )


def check_metal_contacts(elements: Sequence[str], xyz: np.ndarray, metal: int) -> None:
    """Nothing closer to the metal than a bond allows (a misaligned ligand pokes into it)."""
    dist = np.linalg.norm(xyz - xyz[metal], axis=1)
    dist[metal] = np.inf
    atom = int(np.argmin(dist))
    if dist[atom] < METAL_DONOR_RANGE[0]:
        raise CalculationFailed(
            f"{elements[atom]}{atom} is only {dist[atom]:.2f} A from the metal (misplaced ligand)"
        )


def _check_contacts(cx: Complex) -> None:
    """No atom clash; no heavy-atom contact between different fragments."""
    check_pairs(cx.elements, cx.coordinates)
    dist = _distances(cx.coordinates)
    owner = {a: k for k, frag in enumerate(cx.fragments) for a in frag}
    heavy = [a for a in owner if cx.elements[a] != "H"]
    for a in heavy:
        for b in heavy:
            if owner[a] < owner[b] and dist[a, b] < MIN_HEAVY_CONTACT:
                raise CalculationFailed(
                    f"{cx.elements[a]}{a} and {cx.elements[b]}{b} of different ligands are "
                    f"{dist[a, b]:.2f} A apart"
                )


def _check_ligand_orientation(cx: Complex) -> None:
    """Each L touches the metal through its donor only: no second N/O donor, no closer atom."""
    xyz = cx.coordinates
    for frag, donor in zip(cx.fragments[N_WATERS:], cx.donors, strict=True):
        d_donor = structure.distance(xyz[cx.metal], xyz[donor])
        others = {i: structure.distance(xyz[cx.metal], xyz[i]) for i in frag if i != donor}
        for atom, d in others.items():
            if cx.elements[atom] in ("N", "O") and d < MIN_SECOND_DONOR:
                raise CalculationFailed(
                    f"ligand atom {cx.elements[atom]}{atom} also binds the metal ({d:.2f} A): "
                    "L is not monodentate"
                )
        atom = min(others, key=others.__getitem__)
        if others[atom] < d_donor:
            raise CalculationFailed(
                f"ligand atom {cx.elements[atom]}{atom} ({others[atom]:.2f} A) is closer to the "
                f"metal than the donor {cx.elements[donor]}{donor} ({d_donor:.2f} A): "
                "L is misoriented"
            )


def check_geometry(cx: Complex) -> None:
    """Raise CalculationFailed naming the first pentagonal-bipyramid property that fails."""
    xyz = cx.coordinates
    _check_contacts(cx)
    lo, hi = METAL_DONOR_RANGE
    for atom in (*cx.waters, *cx.donors):
        d = structure.distance(xyz[cx.metal], xyz[atom])
        if not lo <= d <= hi:
            raise CalculationFailed(
                f"{cx.metal_symbol}-{cx.elements[atom]}{atom} is {d:.2f} A, outside {lo}-{hi} A"
            )
    _check_ligand_orientation(cx)
    plane = xyz[[cx.metal, *cx.waters]]
    worst = float(np.abs(structure.plane_deviations(plane)).max())
    if worst > MAX_PLANE_DEVIATION:
        raise CalculationFailed(
            f"water O not coplanar with the metal: {worst:.2f} A > {MAX_PLANE_DEVIATION} A"
        )
    lml = structure.angle(xyz[cx.donors[0]], xyz[cx.metal], xyz[cx.donors[1]])
    if lml < MIN_LML_ANGLE:
        raise CalculationFailed(f"L-M-L angle {lml:.1f} deg < {MIN_LML_ANGLE} deg")
    check_waters(cx.elements, xyz, cx.waters)
