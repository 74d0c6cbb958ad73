"""Embedded donor-atom proxies calibrated to OpenMolcas PBE/ANO-R2 LoProp values.

The plain embedded proxy (`calculators.proxy_xtb`) gives GFN2-xTB/D4 numbers that track the
paper's LoProp labels poorly (Pearson 0.73 charge, 0.46 dipole, -0.03 polarizability on the
published rows, `data/published/README.md`). Here the same single point is turned into a
descriptor vector of the donor atom and its surroundings (xTB/D4 atomic numbers of the donor
and its bonded neighbours, coordination number, shell populations, Wiberg bond orders, bond
lengths, and RDKit topology: hybridisation, charge class, ring/aromatic flags, neighbour counts)
and mapped to the LoProp scale by gradient-boosted trees fitted on the published LoProp values
(`scripts/calibrate_proxies.py`, record in `models/proxy-calibration/training.json`).

Model format: no pickle. Each target is an ensemble of K gradient-boosting models (one per
ligand-grouped CV fold, each fitted on the other folds); every tree is stored as a complete
binary tree of fixed depth in a NumPy ``.npz`` (loaded with ``allow_pickle=False``) whose sha256
is checked against the training record. The prediction is the ensemble mean, the uncertainty
its standard deviation; member k applied to fold k reproduces the stored CV predictions.
Trees compare float32 features as scikit-learn does, so predictions equal scikit-learn's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdPartialCharges

from calculators import proxy_xtb
from calculators.base import CalcResult, CalculationFailed, run_embedded
from calculators.values import PROXY_UNITS
from gauss import chem

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CALIBRATION = REPO / "models" / "proxy-calibration"
TARGETS = ("charge", "dipole", "polarizability")
TARGET_UNITS = {t: PROXY_UNITS[t] for t in TARGETS}  # LoProp atomic units, as printed
UNITS = PROXY_UNITS | {
    **{f"{t}_std": PROXY_UNITS[t] for t in TARGETS},
    "xtb_charge": "e",
    "xtb_dipole": "e*bohr",
    "d4_polarizability": "bohr^3",
    "eeq_charge": "e",
}
_HYBRIDISATION = {
    Chem.HybridizationType.SP: 1,
    Chem.HybridizationType.SP2: 2,
    Chem.HybridizationType.SP3: 3,
}
BOHR_TO_ANGSTROM = 1.0 / proxy_xtb.BOHR_PER_ANGSTROM


class CalibrationError(ValueError):
    """A calibration directory that is missing, altered or inconsistent (names the file)."""


# --- descriptors --------------------------------------------------------------------------------


def charge_class(lig: chem.Ligand) -> int:
    """The paper's ligand classes: 1 neutral O, 2 neutral N, 3 anionic O, 4 anionic N donor."""
    anionic = lig.charge < 0
    return {("O", False): 1, ("N", False): 2, ("O", True): 3, ("N", True): 4}[(lig.donor, anionic)]


