"""ORCA templates and parsers: Y(III)-analogue DFT optimisation, Dy(III) CASSCF + SOC-QDPT.

The Kramers-doublet (KD) energies of [Dy(H2O)5L2]+ are the campaign's expensive label (paper,
Methods, "Electronics structure simulations"). Keywords and output formats follow the cited facts
in shared/ORCA_OPENMOLCAS.md; the QDPT, version and termination patterns were checked against a
real ORCA 6.1.1 output (tests/fixtures/orca/co_plus_soc_min.out), the optimisation banners against
a real ORCA 5.0.4 optimisation output (see tests/fixtures/orca/README.md).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase.data import chemical_symbols

from calculators.base import (
    CalcResult,
    CalculationFailed,
    Launcher,
    SubprocessLauncher,
    run_program,
)

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
KRAMERS_TOL_CM = 0.05  # the table prints 2 decimals; true Kramers pairs are exactly degenerate
TERMINATED = "****ORCA TERMINATED NORMALLY****"
UNITS = {
    "gaps_cm": "cm^-1",
    "kd_energies_cm": "cm^-1",
    "lowest_so_energy_eh": "Eh",
    "so_states": "count",
}

BlockChoice = Literal["auto", "CASSCF", "NEVPT2"]


class InputError(CalculationFailed):
    """Bad job specification: never retried."""

    def __init__(self, reason: str):
        super().__init__(reason, "input")


# --- geometry ---------------------------------------------------------------------------------

_SYMBOLS = frozenset(chemical_symbols[1:])
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


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

    def xyz_lines(self) -> list[str]:
        rows = zip(self.elements, self.coords, strict=True)
        return [f"{e:<2s} {x:15.8f} {y:15.8f} {z:15.8f}" for e, (x, y, z) in rows]


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
    geometry: Geometry, metal: int, oh_max: float = 1.25, mo_max: float = 3.0
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
    return [f"* xyz {charge} {multiplicity}", *geometry.xyz_lines(), "*"]


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


# --- output checks shared by every ORCA run ---------------------------------------------------

_VERSION = re.compile(r"Program Version\s+(\d+(?:\.\d+)+)")
_OOM = re.compile(r"ERROR - OUT OF MEMORY.*?MINIMUM REQUIRED:\s*([\d.]+)\s*MB", re.S)
_CAS_NOT_CONVERGED = re.compile(
    r"CASSCF NOT CONVERGED|wavefunction IS NOT FULLY CONVERGED|Wavefunction not fully converged"
)
# Anchored so that "CASSCF NOT CONVERGED" (or CAS-SCF) is not read as an SCF failure.
_SCF_NOT_CONVERGED = re.compile(r"(?<!CAS)(?<!CAS-)SCF NOT CONVERGED")
_ERROR_TERMINATION = re.compile(r"ORCA finished by error termination in (\S+)")


def orca_version(text: str) -> str | None:
    """Version from the header line 'Program Version 6.1.1  -  RELEASE   -'."""
    match = _VERSION.search(text)
    return match.group(1) if match else None


def program_versions(workdir: Path) -> dict[str, str]:
    """ORCA version read from the first output header in workdir (empty if none ran)."""
    for path in sorted(Path(workdir).glob("*.out")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            version = orca_version(handle.read(20000))
        if version:
            return {PROGRAM: version}
    return {}


def check_errors(text: str) -> None:
    """Raise on ORCA's own failure signatures (notes 2.8), most specific first."""
    if match := _OOM.search(text):
        raise InputError(f"ORCA out of memory: needs {match.group(1)} MB per process (%maxcore)")
    if _CAS_NOT_CONVERGED.search(text):
        raise CalculationFailed("CASSCF not converged (wavefunction not fully converged)")
    if _SCF_NOT_CONVERGED.search(text):
        raise CalculationFailed("SCF not converged")
    if match := _ERROR_TERMINATION.search(text):
        raise CalculationFailed(f"ORCA error termination in {match.group(1)}")


def check_complete(text: str) -> None:
    """A run without the normal-termination line was killed or cut off: retry for free."""
    if TERMINATED not in text:
        raise CalculationFailed(
            "output truncated: no 'ORCA TERMINATED NORMALLY' line", "infrastructure"
        )


