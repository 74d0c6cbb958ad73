"""Embedded KD calculator: molSimplify complex -> GFN2-xTB -> crystal field (-> calibration).

The laptop stand-in for CASSCF/SO KD gaps. Chain: assemble [Dy(H2O)5L2], take GFN2-xTB
(ALPB water) partial charges of every atom of the complex, and diagonalise the point-charge
crystal field of the Dy(III) J = 15/2 multiplet (calculators.crystal_field) built from all of
them. Charges on all atoms rank complexes far better than charges on the seven donors alone.

model="calibrated" (default) adds the geometry step and learned correction of
calculators.kd_calibration (docs/kd_calibration.md): donors moved to a Dy-donor distance
predicted from ligand and complex descriptors fitted to DFT distances, the crystal field
there, and gradient-boosted trees mapping it to the published CASSCF gaps with a 1-sigma
uncertainty per gap. model="point-charge" is the plain chain (optionally relaxed). Every
result says which model made it: it is not CASSCF, and its gaps are not mixed with CASSCF gaps.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from rdkit import Chem

from calculators import assembly, crystal_field, kd_calibration, kd_geometry, structure
from calculators.base import CalcResult, CalculationFailed, run_embedded
from calculators.values import GAPS, KD_UNITS, kd_values
from gauss import chem

UNITS = KD_UNITS | {
    **{f"{gap}_std": "cm-1" for gap in GAPS},
    **{f"cf_{gap}": "cm-1" for gap in GAPS},
    "predicted_dy_donor_distance": "angstrom",
    "dy_donor_distances": "angstrom",
}


def complex_xtb(cx: assembly.Complex, solvent: str | None = "water") -> dict[str, np.ndarray]:
    """GFN2-xTB single point of the complex (4f shell in the core): charges (e), gradient
    (Eh/bohr) and Wiberg bond orders of every atom."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from tblite.interface import Calculator

    from calculators.proxy_xtb import BOHR_PER_ANGSTROM

    numbers = np.array([Chem.GetPeriodicTable().GetAtomicNumber(e) for e in cx.elements])
    calc = Calculator(
        "GFN2-xTB",
        numbers,
        np.asarray(cx.coordinates) * BOHR_PER_ANGSTROM,
        charge=float(cx.charge),
        uhf=0,
    )
    calc.set("verbosity", 0)
    if solvent:
        calc.add("alpb-solvation", solvent)
    try:
        res = calc.singlepoint()
    except RuntimeError as exc:
        raise CalculationFailed(f"GFN2-xTB single point on the complex failed: {exc}") from exc
    bond_orders = np.asarray(res.get("bond-orders"), dtype=float)
    return {
        "charges": np.asarray(res.get("charges"), dtype=float),
        "gradient": np.asarray(res.get("gradient"), dtype=float),
        "bond_orders": bond_orders.reshape(len(numbers), len(numbers)),
    }


def complex_charges(cx: assembly.Complex, solvent: str | None = "water") -> np.ndarray:
    """GFN2-xTB partial charges (e) of every atom of the complex (4f shell in the core)."""
    return complex_xtb(cx, solvent)["charges"]


def complex_descriptors(cx: assembly.Complex, xtb: dict[str, np.ndarray]) -> dict[str, float]:
    """What the GFN2-xTB complex says about the Dy-donor bond at the 2.40 A build.

    complex_de_dd: derivative of the energy (Eh/bohr) for moving each ligand rigidly away from
    the metal along its bond (positive: the energy rises outward, the bond wants to shorten);
    complex_bond_order: Wiberg Dy-donor bond order; complex_donor_charge: donor charge in the
    complex. Averaged over the two ligands.
    """
    xyz = np.asarray(cx.coordinates)
    de_dd, order = [], []
    for frag, donor in zip(cx.fragments[assembly.N_WATERS :], cx.donors, strict=True):
        axis = xyz[donor] - xyz[cx.metal]
        de_dd.append(float(xtb["gradient"][list(frag)].sum(axis=0) @ (axis / np.linalg.norm(axis))))
        order.append(float(xtb["bond_orders"][cx.metal, donor]))
    return {
        "complex_de_dd": float(np.mean(de_dd)),
        "complex_bond_order": float(np.mean(order)),
        "complex_donor_charge": float(np.mean(xtb["charges"][list(cx.donors)])),
    }


