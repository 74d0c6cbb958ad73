"""Dy(III) CASSCF(9,7) -> RASSI spin-orbit -> SINGLE_ANISO with OpenMolcas: template + parsers.

Pure part of the OpenMolcas Kramers-doublet calculator (calculators.kd_molcas runs it). The
input follows the field's convention for automated lanthanide CASSCF (docs/openmolcas_kd.md):
ANO-RCC basis per atom role (VTZP on Dy, VDZP on the donor atoms, VDZ elsewhere), AMFI
spin-orbit integrals, angular-momentum integrals about Dy, RICD integrals; one state-averaged
RASSCF block per spin (21 sextets by default; quartets and doublets selectable) with its JobIph
copied to JOBnnn for RASSI; RASSI with spin-orbit coupling; SINGLE_ANISO with eight
two-dimensional multiplets (MLTP = 8 / 2 ... 2: one pseudo-spin 1/2 per Kramers doublet).

The parsers read only lines verified on real OpenMolcas 22.10 outputs made here
(tests/fixtures/openmolcas_kd/): module stop lines and their return codes, RASSCF root and
SO-RASSI state energies, the RASSCF orbital printout, SINGLE_ANISO's g tensors. A result is
accepted only when the spin-free sextets show the 4f9 pattern (11 6H roots low, 7 6F, 3 6P)
and the active orbitals are Dy 4f: otherwise the active space is not the 4f shell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from calculators.base import CalculationFailed
from calculators.openmolcas.program import (
    ENV_PROGRAM,
    MolcasResources,
    molcas_command,
    program_versions,
)
from calculators.values import kd_values

HARTREE_TO_CM = 219474.63136320  # CODATA 2018
BOHR_PER_ANGSTROM = 1.0 / 0.529177210903
N_ACTIVE_ELECTRONS = 9  # Dy(III) 4f9
N_ACTIVE_ORBITALS = 7
SEXTET = 6
FULL_ROOTS = {6: 21, 4: 224, 2: 490}  # every CAS(9,7) CSF of each spin (Weyl formula)
PROJECT = "kd"  # file stem of input/output; never derived from a SMILES
MODULES = ("gateway", "seward", "rasscf", "rassi", "single_aniso")
# 4f9 sextet pattern (cm-1 above the lowest sextet): 11 6H roots, 7 6F, 3 6P (measured here
# 600-2,300 / 7,600-8,600 / 33,500-35,000 cm-1 from minimal to production basis).
H_MAX_CM = 4000.0
F_RANGE_CM = (5000.0, 12000.0)
P_RANGE_CM = (25000.0, 45000.0)
MIN_F_CHARACTER = 0.80  # share of an active orbital's squared coefficients on Dy f functions
KRAMERS_TOL_CM = 0.05


class MolcasInputError(CalculationFailed):
    """A job that cannot describe 4f9 Dy(III) (never retried)."""

    def __init__(self, reason: str):
        super().__init__(reason, "input")


@dataclass(frozen=True)
class Spin:
    """One RASSCF block: multiplicity, roots optimised, roots passed on to RASSI."""

    multiplicity: int
    roots: int
    so_roots: int

    def __post_init__(self) -> None:
        if self.multiplicity not in FULL_ROOTS:
            raise ValueError(f"multiplicity must be one of {sorted(FULL_ROOTS)}, got {self}")
        if not 1 <= self.so_roots <= self.roots <= FULL_ROOTS[self.multiplicity]:
            raise ValueError(f"need 1 <= so_roots <= roots <= full CAS count, got {self}")


SEXTETS = (Spin(6, 21, 21),)
# The paper's ORCA protocol (mult 6,4,2 with every root) is not affordable here; this is the
# field's OpenMolcas choice (21 sextets, 224 quartets, 490 doublets; RASSI keeps 21/128/130).
SEXTETS_QUARTETS_DOUBLETS = (Spin(6, 21, 21), Spin(4, 224, 128), Spin(2, 490, 130))


@dataclass(frozen=True)
class CasscfSettings:
    """Every choice that changes the numbers (all of it goes into the calculation key)."""

    dy_basis: str = "ANO-RCC-VTZP"
    donor_basis: str = "ANO-RCC-VDZP"
    other_basis: str = "ANO-RCC-VDZ"
    spins: tuple[Spin, ...] = SEXTETS
    ricd: bool = True
    max_iterations: int = 200  # RASSCF macro iterations (OpenMolcas' default)
    n_doublets: int = 8  # Kramers doublets of the 6H15/2 multiplet

    def __post_init__(self) -> None:
        for name in ("dy_basis", "donor_basis", "other_basis"):
            value = getattr(self, name)
            if not re.fullmatch(r"ANO-RCC(-[A-Z0-9]+)?", value):
                raise ValueError(f"{name} must be an ANO-RCC basis label, got {value!r}")
        if not self.spins or self.spins[0].multiplicity != SEXTET:
            raise ValueError(f"the first spin block must be the sextets, got {self.spins}")
        if len({s.multiplicity for s in self.spins}) != len(self.spins):
            raise ValueError(f"each multiplicity at most once, got {self.spins}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        so_states = sum(s.multiplicity * s.so_roots for s in self.spins)
        if not 1 <= self.n_doublets <= so_states // 2:
            raise ValueError(f"n_doublets {self.n_doublets} not in 1..{so_states // 2}")

    @property
    def roots_label(self) -> str:
        """'21 sextets' / '21 sextets, 224 quartets (128 in RASSI), ...' for method strings."""
        names = {6: "sextets", 4: "quartets", 2: "doublets"}
        parts = []
        for s in self.spins:
            kept = "" if s.so_roots == s.roots else f" ({s.so_roots} in RASSI)"
            parts.append(f"{s.roots} {names[s.multiplicity]}{kept}")
        return ", ".join(parts)


# Smallest settings that still run every module and give the 4f9 pattern (~1 min, 1 core).
TEST_SETTINGS = CasscfSettings(
    dy_basis="ANO-RCC-MB", donor_basis="ANO-RCC-MB", other_basis="ANO-RCC-MB"
)


@dataclass(frozen=True)
class CasscfJob:
    """One Dy complex: geometry (angstrom), total charge, the atoms given the donor basis."""

    elements: tuple[str, ...]
    coordinates: tuple[tuple[float, float, float], ...]
    charge: int
    donors: tuple[int, ...]  # the two axial donors and the five water O
    multiplicity: int = SEXTET

    @property
    def metal(self) -> int:
        return self.elements.index("Dy")


def electron_count(elements: Sequence[str], charge: int) -> int:
    return sum(atomic_numbers[e] for e in elements) - int(charge)


def validate_job(job: CasscfJob) -> None:
    """Reject what CASSCF(9,7) on a 4f9 sextet cannot describe, naming the value."""
    bad = [e for e in job.elements if e not in chemical_symbols[1:]]
    if bad:
        raise MolcasInputError(f"unknown element symbol(s) {sorted(set(bad))}")
    n_dy = job.elements.count("Dy")
    if n_dy != 1:
        raise MolcasInputError(f"the geometry must hold exactly one Dy atom, found {n_dy}")
    xyz = np.asarray(job.coordinates, dtype=float)
    if xyz.shape != (len(job.elements), 3) or not np.all(np.isfinite(xyz)):
        raise MolcasInputError(f"coordinates of shape {xyz.shape} for {len(job.elements)} atoms")
    if job.multiplicity != SEXTET:
        raise MolcasInputError(
            f"multiplicity {job.multiplicity}: Dy(III) 4f9 CASSCF(9,7) starts from the sextet"
        )
    electrons = electron_count(job.elements, job.charge)
    if electrons % 2 != 1:
        raise MolcasInputError(
            f"charge {job.charge} gives {electrons} electrons: a 4f9 sextet needs an odd count"
        )
    if electrons - N_ACTIVE_ELECTRONS < 0:
        raise MolcasInputError(f"charge {job.charge} leaves fewer than 9 electrons")
    if any(not 0 <= d < len(job.elements) or d == job.metal for d in job.donors):
        raise MolcasInputError(f"donor indices {job.donors} must name ligand atoms")


# --- input -------------------------------------------------------------------------------


def atom_labels(elements: Sequence[str]) -> list[str]:
    """OpenMolcas centre labels: element + running number per element ('Dy1', 'O7')."""
    seen: dict[str, int] = {}
    labels = []
    for el in elements:
        seen[el] = seen.get(el, 0) + 1
        labels.append(f"{el}{seen[el]}")
    return labels


def basis_groups(job: CasscfJob, settings: CasscfSettings) -> list[tuple[str, list[int]]]:
    """('Dy.ANO-RCC-VTZP', [atoms]) per element and role, in first-appearance order."""
    groups: dict[str, list[int]] = {}
    donors = set(job.donors)
    for i, el in enumerate(job.elements):
        if el == "Dy":
            basis = settings.dy_basis
        elif i in donors:
            basis = settings.donor_basis
        else:
            basis = settings.other_basis
        groups.setdefault(f"{el}.{basis}", []).append(i)
    return list(groups.items())


def _rasscf_block(spin: Spin, charge: int, settings: CasscfSettings, index: int) -> list[str]:
    return [
        "&RASSCF",
        f" Spin = {spin.multiplicity}",
        f" nActEl = {N_ACTIVE_ELECTRONS} 0 0",
        f" Ras2 = {N_ACTIVE_ORBITALS}",
        f" CIRoot = {spin.roots} {spin.roots} 1",
        f" Charge = {charge}",
        f" Iterations = {settings.max_iterations}, 100",
        f">> COPY $Project.JobIph JOB{index:03d}",
    ]


def input_text(job: CasscfJob, settings: CasscfSettings) -> str:
    """The whole pymolcas input: GATEWAY/SEWARD, one RASSCF per spin, RASSI-SO, SINGLE_ANISO."""
    validate_job(job)
    labels = atom_labels(job.elements)
    xyz = np.asarray(job.coordinates, dtype=float)
    origin = xyz[job.metal] * BOHR_PER_ANGSTROM  # ANGMOM takes bohr
    lines = ["&GATEWAY", " AMFI", " ANGMOM", "  {:.8f} {:.8f} {:.8f}".format(*origin)]
    if settings.ricd:
        lines.append(" RICD")
    for basis, atoms in basis_groups(job, settings):
        lines += [" Basis Set", f"  {basis}"]
        lines += [
            f"  {labels[i]} {xyz[i, 0]:.8f} {xyz[i, 1]:.8f} {xyz[i, 2]:.8f} Angstrom" for i in atoms
        ]
        lines.append(" End of Basis Set")
    lines.append("&SEWARD")
    for k, spin in enumerate(settings.spins, start=1):
        lines += _rasscf_block(spin, job.charge, settings, k)
    lines += [
        "&RASSI",
        " Nr of JobIph",
        "  " + " ".join([str(len(settings.spins))] + [str(s.so_roots) for s in settings.spins]),
    ]
    lines += ["  " + " ".join(str(r) for r in range(1, s.so_roots + 1)) for s in settings.spins]
    lines += [" Spin", " MEES", " Prop", "  3", "  'AngMom' 1", "  'AngMom' 2", "  'AngMom' 3"]
    lines += ["&SINGLE_ANISO", " MLTP", f"  {settings.n_doublets}"]
    lines.append("  " + " ".join(["2"] * settings.n_doublets))
    return "\n".join(lines) + "\n"


# --- output ------------------------------------------------------------------------------

_START = re.compile(r"^--- Start Module: (\w+) at ", re.M)
_STOP = re.compile(r"^--- Stop Module: (\w+) at .*?/rc=(\S+) ---", re.M)
_NO_CONVERGENCE = re.compile(r"No convergence after\s+(\d+) iterations")
_CONVERGED = re.compile(r"^\s*Convergence after\s+(\d+) iterations", re.M)
_CASCI = "CASCI only, no orbital optimization will be done."  # CIOnly: nothing to converge
_ROOT = re.compile(r"^::\s+RASSCF root number\s+(\d+) Total energy:\s+(-?\d+\.\d+)", re.M)
_SO = re.compile(r"^::\s+SO-RASSI State\s+(\d+)\s+Total energy:\s+(-?\d+\.\d+)", re.M)
_SPIN_Q = re.compile(r"Spin quantum number\s+(\d+\.\d)")
_INACTIVE = re.compile(r"^\s*Inactive orbitals\s+(\d+)\s*$", re.M)
_ACTIVE = re.compile(r"^\s*Active orbitals\s+(\d+)\s*$", re.M)
_MULTIPLET = re.compile(
    r"PSEUDOSPIN HAMILTONIAN TENSORS FOR THE MULTIPLET\s+(\d+)\s+\(\s*effective S =\s*(\S+)\)"
)
_G = re.compile(r"^\s*g([XYZ]) =\s+(-?\d+\.\d+)", re.M)
_ORBITALS = "Molecular orbitals for symmetry species 1"
_ORB_END = re.compile(r"Von Neumann Entropy|Mulliken population|^\+\+", re.M)
_ORB_ROW = re.compile(r"^\s*\d+\s+([A-Za-z]+)\d*\s+(\d*[spdfghi])\S*((?:\s+-?\d+\.\d+)+)\s*$")


def module_blocks(text: str, module: str) -> list[str]:
    """The text of every run of `module` (start line to the next start line or the end)."""
    starts = [(m.start(), m.group(1)) for m in _START.finditer(text)] + [(len(text), "")]
    return [
        text[a:b] for (a, name), (b, _) in zip(starts, starts[1:], strict=False) if name == module
    ]


def check_run(text: str, n_rasscf: int) -> None:
    """Every module ran to _RC_ALL_IS_WELL_; else a failure naming the module and the cause."""
    for name, rc in _STOP.findall(text):
        if rc == "_RC_ALL_IS_WELL_":
            continue
        if name == "rasscf" and rc == "_RC_NOT_CONVERGED_":
            found = _NO_CONVERGENCE.findall(text)
            after = f" after {found[-1]} iterations" if found else ""
            raise CalculationFailed(f"RASSCF (CASSCF) did not converge{after}", "chemistry")
        kind = "input" if rc == "_RC_INPUT_ERROR_" else "chemistry"
        raise CalculationFailed(f"OpenMolcas module {name} stopped with {rc}", kind)
    stopped = [name for name, _ in _STOP.findall(text)]
    expected = ["gateway", "seward", *["rasscf"] * n_rasscf, "rassi", "single_aniso"]
    if stopped != expected:
        started = _START.findall(text)
        last = started[-1] if started else "none"
        raise CalculationFailed(
            f"output truncated: modules finished {stopped or 'none'} of {expected} "
            f"(last started: {last})",
            "infrastructure",
        )


@dataclass(frozen=True)
class RasscfBlock:
    """What one RASSCF run printed: spin, iterations, root energies (Eh), active f character."""

    multiplicity: int
    iterations: int
    energies_eh: tuple[float, ...]
    f_character: tuple[float, ...] | None  # per active orbital, None when not printed


def orbital_f_character(block: str, inactive: int, active: int) -> tuple[float, ...] | None:
    """Share of each active orbital's squared coefficients on Dy f functions (printout)."""
    start = block.rfind(_ORBITALS)
    if start < 0:
        return None
    end_match = _ORB_END.search(block, start)
    body = block[start : end_match.start() if end_match else len(block)]
    columns: list[int] = []
    f_sq: dict[int, float] = {}
    total: dict[int, float] = {}
    for line in body.splitlines():
        stripped = line.split()
        if stripped[:1] == ["Orbital"]:
            columns = [int(v) for v in stripped[1:]]
            continue
        row = _ORB_ROW.match(line)
        if not row or not columns:
            continue
        coeffs = [float(v) for v in row.group(3).split()]
        is_dy_f = row.group(1).upper() == "DY" and row.group(2).endswith("f")
        for orb, c in zip(columns, coeffs, strict=False):
            total[orb] = total.get(orb, 0.0) + c * c
            if is_dy_f:
                f_sq[orb] = f_sq.get(orb, 0.0) + c * c
    wanted = range(inactive + 1, inactive + active + 1)
    if not all(total.get(o, 0.0) > 0 for o in wanted):
        return None
    return tuple(f_sq.get(o, 0.0) / total[o] for o in wanted)