def read_output(workdir: Path, name: str) -> str:
    path = Path(workdir) / name
    if not path.is_file():
        raise CalculationFailed(f"no ORCA output {name} in {workdir}", "infrastructure")
    return path.read_text(encoding="utf-8", errors="replace")


# --- geometry optimisation output -------------------------------------------------------------

_COORD_HEADER = "CARTESIAN COORDINATES (ANGSTROEM)"
_ATOM_ROW = re.compile(r"^\s*([A-Z][a-z]?)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s*$")
# Banner as printed by ORCA 5.0.4 (pyorca ethylene_geometry.out); assumed unchanged in 6.x.
_HURRAY = re.compile(r"\*+HURRAY\*+\s*\n\s*\*+\s+THE OPTIMIZATION HAS CONVERGED\s+\*+")
_OPT_MAXITER = re.compile(r"The optimization did not converge\s+but reached the maximum")
_FINAL_ENERGY = re.compile(r"^FINAL SINGLE POINT ENERGY\s+(-?\d+\.\d+)", re.M)


def final_geometry(text: str) -> Geometry:
    """The last 'CARTESIAN COORDINATES (ANGSTROEM)' block: the geometry ORCA ended on."""
    start = text.rfind(_COORD_HEADER)
    if start < 0:
        raise CalculationFailed("no CARTESIAN COORDINATES (ANGSTROEM) block in the output")
    elements, coords = [], []
    for line in text[start:].split("\n")[2:]:
        match = _ATOM_ROW.match(line)
        if not match:
            break
        elements.append(match.group(1))
        coords.append(tuple(float(v) for v in match.groups()[1:]))
    if not elements:
        raise CalculationFailed("empty CARTESIAN COORDINATES (ANGSTROEM) block", "infrastructure")
    return Geometry.of(elements, coords)


def final_energy(text: str) -> float:
    energies = _FINAL_ENERGY.findall(text)
    if not energies:
        raise CalculationFailed("no FINAL SINGLE POINT ENERGY in the output")
    return float(energies[-1])


def parse_opt_output(text: str) -> dict[str, Any]:
    """Final geometry and energy of a converged optimisation, or the reason it is unusable."""
    check_errors(text)
    if _OPT_MAXITER.search(text):
        raise CalculationFailed("geometry optimisation hit the maximum number of cycles")
    check_complete(text)
    if not _HURRAY.search(text):
        raise CalculationFailed("no 'THE OPTIMIZATION HAS CONVERGED' banner")
    geometry = final_geometry(text)
    return {
        "elements": list(geometry.elements),
        "coords": [list(xyz) for xyz in geometry.coords],
        "energy_eh": final_energy(text),
        "converged": True,
    }


# --- CASSCF / QDPT output ---------------------------------------------------------------------

_QDPT_HEADER = re.compile(r"^QDPT WITH (CASSCF|NEVPT2) DIAGONAL ENERGIES\s*$", re.M)
_LOWEST = re.compile(r"Lowest eigenvalue of the SOC matrix:\s*(-?\d+\.\d+)\s*Eh")
_EIGEN_HEADER = re.compile(r"^Eigenvalues:\s+cm-1.*$", re.M)
_EIGEN_ROW = re.compile(r"^\s*(\d+):\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(\d\.\d+e[+-]\d+)\s*$")
_ECHO = r"^\|\s*\d+>\s*{key}\s+([0-9][0-9,\s]*?)\s*$"


@dataclass(frozen=True)
class QdptBlock:
    """One QDPT eigenvalue table: SO state energies relative to the lowest (cm^-1)."""

    label: str  # "CASSCF" or "NEVPT2" diagonal energies
    energies_cm: tuple[float, ...]
    lowest_eh: float | None  # absolute SO ground-state energy


