"""Embedded GFN2-xTB stand-ins for the paper's LoProp proxy labels of a ligand's donor atom.

The paper (II.C) labels ~35k ligands with four properties of the coordinating atom, computed
with LoProp on PBE/ANO-R2 densities in OpenMolcas: partial charge, atomic dipole magnitude,
isotropic atomic polarizability and atomic number. On a laptop we compute stand-ins:

- ``charge``: GFN2-xTB Mulliken charge of the donor (tblite ``charges``), in e.
- ``dipole``: magnitude of the GFN2-xTB atomic dipole of the donor (xtbml ``dipm_A``, the
  s + p shell dipoles summed as vectors), in e*bohr.
- ``polarizability``: static isotropic D4 atomic polarizability of the donor (dftd4, EEQ
  charges), in bohr^3.
- ``atomic_number``: 7 or 8.
- ``charge_eeq``: the EEQ charge D4 uses, kept beside ``charge`` for a later calibration.

These raw numbers are *not* on the LoProp scale: against the published PBE/ANO-R2 LoProp
values (`data/published/loprop.tsv`) they correlate at Pearson 0.74 / 0.45 / -0.01. Use
`calculators.proxy_calibrated.CalibratedProxy` for LoProp-scale labels; it is built on the
per-atom numbers `atomic_properties` exposes here (docs/proxy_calibration.md).

Why these variants (chosen before any PBE/ANO-R2 LoProp data was at hand, from three OpenMolcas
LoProp reference molecules at other levels: H2O HF/cc-pVTZ, NH3 CASSCF/ANO-S, ethane of
unknown level):

- Charges: LoProp O(H2O) -0.70, N(NH3) -0.68, C(C2H6) -0.38. GFN2 Mulliken gives -0.57,
  -0.43, -0.10; EEQ gives -0.61, -0.84, -0.26. Over the six distinct atoms (H included) both
  correlate about equally (r 0.96 Mulliken, 0.98 EEQ); EEQ matches the size (slope 0.97, vs
  1.40 for Mulliken: LoProp charges are larger) but reverses the O-below-N order of the
  references. On corpus donors the two agree for O (Spearman 0.91) but not for N (0.61): the
  disagreement is amide, aniline and enamine N, which Mulliken makes about half as negative as
  an amine N (lone pair delocalised, a poor donor) while EEQ, a geometry-only model, does not
  see it. We keep Mulliken as ``charge`` because, like LoProp, it partitions an SCF density,
  so it can respond to delocalisation; EEQ stays in ``charge_eeq``.
- Dipoles: LoProp atomic-domain dipoles O(H2O) 0.40, N(NH3) 0.57, C(C2H6) 0.10; GFN2
  ``dipm_A`` 0.18, 0.25, 0.10: same order, about half the size on lone-pair atoms. The
  neighbour-averaged ``ext_dipm_A`` was rejected: it is not an atomic property.
- Polarizability: D4 partitions the whole molecular polarizability onto atoms, which matches
  LoProp's atom domain plus half of each bond domain (ethane C: D4 7.75 vs LoProp 7.85 bohr^3,
  H 2.17 vs 2.24), not the bare atomic domain LoProp also prints (C 1.38). If the paper used the
  bare domain, this proxy differs from it by a bond-dependent amount. (H2O O: D4 6.8 vs 3.5,
  but that cc-pVTZ reference, without diffuse functions, recovers only ~2/3 of the molecular
  polarizability.) The published GAUSS-II values (0.4-6.8 bohr^3, mean 2.6, for N/O donors)
  look like the bare domain: D4 does not correlate with them (r -0.01).

Geometry: RDKit ETKDGv3 with a fixed seed (ETDG where ETKDG fails on strained cages), then
MMFF94 (UFF where MMFF lacks parameters), one conformer, all single-threaded, so a SMILES always
gives the same numbers; ~1% of corpus ligands (strained cages) still cannot be embedded and
come back failed. GFN2 runs on the ligand's net charge, closed shell. Set OMP_NUM_THREADS=1
before tblite is first imported (measured here: two threads under load made a 5 ms single point
take 1.8 s); `label_many` does this for its worker processes.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dftd4.interface import DispersionModel
from rdkit import Chem
from rdkit.Chem import AllChem
from tblite.exceptions import TBLiteRuntimeError, TBLiteTypeError, TBLiteValueError
from tblite.interface import Calculator as TBLiteCalculator

from calculators import batch
from calculators.base import CalcResult, CalculationFailed, run_embedded
from calculators.values import PROXY_UNITS
from gauss import chem

BOHR_PER_ANGSTROM = 1.0 / 0.529177210903
EMBED_SEED = 0x5EED
FF_MAX_ITERS = 200
DEFAULT_MAX_SCF_ITERATIONS = 250
SCF_DAMPING = (None, 0.2)  # tblite's default mixing first, then gentler mixing
PROGRAM_VERSIONS = {name: version(name) for name in ("tblite", "dftd4", "rdkit")}
METHOD = (
    f"GFN2-xTB (tblite {PROGRAM_VERSIONS['tblite']}) Mulliken charge + xtbml atomic dipole, "
    f"D4 (dftd4 {PROGRAM_VERSIONS['dftd4']}) polarizability, ETKDGv3/MMFF94 geometry, embedded"
)
UNITS = PROXY_UNITS | {"charge_eeq": "e"}
TABLE_SCHEMA = pa.schema(
    [
        ("corpus_row", pa.int64()),
        ("smiles", pa.string()),
        ("key", pa.string()),
        ("status", pa.string()),
        ("method", pa.string()),
        ("charge", pa.float64()),
        ("dipole", pa.float64()),
        ("polarizability", pa.float64()),
        ("atomic_number", pa.int8()),
        ("charge_eeq", pa.float64()),
        ("reason", pa.string()),
        ("failure_kind", pa.string()),
    ]
)


# --- geometry --------------------------------------------------------------------------------


def _embedders() -> Iterator[AllChem.EmbedParameters]:
    """Seeded embedders, tried in order.

    ETKDGv3 fails on ~2% of corpus ligands (strained QM9 cages, anti-Bredt enolates) because
    its sp2-planarity knowledge terms cannot be met; plain ETDG, then ETDG from random
    coordinates, rescue about half of those; the rest (~1%) fail.
    """
    yield _seeded(AllChem.ETKDGv3(), random_coords=False)
    yield _seeded(AllChem.ETDG(), random_coords=False)
    yield _seeded(AllChem.ETDG(), random_coords=True)


def _seeded(params: AllChem.EmbedParameters, random_coords: bool) -> AllChem.EmbedParameters:
    """Fixed seed and one thread: the same SMILES always gets the same conformer."""
    params.randomSeed = EMBED_SEED
    params.numThreads = 1
    params.useRandomCoords = random_coords
    return params


def _embed(mol: Chem.Mol, smiles: str) -> None:
    """One deterministic conformer, or CalculationFailed naming the ligand."""
    if not any(AllChem.EmbedMolecule(mol, params) == 0 for params in _embedders()):
        raise CalculationFailed(f"RDKit could not embed a 3-D conformer for {smiles!r}")


def _force_field_cleanup(mol: Chem.Mol) -> None:
    """Quick MMFF94 relaxation (UFF if MMFF lacks parameters) to remove ETKDG strain."""
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=FF_MAX_ITERS)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=FF_MAX_ITERS)


def ligand_geometry(lig: chem.Ligand) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and positions (bohr) of the ligand with explicit H, donor at index 0."""
    mol = Chem.AddHs(chem.parse(lig.smiles))  # AddHs appends H after the heavy atoms
    if mol.GetAtomWithIdx(0).GetSymbol() != lig.donor:
        raise CalculationFailed(f"donor of {lig.smiles!r} is not atom 0 after adding H", "input")
    _embed(mol, lig.smiles)
    _force_field_cleanup(mol)
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()], dtype=np.int32)
    positions = mol.GetConformer().GetPositions() * BOHR_PER_ANGSTROM
    return numbers, positions


