"""ORCA outputs: version, termination and error checks, optimised geometry, QDPT energies ->
Kramers doublets. Patterns checked against a real ORCA 6.1.1 output
(tests/fixtures/orca/co_plus_soc_min.out) and a real ORCA 5.0.4 optimisation banner
(tests/fixtures/orca/README.md). Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from calculators.base import (
    CalculationFailed,
)
from calculators.orca.inputs import PROGRAM, Geometry, InputError, so_state_count

KRAMERS_TOL_CM = 0.05  # the table prints 2 decimals; true Kramers pairs are exactly degenerate
TERMINATED = "****ORCA TERMINATED NORMALLY****"
UNITS = {
    "gaps_cm": "cm-1",
    "kd_energies_cm": "cm-1",
    "lowest_so_energy_eh": "Eh",
    "so_states": "count",
}

BlockChoice = Literal["auto", "CASSCF", "NEVPT2"]


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
    """Raise on ORCA's own failure signatures (docs/orca.md), most specific first."""
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