def _table_energies(label: str, lines: list[str]) -> tuple[float, ...]:
    """Rows 0..n-1 of the table; it must end on a blank line, otherwise it was cut short."""
    energies: list[float] = []
    for line in lines:
        match = _EIGEN_ROW.match(line)
        if not match:
            if line.strip() or not energies:
                break
            return tuple(energies)
        if int(match.group(1)) != len(energies):
            raise CalculationFailed(f"QDPT {label} table skips state {len(energies)}")
        energies.append(float(match.group(2)))
    raise CalculationFailed(
        f"QDPT {label} eigenvalue table cut short after {len(energies)} states", "infrastructure"
    )


def _parse_block(label: str, segment: str) -> QdptBlock:
    header = _EIGEN_HEADER.search(segment)
    if header is None:
        raise CalculationFailed(f"QDPT {label} block has no eigenvalue table", "infrastructure")
    energies = _table_energies(label, segment[header.end() :].split("\n")[1:])
    lowest = _LOWEST.search(segment[: header.start()])
    return QdptBlock(label, energies, float(lowest.group(1)) if lowest else None)


def parse_qdpt_blocks(text: str) -> dict[str, QdptBlock]:
    """Every 'QDPT WITH <X> DIAGONAL ENERGIES' table in an ORCA output, keyed by X."""
    heads = list(_QDPT_HEADER.finditer(text))
    blocks = {}
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        blocks[head.group(1)] = _parse_block(head.group(1), text[head.end() : end])
    return blocks


def select_block(blocks: dict[str, QdptBlock], choice: BlockChoice = "auto") -> QdptBlock:
    """The caller's block; 'auto' prefers NEVPT2 diagonal energies when ORCA printed them."""
    if not blocks:
        raise InputError("no QDPT block: DoSOC was not requested or the SOC step did not run")
    if choice == "auto":
        choice = "NEVPT2" if "NEVPT2" in blocks else "CASSCF"
    if choice not in blocks:
        raise InputError(f"no 'QDPT WITH {choice} DIAGONAL ENERGIES' block in the output")
    return blocks[choice]


def echoed_so_states(text: str) -> int | None:
    """SO state count implied by the input echo's mult/nroots lines (None if not echoed)."""
    found = [re.search(_ECHO.format(key=key), text, re.M | re.I) for key in ("mult", "nroots")]
    if not all(found):
        return None
    mults, roots = ([int(v) for v in re.split(r"[,\s]+", m.group(1))] for m in found)
    if len(mults) != len(roots):
        return None
    return so_state_count(list(zip(mults, roots, strict=True)))


def kramers_doublets(energies: Sequence[float], tol_cm: float = KRAMERS_TOL_CM) -> list[float]:
    """Pair consecutive SO states into Kramers doublets; each must be degenerate within tol."""
    states = sorted(energies)
    if len(states) % 2:
        raise CalculationFailed(f"odd number of SO states ({len(states)}): not a Kramers system")
    doublets = []
    for k in range(0, len(states), 2):
        low, high = states[k], states[k + 1]
        if high - low > tol_cm:
            raise CalculationFailed(
                f"SO states {k} and {k + 1} differ by {high - low:.2f} cm-1: not a Kramers pair"
            )
        doublets.append((low + high) / 2)
    return doublets


def kd_gaps(block: QdptBlock, n_doublets: int, tol_cm: float = KRAMERS_TOL_CM) -> dict[str, Any]:
    """The lowest n KDs relative to the ground KD, and the n-1 gaps Delta E_0i (cm^-1)."""
    states = np.asarray(block.energies_cm, dtype=float)
    states = np.sort(states - states.min())
    if len(states) < 2 * n_doublets:
        raise CalculationFailed(
            f"{len(states)} SO states, need {2 * n_doublets} for {n_doublets} Kramers doublets"
        )
    if len(states) % 2:
        raise CalculationFailed(f"odd number of SO states ({len(states)}): not a Kramers system")
    kds = kramers_doublets(states[: 2 * n_doublets].tolist(), tol_cm)
    return {
        "kd_energies_cm": [round(e - kds[0], 4) for e in kds],
        "gaps_cm": [round(e - kds[0], 4) for e in kds[1:]],
        "so_states": int(len(states)),
        "qdpt_block": block.label,
        "lowest_so_energy_eh": block.lowest_eh,
    }