def parse_rasscf(block: str) -> RasscfBlock:
    """One RASSCF run's spin, convergence, root energies and active-orbital composition."""
    spin = _SPIN_Q.search(block)
    inactive, active = _INACTIVE.search(block), _ACTIVE.search(block)
    converged = _CONVERGED.search(block)
    if not (spin and inactive and active):
        raise CalculationFailed("RASSCF output lacks its wave-function specification", "chemistry")
    if not converged and _CASCI not in block:
        raise CalculationFailed("RASSCF (CASSCF) did not report convergence", "chemistry")
    roots = sorted((int(n), float(e)) for n, e in _ROOT.findall(block))
    if not roots or [n for n, _ in roots] != list(range(1, len(roots) + 1)):
        raise CalculationFailed("RASSCF root energies missing or out of order", "chemistry")
    n_act = int(active.group(1))
    return RasscfBlock(
        multiplicity=int(round(2 * float(spin.group(1)))) + 1,
        iterations=int(converged.group(1)) if converged else 0,
        energies_eh=tuple(e for _, e in roots),
        f_character=orbital_f_character(block, int(inactive.group(1)), n_act),
    )


def check_4f_sextets(block: RasscfBlock) -> None:
    """The active space is the Dy 4f shell: 6H/6F/6P pattern and f-type active orbitals."""
    if block.multiplicity != SEXTET or len(block.energies_eh) != FULL_ROOTS[SEXTET]:
        return  # the pattern is defined on the full set of 21 sextets only
    rel = (np.asarray(block.energies_eh) - min(block.energies_eh)) * HARTREE_TO_CM
    h, f, p = rel[:11], rel[11:18], rel[18:]
    problems = []
    if h.max() > H_MAX_CM:
        problems.append(f"the 11 lowest sextets span {h.max():.0f} cm-1 (6H: < {H_MAX_CM:.0f})")
    if not (F_RANGE_CM[0] <= f.min() and f.max() <= F_RANGE_CM[1]):
        problems.append(
            f"roots 12-18 lie at {f.min():.0f}-{f.max():.0f} cm-1 "
            f"(6F: {F_RANGE_CM[0]:.0f}-{F_RANGE_CM[1]:.0f})"
        )
    if not (P_RANGE_CM[0] <= p.min() and p.max() <= P_RANGE_CM[1]):
        problems.append(
            f"roots 19-21 lie at {p.min():.0f}-{p.max():.0f} cm-1 "
            f"(6P: {P_RANGE_CM[0]:.0f}-{P_RANGE_CM[1]:.0f})"
        )
    if block.f_character is not None and min(block.f_character) < MIN_F_CHARACTER:
        shares = ", ".join(f"{v:.2f}" for v in block.f_character)
        problems.append(f"active orbitals' Dy f character {shares} (need >= {MIN_F_CHARACTER})")
    if problems:
        raise CalculationFailed(
            "active space is not the Dy 4f shell: " + "; ".join(problems), "chemistry"
        )