def crystal_field_values(cx: assembly.Complex, charges: np.ndarray) -> dict[str, Any]:
    """Crystal-field spectrum from all atoms' charges, relative to the metal."""
    xyz = np.asarray(cx.coordinates)
    ligand_atoms = [i for i in range(cx.n_atoms) if i != cx.metal]
    positions = xyz[ligand_atoms] - xyz[cx.metal]
    spectrum = crystal_field.kd_spectrum_from_geometry(positions, charges[ligand_atoms])
    values = kd_values(spectrum.kd_energies)
    values["g_ground"] = [float(g) for g in spectrum.g_principal]
    values["dy_donor_distances"] = [
        float(np.linalg.norm(xyz[d] - xyz[cx.metal])) for d in cx.donors
    ]
    values["donor_charges"] = [float(charges[d]) for d in cx.donors]
    values.update(cx.features())  # the six structural descriptors of the paper
    return values


Model = Literal["calibrated", "point-charge"]


@functools.cache
def _calibration(directory: str) -> kd_calibration.Calibration:
    return kd_calibration.load(Path(directory))


@dataclass(frozen=True)
class EmbeddedKD:
    """KD gaps of [Dy(H2O)5L2] from the embedded chain.

    model="calibrated" (default): molSimplify build, GFN2-xTB/ALPB charges, donors moved to the
    Dy-donor distance the calibration predicts, point-charge crystal field there, then the
    learned correction to CASSCF gaps with a 1-sigma uncertainty per gap (gap_i_std, cm-1).
    model="point-charge": the plain crystal field (optionally on a GFN2-xTB/ALPB relaxed
    geometry, relax=True), no calibration. Left unset, the model is "calibrated", or
    "point-charge" when relax=True (the calibration was trained on unrelaxed builds).
    """

    relax: bool = False
    solvent: str = "water"
    model: Model | None = None  # None: "calibrated", or "point-charge" when relax=True
    calibration_dir: str = str(kd_calibration.DEFAULT_ARTIFACT)
    name: ClassVar[str] = "kd-crystal-field"
    version: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        if self.model is None:  # relax=True predates the calibration: it keeps the plain model
            object.__setattr__(self, "model", "point-charge" if self.relax else "calibrated")
        if self.model not in ("calibrated", "point-charge"):
            raise ValueError(f"model must be 'calibrated' or 'point-charge', got {self.model!r}")
        if self.model == "calibrated" and (self.relax or self.solvent != "water"):
            raise ValueError(
                "the calibrated KD model was trained on molSimplify builds with ALPB(water) "
                f"charges: relax={self.relax!r}, solvent={self.solvent!r} need model='point-charge'"
            )

    @property
    def calibration(self) -> kd_calibration.Calibration:
        return _calibration(self.calibration_dir)

    @property
    def method(self) -> str:
        if self.model == "calibrated":
            info = self.calibration.info
            return (
                "embedded calibrated KD: molSimplify build with Dy-donor distances from a "
                "descriptor model fitted to DFT (BP86-D3) distances, GFN2-xTB/ALPB(water) charges, "
                "point-charge crystal field (Dy3+ J=15/2), gradient-boosted correction to "
                f"CASSCF gaps trained on {info['trained_on']} ({info['rows']} complexes, "
                f"calibration sha256 {self.calibration.sha256[:12]}); not CASSCF"
            )
        geometry = "GFN2-xTB/ALPB-relaxed" if self.relax else "molSimplify (M-L 2.40 A)"
        return (
            f"embedded point-charge crystal field (Dy3+ J=15/2, Stevens) on {geometry} geometry "
            f"with GFN2-xTB/ALPB({self.solvent}) charges on all atoms; not CASSCF"
        )

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        data = {
            "ligand": chem.ligand(smiles).smiles,
            "metal": "Dy",
            "relax": self.relax,
            "solvent": self.solvent,
            "model": self.model,
        }
        if self.model == "calibrated":
            data["calibration_sha256"] = self.calibration.sha256
        return data

    def _compute(self, smiles: str) -> dict[str, Any]:
        if self.model == "calibrated":
            return calibrated_values(physics_record(smiles), self.calibration)
        cx = assembly.assemble(smiles, "Dy")
        if self.relax:
            cx = assembly.relax(cx, solvent=self.solvent)
        return crystal_field_values(cx, complex_charges(cx, self.solvent))

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Gaps in cm-1; invalid SMILES raise LigandError, chemistry failures give a failed row."""
        self.canonical_input(smiles)  # validate first: bad input is an error, not a row
        versions = {
            "molSimplify": version("molSimplify"),
            "tblite": version("tblite"),
        }
        if self.model == "calibrated":
            versions["kd-calibration"] = self.calibration.sha256
        return run_embedded(self, smiles, self._compute, UNITS, versions, workdir)


def calibrated_values(
    record: dict[str, Any], calibration: kd_calibration.Calibration
) -> dict[str, Any]:
    """Calibrated gaps, their uncertainty and the physics they came from, for one complex."""
    distance = calibration.predict_distance(record["descriptors"])
    physics = kd_calibration.physics_features(record, distance)
    xyz = physics["xyz"]
    elements, metal = record["elements"], int(record["metal"])
    donors = [int(d) for d in record["donors"]]
    ligand = {i for atoms in record["ligand_atoms"] for i in atoms}
    waters = [i for i, el in enumerate(elements) if el == "O" and i not in ligand]
    features = kd_calibration.feature_vector(record["descriptors"], physics)
    gaps, std = calibration.predict_gaps(features)
    spectrum = physics["spectrum"]
    values: dict[str, Any] = {f"gap_{i + 1}": float(g) for i, g in enumerate(gaps)}
    values |= {f"gap_{i + 1}_std": float(s) for i, s in enumerate(std)}
    values["kd_energies"] = [0.0, *(float(g) for g in gaps)]
    values["g_ground"] = [float(g) for g in spectrum.g_principal]  # point-charge CF, placed
    values |= {f"cf_gap_{i + 1}": float(g) for i, g in enumerate(spectrum.gaps)}
    values["predicted_dy_donor_distance"] = distance
    values["dy_donor_distances"] = [float(np.linalg.norm(xyz[d] - xyz[metal])) for d in donors]
    charges = record["charges"]
    values["donor_charges"] = [float(charges[d]) for d in donors]
    values.update(structure.features(elements, xyz, metal, waters, donors))
    return values


# --- per-ligand physics inputs (computed once, cached for calibration) -----------------------


def physics_record(smiles: str) -> dict[str, Any]:
    """Everything the calibrated model needs from the expensive steps, as JSON-ready values.

    molSimplify complex (M-L 2.40 A, lone pairs aligned), GFN2-xTB/ALPB(water) charges of all
    its atoms on that build, and the free-ligand descriptors (calculators.kd_geometry). The
    donors are later moved to the predicted distance with these charges kept.
    """
    descriptors = kd_geometry.ligand_descriptors(smiles)
    cx = assembly.assemble(smiles, "Dy")
    xtb = complex_xtb(cx, "water")
    charges = xtb["charges"]
    return {
        "ligand": cx.ligand_smiles,
        "descriptors": descriptors | complex_descriptors(cx, xtb),
        "elements": list(cx.elements),
        "xyz": np.round(cx.coordinates, 5).tolist(),
        "metal": cx.metal,
        "donors": list(cx.donors),
        "ligand_atoms": [list(f) for f in cx.fragments[assembly.N_WATERS :]],
        "charges": np.round(charges, 6).tolist(),
    }


def build_cache(smiles: list[str], path: Path, progress: bool = False) -> Path:
    """Append physics_record of every SMILES not yet in the JSON-lines cache at `path`.

    Failed ligands are cached too (status, reason) so a rerun does not retry them.
    """
    import json
    import time

    done: set[str] = set()
    if path.exists():
        with path.open() as fh:
            done = {json.loads(line)["smiles"] for line in fh if line.strip()}
    todo = [s for s in dict.fromkeys(smiles) if s not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with path.open("a") as fh:
        for n, s in enumerate(todo, 1):
            try:
                row = {"smiles": s, "status": "ok"} | physics_record(s)
            except (CalculationFailed, chem.LigandError) as exc:
                row = {"smiles": s, "status": "failed", "reason": str(exc)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            if progress and (n % 25 == 0 or n == len(todo)):
                rate = (time.perf_counter() - start) / n
                print(f"{n}/{len(todo)} ligands, {rate:.2f} s each", flush=True)
    return path