def parse_casscf_soc(
    text: str,
    n_doublets: int = 8,
    block: BlockChoice = "CASSCF",
    tol_cm: float = KRAMERS_TOL_CM,
) -> dict[str, Any]:
    """KD energies and gaps from a CASSCF/SOC run, or the reason the run is unusable."""
    check_errors(text)
    check_complete(text)
    chosen = select_block(parse_qdpt_blocks(text), block)
    expected = echoed_so_states(text)
    if expected is not None and expected != len(chosen.energies_cm):
        raise CalculationFailed(
            f"QDPT {chosen.label} table has {len(chosen.energies_cm)} SO states, "
            f"the input's mult/nroots give {expected}"
        )
    return kd_gaps(chosen, n_doublets, tol_cm)


# --- templates and the Dy calculator ----------------------------------------------------------


def _write_input(workdir: Path, name: str, text: str) -> list[str]:
    if not _SAFE_NAME.match(name):
        raise InputError(f"unsafe ORCA job name: {name!r}")
    (Path(workdir) / f"{name}.inp").write_text(text)
    return [f"{name}.inp"]


@dataclass(frozen=True)
class OptTemplate:
    """One optimisation step: constrained (step 1) or free from the step-1 geometry (step 2)."""

    constrained: bool = True
    name: str = "y_opt"
    program: str = PROGRAM

    def write_inputs(self, item: OptJob, workdir: Path) -> list[str]:
        return _write_input(workdir, self.name, opt_input(item, self.constrained))

    def output_name(self) -> str:
        return f"{self.name}.out"

    def parse(self, workdir: Path) -> dict[str, Any]:
        return parse_opt_output(read_output(workdir, self.output_name()))


@dataclass(frozen=True)
class CasscfSocTemplate:
    """CASSCF(9,7)+SOC input; parse returns the lowest n_doublets KDs from one QDPT block."""

    name: str = "dy_casscf_soc"
    sextets_only: bool = False
    maxiter: int = 200
    rijcosx: bool = False
    n_doublets: int = 8  # the 6H15/2 ground multiplet of Dy(III)
    block: BlockChoice = "CASSCF"
    tol_cm: float = KRAMERS_TOL_CM
    program: str = PROGRAM

    def write_inputs(self, item: CasscfJob, workdir: Path) -> list[str]:
        text = casscf_soc_input(item, self.sextets_only, self.maxiter, self.rijcosx)
        return _write_input(workdir, self.name, text)

    def output_name(self) -> str:
        return f"{self.name}.out"

    def parse(self, workdir: Path) -> dict[str, Any]:
        text = read_output(workdir, self.output_name())
        return parse_casscf_soc(text, self.n_doublets, self.block, self.tol_cm)


@dataclass(frozen=True)
class KramersCalculator:
    """Dy(III) Kramers-doublet gaps Delta E_0i from ORCA CASSCF/SOC-QDPT."""

    template: CasscfSocTemplate = CasscfSocTemplate()
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    name: str = "orca_kramers"
    version: str = "1"

    @property
    def method(self) -> str:
        t = self.template
        mults = ",".join(str(m) for m, _ in mult_blocks(t.sextets_only))
        return (
            f"ORCA SA-CASSCF(9,7) mult {mults} + SOC-QDPT ({t.block} diagonal energies), "
            f"DKH2 picture change 2, {DY_BASIS}(Dy)/{LIGHT_BASIS}"
        )

    def canonical_input(self, item: CasscfJob) -> dict[str, Any]:
        """Geometry, charge and method settings; resources do not change the result."""
        t = self.template
        return {
            "elements": list(item.geometry.elements),
            "coords": [[round(v, 6) for v in xyz] for xyz in item.geometry.coords],
            "charge": item.charge,
            "sextets_only": t.sextets_only,
            "rijcosx": t.rijcosx,
            "n_doublets": t.n_doublets,
            "block": t.block,
        }

    def run(self, item: CasscfJob, workdir: Path | None = None) -> CalcResult:
        workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="orca_kramers_"))
        return run_program(
            self, self.template, item, workdir, self.launcher, UNITS, program_versions
        )