def kramers_doublets(so_eh: Sequence[float], n: int, tol_cm: float = KRAMERS_TOL_CM) -> list:
    """Energies (cm-1 above the lowest) of the n lowest doublets; each pair must be degenerate."""
    if len(so_eh) < 2 * n:
        raise CalculationFailed(
            f"{len(so_eh)} SO-RASSI states printed, {2 * n} needed for {n} Kramers doublets",
            "infrastructure",
        )
    cm = (np.asarray(so_eh[: 2 * n]) - so_eh[0]) * HARTREE_TO_CM
    for k in range(n):
        split = abs(cm[2 * k + 1] - cm[2 * k])
        if split > tol_cm:
            raise CalculationFailed(
                f"SO-RASSI states {2 * k + 1} and {2 * k + 2} differ by {split:.3f} cm-1: "
                "not a Kramers doublet (odd electron count expected)",
                "chemistry",
            )
    return [float((cm[2 * k] + cm[2 * k + 1]) / 2) for k in range(n)]


def g_tensors(text: str) -> list[tuple[float, float, float]]:
    """SINGLE_ANISO's principal g values (gX, gY, gZ) of every pseudo-spin-1/2 multiplet."""
    found = list(_MULTIPLET.finditer(text))
    tensors = []
    for k, head in enumerate(found):
        if head.group(2) != "1/2":
            raise CalculationFailed(
                f"SINGLE_ANISO multiplet {head.group(1)} has effective S = {head.group(2)}, "
                "not 1/2: MLTP must list doublets",
                "input",
            )
        stop = found[k + 1].start() if k + 1 < len(found) else len(text)
        values = dict(_G.findall(text[head.end() : stop])[:3])
        if set(values) != {"X", "Y", "Z"}:
            raise CalculationFailed(
                f"SINGLE_ANISO g tensor of multiplet {head.group(1)} incomplete", "infrastructure"
            )
        tensors.append((float(values["X"]), float(values["Y"]), float(values["Z"])))
    return tensors