def _topology(mol: Chem.Mol, molh: Chem.Mol) -> dict[str, float]:
    """RDKit descriptors of the donor (atom 0) and its neighbourhood; no geometry needed."""
    donor = mol.GetAtomWithIdx(0)
    nbrs = list(donor.GetNeighbors())
    second = {a.GetIdx() for n in nbrs for a in n.GetNeighbors()} - {0}
    ring_info = mol.GetRingInfo()
    ring_sizes = [len(r) for r in ring_info.AtomRings() if 0 in r]
    bond_orders = [b.GetBondTypeAsDouble() for b in donor.GetBonds()]
    rdPartialCharges.ComputeGasteigerCharges(molh)
    gasteiger = molh.GetAtomWithIdx(0).GetDoubleProp("_GasteigerCharge")
    pi_neighbours = sum(
        any(
            b.GetBondTypeAsDouble() > 1 and b.GetOtherAtomIdx(n.GetIdx()) != 0 for b in n.GetBonds()
        )
        for n in nbrs
    )
    hetero_second = sum(mol.GetAtomWithIdx(i).GetSymbol() in ("N", "O", "F") for i in second)
    atoms = list(mol.GetAtoms())
    return {
        "donor_formal_charge": float(donor.GetFormalCharge()),
        "heavy_degree": float(donor.GetDegree()),
        "donor_h": float(donor.GetTotalNumHs()),
        "hybridisation": float(_HYBRIDISATION.get(donor.GetHybridization(), 0)),
        "aromatic": float(donor.GetIsAromatic()),
        "in_ring": float(donor.IsInRing()),
        "ring_size": float(min(ring_sizes) if ring_sizes else 0),
        "bond_order_sum": float(sum(bond_orders)),
        "max_bond_order": float(max(bond_orders, default=0.0)),
        "conjugated": float(any(b.GetIsConjugated() for b in donor.GetBonds())),
        "nb_C": float(sum(n.GetSymbol() == "C" for n in nbrs)),
        "nb_N": float(sum(n.GetSymbol() == "N" for n in nbrs)),
        "nb_O": float(sum(n.GetSymbol() == "O" for n in nbrs)),
        "nb_other": float(sum(n.GetSymbol() not in ("C", "N", "O") for n in nbrs)),
        "nb_aromatic": float(sum(n.GetIsAromatic() for n in nbrs)),
        "nb_pi": float(pi_neighbours),
        "second_shell": float(len(second)),
        "second_hetero": float(hetero_second),
        "gasteiger": float(gasteiger) if math.isfinite(gasteiger) else 0.0,
        "heavy_atoms": float(mol.GetNumHeavyAtoms()),
        "n_N": float(sum(a.GetSymbol() == "N" for a in atoms)),
        "n_O": float(sum(a.GetSymbol() == "O" for a in atoms)),
        "n_F": float(sum(a.GetSymbol() == "F" for a in atoms)),
        "n_aromatic": float(sum(a.GetIsAromatic() for a in atoms)),
        "rings": float(ring_info.NumRings()),
    }


def _electronic(props: proxy_xtb.AtomicProperties, molh: Chem.Mol) -> dict[str, float]:
    """xTB/D4 numbers of the donor, its bonded neighbours and its bonds (from the conformer)."""
    xtb = props.xtb
    q, wbo = xtb["charges"], xtb["bond_orders"]
    nbrs = [a.GetIdx() for a in molh.GetAtomWithIdx(0).GetNeighbors()]
    heavy = [i for i in nbrs if props.numbers[i] > 1]
    hydrogens = [i for i in nbrs if props.numbers[i] == 1]
    lengths = np.linalg.norm(props.positions[nbrs] - props.positions[0], axis=1) * BOHR_TO_ANGSTROM
    heavy_len = lengths[[nbrs.index(i) for i in heavy]] if heavy else np.zeros(1)
    return {
        "xtb_charge": float(q[0]),
        "xtb_dipole": float(xtb["dipm_A"][0]),
        "d4_polarizability": float(props.polarizabilities[0]),
        "eeq_charge": float(props.eeq[0]),
        **{f"xtbml_{name}": float(xtb[name][0]) for name in proxy_xtb.XTBML_FEATURES},
        "wbo_sum": float(wbo[0].sum() - wbo[0, 0]),
        "wbo_max": float(max((wbo[0, i] for i in nbrs), default=0.0)),
        "nb_xtb_charge_sum": float(q[heavy].sum()) if heavy else 0.0,
        "nb_xtb_charge_max": float(q[heavy].max()) if heavy else 0.0,
        "h_xtb_charge_sum": float(q[hydrogens].sum()) if hydrogens else 0.0,
        "group_xtb_charge": float(q[0] + q[nbrs].sum() / 2.0),
        "nb_eeq_sum": float(props.eeq[nbrs].sum()) if nbrs else 0.0,
        "nb_d4_polarizability": float(props.polarizabilities[nbrs].sum()) if nbrs else 0.0,
        "nb_xtb_dipole_mean": float(xtb["dipm_A"][nbrs].mean()) if nbrs else 0.0,
        "bond_length_min": float(heavy_len.min()),
        "bond_length_mean": float(heavy_len.mean()),
        "n_atoms": float(len(props.numbers)),
        "net_charge": float(props.ligand.charge),
    }


