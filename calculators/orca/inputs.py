"""ORCA inputs: the [M(H2O)5L2] geometry, Y(III)-analogue DFT optimisation and Dy(III)
CASSCF + SOC-QDPT input writers (paper, Methods; keywords cited in docs/orca.md). Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase.data import chemical_symbols

from calculators.base import (
    CalculationFailed,
)
from calculators.structure import MAX_OH_WATER
from calculators.xyz import xyz_lines

PROGRAM = "orca"
LIGHT_BASIS = "DKH-def2-TZVPP"  # paper: all elements except the metal
DY_BASIS = "SARC2-DKH-QZVP"  # paper: Dy
# Y needs its own basis: SARC2 covers the lanthanides only, and def2-TZVPP treats Y with an ECP
# (the DKH-def2 recontractions are the all-electron H-Kr part), while DKH2 needs an all-electron,
# DKH-contracted basis. SARC-DKH-TZVP (Rolfes, Neese, Pantazis, J. Comput. Chem. 2020: SARC for
# Rb-Xe) is that basis at the light atoms' triple-zeta level. Assumption: neither the keyword
# nor the DKH-def2 coverage was checked against the ORCA manual or a running ORCA.
Y_BASIS = "SARC-DKH-TZVP"
EQUATORIAL_ANGLE = 72.0  # degrees between neighbouring equatorial O atoms (pentagon)


class InputError(CalculationFailed):
    """Bad job specification: never retried."""

    def __init__(self, reason: str):
        super().__init__(reason, "input")


# --- geometry ---------------------------------------------------------------------------------

_SYMBOLS = frozenset(chemical_symbols[1:])
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Geometry:
    """Element symbols plus Cartesian coordinates in Angstrom (never a SMILES)."""

    elements: tuple[str, ...]
    coords: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        if not self.elements or len(self.elements) != len(self.coords):
            raise InputError(f"{len(self.elements)} elements for {len(self.coords)} positions")
        unknown = sorted({e for e in self.elements if e not in _SYMBOLS})
        if unknown:
            raise InputError(f"not element symbols: {unknown}")
        if any(len(xyz) != 3 for xyz in self.coords):
            raise InputError("every position needs three coordinates")

    @classmethod
    def of(cls, elements: Sequence[str], coords: Sequence[Sequence[float]]) -> Geometry:
        """Build from any sequences (lists, arrays), normalising to float tuples."""
        xyz = tuple(tuple(float(v) for v in position) for position in coords)
        return cls(tuple(str(e) for e in elements), xyz)  # type: ignore[arg-type]

    def positions(self) -> np.ndarray:
        return np.asarray(self.coords, dtype=float)


def swap_metal(geometry: Geometry, old: str, new: str) -> Geometry:
    """Replace one element by another (Dy -> Y for the DFT analogue, Y -> Dy afterwards)."""
    return Geometry(tuple(new if e == old else e for e in geometry.elements), geometry.coords)


def metal_index(geometry: Geometry, symbol: str) -> int:
    """Index of the single metal atom; the complexes here are mononuclear."""
    hits = [i for i, e in enumerate(geometry.elements) if e == symbol]
    if len(hits) != 1:
        raise InputError(f"expected exactly one {symbol} atom, found {len(hits)}")
    return hits[0]


def water_oxygens(
    geometry: Geometry, metal: int, oh_max: float = MAX_OH_WATER, mo_max: float = 3.0
) -> tuple[int, ...]:
    """O atoms bound to the metal that carry two H atoms: the coordinated waters."""
    pos = geometry.positions()
    hydrogens = [i for i, e in enumerate(geometry.elements) if e == "H"]
    found = []
    for i, e in enumerate(geometry.elements):
        if e != "O" or np.linalg.norm(pos[i] - pos[metal]) > mo_max:
            continue
        n_h = sum(np.linalg.norm(pos[h] - pos[i]) <= oh_max for h in hydrogens)
        if n_h == 2:
            found.append(i)
    return tuple(found)


def ring_order(geometry: Geometry, metal: int, oxygens: Sequence[int]) -> tuple[int, ...]:
    """Sort the equatorial O atoms by azimuth around the metal, so neighbours are adjacent."""
    pos = geometry.positions()
    vecs = pos[list(oxygens)] - pos[metal]
    normal = np.linalg.svd(vecs)[2][-1]
    e1 = vecs[0] - normal * (vecs[0] @ normal)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    azimuth = np.mod(np.arctan2(vecs @ e2, vecs @ e1) + 1e-9, 2 * np.pi)  # first O at 0
    return tuple(int(oxygens[k]) for k in np.argsort(azimuth, kind="stable"))


def equatorial_constraints(
    geometry: Geometry, metal: int, oxygens: Sequence[int], angle: float = EQUATORIAL_ANGLE
) -> list[str]:
    """ORCA angle constraints O_i-M-O_i+1 for ring neighbours, 0-based as ORCA counts atoms.

    Five 72 degree angles around the metal add up to 360 degrees, which only a planar pentagon
    achieves: the same constraints hold the five O atoms in one plane with the metal.
    """
    ring = ring_order(geometry, metal, oxygens)
    pairs = zip(ring, ring[1:] + ring[:1], strict=True)
    return [f"{{ A {a} {metal} {b} {angle:.1f} C }}" for a, b in pairs]


# --- input writers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """Per-process memory (MB, ORCA %maxcore) and MPI process count; not part of the result."""

    nprocs: int = 1
    maxcore_mb: int = 4000

    def __post_init__(self) -> None:
        if self.nprocs < 1 or self.maxcore_mb < 1:
            raise InputError(f"bad resources: {self}")


@dataclass(frozen=True)
class OptJob:
    """DFT optimisation of the Y(III) analogue; a Dy geometry is converted to Y on writing."""

    geometry: Geometry
    charge: int
    multiplicity: int = 1
    equatorial_o: tuple[int, ...] | None = None  # 0-based; None: the five coordinated waters
    resources: Resources = Resources()


@dataclass(frozen=True)
class CasscfJob:
    """CASSCF(9,7) + SOC on the Dy(III) complex at a (Y-optimised, Dy-restored) geometry."""

    geometry: Geometry
    charge: int
    resources: Resources = Resources()


def _resource_lines(res: Resources) -> list[str]:
    return [f"%maxcore {res.maxcore_mb}", f"%pal nprocs {res.nprocs} end"]


def _rel_lines() -> list[str]:
    """Scalar DKH2, picture change to second order, as in a real ORCA Dy input (docs/orca.md)."""
    return ["%rel", "  method DKH", "  picturechange 2", "end"]


def _basis_lines(metal: str, basis: str) -> list[str]:
    return ["%basis", f'  newgto {metal} "{basis}" end', "end"]


def _coordinate_lines(geometry: Geometry, charge: int, multiplicity: int) -> list[str]:
    return [f"* xyz {charge} {multiplicity}", *xyz_lines(geometry.elements, geometry.coords), "*"]


def _equatorial_oxygens(job: OptJob, geometry: Geometry, metal: int) -> tuple[int, ...]:
    oxygens = job.equatorial_o or water_oxygens(geometry, metal)
    if len(oxygens) != 5 or any(geometry.elements[i] != "O" for i in oxygens):
        raise InputError(f"need five equatorial water O atoms, got indices {oxygens}")
    return tuple(oxygens)


def opt_input(job: OptJob, constrained: bool) -> str:
    """BP86-D3(BJ)/DKH2 optimisation input for the Y analogue; step 1 locks the O5 pentagon.

    TightSCF converges the SCF energy to 1e-8 Eh, the paper's criterion. AutoAux supplies the
    RI-J fitting basis for the all-electron DKH basis sets (as in the real Dy_Cp2 input).
    """
    geometry = swap_metal(job.geometry, "Dy", "Y")
    metal = metal_index(geometry, "Y")
    lines = [
        f"! BP86 D3BJ {LIGHT_BASIS} AutoAux TightSCF Opt",
        *_resource_lines(job.resources),
        *_rel_lines(),
        *_basis_lines("Y", Y_BASIS),
    ]
    if constrained:
        oxygens = _equatorial_oxygens(job, geometry, metal)
        rows = equatorial_constraints(geometry, metal, oxygens)
        lines += ["%geom", "  Constraints", *(f"    {r}" for r in rows), "  end", "end"]
    lines += _coordinate_lines(geometry, job.charge, job.multiplicity)
    return "\n".join(lines) + "\n"


def mult_blocks(sextets_only: bool) -> tuple[tuple[int, int], ...]:
    """(multiplicity, roots) of CAS(9,7) for 4f9, descending as ORCA wants (docs/orca.md).

    Full set: every CSF of the active space (21 sextets, 224 quartets, 490 doublets).
    """
    return ((6, 21),) if sextets_only else ((6, 21), (4, 224), (2, 490))


def so_state_count(blocks: Sequence[tuple[int, int]]) -> int:
    """Spin-orbit states QDPT produces: each root contributes its 2S+1 Ms components."""
    return sum(mult * roots for mult, roots in blocks)


def casscf_soc_input(
    job: CasscfJob, sextets_only: bool = False, maxiter: int = 200, rijcosx: bool = False
) -> str:
    """SA-CASSCF(9,7) + SOC-QDPT input for the Dy(III) complex (DoSOC inside %casscf)."""
    geometry = job.geometry
    metal_index(geometry, "Dy")
    blocks = mult_blocks(sextets_only)
    keywords = f"! {LIGHT_BASIS} TightSCF" + (" RIJCOSX AutoAux" if rijcosx else "")
    lines = [
        keywords,
        *_resource_lines(job.resources),
        *_rel_lines(),
        *_basis_lines("Dy", DY_BASIS),
        "%casscf",
        "  nel 9",
        "  norb 7",
        "  mult " + ",".join(str(m) for m, _ in blocks),
        "  nroots " + ",".join(str(n) for _, n in blocks),
        f"  MaxIter {maxiter}",
        "  rel",
        "    DoSOC true",
        "  end",
        "end",
        *_coordinate_lines(geometry, job.charge, blocks[0][0]),
    ]
    return "\n".join(lines) + "\n"