_COORD_HEAD = "Cartesian coordinates in Angstrom:"
_COORD_ROW = re.compile(
    r"^\s*\d+\s+([A-Za-z]+\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s*$"
)
GEOMETRY_TOL_A = 1e-5


def check_geometry(text: str, job: CasscfJob) -> None:
    """The output's printed centres are the job's atoms (guards against a stale/foreign log)."""
    start = text.find(_COORD_HEAD)
    if start < 0:
        raise CalculationFailed("output prints no Cartesian coordinates", "infrastructure")
    printed: dict[str, tuple[float, ...]] = {}
    for line in text[start:].splitlines()[4:]:
        row = _COORD_ROW.match(line)
        if not row:
            break
        printed[row.group(1).upper()] = tuple(float(v) for v in row.groups()[1:])
    labels = [label.upper() for label in atom_labels(job.elements)]
    if sorted(printed) != sorted(labels):
        raise CalculationFailed(
            f"output has {len(printed)} centres, the job {len(labels)}: not this job's output",
            "infrastructure",
        )
    for label, xyz in zip(labels, job.coordinates, strict=True):
        if max(abs(a - b) for a, b in zip(printed[label], xyz, strict=True)) > GEOMETRY_TOL_A:
            raise CalculationFailed(
                f"centre {label} of the output is not at the job's position", "infrastructure"
            )