def descriptors(props: proxy_xtb.AtomicProperties) -> dict[str, float]:
    """The calibration's input vector for one ligand, by feature name (all finite)."""
    mol = chem.parse(props.ligand.smiles)
    molh = Chem.AddHs(mol)  # same atom order as the conformer (proxy_xtb.ligand_geometry)
    values = {
        "atomic_number": float(props.numbers[0]),
        "charge_class": float(charge_class(props.ligand)),
        **_topology(mol, molh),
        **_electronic(props, molh),
    }
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise CalculationFailed(f"non-finite descriptors for {props.ligand.smiles!r}: {bad}")
    return values


def ligand_descriptors(smiles: str) -> dict[str, float]:
    """Conformer + GFN2-xTB + D4 + RDKit descriptors of a donor-first ligand SMILES."""
    return descriptors(proxy_xtb.atomic_properties(smiles))


# --- the stored model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEnsemble:
    """K boosted-tree models for one target, trees padded to complete binary trees of `depth`."""

    init: np.ndarray  # (K,) constant each model starts from
    learning_rate: float
    feature: np.ndarray  # (K, T, 2**depth - 1) feature index of each internal node
    threshold: np.ndarray  # (K, T, 2**depth - 1) go left when x <= threshold
    leaf: np.ndarray  # (K, T, 2**depth) leaf values

    @property
    def depth(self) -> int:
        return int(round(math.log2(self.leaf.shape[-1])))

    def member_predictions(self, x: np.ndarray) -> np.ndarray:
        """(K, n) predictions of every member for feature rows x (n, n_features)."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)  # sklearn compares in float32
        k, t, internal = self.feature.shape
        out = np.empty((k, len(x)))
        rows = np.arange(len(x))[:, None]
        trees = np.arange(t)[None, :]
        for m in range(k):
            pos = np.zeros((len(x), t), dtype=np.int64)
            for _ in range(self.depth):
                f = self.feature[m][trees, pos]
                right = x[rows, f] > self.threshold[m][trees, pos]
                pos = 2 * pos + 1 + right
            out[m] = self.init[m] + self.learning_rate * self.leaf[m][trees, pos - internal].sum(1)
        return out


def pad_tree(tree: Any, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fitted sklearn tree (`tree_`) as complete-binary-tree arrays (feature, threshold, leaf).

    A leaf above the bottom level becomes pass-through nodes (threshold +inf: always left)
    whose leaves all carry its value, so every path has the same length.
    """
    internal = 2**depth - 1
    feature = np.zeros(internal, dtype=np.int16)
    threshold = np.full(internal, np.inf)
    leaf = np.zeros(internal + 1)
    if tree.max_depth > depth:
        raise ValueError(f"tree depth {tree.max_depth} exceeds the padded depth {depth}")

    def fill(node: int, pos: int, level: int) -> None:
        if level == depth:
            leaf[pos - internal] = tree.value[node].ravel()[0]
            return
        left, right = tree.children_left[node], tree.children_right[node]
        if left == -1:
            fill(node, 2 * pos + 1, level + 1)
            fill(node, 2 * pos + 2, level + 1)
            return
        feature[pos] = tree.feature[node]
        threshold[pos] = tree.threshold[node]
        fill(left, 2 * pos + 1, level + 1)
        fill(right, 2 * pos + 2, level + 1)

    fill(0, 0, 0)
    return feature, threshold, leaf


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration directory: training record plus one TreeEnsemble per target."""

    record: dict[str, Any]
    ensembles: dict[str, TreeEnsemble]

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.record["features"])

    @property
    def identity(self) -> dict[str, str]:
        """What goes into every cache key: a new calibration means new keys."""
        return {"version": self.record["version"], "sha256": self.record["model_sha256"]}

    def matrix(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        """Feature matrix in the calibration's column order; a missing feature is an error."""
        try:
            return np.array([[row[name] for name in self.features] for row in rows], dtype=float)
        except KeyError as exc:
            raise CalibrationError(
                f"descriptor {exc} needed by the calibration is missing"
            ) from None

    def predict(self, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Target -> (ensemble mean, ensemble standard deviation) for feature rows x."""
        out = {}
        for target, ens in self.ensembles.items():
            members = ens.member_predictions(x)
            out[target] = members.mean(0), members.std(0)
        return out


@lru_cache(maxsize=8)
def load_calibration(directory: Path = DEFAULT_CALIBRATION) -> Calibration:
    """Read `training.json` and `model.npz`, refusing a model whose sha256 does not match."""
    directory = Path(directory)
    record_path, model_path = directory / "training.json", directory / "model.npz"
    for path in (record_path, model_path):
        if not path.is_file():
            raise CalibrationError(f"calibration file missing: {path}")
    record = json.loads(record_path.read_text())
    digest = file_sha256(model_path)
    if digest != record.get("model_sha256"):
        raise CalibrationError(
            f"{model_path} has sha256 {digest}, training.json expects {record.get('model_sha256')}"
        )
    with np.load(model_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    ensembles = {
        t: TreeEnsemble(
            init=arrays[f"{t}_init"],
            learning_rate=float(arrays[f"{t}_learning_rate"]),
            feature=arrays[f"{t}_feature"],
            threshold=arrays[f"{t}_threshold"],
            leaf=arrays[f"{t}_leaf"],
        )
        for t in record["targets"]
    }
    n_features = len(record["features"])
    for t, ens in ensembles.items():
        if ens.feature.size and int(ens.feature.max()) >= n_features:
            raise CalibrationError(f"{model_path}: {t} trees use a feature index >= {n_features}")
    return Calibration(record, ensembles)


# --- calculator ---------------------------------------------------------------------------------


def method_string(record: dict[str, Any]) -> str:
    """Which numbers these are and what they were fitted on, for every stored row."""
    return (
        f"{proxy_xtb.METHOD}; calibrated to OpenMolcas PBE/ANO-R2 LoProp (published GAUSS-II "
        f"values, n={record['n_train']}) by boosted trees, calibration {record['version']} "
        f"sha256 {record['model_sha256'][:12]}"
    )


def calibrated_values(calibration: Calibration, desc: dict[str, float]) -> dict[str, float | int]:
    """LoProp-scale values, their ensemble spread, and the raw xTB/D4 numbers used."""
    pred = calibration.predict(calibration.matrix([desc]))
    values: dict[str, float | int] = {}
    for target in TARGETS:
        mean, std = pred[target]
        values[target] = float(mean[0])
        values[f"{target}_std"] = float(std[0])
    values["atomic_number"] = int(desc["atomic_number"])
    for raw in ("xtb_charge", "xtb_dipole", "d4_polarizability", "eeq_charge"):
        values[raw] = desc[raw]
    return values


@dataclass(frozen=True)
class CalibratedProxy:
    """The `Calculator` for LoProp-scale proxy labels (charge e, dipole a.u., polarizability a.u.).

    `calibration` names a directory written by `scripts/calibrate_proxies.py`; its version and
    sha256, not its path, enter the cache key.
    """

    calibration: Path = field(default=DEFAULT_CALIBRATION)
    max_scf_iterations: int = proxy_xtb.DEFAULT_MAX_SCF_ITERATIONS
    name: ClassVar[str] = "proxy-calibrated"
    version: ClassVar[str] = "1.0"

    @property
    def loaded(self) -> Calibration:
        return load_calibration(Path(self.calibration))

    @property
    def method(self) -> str:
        return method_string(self.loaded.record)

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """The xTB proxy's canonical input plus the calibration's identity."""
        base = proxy_xtb.XtbProxyCalculator(self.max_scf_iterations).canonical_input(smiles)
        return base | {"calibration": self.loaded.identity}

    def compute(self, smiles: str) -> dict[str, float | int]:
        props = proxy_xtb.atomic_properties(smiles, self.max_scf_iterations)
        return calibrated_values(self.loaded, descriptors(props))

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Label one ligand; raises LigandError for invalid SMILES (no key can be formed)."""
        return run_embedded(self, smiles, self.compute, UNITS, proxy_xtb.PROGRAM_VERSIONS, workdir)