# --- electronic structure ----------------------------------------------------------------------


def _check_closed_shell(numbers: np.ndarray, charge: int, smiles: str) -> None:
    """tblite silently smears an odd electron count with uhf=0; refuse it instead."""
    electrons = int(numbers.sum()) - charge
    if electrons % 2:
        raise CalculationFailed(f"{smiles!r} has an odd electron count ({electrons})", "input")


def _singlepoint(
    numbers: np.ndarray, positions: np.ndarray, charge: int, max_scf: int, damping: float | None
) -> Any:
    """One quiet GFN2-xTB single point with the xtbml atomic features."""
    calc = TBLiteCalculator("GFN2-xTB", numbers, positions, charge=charge, uhf=0)
    calc.set("verbosity", 0)
    calc.set("max-iter", max_scf)
    if damping is not None:
        calc.set("mixer-damping", damping)
    calc.add("xtbml")
    calc.add("bond-orders")  # Wiberg bond orders: post-processing, no effect on the SCF
    return calc.singlepoint()


def _converged_singlepoint(
    numbers: np.ndarray, positions: np.ndarray, charge: int, max_scf: int, label: str
) -> Any:
    """Single point, retried with gentler mixing if the SCF sloshes (~1 in 300 corpus ligands).

    Damping changes the path to the SCF solution, not the solution, so a retry gives the same
    numbers a longer default run would (within 2e-4 e on '[O-]C1C=C(C)C(C=O)C1').
    """
    error: Exception | None = None
    for damping in SCF_DAMPING:
        try:
            return _singlepoint(numbers, positions, charge, max_scf, damping)
        except TBLiteRuntimeError as exc:
            if "not converged" not in str(exc):
                raise CalculationFailed(f"GFN2-xTB failed for {label!r}: {exc}") from exc
            error = exc
        except (TBLiteTypeError, TBLiteValueError) as exc:
            raise CalculationFailed(f"GFN2-xTB rejected {label!r}: {exc}", "input") from exc
    raise CalculationFailed(f"GFN2-xTB failed for {label!r}: {error}")