def parse_output(text: str, settings: CasscfSettings) -> dict[str, Any]:
    """Values of a finished run; CalculationFailed naming the cause otherwise."""
    check_run(text, len(settings.spins))
    blocks = [parse_rasscf(b) for b in module_blocks(text, "rasscf")]
    want = [s.multiplicity for s in settings.spins]
    if [b.multiplicity for b in blocks] != want:
        got = [b.multiplicity for b in blocks]
        raise CalculationFailed(f"RASSCF multiplicities {got}, expected {want}", "infrastructure")
    check_4f_sextets(blocks[0])
    so = [float(e) for _, e in sorted((int(n), e) for n, e in _SO.findall(text))]
    kd = kramers_doublets(so, settings.n_doublets)
    g = g_tensors(text)
    if len(g) != settings.n_doublets:
        raise CalculationFailed(
            f"SINGLE_ANISO printed {len(g)} g tensors, expected {settings.n_doublets}",
            "infrastructure",
        )
    sextets = blocks[0]
    values = kd_values(kd, settings.n_doublets)
    values["g_ground"] = list(g[0])
    values["g_doublets"] = [list(t) for t in g]
    values["lowest_so_energy_eh"] = so[0]
    values["so_states"] = len(so)
    values["spin_free_energies"] = {
        str(b.multiplicity): [(e - sextets.energies_eh[0]) * HARTREE_TO_CM for e in b.energies_eh]
        for b in blocks
    }
    values["lowest_sextet_energy_eh"] = sextets.energies_eh[0]
    values["rasscf_iterations"] = {str(b.multiplicity): b.iterations for b in blocks}
    values["active_f_character"] = list(sextets.f_character) if sextets.f_character else None
    return values