XTBML_FEATURES = ("CN_A", "p_s", "p_p", "dipm_s", "dipm_p", "qm_A", "response", "HOAO", "LUAO")


def xtb_atomic(
    numbers: np.ndarray,
    positions: np.ndarray,
    charge: int,
    label: str,
    max_scf: int = DEFAULT_MAX_SCF_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """GFN2-xTB Mulliken charges and atomic dipole magnitudes of every atom (label: for errors)."""
    xtb = xtb_atomic_features(numbers, positions, charge, label, max_scf)
    return xtb["charges"], xtb["dipm_A"]


def xtb_atomic_features(
    numbers: np.ndarray,
    positions: np.ndarray,
    charge: int,
    label: str,
    max_scf: int = DEFAULT_MAX_SCF_ITERATIONS,
) -> dict[str, np.ndarray]:
    """Per-atom GFN2-xTB numbers of one single point: Mulliken ``charges``, xtbml ``dipm_A``
    and the xtbml features in XTBML_FEATURES, plus the Wiberg ``bond_orders`` matrix."""
    res = _converged_singlepoint(numbers, positions, charge, max_scf, label)
    charges = np.asarray(res.get("charges"))
    if abs(charges.sum() - charge) > 1e-3:
        raise CalculationFailed(f"GFN2-xTB charges of {label!r} do not sum to {charge}")
    post = res.get("post-processing-dict")
    features = {name: np.asarray(post[name]) for name in ("dipm_A", *XTBML_FEATURES)}
    bond_orders = np.asarray(res.get("bond-orders"))
    return dict(charges=charges, bond_orders=bond_orders.reshape(len(numbers), -1), **features)


def d4_atomic(
    numbers: np.ndarray, positions: np.ndarray, charge: int, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """D4 static polarizabilities (bohr^3) and EEQ charges of every atom."""
    try:
        props = DispersionModel(numbers, positions, charge).get_properties()
    except RuntimeError as exc:
        raise CalculationFailed(f"D4 failed for {label!r}: {exc}") from exc
    return np.asarray(props["polarizabilities"]), np.asarray(props["partial charges"])


@dataclass(frozen=True)
class AtomicProperties:
    """Everything one embedded run knows about every atom of a ligand (donor at index 0).

    Heavy atoms keep their RDKit indices of ``chem.parse(ligand.smiles)``; H atoms follow.
    """

    ligand: chem.Ligand
    numbers: np.ndarray
    positions: np.ndarray  # bohr
    xtb: dict[str, np.ndarray]  # see xtb_atomic_features
    polarizabilities: np.ndarray  # D4, bohr^3
    eeq: np.ndarray  # EEQ charges, e


def atomic_properties(
    smiles: str, max_scf_iterations: int = DEFAULT_MAX_SCF_ITERATIONS
) -> AtomicProperties:
    """Conformer, GFN2-xTB single point and D4 of a donor-first ligand SMILES.

    Raises LigandError (naming the SMILES) for unusable input and CalculationFailed when the
    conformer, the SCF or D4 fails. The ligand is first canonicalised, so every SMILES of the
    same ligand gives the same numbers.
    """
    lig = chem.ligand(smiles)
    numbers, positions = ligand_geometry(lig)
    _check_closed_shell(numbers, lig.charge, lig.smiles)
    xtb = xtb_atomic_features(numbers, positions, lig.charge, lig.smiles, max_scf_iterations)
    polarizabilities, eeq = d4_atomic(numbers, positions, lig.charge, lig.smiles)
    return AtomicProperties(lig, numbers, positions, xtb, polarizabilities, eeq)


def proxy_properties(smiles: str, max_scf_iterations: int = DEFAULT_MAX_SCF_ITERATIONS) -> dict:
    """Donor-atom proxy labels of a donor-first ligand SMILES (see module docstring)."""
    props = atomic_properties(smiles, max_scf_iterations)
    values = dict(
        charge=float(props.xtb["charges"][0]),
        dipole=float(props.xtb["dipm_A"][0]),
        polarizability=float(props.polarizabilities[0]),
        atomic_number=int(props.numbers[0]),
        charge_eeq=float(props.eeq[0]),
    )
    if not all(math.isfinite(v) for v in values.values()):
        raise CalculationFailed(f"non-finite proxy value for {props.ligand.smiles!r}: {values}")
    return values


# --- calculator ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class XtbProxyCalculator:
    """The `Calculator` for proxy labels; its cache key covers program versions and settings."""

    max_scf_iterations: int = DEFAULT_MAX_SCF_ITERATIONS
    name: ClassVar[str] = "proxy-xtb"
    version: ClassVar[str] = "1.0"
    method: ClassVar[str] = METHOD

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """Canonical donor-first SMILES plus everything that changes the numbers."""
        lig = chem.ligand(smiles)
        return {
            "smiles": lig.smiles,
            "charge": lig.charge,
            "hamiltonian": "GFN2-xTB",
            "max_scf_iterations": self.max_scf_iterations,
            "scf_damping": SCF_DAMPING,
            "conformer": {
                "embed": "ETKDGv3|ETDG|ETDG-random",
                "seed": EMBED_SEED,
                "cleanup": "MMFF94|UFF",
                "ff_max_iters": FF_MAX_ITERS,
            },
            "programs": PROGRAM_VERSIONS,
        }

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Label one ligand; raises LigandError for invalid SMILES (no key can be formed)."""
        compute = functools.partial(proxy_properties, max_scf_iterations=self.max_scf_iterations)
        return run_embedded(self, smiles, compute, UNITS, PROGRAM_VERSIONS, workdir)


# --- batch labelling ----------------------------------------------------------------------------


def label_many(
    smiles_list: Sequence[str],
    workers: int = 2,
    progress: bool = True,
    calculator: XtbProxyCalculator | None = None,
) -> list[dict[str, Any]]:
    """Label ligands in a spawn process pool; rows come back in input order, failures included."""
    calc = calculator or XtbProxyCalculator()
    return batch.run_many(calc, smiles_list, workers, progress, value_names=tuple(UNITS))


def sample_corpus(corpus: Path, n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Reproducible random sample (row indices, SMILES) of n corpus ligands, in corpus order."""
    smiles = pq.read_table(corpus, columns=["smiles"]).column("smiles")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(smiles), size=min(n, len(smiles)), replace=False))
    return rows, smiles.take(rows).to_pylist()


def label_corpus_sample(
    corpus: Path, n: int, out: Path, seed: int = 0, workers: int = 2, progress: bool = True
) -> pd.DataFrame:
    """Label a seeded random sample of corpus ligands and write it as a Parquet table."""
    rows, smiles = sample_corpus(corpus, n, seed)
    labels = label_many(smiles, workers=workers, progress=progress)
    table = pd.DataFrame(labels).assign(corpus_row=rows)
    table = table.reindex(columns=TABLE_SCHEMA.names)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(table, schema=TABLE_SCHEMA, preserve_index=False), out)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m calculators.proxy_xtb CORPUS N OUT`: label a seeded corpus sample."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    table = label_corpus_sample(args.corpus, args.n, args.out, args.seed, args.workers)
    print(f"wrote {len(table)} rows ({(table.status == 'ok').sum()} ok) to {args.out}")


if __name__ == "__main__":
    main()