# --- template ----------------------------------------------------------------------------


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError as exc:
        raise CalculationFailed(
            f"{path.name} missing: {what} never written", "infrastructure"
        ) from exc


def settings_from_dict(data: dict[str, Any]) -> CasscfSettings:
    return CasscfSettings(**{**data, "spins": tuple(Spin(**s) for s in data["spins"])})


def job_from_dict(data: dict[str, Any]) -> CasscfJob:
    return CasscfJob(
        elements=tuple(data["elements"]),
        coordinates=tuple(tuple(row) for row in data["coordinates"]),
        charge=int(data["charge"]),
        donors=tuple(data["donors"]),
        multiplicity=int(data["multiplicity"]),
    )


@dataclass(frozen=True)
class CasscfTemplate:
    """Writes kd.input (+ kd.job.json, the job and settings), parses kd.log."""

    settings: CasscfSettings = field(default_factory=CasscfSettings)
    resources: MolcasResources = field(default_factory=MolcasResources)
    pymolcas: str | None = None  # the pymolcas script; None: program.pymolcas_path()
    program: str = field(default=ENV_PROGRAM, init=False)

    def write_inputs(self, item: CasscfJob, workdir: Path) -> list[str]:
        text = input_text(item, self.settings)
        workdir = Path(workdir)
        (workdir / f"{PROJECT}.input").write_text(text)
        record = {"job": asdict(item), "settings": asdict(self.settings)}
        (workdir / f"{PROJECT}.job.json").write_text(json.dumps(record, indent=1))
        program, args = molcas_command(f"{PROJECT}.input", workdir, self.resources, self.pymolcas)
        assert program == self.program
        return args

    def output_name(self) -> str:
        return f"{PROJECT}.log"

    def parse(self, workdir: Path) -> dict[str, Any]:
        """Parse with the settings the run was written with (kd.job.json), not today's."""
        record = json.loads(_read(Path(workdir) / f"{PROJECT}.job.json", "job record"))
        settings = settings_from_dict(record["settings"])
        job = job_from_dict(record["job"])
        text = _read(Path(workdir) / self.output_name(), "output")
        check_run(text, len(settings.spins))
        check_geometry(text, job)
        return parse_output(text, settings)

    def program_versions(self, workdir: Path) -> dict[str, str]:
        path = Path(workdir) / self.output_name()
        return program_versions(path.read_text(errors="replace")) if path.exists() else {}
